//go:build amd64 && !noasm

#include "textflag.h"
#include "exp_amd64.h"

// SSM_CHAN runs one channel c of ssmScan16AVX512's block for one token,
// its 16 states in one register: e = exp(Δ[c]·A[c,:]) (0 below expMin, as
// expf), h = h·e + B·(Δ·x)[c], and P = h·C for the reduction. Δ and Δ·x of
// the block's 16 channels are at 0(SP) and 64(SP); Z8 holds B, Z7 C.
#define SSM_CHAN(c, P) \
	VMOVUPS (64*c)(R10), Z1; \
	VMULPS.BCST (4*c)(SP), Z1, Z1; \
	VCMPPS $0x1d, Z11, Z1, K1; \
	VMAXPS Z11, Z1, Z1; \
	VMINPS Z9, Z1, Z1; \
	EXP_Z1; \
	VSCALEFPS.Z Z2, Z4, K1, Z4; \
	VMULPS (64*c)(SI), Z4, Z0; \
	VFMADD231PS.BCST (64+4*c)(SP), Z8, Z0; \
	VMOVUPS Z0, (64*c)(SI); \
	VMULPS Z7, Z0, P

// SUM_PAIR(shuf, lo, hi, p, q) sets p to shuf(lo) + shuf(hi) of p and q:
// one level of the 16-way transposed sum, each output holding half of the
// partial sums of each of its two inputs.
#define SUM_PAIR(shuf, lo, hi, p, q) \
	shuf lo, q, p, Z5; \
	shuf hi, q, p, p; \
	VADDPS Z5, p, p

// func ssmScan16AVX512(y, h, x, dt, a, b, c *float32, seq, ld int)
//
// One block of 16 channels of Mamba-1's scan with 16 states, over seq
// tokens: Δ = softplus(dt) for the block's channels at once, then each
// channel's state row updated as one vector and its products with C left
// in Z16…Z31, which a transposed sum (SUM_PAIR, four levels) turns into the
// 16 outputs of the token in one register. The slots are filled in the
// order that puts channel j in lane j at the end (slot s is channel
// 4·(s mod 4) + s/4).
TEXT ·ssmScan16AVX512(SB), NOSPLIT, $128-72
	MOVQ y+0(FP), DI
	MOVQ h+8(FP), SI
	MOVQ x+16(FP), R8
	MOVQ dt+24(FP), R9
	MOVQ a+32(FP), R10
	MOVQ b+40(FP), R11
	MOVQ c+48(FP), R12
	MOVQ seq+56(FP), R13
	MOVQ ld+64(FP), R14
	SHLQ $2, R14
	EXP_CONSTS_Z

ssm_token:
	VMOVUPS (R9), Z0
	SOFTPLUS_Z
	VMULPS (R8), Z3, Z5
	VMOVUPS Z3, 0(SP)
	VMOVUPS Z5, 64(SP)
	VMOVUPS (R11), Z8
	VMOVUPS (R12), Z7
	SSM_CHAN(0, Z16)
	SSM_CHAN(4, Z17)
	SSM_CHAN(8, Z18)
	SSM_CHAN(12, Z19)
	SSM_CHAN(1, Z20)
	SSM_CHAN(5, Z21)
	SSM_CHAN(9, Z22)
	SSM_CHAN(13, Z23)
	SSM_CHAN(2, Z24)
	SSM_CHAN(6, Z25)
	SSM_CHAN(10, Z26)
	SSM_CHAN(14, Z27)
	SSM_CHAN(3, Z28)
	SSM_CHAN(7, Z29)
	SSM_CHAN(11, Z30)
	SSM_CHAN(15, Z31)
	// Halves of 256 bits, then 128-bit lanes, then pairs, then floats.
	SUM_PAIR(VSHUFF32X4, $0x44, $0xee, Z16, Z17)
	SUM_PAIR(VSHUFF32X4, $0x44, $0xee, Z18, Z19)
	SUM_PAIR(VSHUFF32X4, $0x44, $0xee, Z20, Z21)
	SUM_PAIR(VSHUFF32X4, $0x44, $0xee, Z22, Z23)
	SUM_PAIR(VSHUFF32X4, $0x44, $0xee, Z24, Z25)
	SUM_PAIR(VSHUFF32X4, $0x44, $0xee, Z26, Z27)
	SUM_PAIR(VSHUFF32X4, $0x44, $0xee, Z28, Z29)
	SUM_PAIR(VSHUFF32X4, $0x44, $0xee, Z30, Z31)
	SUM_PAIR(VSHUFF32X4, $0x88, $0xdd, Z16, Z18)
	SUM_PAIR(VSHUFF32X4, $0x88, $0xdd, Z20, Z22)
	SUM_PAIR(VSHUFF32X4, $0x88, $0xdd, Z24, Z26)
	SUM_PAIR(VSHUFF32X4, $0x88, $0xdd, Z28, Z30)
	SUM_PAIR(VSHUFPS, $0x44, $0xee, Z16, Z20)
	SUM_PAIR(VSHUFPS, $0x44, $0xee, Z24, Z28)
	SUM_PAIR(VSHUFPS, $0x88, $0xdd, Z16, Z24)
	VMOVUPS Z16, (DI)
	ADDQ R14, DI
	ADDQ R14, R8
	ADDQ R14, R9
	ADDQ $64, R11
	ADDQ $64, R12
	DECQ R13
	JNZ  ssm_token
	VZEROUPPER
	RET

