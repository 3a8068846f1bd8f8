//go:build amd64 && !noasm

#include "textflag.h"

// func vecScaleMaxAVX2(x *float32, n int, scale float32) float32
// x[j] = x[j]·scale for j < n (n a multiple of 8); returns the largest
// product. Two running maxima of 8 lanes (from −Inf) and an unordered-lane
// mask: any NaN product makes the result NaN, as Go's max would.
TEXT ·vecScaleMaxAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), DI
	MOVQ         n+8(FP), CX
	VBROADCASTSS scale+16(FP), Y15
	MOVL         $0xff800000, AX // −Inf
	VMOVD        AX, X0
	VPBROADCASTD X0, Y0
	VMOVAPS      Y0, Y1
	VXORPS       Y2, Y2, Y2      // lanes that saw a NaN

sm_loop16:
	CMPQ    CX, $16
	JLT     sm_loop8
	VMULPS  (DI), Y15, Y3
	VMULPS  32(DI), Y15, Y4
	VMOVUPS Y3, (DI)
	VMOVUPS Y4, 32(DI)
	VMAXPS  Y3, Y0, Y0
	VMAXPS  Y4, Y1, Y1
	VCMPPS  $3, Y3, Y3, Y5       // unordered: NaN
	VCMPPS  $3, Y4, Y4, Y6
	VORPS   Y5, Y2, Y2
	VORPS   Y6, Y2, Y2
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     sm_loop16

sm_loop8:
	CMPQ    CX, $8
	JLT     sm_reduce
	VMULPS  (DI), Y15, Y3
	VMOVUPS Y3, (DI)
	VMAXPS  Y3, Y0, Y0
	VCMPPS  $3, Y3, Y3, Y5
	VORPS   Y5, Y2, Y2

sm_reduce:
	VMAXPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VMOVHLPS     X0, X1, X1
	VMAXPS       X1, X0, X0
	VMOVSHDUP    X0, X1
	VMAXSS       X1, X0, X0
	VMOVMSKPS    Y2, AX
	TESTL        AX, AX
	JZ           sm_done
	MOVL         $0x7fc00000, AX // NaN
	VMOVD        AX, X0

sm_done:
	VMOVSS     X0, ret+24(FP)
	VZEROUPPER
	RET
