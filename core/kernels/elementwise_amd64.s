//go:build amd64 && !noasm

#include "textflag.h"

// ELEMENTWISE(op) is the body of vecAddAVX2 and vecMulAVX2: out = a op b,
// 32 floats a step in four registers, then 8 at a time (n a multiple of 8).
#define ELEMENTWISE(op, big, small, done) \
	MOVQ out+0(FP), DI; \
	MOVQ a+8(FP), SI; \
	MOVQ b+16(FP), DX; \
	MOVQ n+24(FP), CX; \
big: \
	CMPQ CX, $32; \
	JLT  small; \
	VMOVUPS (SI), Y0; \
	VMOVUPS 32(SI), Y1; \
	VMOVUPS 64(SI), Y2; \
	VMOVUPS 96(SI), Y3; \
	op (DX), Y0, Y0; \
	op 32(DX), Y1, Y1; \
	op 64(DX), Y2, Y2; \
	op 96(DX), Y3, Y3; \
	VMOVUPS Y0, (DI); \
	VMOVUPS Y1, 32(DI); \
	VMOVUPS Y2, 64(DI); \
	VMOVUPS Y3, 96(DI); \
	ADDQ $128, SI; \
	ADDQ $128, DX; \
	ADDQ $128, DI; \
	SUBQ $32, CX; \
	JMP  big; \
small: \
	CMPQ CX, $8; \
	JLT  done; \
	VMOVUPS (SI), Y0; \
	op (DX), Y0, Y0; \
	VMOVUPS Y0, (DI); \
	ADDQ $32, SI; \
	ADDQ $32, DX; \
	ADDQ $32, DI; \
	SUBQ $8, CX; \
	JMP  small; \
done: \
	VZEROUPPER; \
	RET

// func vecAddAVX2(out, a, b *float32, n int)
TEXT ·vecAddAVX2(SB), NOSPLIT, $0-32
	ELEMENTWISE(VADDPS, add_big, add_small, add_done)

// func vecMulAVX2(out, a, b *float32, n int)
TEXT ·vecMulAVX2(SB), NOSPLIT, $0-32
	ELEMENTWISE(VMULPS, mul_big, mul_small, mul_done)
