//go:build amd64 && !noasm

#include "textflag.h"

// Register-tiled SGEMM micro-kernels and GEMV kernels. The reference loop of
// each routine is the doc comment of its declaration in gemm_amd64.go; the
// Go twin of each is in gemm_noasm.go.
//
// Micro-kernel layout: a is a packed A sliver, k steps of MR floats; b a
// packed B sliver, k steps of NR floats. The MR×NR tile lives in registers
// for the whole k loop and touches C once at the end.

// T8_BODY transposes the 8×8 block in Y0–Y7 (row r in Yr) and stores its
// rows at DI, DI+BX, …, R12+R11 (dst rows 0–7).
#define T8_BODY \
	VUNPCKLPS Y1, Y0, Y8; \
	VUNPCKHPS Y1, Y0, Y9; \
	VUNPCKLPS Y3, Y2, Y10; \
	VUNPCKHPS Y3, Y2, Y11; \
	VUNPCKLPS Y5, Y4, Y12; \
	VUNPCKHPS Y5, Y4, Y13; \
	VUNPCKLPS Y7, Y6, Y14; \
	VUNPCKHPS Y7, Y6, Y15; \
	VSHUFPS $0x44, Y10, Y8, Y0; \
	VSHUFPS $0xEE, Y10, Y8, Y1; \
	VSHUFPS $0x44, Y11, Y9, Y2; \
	VSHUFPS $0xEE, Y11, Y9, Y3; \
	VSHUFPS $0x44, Y14, Y12, Y4; \
	VSHUFPS $0xEE, Y14, Y12, Y5; \
	VSHUFPS $0x44, Y15, Y13, Y6; \
	VSHUFPS $0xEE, Y15, Y13, Y7; \
	VPERM2F128 $0x20, Y4, Y0, Y8; \
	VPERM2F128 $0x20, Y5, Y1, Y9; \
	VPERM2F128 $0x20, Y6, Y2, Y10; \
	VPERM2F128 $0x20, Y7, Y3, Y11; \
	VPERM2F128 $0x31, Y4, Y0, Y12; \
	VPERM2F128 $0x31, Y5, Y1, Y13; \
	VPERM2F128 $0x31, Y6, Y2, Y14; \
	VPERM2F128 $0x31, Y7, Y3, Y15; \
	VMOVUPS Y8, (DI); \
	VMOVUPS Y9, (DI)(BX*1); \
	VMOVUPS Y10, (DI)(BX*2); \
	VMOVUPS Y11, (DI)(R11*1); \
	VMOVUPS Y12, (R12); \
	VMOVUPS Y13, (R12)(BX*1); \
	VMOVUPS Y14, (R12)(BX*2); \
	VMOVUPS Y15, (R12)(R11*1)

// T8_SETUP loads packT8AVX's arguments: SI/R10 rows 0 and 4 of src, DX its
// row stride in bytes (R9 three of them), DI/R12 dst rows 0 and 4, BX the
// dst stride (R11 three), R13 eight dst rows, CX kb.
#define T8_SETUP \
	MOVQ kb+0(FP), CX; \
	MOVQ src_base+8(FP), SI; \
	MOVQ ld+32(FP), DX; \
	SHLQ $2, DX; \
	MOVQ dst_base+40(FP), DI; \
	MOVQ stride+64(FP), BX; \
	SHLQ $2, BX; \
	LEAQ (DX)(DX*2), R9; \
	LEAQ (SI)(DX*4), R10; \
	LEAQ (BX)(BX*2), R11; \
	LEAQ (DI)(BX*4), R12; \
	MOVQ BX, R13; \
	SHLQ $3, R13

// T8_STEP transposes the next 8 columns of the 8 rows into 8 dst rows.
#define T8_STEP \
	VMOVUPS (SI), Y0; \
	VMOVUPS (SI)(DX*1), Y1; \
	VMOVUPS (SI)(DX*2), Y2; \
	VMOVUPS (SI)(R9*1), Y3; \
	VMOVUPS (R10), Y4; \
	VMOVUPS (R10)(DX*1), Y5; \
	VMOVUPS (R10)(DX*2), Y6; \
	VMOVUPS (R10)(R9*1), Y7; \
	T8_BODY

