//go:build amd64 && !noasm

#include "textflag.h"

// func vecNormAffineAVX2(out, x, w, b *float32, n int, m, iv float32)
// out[i] = ((x[i] − m)·iv)·w[i] + b[i] for i < n (n a multiple of 8),
// without FMA so every step rounds as the Go loop's does.
TEXT ·vecNormAffineAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ b+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y15
	VBROADCASTSS iv+44(FP), Y14

naff_loop:
	CMPQ    CX, $8
	JLT     naff_done
	VMOVUPS (SI), Y1
	VSUBPS  Y15, Y1, Y1
	VMULPS  Y14, Y1, Y1
	VMULPS  (DX), Y1, Y1
	VADDPS  (R8), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	ADDQ    $32, R8
	SUBQ    $8, CX
	JMP     naff_loop

naff_done:
	VZEROUPPER
	RET
