//go:build amd64 && !noasm

#include "textflag.h"
#include "hsum4_amd64.h"

// One block of 32 levels at (row)(AX*1) with scale at (scale)(BX*1) against
// x in Z8 (lanes 0-15) and Z9 (16-31): the block's products summed in 16
// lanes, then scaled into acc.
#define Q8BLOCK(row, scale, acc) \
	VPMOVSXBD   (row)(AX*1), Z10   \
	VPMOVSXBD   16(row)(AX*1), Z11 \
	VCVTDQ2PS   Z10, Z10           \
	VCVTDQ2PS   Z11, Z11           \
	VMULPS      Z10, Z8, Z10       \
	VFMADD231PS Z11, Z9, Z10       \
	VPBROADCASTW (scale)(BX*1), Y12 \
	VCVTPH2PS   Y12, Z12           \
	VFMADD231PS Z12, Z10, acc

// func dotsQ8x4AVX512(k int, x *float32, w *int8, d *uint16, ldw int, out *[4]float32)
TEXT ·dotsQ8x4AVX512(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), R8
	MOVQ d+24(FP), R12
	MOVQ ldw+32(FP), DX
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	LEAQ (R10)(DX*1), R11
	MOVQ DX, BX
	SHRQ $4, BX // a row's scales are ldw/32 halves on
	LEAQ (R12)(BX*1), R13
	LEAQ (R13)(BX*1), R14
	LEAQ (R14)(BX*1), DI
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	XORQ AX, AX // element
	XORQ BX, BX // scale byte offset: 2 per block

q4loop:
	VMOVUPS (SI)(AX*4), Z8
	VMOVUPS 64(SI)(AX*4), Z9
	Q8BLOCK(R8, R12, Z0)
	Q8BLOCK(R9, R13, Z1)
	Q8BLOCK(R10, R14, Z2)
	Q8BLOCK(R11, DI, Z3)
	ADDQ $32, AX
	ADDQ $2, BX
	CMPQ AX, CX
	JLT  q4loop

	MOVQ out+40(FP), DI
	HSUM4_STORE((DI))
	VZEROUPPER
	RET

// func vecAccRowsQ8AVX512(y, w *float32, x *int8, d *uint16, ldx, n, m int)
// Columns in blocks of 64, then 32; rows innermost so y stays in registers.
TEXT ·vecAccRowsQ8AVX512(SB), NOSPLIT, $0-56
	MOVQ  y+0(FP), DI
	MOVQ  w+8(FP), SI
	MOVQ  x+16(FP), DX
	MOVQ  d+24(FP), R13
	MOVQ  ldx+32(FP), R8
	MOVQ  R8, BX
	SHRQ  $4, BX // a row's scales are ldx/32 halves on
	MOVQ  n+40(FP), CX
	MOVQ  m+48(FP), R9
	TESTQ R9, R9
	JLE   qacc_done

qacc_64:
	CMPQ    CX, $64
	JLT     qacc_32
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	MOVQ    SI, R10
	MOVQ    DX, R11
	MOVQ    R13, R14
	MOVQ    R9, R12

qacc_64_row:
	VBROADCASTSS (R10), Z8
	VPBROADCASTW (R14), Y9
	VPBROADCASTW 2(R14), Y10
	VCVTPH2PS    Y9, Z9
	VCVTPH2PS    Y10, Z10
	VMULPS       Z9, Z8, Z9
	VMULPS       Z10, Z8, Z10
	VPMOVSXBD    (R11), Z4
	VPMOVSXBD    16(R11), Z5
	VPMOVSXBD    32(R11), Z6
	VPMOVSXBD    48(R11), Z7
	VCVTDQ2PS    Z4, Z4
	VCVTDQ2PS    Z5, Z5
	VCVTDQ2PS    Z6, Z6
	VCVTDQ2PS    Z7, Z7
	VFMADD231PS  Z4, Z9, Z0
	VFMADD231PS  Z5, Z9, Z1
	VFMADD231PS  Z6, Z10, Z2
	VFMADD231PS  Z7, Z10, Z3
	ADDQ         $4, R10
	ADDQ         R8, R11
	ADDQ         BX, R14
	DECQ         R12
	JNZ          qacc_64_row
	VMOVUPS      Z0, (DI)
	VMOVUPS      Z1, 64(DI)
	VMOVUPS      Z2, 128(DI)
	VMOVUPS      Z3, 192(DI)
	ADDQ         $256, DI
	ADDQ         $64, DX
	ADDQ         $4, R13
	SUBQ         $64, CX
	JMP          qacc_64

qacc_32:
	CMPQ    CX, $32
	JLT     qacc_done
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	MOVQ    SI, R10
	MOVQ    DX, R11
	MOVQ    R13, R14
	MOVQ    R9, R12

qacc_32_row:
	VBROADCASTSS (R10), Z8
	VPBROADCASTW (R14), Y9
	VCVTPH2PS    Y9, Z9
	VMULPS       Z9, Z8, Z9
	VPMOVSXBD    (R11), Z4
	VPMOVSXBD    16(R11), Z5
	VCVTDQ2PS    Z4, Z4
	VCVTDQ2PS    Z5, Z5
	VFMADD231PS  Z4, Z9, Z0
	VFMADD231PS  Z5, Z9, Z1
	ADDQ         $4, R10
	ADDQ         R8, R11
	ADDQ         BX, R14
	DECQ         R12
	JNZ          qacc_32_row
	VMOVUPS      Z0, (DI)
	VMOVUPS      Z1, 64(DI)
	ADDQ         $128, DI
	ADDQ         $32, DX
	ADDQ         $2, R13
	SUBQ         $32, CX
	JMP          qacc_32

qacc_done:
	VZEROUPPER
	RET

// func q8RowsToF32AVX512(dst *float32, src *int8, d *uint16, ld, n, m int)
TEXT ·q8RowsToF32AVX512(SB), NOSPLIT, $0-48
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  d+16(FP), R10
	MOVQ  ld+24(FP), R8
	MOVQ  R8, BX
	SHRQ  $4, BX
	MOVQ  n+32(FP), CX
	MOVQ  m+40(FP), R9
	TESTQ R9, R9
	JLE   q8wide_done

q8wide_row:
	XORQ AX, AX
	MOVQ R10, R11

q8wide_32:
	VPBROADCASTW (R11), Y0
	VCVTPH2PS    Y0, Z0
	VPMOVSXBD    (SI)(AX*1), Z1
	VPMOVSXBD    16(SI)(AX*1), Z2
	VCVTDQ2PS    Z1, Z1
	VCVTDQ2PS    Z2, Z2
	VMULPS       Z0, Z1, Z1
	VMULPS       Z0, Z2, Z2
	VMOVUPS      Z1, (DI)(AX*4)
	VMOVUPS      Z2, 64(DI)(AX*4)
	ADDQ         $32, AX
	ADDQ         $2, R11
	CMPQ         AX, CX
	JLT          q8wide_32
	LEAQ         (DI)(CX*4), DI
	ADDQ         R8, SI
	ADDQ         BX, R10
	DECQ         R9
	JNZ          q8wide_row

q8wide_done:
	VZEROUPPER
	RET