// HSUM_Z0 leaves the sum of Z0's 16 lanes in X0 (clobbers Z1).
#define HSUM_Z0 \
	VEXTRACTF64X4 $1, Z0, Y1; \
	VADDPS Y1, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS X1, X0, X0; \
	VMOVHLPS X0, X1, X1; \
	VADDPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VADDSS X1, X0, X0

// func ssm2HeadAVX512(y, h, x, b, c, delta, decay *float32, seq, ld, ldbc, p, n int)
//
// One head of Mamba-2's scan, state rows of n floats (a multiple of 16)
// 16 at a time: for each token the head's decay and Δ are broadcast, and
// each of its p channels updates its row as h·decay + B·(x·Δ), in
// ssm2Rows' rounding, summing h·C in 16 lanes.
TEXT ·ssm2HeadAVX512(SB), NOSPLIT, $0-96
	MOVQ y+0(FP), DI
	MOVQ x+16(FP), R8
	MOVQ b+24(FP), R9
	MOVQ c+32(FP), R10
	MOVQ delta+40(FP), R11
	MOVQ decay+48(FP), R12
	MOVQ seq+56(FP), R13
	MOVQ ld+64(FP), R14
	SHLQ $2, R14
	MOVQ ldbc+72(FP), BX
	SHLQ $2, BX

ssm2_token:
	MOVQ h+8(FP), AX
	VBROADCASTSS (R12), Z6 // decay
	XORQ CX, CX

ssm2_channel:
	VMOVSS (R8)(CX*4), X7
	VMULSS (R11), X7, X7
	VBROADCASTSS X7, Z7 // x·Δ
	VXORPS Z3, Z3, Z3
	XORQ DX, DX
	MOVQ n+88(FP), SI

ssm2_state:
	VMULPS (AX)(DX*1), Z6, Z0
	VMULPS (R9)(DX*1), Z7, Z1
	VADDPS Z1, Z0, Z0
	VMOVUPS Z0, (AX)(DX*1)
	VFMADD231PS (R10)(DX*1), Z0, Z3
	ADDQ $64, DX
	SUBQ $16, SI
	JNZ  ssm2_state
	ADDQ DX, AX
	VMOVAPS Z3, Z0
	HSUM_Z0
	VMOVSS X0, (DI)(CX*4)
	INCQ CX
	CMPQ CX, p+80(FP)
	JLT  ssm2_channel

	ADDQ R14, DI
	ADDQ R14, R8
	ADDQ BX, R9
	ADDQ BX, R10
	ADDQ $4, R11
	ADDQ $4, R12
	DECQ R13
	JNZ  ssm2_token
	VZEROUPPER
	RET

// func wkv6HeadAVX512(y, s, k, v, r, u, w *float32, seq, ld, n int)
//
// One head of RWKV-6's WKV, n a multiple of 16: per token, the state's
// columns 16 at a time (a stripe), walking its n rows with k, r, u and w of
// the row broadcast: kv = v·k, y += (kv·u + S)·r, S = S·w + kv. Even and odd
// rows sum into two registers, so the stripe's chain of additions is half
// as long; they are added at the stripe's end.
TEXT ·wkv6HeadAVX512(SB), NOSPLIT, $0-80
	MOVQ y+0(FP), DI
	MOVQ s+8(FP), SI
	MOVQ k+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ r+32(FP), R10
	MOVQ u+40(FP), R11
	MOVQ w+48(FP), R12
	MOVQ seq+56(FP), R13
	MOVQ ld+64(FP), R14
	SHLQ $2, R14
	MOVQ n+72(FP), BX
	SHLQ $2, BX

wkv_token:
	XORQ DX, DX

wkv_stripe:
	VMOVUPS (R9)(DX*1), Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z5, Z5, Z5
	LEAQ (SI)(DX*1), CX
	XORQ AX, AX

wkv_rows:
	VMULPS.BCST (R8)(AX*1), Z0, Z2
	VMOVUPS (CX), Z3
	VMOVAPS Z3, Z4
	VFMADD231PS.BCST (R11)(AX*1), Z2, Z4
	VFMADD231PS.BCST (R10)(AX*1), Z4, Z1
	VFMADD132PS.BCST (R12)(AX*1), Z2, Z3
	VMOVUPS Z3, (CX)
	ADDQ BX, CX
	VMULPS.BCST 4(R8)(AX*1), Z0, Z6
	VMOVUPS (CX), Z7
	VMOVAPS Z7, Z4
	VFMADD231PS.BCST 4(R11)(AX*1), Z6, Z4
	VFMADD231PS.BCST 4(R10)(AX*1), Z4, Z5
	VFMADD132PS.BCST 4(R12)(AX*1), Z6, Z7
	VMOVUPS Z7, (CX)
	ADDQ BX, CX
	ADDQ $8, AX
	CMPQ AX, BX
	JLT  wkv_rows
	VADDPS Z5, Z1, Z1
	VMOVUPS Z1, (DI)(DX*1)
	ADDQ $64, DX
	CMPQ DX, BX
	JLT  wkv_stripe

	ADDQ R14, DI
	ADDQ R14, R8
	ADDQ R14, R9
	ADDQ R14, R10
	ADDQ R14, R12
	DECQ R13
	JNZ  wkv_token
	VZEROUPPER
	RET