// ---------------------------------------------------------------------------
// AVX-512: 12×32 tile. Z0..Z23 hold C (row i in Z(2i), Z(2i+1)), Z24/Z25 the
// current B row, Z26/Z27 alternate as A broadcasts. Per k step: 2 B loads +
// 12 broadcasts feed 24 FMAs, so the two FMA pipes, not the loads, bound it.

#define ROW512(aoff, bc, r0, r1) \
	VBROADCASTSS aoff(AX), bc; \
	VFMADD231PS  bc, Z24, r0; \
	VFMADD231PS  bc, Z25, r1

#define STEP12x32(ao, bo) \
	VMOVUPS bo(BX), Z24; \
	VMOVUPS (bo+64)(BX), Z25; \
	ROW512((ao+0), Z26, Z0, Z1); \
	ROW512((ao+4), Z27, Z2, Z3); \
	ROW512((ao+8), Z26, Z4, Z5); \
	ROW512((ao+12), Z27, Z6, Z7); \
	ROW512((ao+16), Z26, Z8, Z9); \
	ROW512((ao+20), Z27, Z10, Z11); \
	ROW512((ao+24), Z26, Z12, Z13); \
	ROW512((ao+28), Z27, Z14, Z15); \
	ROW512((ao+32), Z26, Z16, Z17); \
	ROW512((ao+36), Z27, Z18, Z19); \
	ROW512((ao+40), Z26, Z20, Z21); \
	ROW512((ao+44), Z27, Z22, Z23)

#define ACC512(r0, r1) \
	VADDPS  (CX), r0, r0; \
	VADDPS  64(CX), r1, r1; \
	VMOVUPS r0, (CX); \
	VMOVUPS r1, 64(CX); \
	ADDQ    DX, CX

#define STORE512(r0, r1) \
	VMOVUPS r0, (CX); \
	VMOVUPS r1, 64(CX); \
	ADDQ    DX, CX

// PREFETCH4ROWS touches both lines of the four C rows at R8 (DX: row
// stride in bytes, R9 three of them).
#define PREFETCH4ROWS \
	PREFETCHT0 (R8); \
	PREFETCHT0 64(R8); \
	PREFETCHT0 (R8)(DX*1); \
	PREFETCHT0 64(R8)(DX*1); \
	PREFETCHT0 (R8)(DX*2); \
	PREFETCHT0 64(R8)(DX*2); \
	PREFETCHT0 (R8)(R9*1); \
	PREFETCHT0 64(R8)(R9*1)

// func sgemmMicro12x32AVX512(k int, a, b, c []float32, ldc int, acc bool)
TEXT ·sgemmMicro12x32AVX512(SB), NOSPLIT, $0-89
	MOVQ k+0(FP), DI
	MOVQ a_base+8(FP), AX
	MOVQ b_base+32(FP), BX
	MOVQ c_base+56(FP), CX
	MOVQ ldc+80(FP), DX
	SHLQ $2, DX

	// Touch the C tile early so its lines arrive while we compute: all 12
	// rows (two lines each) when k ≥ 128, where C comes from L3 or memory
	// once per k slab and rows left to miss at the end cost 2-3 % of a
	// 1024³ GEMM on Zen 4; the first four for a short k (a small C that is
	// likely cached, where 24 prefetches cost more than they save).
	MOVQ CX, R8
	LEAQ (DX)(DX*2), R9
	PREFETCH4ROWS
	CMPQ DI, $128
	JLT  zero512
	LEAQ (R8)(DX*4), R8
	PREFETCH4ROWS
	LEAQ (R8)(DX*4), R8
	PREFETCH4ROWS

zero512:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23

	MOVQ DI, SI
	SHRQ $2, SI
	ANDQ $3, DI
	TESTQ SI, SI
	JZ   tail512

loop512:
	PREFETCHT0 1024(BX)
	PREFETCHT0 768(AX)
	STEP12x32(0, 0)
	PREFETCHT0 1088(BX)
	PREFETCHT0 832(AX)
	STEP12x32(48, 128)
	PREFETCHT0 1152(BX)
	PREFETCHT0 896(AX)
	STEP12x32(96, 256)
	PREFETCHT0 1216(BX)
	STEP12x32(144, 384)
	ADDQ $192, AX
	ADDQ $512, BX
	DECQ SI
	JNZ  loop512

