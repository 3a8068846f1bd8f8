//go:build amd64 && !noasm

#include "textflag.h"
#include "hsum4_amd64.h"

#define attnPrefetchRows 16

// func dotsF16x4AVX512(k int, x *float32, w *uint16, ldw int, out *[4]float32)
// gemvDot4AVX512 with the rows widened from halves by VCVTPH2PS as they load.
TEXT ·dotsF16x4AVX512(SB), NOSPLIT, $0-40
	MOVQ k+0(FP), CX
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), R8
	MOVQ ldw+24(FP), DX
	SHLQ $1, DX
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
	JZ   h4tail
	// R12, R14, DI, R13: the four rows attnPrefetchRows further on.
	IMUL3Q $attnPrefetchRows, DX, R13
	LEAQ (R8)(R13*1), R12
	LEAQ (R9)(R13*1), R14
	LEAQ (R10)(R13*1), DI
	ADDQ R11, R13

h4loop:
	PREFETCHT0  (R12)(AX*2)
	PREFETCHT0  (R14)(AX*2)
	PREFETCHT0  (DI)(AX*2)
	PREFETCHT0  (R13)(AX*2)
	VMOVUPS     (SI)(AX*4), Z8
	VMOVUPS     64(SI)(AX*4), Z9
	VCVTPH2PS   (R8)(AX*2), Z10
	VCVTPH2PS   (R9)(AX*2), Z11
	VCVTPH2PS   (R10)(AX*2), Z12
	VCVTPH2PS   (R11)(AX*2), Z13
	VFMADD231PS Z10, Z8, Z0
	VFMADD231PS Z11, Z8, Z1
	VFMADD231PS Z12, Z8, Z2
	VFMADD231PS Z13, Z8, Z3
	VCVTPH2PS   32(R8)(AX*2), Z10
	VCVTPH2PS   32(R9)(AX*2), Z11
	VCVTPH2PS   32(R10)(AX*2), Z12
	VCVTPH2PS   32(R11)(AX*2), Z13
	VFMADD231PS Z10, Z9, Z4
	VFMADD231PS Z11, Z9, Z5
	VFMADD231PS Z12, Z9, Z6
	VFMADD231PS Z13, Z9, Z7
	ADDQ        $32, AX
	CMPQ        AX, BX
	JLT         h4loop

h4tail:
	CMPQ        AX, CX
	JGE         h4sum
	VMOVUPS     (SI)(AX*4), Z8
	VCVTPH2PS   (R8)(AX*2), Z10
	VCVTPH2PS   (R9)(AX*2), Z11
	VCVTPH2PS   (R10)(AX*2), Z12
	VCVTPH2PS   (R11)(AX*2), Z13
	VFMADD231PS Z10, Z8, Z0
	VFMADD231PS Z11, Z8, Z1
	VFMADD231PS Z12, Z8, Z2
	VFMADD231PS Z13, Z8, Z3

h4sum:
	MOVQ   out+32(FP), DI
	VADDPS Z4, Z0, Z0
	VADDPS Z5, Z1, Z1
	VADDPS Z6, Z2, Z2
	VADDPS Z7, Z3, Z3
	HSUM4_STORE((DI))
	VZEROUPPER
	RET

// func vecAccRowsF16AVX2(y, w *float32, x *uint16, ldx, n, m int)
// vecAccRowsAVX2's loops (columns in blocks of 64, then 8; rows innermost so
// y stays in registers) with each row's halves widened by VCVTPH2PS.
TEXT ·vecAccRowsF16AVX2(SB), NOSPLIT, $0-48
	MOVQ  y+0(FP), DI
	MOVQ  w+8(FP), SI
	MOVQ  x+16(FP), DX
	MOVQ  ldx+24(FP), R8
	SHLQ  $1, R8
	MOVQ  n+32(FP), CX
	MOVQ  m+40(FP), R9
	TESTQ R9, R9
	JLE   hacc_done

hacc_64:
	CMPQ    CX, $64
	JLT     hacc_8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	MOVQ    SI, R10
	MOVQ    DX, R11
	MOVQ    R9, R12
	IMUL3Q  $attnPrefetchRows, R8, R13

hacc_64_row:
	PREFETCHT0   (R11)(R13*1)
	PREFETCHT0   64(R11)(R13*1)
	VBROADCASTSS (R10), Y8
	VCVTPH2PS    (R11), Y9
	VCVTPH2PS    16(R11), Y10
	VCVTPH2PS    32(R11), Y11
	VCVTPH2PS    48(R11), Y12
	VFMADD231PS  Y9, Y8, Y0
	VFMADD231PS  Y10, Y8, Y1
	VFMADD231PS  Y11, Y8, Y2
	VFMADD231PS  Y12, Y8, Y3
	VCVTPH2PS    64(R11), Y9
	VCVTPH2PS    80(R11), Y10
	VCVTPH2PS    96(R11), Y11
	VCVTPH2PS    112(R11), Y12
	VFMADD231PS  Y9, Y8, Y4
	VFMADD231PS  Y10, Y8, Y5
	VFMADD231PS  Y11, Y8, Y6
	VFMADD231PS  Y12, Y8, Y7
	ADDQ         $4, R10
	ADDQ         R8, R11
	DECQ         R12
	JNZ          hacc_64_row
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	VMOVUPS      Y2, 64(DI)
	VMOVUPS      Y3, 96(DI)
	VMOVUPS      Y4, 128(DI)
	VMOVUPS      Y5, 160(DI)
	VMOVUPS      Y6, 192(DI)
	VMOVUPS      Y7, 224(DI)
	ADDQ         $256, DI
	ADDQ         $128, DX
	SUBQ         $64, CX
	JMP          hacc_64

hacc_8:
	CMPQ    CX, $8
	JLT     hacc_done
	VMOVUPS (DI), Y0
	MOVQ    SI, R10
	MOVQ    DX, R11
	MOVQ    R9, R12

hacc_8_row:
	VBROADCASTSS (R10), Y8
	VCVTPH2PS    (R11), Y9
	VFMADD231PS  Y9, Y8, Y0
	ADDQ         $4, R10
	ADDQ         R8, R11
	DECQ         R12
	JNZ          hacc_8_row
	VMOVUPS      Y0, (DI)
	ADDQ         $32, DI
	ADDQ         $16, DX
	SUBQ         $8, CX
	JMP          hacc_8

hacc_done:
	VZEROUPPER
	RET

// func f16RowsToF32AVX512(dst *float32, src *uint16, ld, n, m int)
TEXT ·f16RowsToF32AVX512(SB), NOSPLIT, $0-40
	MOVQ  dst+0(FP), DI
	MOVQ  src+8(FP), SI
	MOVQ  ld+16(FP), R8
	SHLQ  $1, R8
	MOVQ  n+24(FP), CX
	MOVQ  m+32(FP), R9
	TESTQ R9, R9
	JLE   wide_done

wide_row:
	XORQ AX, AX

wide_16:
	VCVTPH2PS (SI)(AX*2), Z0
	VMOVUPS   Z0, (DI)(AX*4)
	ADDQ      $16, AX
	CMPQ      AX, CX
	JLT       wide_16
	LEAQ      (DI)(CX*4), DI
	ADDQ      R8, SI
	DECQ      R9
	JNZ       wide_row

wide_done:
	VZEROUPPER
	RET

