//go:build amd64 && !noasm

#include "textflag.h"

// func interleaveBiasAVX2(d, e, o *float32, n int, b float32)
// d[2j] = e[j] + b, d[2j+1] = o[j] + b for j < n (n a multiple of 8): add
// the bias to 8 of each, unpack low and high pairs within each 128-bit lane,
// then put the lanes in order.
TEXT ·interleaveBiasAVX2(SB), NOSPLIT, $0-36
	MOVQ d+0(FP), DI
	MOVQ e+8(FP), SI
	MOVQ o+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS b+32(FP), Y15

il_loop:
	CMPQ CX, $8
	JLT  il_done
	VADDPS (SI), Y15, Y0
	VADDPS (DX), Y15, Y1
	VUNPCKLPS Y1, Y0, Y2           // e0 o0 e1 o1 | e4 o4 e5 o5
	VUNPCKHPS Y1, Y0, Y3           // e2 o2 e3 o3 | e6 o6 e7 o7
	VPERM2F128 $0x20, Y3, Y2, Y4   // e0 o0 … e3 o3
	VPERM2F128 $0x31, Y3, Y2, Y5   // e4 o4 … e7 o7
	VMOVUPS Y4, (DI)
	VMOVUPS Y5, 32(DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $64, DI
	SUBQ $8, CX
	JMP  il_loop

il_done:
	VZEROUPPER
	RET