tail512:
	TESTQ DI, DI
	JZ    done512

tail512loop:
	STEP12x32(0, 0)
	ADDQ $48, AX
	ADDQ $128, BX
	DECQ DI
	JNZ  tail512loop

done512:
	CMPB acc+88(FP), $0
	JEQ  store512
	ACC512(Z0, Z1)
	ACC512(Z2, Z3)
	ACC512(Z4, Z5)
	ACC512(Z6, Z7)
	ACC512(Z8, Z9)
	ACC512(Z10, Z11)
	ACC512(Z12, Z13)
	ACC512(Z14, Z15)
	ACC512(Z16, Z17)
	ACC512(Z18, Z19)
	ACC512(Z20, Z21)
	ACC512(Z22, Z23)
	VZEROUPPER
	RET

store512:
	STORE512(Z0, Z1)
	STORE512(Z2, Z3)
	STORE512(Z4, Z5)
	STORE512(Z6, Z7)
	STORE512(Z8, Z9)
	STORE512(Z10, Z11)
	STORE512(Z12, Z13)
	STORE512(Z14, Z15)
	STORE512(Z16, Z17)
	STORE512(Z18, Z19)
	STORE512(Z20, Z21)
	STORE512(Z22, Z23)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// AVX2+FMA: 6×16 tile. Y0..Y11 hold C (row i in Y(2i), Y(2i+1)), Y12/Y13 the
// current B row, Y14/Y15 alternate as A broadcasts: all 16 YMM registers.

#define ROW256(aoff, bc, r0, r1) \
	VBROADCASTSS aoff(AX), bc; \
	VFMADD231PS  bc, Y12, r0; \
	VFMADD231PS  bc, Y13, r1

#define STEP6x16(ao, bo) \
	VMOVUPS bo(BX), Y12; \
	VMOVUPS (bo+32)(BX), Y13; \
	ROW256((ao+0), Y14, Y0, Y1); \
	ROW256((ao+4), Y15, Y2, Y3); \
	ROW256((ao+8), Y14, Y4, Y5); \
	ROW256((ao+12), Y15, Y6, Y7); \
	ROW256((ao+16), Y14, Y8, Y9); \
	ROW256((ao+20), Y15, Y10, Y11)

#define ACC256(r0, r1) \
	VADDPS  (CX), r0, r0; \
	VADDPS  32(CX), r1, r1; \
	VMOVUPS r0, (CX); \
	VMOVUPS r1, 32(CX); \
	ADDQ    DX, CX

#define STORE256(r0, r1) \
	VMOVUPS r0, (CX); \
	VMOVUPS r1, 32(CX); \
	ADDQ    DX, CX

// func sgemmMicro6x16AVX2(k int, a, b, c []float32, ldc int, acc bool)
TEXT ·sgemmMicro6x16AVX2(SB), NOSPLIT, $0-89
	MOVQ k+0(FP), DI
	MOVQ a_base+8(FP), AX
	MOVQ b_base+32(FP), BX
	MOVQ c_base+56(FP), CX
	MOVQ ldc+80(FP), DX
	SHLQ $2, DX

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	MOVQ DI, SI
	SHRQ $2, SI
	ANDQ $3, DI
	TESTQ SI, SI
	JZ   tail256

loop256:
	PREFETCHT0 512(BX)
	STEP6x16(0, 0)
	STEP6x16(24, 64)
	STEP6x16(48, 128)
	STEP6x16(72, 192)
	ADDQ $96, AX
	ADDQ $256, BX
	DECQ SI
	JNZ  loop256

tail256:
	TESTQ DI, DI
	JZ    done256

tail256loop:
	STEP6x16(0, 0)
	ADDQ $24, AX
	ADDQ $64, BX
	DECQ DI
	JNZ  tail256loop

