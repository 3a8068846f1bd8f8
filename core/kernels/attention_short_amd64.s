//go:build amd64 && !noasm

#include "textflag.h"

#include "exp_amd64.h"

// func attnShortAVX2(out, q, kt, v, mask, sc *float32, ldq, ldo, nq, d, nb int, scale float32)
// Per query row: scores in nb blocks of 8 (kt rows 128 bytes apart, one per
// head element), scaled and masked, stored to sc with their running max;
// the max to every lane; e = exp(s − max) as vecExpSubAVX2 (0 below
// expMin) and its sum; out row = Σ_j e[j]·v row j, times 1/sum.
TEXT ·attnShortAVX2(SB), NOSPLIT, $0-92
	MOVQ out+0(FP), DI
	MOVQ q+8(FP), SI
	MOVQ kt+16(FP), DX
	MOVQ v+24(FP), R8
	MOVQ mask+32(FP), R9
	MOVQ sc+40(FP), R10
	MOVQ nq+64(FP), CX
	MOVQ d+72(FP), R13
	SHLQ $2, R13 // d in bytes
	MOVQ nb+80(FP), R14
	SHLQ $5, R14 // 8·nb scores in bytes
	VBROADCASTSS scale+88(FP), Y15
	EXP_CONSTS

short_row:
	TESTQ CX, CX
	JEQ   short_done
	MOVL  $0xff800000, AX // -Inf
	VMOVD AX, X7
	VPBROADCASTD X7, Y7 // running max
	XORQ  BX, BX         // score block, bytes

short_blk:
	VXORPS Y5, Y5, Y5
	LEAQ   (DX)(BX*1), R11 // kt's columns of this block
	XORQ   AX, AX          // head element, bytes

short_dot:
	VBROADCASTSS (SI)(AX*1), Y6
	VFMADD231PS  (R11), Y6, Y5
	ADDQ         $128, R11
	ADDQ         $4, AX
	CMPQ         AX, R13
	JLT          short_dot
	VMULPS       Y15, Y5, Y5
	VADDPS       (R9)(BX*1), Y5, Y5
	VMOVUPS      Y5, (R10)(BX*1)
	VMAXPS       Y5, Y7, Y7
	ADDQ         $32, BX
	CMPQ         BX, R14
	JLT          short_blk

	VEXTRACTF128 $1, Y7, X0
	VMAXPS       X0, X7, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VBROADCASTSS X0, Y7 // row max
	VXORPS       Y8, Y8, Y8
	XORQ         BX, BX

short_exp:
	VMOVUPS (R10)(BX*1), Y1
	VSUBPS  Y7, Y1, Y1
	VCMPPS  $0x1d, Y11, Y1, Y3 // y >= expMin
	VMAXPS  Y11, Y1, Y1
	EXP_Y1
	VANDPS  Y3, Y4, Y4
	VMOVUPS Y4, (R10)(BX*1)
	VADDPS  Y4, Y8, Y8
	ADDQ    $32, BX
	CMPQ    BX, R14
	JLT     short_exp

	VEXTRACTF128 $1, Y8, X0
	VADDPS       X0, X8, X0
	VMOVHLPS     X0, X1, X1
	VADDPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VADDSS       X1, X0, X0
	VDIVSS       X0, X10, X0 // 1/sum
	VBROADCASTSS X0, Y9
	VXORPS       Y5, Y5, Y5
	VXORPS       Y6, Y6, Y6
	MOVQ         R10, R11 // score j
	MOVQ         R8, R12  // value row j
	XORQ         BX, BX
	CMPQ         R13, $64
	JEQ          short_pv16

short_pv8:
	VBROADCASTSS (R11), Y0
	VFMADD231PS  (R12), Y0, Y5
	ADDQ         $4, R11
	ADDQ         $32, R12
	ADDQ         $4, BX
	CMPQ         BX, R14
	JLT          short_pv8
	VMULPS       Y9, Y5, Y5
	VMOVUPS      Y5, (DI)
	JMP          short_next

short_pv16:
	VBROADCASTSS (R11), Y0
	VFMADD231PS  (R12), Y0, Y5
	VFMADD231PS  32(R12), Y0, Y6
	ADDQ         $4, R11
	ADDQ         $64, R12
	ADDQ         $4, BX
	CMPQ         BX, R14
	JLT          short_pv16
	VMULPS       Y9, Y5, Y5
	VMULPS       Y9, Y6, Y6
	VMOVUPS      Y5, (DI)
	VMOVUPS      Y6, 32(DI)

short_next:
	MOVQ ldq+48(FP), AX
	LEAQ (SI)(AX*4), SI
	MOVQ ldo+56(FP), AX
	LEAQ (DI)(AX*4), DI
	DECQ CX
	JMP  short_row

short_done:
	VZEROUPPER
	RET