done256:
	CMPB acc+88(FP), $0
	JEQ  store256
	ACC256(Y0, Y1)
	ACC256(Y2, Y3)
	ACC256(Y4, Y5)
	ACC256(Y6, Y7)
	ACC256(Y8, Y9)
	ACC256(Y10, Y11)
	VZEROUPPER
	RET

store256:
	STORE256(Y0, Y1)
	STORE256(Y2, Y3)
	STORE256(Y4, Y5)
	STORE256(Y6, Y7)
	STORE256(Y8, Y9)
	STORE256(Y10, Y11)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// GEMV, W·x: four rows of W against x at once, so each x load feeds four
// FMAs. k is a multiple of 16 (AVX-512) or 8 (AVX2); the caller adds the tail.

// func gemvDot4AVX512(k int, x, w []float32, ldw int, out *[4]float32)
TEXT ·gemvDot4AVX512(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ x_base+8(FP), SI
	MOVQ w_base+32(FP), R8
	MOVQ ldw+56(FP), DX
	SHLQ $2, DX
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	LEAQ (R10)(DX*1), R11
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-32, BX
	JZ   dot512tail

dot512loop:
	VMOVUPS     (SI)(AX*4), Z8
	VMOVUPS     64(SI)(AX*4), Z9
	VFMADD231PS (R8)(AX*4), Z8, Z0
	VFMADD231PS (R9)(AX*4), Z8, Z1
	VFMADD231PS (R10)(AX*4), Z8, Z2
	VFMADD231PS (R11)(AX*4), Z8, Z3
	VFMADD231PS 64(R8)(AX*4), Z9, Z4
	VFMADD231PS 64(R9)(AX*4), Z9, Z5
	VFMADD231PS 64(R10)(AX*4), Z9, Z6
	VFMADD231PS 64(R11)(AX*4), Z9, Z7
	ADDQ        $32, AX
	CMPQ        AX, BX
	JLT         dot512loop

dot512tail:
	CMPQ AX, CX
	JGE  dot512sum
	VMOVUPS     (SI)(AX*4), Z8
	VFMADD231PS (R8)(AX*4), Z8, Z0
	VFMADD231PS (R9)(AX*4), Z8, Z1
	VFMADD231PS (R10)(AX*4), Z8, Z2
	VFMADD231PS (R11)(AX*4), Z8, Z3

dot512sum:
	MOVQ   out+64(FP), DI
	VADDPS Z4, Z0, Z0
	VADDPS Z5, Z1, Z1
	VADDPS Z6, Z2, Z2
	VADDPS Z7, Z3, Z3
	// Fold 16 lanes to 8, then 8 to 4 per row; then a 4×4 transpose-add
	// (two HADD rounds) leaves row r's sum in lane r.
	VEXTRACTF64X4 $1, Z0, Y8
	VADDPS        Y8, Y0, Y0
	VEXTRACTF64X4 $1, Z1, Y8
	VADDPS        Y8, Y1, Y1
	VEXTRACTF64X4 $1, Z2, Y8
	VADDPS        Y8, Y2, Y2
	VEXTRACTF64X4 $1, Z3, Y8
	VADDPS        Y8, Y3, Y3
	VEXTRACTF128  $1, Y0, X8
	VADDPS        X8, X0, X0
	VEXTRACTF128  $1, Y1, X8
	VADDPS        X8, X1, X1
	VEXTRACTF128  $1, Y2, X8
	VADDPS        X8, X2, X2
	VEXTRACTF128  $1, Y3, X8
	VADDPS        X8, X3, X3
	VHADDPS       X1, X0, X0
	VHADDPS       X3, X2, X2
	VHADDPS       X2, X0, X0
	VMOVUPS       X0, (DI)
	VZEROUPPER
	RET

// func gemvRows1AVX512(n, k int, xs []float32, sh int, w []float32, ldw int, y []float32)
//
// One weight row at a time, a single sequential stream, in the 64-byte
// blocks the row lies in: the row starts sh floats into its first block
// (ldw a multiple of 16 keeps that so for every row), and xs holds x at the
// same shift, so with w and xs 64-byte aligned no load splits a cache line.
// The first block is masked to lanes [sh, min(16, sh+k)) and the last to
// what is left (masked-off lanes neither load nor fault); between them four
// 16-lane accumulators take 64 floats a step, then one 16 a step. Per row:
// one horizontal sum.
//
// R8 the row's block start, DX ldw in bytes, SI xs, DI y, R12 rows left;
// float indices (AX) run in the block frame: R13 ends the 64-float steps,
// R14 the 16-float ones, e = sh+k (R15) the row. K1 the head mask, K2 the
// tail's (zero: no tail).
TEXT ·gemvRows1AVX512(SB), NOSPLIT, $0-104
	MOVQ  n+0(FP), R12
	MOVQ  k+8(FP), CX
	MOVQ  xs_base+16(FP), SI
	MOVQ  sh+40(FP), BX
	MOVQ  w_base+48(FP), R8
	MOVQ  ldw+72(FP), DX
	SHLQ  $2, DX
	MOVQ  y_base+80(FP), DI
	TESTQ R12, R12
	JZ    rows1done
	MOVQ  BX, AX
	SHLQ  $2, AX
	SUBQ  AX, R8
	LEAQ  (BX)(CX*1), R15
	MOVQ  $-1, R9

	// K1: lanes [sh, min(16, e)).
	MOVQ    $16, AX
	CMPQ    R15, AX
	CMOVQLT R15, AX
	BZHIQ   AX, R9, R10
	BZHIQ   BX, R9, R11
	XORQ    R11, R10
	KMOVW   R10, K1

	// Body and tail bounds (all rows alike).
	MOVQ  $16, R13
	MOVQ  $16, R14
	XORQ  R10, R10
	MOVQ  R15, AX
	SUBQ  $16, AX
	JLE   rows1bounds
	MOVQ  AX, R11
	ANDQ  $-64, R11
	ADDQ  R11, R13
	MOVQ  AX, R11
	ANDQ  $-16, R11
	ADDQ  R11, R14
	ANDQ  $15, AX
	BZHIQ AX, R9, R10

rows1bounds:
	KMOVW R10, K2

rows1row:
	VMOVUPS.Z (R8), K1, Z4
	VMOVUPS.Z (SI), K1, Z5
	VMULPS    Z5, Z4, Z0
	VPXORD    Z1, Z1, Z1
	VPXORD    Z2, Z2, Z2
	VPXORD    Z3, Z3, Z3
	MOVQ      $16, AX
	CMPQ      AX, R13
	JGE       rows1by16

rows1by64:
	VMOVUPS     (R8)(AX*4), Z4
	VMOVUPS     64(R8)(AX*4), Z5
	VMOVUPS     128(R8)(AX*4), Z6
	VMOVUPS     192(R8)(AX*4), Z7
	VFMADD231PS (SI)(AX*4), Z4, Z0
	VFMADD231PS 64(SI)(AX*4), Z5, Z1
	VFMADD231PS 128(SI)(AX*4), Z6, Z2
	VFMADD231PS 192(SI)(AX*4), Z7, Z3
	ADDQ        $64, AX
	CMPQ        AX, R13
	JLT         rows1by64

rows1by16:
	CMPQ        AX, R14
	JGE         rows1tail
	VMOVUPS     (R8)(AX*4), Z4
	VFMADD231PS (SI)(AX*4), Z4, Z1
	ADDQ        $16, AX
	JMP         rows1by16

rows1tail:
	KORTESTW    K2, K2
	JZ          rows1sum
	VMOVUPS.Z   (R8)(AX*4), K2, Z4
	VMOVUPS.Z   (SI)(AX*4), K2, Z5
	VFMADD231PS Z5, Z4, Z2

rows1sum:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VPERMILPS     $0x4e, X0, X1
	VADDPS        X1, X0, X0
	VPERMILPS     $0xb1, X0, X1
	VADDSS        X1, X0, X0
	VMOVSS        X0, (DI)
	ADDQ          $4, DI
	ADDQ          DX, R8
	DECQ          R12
	JNZ           rows1row

rows1done:
	VZEROUPPER
	RET

// func gemvDot4AVX2(k int, x, w []float32, ldw int, out *[4]float32)
TEXT ·gemvDot4AVX2(SB), NOSPLIT, $0-72
	MOVQ k+0(FP), CX
	MOVQ x_base+8(FP), SI
	MOVQ w_base+32(FP), R8
	MOVQ ldw+56(FP), DX
	SHLQ $2, DX
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	LEAQ (R10)(DX*1), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX
	MOVQ CX, BX
	ANDQ $-16, BX
	JZ   dot256tail

dot256loop:
	VMOVUPS     (SI)(AX*4), Y8
	VMOVUPS     32(SI)(AX*4), Y9
	VFMADD231PS (R8)(AX*4), Y8, Y0
	VFMADD231PS (R9)(AX*4), Y8, Y1
	VFMADD231PS (R10)(AX*4), Y8, Y2
	VFMADD231PS (R11)(AX*4), Y8, Y3
	VFMADD231PS 32(R8)(AX*4), Y9, Y4
	VFMADD231PS 32(R9)(AX*4), Y9, Y5
	VFMADD231PS 32(R10)(AX*4), Y9, Y6
	VFMADD231PS 32(R11)(AX*4), Y9, Y7
	ADDQ        $16, AX
	CMPQ        AX, BX
	JLT         dot256loop

dot256tail:
	CMPQ AX, CX
	JGE  dot256sum
	VMOVUPS     (SI)(AX*4), Y8
	VFMADD231PS (R8)(AX*4), Y8, Y0
	VFMADD231PS (R9)(AX*4), Y8, Y1
	VFMADD231PS (R10)(AX*4), Y8, Y2
	VFMADD231PS (R11)(AX*4), Y8, Y3

dot256sum:
	MOVQ         out+64(FP), DI
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	VADDPS       Y6, Y2, Y2
	VADDPS       Y7, Y3, Y3
	VEXTRACTF128 $1, Y0, X8
	VADDPS       X8, X0, X0
	VEXTRACTF128 $1, Y1, X8
	VADDPS       X8, X1, X1
	VEXTRACTF128 $1, Y2, X8
	VADDPS       X8, X2, X2
	VEXTRACTF128 $1, Y3, X8
	VADDPS       X8, X3, X3
	VHADDPS      X1, X0, X0
	VHADDPS      X3, X2, X2
	VHADDPS      X2, X0, X0
	VMOVUPS      X0, (DI)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// GEMV, x·B: a strip of B's columns kept in eight accumulators while the k
// rows stream past; y += the strip's result.

// func gemvAxpy128AVX512(k int, x, b []float32, ldb int, y []float32)
TEXT ·gemvAxpy128AVX512(SB), NOSPLIT, $0-88
	MOVQ k+0(FP), CX
	MOVQ x_base+8(FP), SI
	MOVQ b_base+32(FP), BX
	MOVQ ldb+56(FP), DX
	SHLQ $2, DX
	MOVQ y_base+64(FP), DI
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVUPS 256(DI), Z4
	VMOVUPS 320(DI), Z5
	VMOVUPS 384(DI), Z6
	VMOVUPS 448(DI), Z7
	TESTQ   CX, CX
	JZ      axpy512done

axpy512loop:
	VBROADCASTSS (SI), Z8
	VFMADD231PS  (BX), Z8, Z0
	VFMADD231PS  64(BX), Z8, Z1
	VFMADD231PS  128(BX), Z8, Z2
	VFMADD231PS  192(BX), Z8, Z3
	VFMADD231PS  256(BX), Z8, Z4
	VFMADD231PS  320(BX), Z8, Z5
	VFMADD231PS  384(BX), Z8, Z6
	VFMADD231PS  448(BX), Z8, Z7
	ADDQ         $4, SI
	ADDQ         DX, BX
	DECQ         CX
	JNZ          axpy512loop

axpy512done:
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VZEROUPPER
	RET

// func gemvAxpy64AVX2(k int, x, b []float32, ldb int, y []float32)
TEXT ·gemvAxpy64AVX2(SB), NOSPLIT, $0-88
	MOVQ k+0(FP), CX
	MOVQ x_base+8(FP), SI
	MOVQ b_base+32(FP), BX
	MOVQ ldb+56(FP), DX
	SHLQ $2, DX
	MOVQ y_base+64(FP), DI
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	TESTQ   CX, CX
	JZ      axpy256done

axpy256loop:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (BX), Y8, Y0
	VFMADD231PS  32(BX), Y8, Y1
	VFMADD231PS  64(BX), Y8, Y2
	VFMADD231PS  96(BX), Y8, Y3
	VFMADD231PS  128(BX), Y8, Y4
	VFMADD231PS  160(BX), Y8, Y5
	VFMADD231PS  192(BX), Y8, Y6
	VFMADD231PS  224(BX), Y8, Y7
	ADDQ         $4, SI
	ADDQ         DX, BX
	DECQ         CX
	JNZ          axpy256loop

axpy256done:
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	VZEROUPPER
	RET

// ---------------------------------------------------------------------------
// Packing: transpose rows of a matrix into a panel. Rows r of src (stride
// ld floats) become the columns of dst (stride `stride` floats): dst[p*stride
// + r] = src[r*ld + p] for p < kb, kb a multiple of 8. 8×8 (or 4×8) blocks are
// transposed in registers with unpack/shuffle/permute, so both reads and
// writes are whole vectors. AVX only; used by the AVX2 and AVX-512 paths.

// func packT8AVX(kb int, src []float32, ld int, dst []float32, stride int)
TEXT ·packT8AVX(SB), NOSPLIT, $0-72
	T8_SETUP
	SHRQ $3, CX
	JZ   t8done

t8loop:
	T8_STEP
	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ R13, DI
	ADDQ R13, R12
	DECQ CX
	JNZ  t8loop

t8done:
	VZEROUPPER
	RET

// func packT8StreamAVX(kb int, src []float32, ld int, dst []float32, stride int)
//
// packT8AVX that also prefetches the same columns of the next 8 rows (R14,
// R15), a step ahead of the loads: a weight packed straight from memory
// (GemmT's W) is read as 8 short interleaved streams, which the hardware
// prefetchers follow poorly.
TEXT ·packT8StreamAVX(SB), NOSPLIT, $0-72
	T8_SETUP
	LEAQ (SI)(DX*8), R14
	LEAQ (R10)(DX*8), R15
	SHRQ $3, CX
	JZ   t8sdone

t8sloop:
	PREFETCHT0 (R14)
	PREFETCHT0 (R14)(DX*1)
	PREFETCHT0 (R14)(DX*2)
	PREFETCHT0 (R14)(R9*1)
	PREFETCHT0 (R15)
	PREFETCHT0 (R15)(DX*1)
	PREFETCHT0 (R15)(DX*2)
	PREFETCHT0 (R15)(R9*1)
	T8_STEP
	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $32, R14
	ADDQ $32, R15
	ADDQ R13, DI
	ADDQ R13, R12
	DECQ CX
	JNZ  t8sloop

t8sdone:
	VZEROUPPER
	RET

// func packT4AVX(kb int, src []float32, ld int, dst []float32, stride int)
TEXT ·packT4AVX(SB), NOSPLIT, $0-72
	MOVQ kb+0(FP), CX
	MOVQ src_base+8(FP), SI
	MOVQ ld+32(FP), DX
	SHLQ $2, DX
	MOVQ dst_base+40(FP), DI
	MOVQ stride+64(FP), BX
	SHLQ $2, BX
	LEAQ (DX)(DX*2), R9
	LEAQ (BX)(BX*2), R11
	LEAQ (DI)(BX*4), R12
	MOVQ BX, R13
	SHLQ $3, R13           // R13 = 8 dst rows in bytes
	SHRQ $3, CX
	JZ   t4done

t4loop:
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(DX*1), Y1
	VMOVUPS (SI)(DX*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VMOVUPS X0, (DI)
	VMOVUPS X1, (DI)(BX*1)
	VMOVUPS X2, (DI)(BX*2)
	VMOVUPS X3, (DI)(R11*1)
	VEXTRACTF128 $1, Y0, (R12)
	VEXTRACTF128 $1, Y1, (R12)(BX*1)
	VEXTRACTF128 $1, Y2, (R12)(BX*2)
	VEXTRACTF128 $1, Y3, (R12)(R11*1)
	ADDQ $32, SI
	ADDQ R13, DI
	ADDQ R13, R12
	DECQ CX
	JNZ  t4loop

t4done:
	VZEROUPPER
	RET

// func packColsAVX(kb int, src []float32, ld int, dst []float32, w int)
// Copies kb rows of w floats (w a multiple of 16) from src (stride ld) to dst
// (stride w): the B sliver of Gemm, without a memmove call per row.
TEXT ·packColsAVX(SB), NOSPLIT, $0-72
	MOVQ kb+0(FP), CX
	MOVQ src_base+8(FP), SI
	MOVQ ld+32(FP), DX
	SHLQ $2, DX
	MOVQ dst_base+40(FP), DI
	MOVQ w+64(FP), BX
	TESTQ CX, CX
	JZ   pcdone
	CMPQ BX, $32
	JEQ  pc32

pc16:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ DX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  pc16
	JMP  pcdone

pc32:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ DX, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  pc32

pcdone:
	VZEROUPPER
	RET

// func packColsStripAVX(kb int, src []float32, ld int, dst []float32, w, slivers int)
// For each row p of src: its slivers·w floats, in w-wide pieces, to row p
// of each sliver (slivers kb·w floats apart in dst).
TEXT ·packColsStripAVX(SB), NOSPLIT, $0-80
	MOVQ kb+0(FP), CX
	MOVQ w+64(FP), BX
	MOVQ CX, R9
	IMULQ BX, R9
	SHLQ $2, R9          // bytes from a sliver to the next: kb·w·4
	SHLQ $2, BX          // w in bytes
	MOVQ slivers+72(FP), R8
	MOVQ src_base+8(FP), SI
	MOVQ ld+32(FP), DX
	SHLQ $2, DX
	MOVQ dst_base+40(FP), DI
	CMPQ BX, $128
	JEQ  ps32row

ps16row:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ R8, R12
ps16:
	VMOVUPS (R10), Y0
	VMOVUPS 32(R10), Y1
	VMOVUPS Y0, (R11)
	VMOVUPS Y1, 32(R11)
	ADDQ $64, R10
	ADDQ R9, R11
	DECQ R12
	JNZ  ps16
	ADDQ DX, SI
	ADDQ BX, DI
	DECQ CX
	JNZ  ps16row
	JMP  psdone

ps32row:
	MOVQ SI, R10
	MOVQ DI, R11
	MOVQ R8, R12
ps32:
	VMOVUPS (R10), Y0
	VMOVUPS 32(R10), Y1
	VMOVUPS 64(R10), Y2
	VMOVUPS 96(R10), Y3
	VMOVUPS Y0, (R11)
	VMOVUPS Y1, 32(R11)
	VMOVUPS Y2, 64(R11)
	VMOVUPS Y3, 96(R11)
	ADDQ $128, R10
	ADDQ R9, R11
	DECQ R12
	JNZ  ps32
	ADDQ DX, SI
	ADDQ BX, DI
	DECQ CX
	JNZ  ps32row

psdone:
	VZEROUPPER
	RET

// func packGatherAVX(kb int, src *float32, offs *int32, dst *float32, w int)
// Row p of the sliver (w floats, w 16 or 32) comes from src + offs[p]: the
// implicit im2col B of conv2dTaps.
TEXT ·packGatherAVX(SB), NOSPLIT, $0-40
	MOVQ kb+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), R8
	MOVQ dst+24(FP), DI
	MOVQ w+32(FP), BX
	TESTQ CX, CX
	JZ   pgdone
	CMPQ BX, $32
	JEQ  pg32

pg16:
	MOVLQSX (R8), AX
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS 32(SI)(AX*4), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ $4, R8
	ADDQ $64, DI
	DECQ CX
	JNZ  pg16
	JMP  pgdone

pg32:
	MOVLQSX (R8), AX
	VMOVUPS (SI)(AX*4), Y0
	VMOVUPS 32(SI)(AX*4), Y1
	VMOVUPS 64(SI)(AX*4), Y2
	VMOVUPS 96(SI)(AX*4), Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ $4, R8
	ADDQ $128, DI
	DECQ CX
	JNZ  pg32

pgdone:
	VZEROUPPER
	RET
