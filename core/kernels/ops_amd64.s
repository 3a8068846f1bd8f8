//go:build amd64 && !noasm

#include "textflag.h"

#include "exp_amd64.h"

// func vecDotsAVX2(out, q, k *float32, ldk, n, m int)
TEXT ·vecDotsAVX2(SB), NOSPLIT, $0-48
	MOVQ out+0(FP), DI
	MOVQ q+8(FP), SI
	MOVQ k+16(FP), DX
	MOVQ ldk+24(FP), R8
	SHLQ $2, R8
	MOVQ n+32(FP), CX
	MOVQ m+40(FP), R9
	TESTQ R9, R9
	JLE dots_done

dots_row:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ CX, R12

dots_32:
	CMPQ R12, $32
	JLT  dots_8
	VMOVUPS (R10), Y4
	VMOVUPS 32(R10), Y5
	VMOVUPS 64(R10), Y6
	VMOVUPS 96(R10), Y7
	VFMADD231PS (R11), Y4, Y0
	VFMADD231PS 32(R11), Y5, Y1
	VFMADD231PS 64(R11), Y6, Y2
	VFMADD231PS 96(R11), Y7, Y3
	ADDQ $128, R10
	ADDQ $128, R11
	SUBQ $32, R12
	JMP  dots_32

dots_8:
	CMPQ R12, $8
	JLT  dots_reduce
	VMOVUPS (R10), Y4
	VFMADD231PS (R11), Y4, Y0
	ADDQ $32, R10
	ADDQ $32, R11
	SUBQ $8, R12
	JMP  dots_8

dots_reduce:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X1, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0

dots_tail:
	TESTQ R12, R12
	JEQ   dots_store
	VMOVSS (R10), X4
	VFMADD231SS (R11), X4, X0
	ADDQ $4, R10
	ADDQ $4, R11
	DECQ R12
	JMP  dots_tail

dots_store:
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ R8, DX
	DECQ R9
	JNZ  dots_row

dots_done:
	VZEROUPPER
	RET

// func vecAccRowsAVX2(y, w, x *float32, ldx, n, m int)
// Columns in blocks of 64 (8 accumulators, enough FMA chains in flight),
// then 8, then one at a time; rows innermost so y stays in registers.
TEXT ·vecAccRowsAVX2(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ x+16(FP), DX
	MOVQ ldx+24(FP), R8
	SHLQ $2, R8
	MOVQ n+32(FP), CX
	MOVQ m+40(FP), R9
	TESTQ R9, R9
	JLE  acc_done

acc_64:
	CMPQ CX, $64
	JLT  acc_8
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ R9, R12

acc_64_row:
	VBROADCASTSS (R10), Y8
	VFMADD231PS (R11), Y8, Y0
	VFMADD231PS 32(R11), Y8, Y1
	VFMADD231PS 64(R11), Y8, Y2
	VFMADD231PS 96(R11), Y8, Y3
	VFMADD231PS 128(R11), Y8, Y4
	VFMADD231PS 160(R11), Y8, Y5
	VFMADD231PS 192(R11), Y8, Y6
	VFMADD231PS 224(R11), Y8, Y7
	ADDQ $4, R10
	ADDQ R8, R11
	DECQ R12
	JNZ  acc_64_row
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	ADDQ $256, DI
	ADDQ $256, DX
	SUBQ $64, CX
	JMP  acc_64

acc_8:
	CMPQ CX, $8
	JLT  acc_1
	VMOVUPS (DI), Y0
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ R9, R12

acc_8_row:
	VBROADCASTSS (R10), Y8
	VFMADD231PS (R11), Y8, Y0
	ADDQ $4, R10
	ADDQ R8, R11
	DECQ R12
	JNZ  acc_8_row
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP  acc_8

acc_1:
	TESTQ CX, CX
	JEQ   acc_done
	VMOVSS (DI), X0
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ R9, R12

acc_1_row:
	VMOVSS (R10), X8
	VFMADD231SS (R11), X8, X0
	ADDQ $4, R10
	ADDQ R8, R11
	DECQ R12
	JNZ  acc_1_row
	VMOVSS X0, (DI)
	ADDQ $4, DI
	ADDQ $4, DX
	DECQ CX
	JMP  acc_1

acc_done:
	VZEROUPPER
	RET

// func vecExpSubAVX2(x *float32, n int, m float32) float32
// x = n·ln2 + f by rounding x·log2e, e^f by Horner, 2^n added into the
// exponent bits (n<<23 plus the bits of 1.0); lanes below expMin become 0.
TEXT ·vecExpSubAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS m+16(FP), Y15
	EXP_CONSTS
	VXORPS Y0, Y0, Y0

exp_loop:
	CMPQ CX, $8
	JLT  exp_reduce
	VMOVUPS (DI), Y1
	VSUBPS Y15, Y1, Y1
	VCMPPS $0x1d, Y11, Y1, Y3 // y >= expMin (false for NaN)
	VMAXPS Y11, Y1, Y1
	EXP_Y1
	VANDPS Y3, Y4, Y4
	VMOVUPS Y4, (DI)
	VADDPS Y4, Y0, Y0
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  exp_loop

exp_reduce:
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X1, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func vecSumF64AVX2(x *float32, n int) float64
// Σ x[j] for j < n (n a multiple of 8), each lane widened to float64 and
// summed in two 4-lane float64 accumulators.
TEXT ·vecSumF64AVX2(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VXORPD Y0, Y0, Y0
	VXORPD Y3, Y3, Y3

sum_loop:
	CMPQ CX, $8
	JLT  sum_reduce
	VCVTPS2PD (DI), Y1
	VCVTPS2PD 16(DI), Y2
	VADDPD Y1, Y0, Y0
	VADDPD Y2, Y3, Y3
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  sum_loop

sum_reduce:
	VADDPD Y3, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VUNPCKHPD X0, X0, X1
	VADDSD X1, X0, X0
	VMOVSD X0, ret+16(FP)
	VZEROUPPER
	RET

// func vecSqDevF64AVX2(x *float32, n int, mean float64) float64
// Σ (x[j] − mean)² for j < n (n a multiple of 8), in float64.
TEXT ·vecSqDevF64AVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSD mean+16(FP), Y15
	VXORPD Y0, Y0, Y0
	VXORPD Y3, Y3, Y3

sq_loop:
	CMPQ CX, $8
	JLT  sq_reduce
	VCVTPS2PD (DI), Y1
	VCVTPS2PD 16(DI), Y2
	VSUBPD Y15, Y1, Y1
	VSUBPD Y15, Y2, Y2
	VFMADD231PD Y1, Y1, Y0
	VFMADD231PD Y2, Y2, Y3
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  sq_loop

sq_reduce:
	VADDPD Y3, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VUNPCKHPD X0, X0, X1
	VADDSD X1, X0, X0
	VMOVSD X0, ret+24(FP)
	VZEROUPPER
	RET

// func vecAffineAVX2(out, x *float32, n int, scale, shift float32)
// out[j] = x[j]·scale + shift for j < n (n a multiple of 8), one FMA each.
TEXT ·vecAffineAVX2(SB), NOSPLIT, $0-32
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS scale+24(FP), Y15
	VBROADCASTSS shift+28(FP), Y14

aff_loop:
	CMPQ CX, $8
	JLT  aff_done
	VMOVUPS (SI), Y1
	VFMADD213PS Y14, Y15, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  aff_loop

aff_done:
	VZEROUPPER
	RET

// func vecSiLUAVX2(out, x *float32, n int)
// out[j] = x[j] / (1 + e^(−x[j])) for j < n (n a multiple of 8): the exp of
// vecExpSubAVX2 on −x clamped to [expMin, 88] (below: e^−x = 0, so out = x;
// above: out rounds to −0 as SiLU's true value does); NaN stays NaN.
TEXT ·vecSiLUAVX2(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	EXP_CONSTS
	MOVL $0x42b00000, AX // 88.0
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	VXORPS Y8, Y8, Y8 // 0

silu_loop:
	CMPQ CX, $8
	JLT  silu_done
	VMOVUPS (SI), Y0 // x
	VSUBPS Y0, Y8, Y1 // y = −x
	VCMPPS $0x1d, Y11, Y1, Y3 // y >= expMin (false for NaN)
	VMAXPS Y11, Y1, Y1
	VMINPS Y9, Y1, Y1
	EXP_Y1 // Y4 = e^y
	VANDPS Y3, Y4, Y4 // 0 below expMin and for NaN
	VADDPS Y10, Y4, Y4 // 1 + e^−x
	VDIVPS Y4, Y0, Y0 // x / (1 + e^−x)
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  silu_loop

silu_done:
	VZEROUPPER
	RET

// Abramowitz & Stegun 7.1.26 for GELUErf: a1…a5, p, 1/√2, 0.5, 2.
DATA geluC<>+0(SB)/4, $0.254829592
DATA geluC<>+4(SB)/4, $-0.284496736
DATA geluC<>+8(SB)/4, $1.421413741
DATA geluC<>+12(SB)/4, $-1.453152027
DATA geluC<>+16(SB)/4, $1.061405429
DATA geluC<>+20(SB)/4, $0.3275911
DATA geluC<>+24(SB)/4, $0.70710678118654752
DATA geluC<>+28(SB)/4, $0.5
DATA geluC<>+32(SB)/4, $2.0
GLOBL geluC<>(SB), RODATA|NOPTR, $36

// GELU_EXP_ARG sets y = −x²/2 (nhalf holds −0.5 in every lane), mask = y ≥
// expMin (false for NaN; a vector or a K register) and clamps y at emin:
// the argument of e^(−x²/2) in vecGELUErfAVX2 and vecGELUErfAVX512.
#define GELU_EXP_ARG(x, y, nhalf, emin, mask) \
	VMULPS x, x, y; \
	VMULPS nhalf, y, y; \
	VCMPPS $0x1d, emin, y, mask; \
	VMAXPS emin, y, y

// GELU_K sets k = 1/(1 + p·u) for u = |x|/√2 (absmask 0x7fffffff, rsqrt2
// 1/√2, one 1.0 in every lane).
#define GELU_K(x, absmask, rsqrt2, p, one, k) \
	VANDPS absmask, x, k; \
	VMULPS rsqrt2, k, k; \
	VMULPS p, k, k; \
	VADDPS one, k, k; \
	VDIVPS k, one, k

// func vecGELUErfAVX2(out, x *float32, n int)
// out[j] = 0.5·x·(1 + erf(x/√2)) for j < n (n a multiple of 8), as
// geluErfGeneric: e = e^(−x²/2) by vecExpSubAVX2's exp (0 below expMin and
// for NaN), k = 1/(1 + p·|x|/√2), q = k·P(k)·e = 1 − erf(|x|/√2), then
// 0.5·x·q for negative x (sign bit set) and 0.5·x·(2 − q) otherwise.
TEXT ·vecGELUErfAVX2(SB), NOSPLIT, $0-24
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	EXP_CONSTS
	MOVL $0xbf000000, AX // -0.5
	VMOVD AX, X9
	VPBROADCASTD X9, Y9
	MOVL $0x7fffffff, AX // |·| mask
	VMOVD AX, X8
	VPBROADCASTD X8, Y8
	VBROADCASTSS geluC<>+20(SB), Y15 // p
	VBROADCASTSS geluC<>+24(SB), Y7 // 1/√2

gelu_loop:
	CMPQ CX, $8
	JLT  gelu_done
	VMOVUPS (SI), Y0 // x
	GELU_EXP_ARG(Y0, Y1, Y9, Y11, Y3)
	EXP_Y1
	VANDPS Y3, Y4, Y4 // e = e^(−x²/2)
	GELU_K(Y0, Y8, Y7, Y15, Y10, Y5)
	VBROADCASTSS geluC<>+16(SB), Y6 // a5
	VBROADCASTSS geluC<>+12(SB), Y2
	VFMADD213PS Y2, Y5, Y6 // a4 + k·a5
	VBROADCASTSS geluC<>+8(SB), Y2
	VFMADD213PS Y2, Y5, Y6
	VBROADCASTSS geluC<>+4(SB), Y2
	VFMADD213PS Y2, Y5, Y6
	VBROADCASTSS geluC<>+0(SB), Y2
	VFMADD213PS Y2, Y5, Y6 // P(k)
	VMULPS Y5, Y6, Y6
	VMULPS Y4, Y6, Y6 // q = 1 − erf(|u|)
	VBROADCASTSS geluC<>+32(SB), Y2
	VSUBPS Y6, Y2, Y2 // 2 − q
	VBLENDVPS Y0, Y6, Y2, Y2 // q where x's sign bit is set
	VBROADCASTSS geluC<>+28(SB), Y1
	VMULPS Y1, Y0, Y0 // 0.5·x
	VMULPS Y2, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  gelu_loop

gelu_done:
	VZEROUPPER
	RET

// func vecGELUErfAVX512(out, x *float32, n int)
// vecGELUErfAVX2's steps in 16 lanes, each rounded as there: e^(−x²/2)
// (EXP_Z1, scaled by VSCALEFPS, zero below expMin and for NaN), k =
// 1/(1 + p·|x|/√2), q = k·P(k)·e, then 0.5·x·q for negative x (sign bit
// set) and 0.5·x·(2 − q) otherwise. A zmm op takes one scheduler slot for
// 16 lanes, so twice as many of this long dependency chain's lanes are in
// flight as in 8.
TEXT ·vecGELUErfAVX512(SB), NOSPLIT, $0-24
	VBROADCASTSS geluC<>+0(SB), Z17  // a1
	VBROADCASTSS geluC<>+4(SB), Z18  // a2
	VBROADCASTSS geluC<>+8(SB), Z19  // a3
	VBROADCASTSS geluC<>+12(SB), Z20 // a4
	VBROADCASTSS geluC<>+16(SB), Z21 // a5
	VBROADCASTSS geluC<>+20(SB), Z15 // p
	VBROADCASTSS geluC<>+24(SB), Z7  // 1/√2
	VBROADCASTSS geluC<>+28(SB), Z23 // 0.5
	VBROADCASTSS geluC<>+32(SB), Z22 // 2
	EXP_CONSTS_Z
	MOVL $0xbf000000, AX // -0.5
	VPBROADCASTD AX, Z16
	MOVL $0x7fffffff, AX // |·| mask
	VPBROADCASTD AX, Z8
	MOVL $0x80000000, AX // sign bit
	VPBROADCASTD AX, Z24
	MOVQ out+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	XORQ AX, AX
	CMPQ CX, $16
	JLT  gelu16_done

gelu16_loop:
	VMOVUPS (SI)(AX*4), Z0 // x
	GELU_EXP_ARG(Z0, Z1, Z16, Z11, K1)
	EXP_Z1
	VSCALEFPS.Z Z2, Z4, K1, Z4 // e = e^(−x²/2)
	GELU_K(Z0, Z8, Z7, Z15, Z10, Z5)
	VMOVAPS Z21, Z6
	VFMADD213PS Z20, Z5, Z6 // a4 + k·a5
	VFMADD213PS Z19, Z5, Z6
	VFMADD213PS Z18, Z5, Z6
	VFMADD213PS Z17, Z5, Z6 // P(k)
	VMULPS Z5, Z6, Z6
	VMULPS Z4, Z6, Z6 // q = 1 − erf(|u|)
	VSUBPS Z6, Z22, Z2 // 2 − q
	VPTESTMD Z24, Z0, K2 // x's sign bit set
	VMOVAPS Z6, K2, Z2 // q there
	VMULPS Z23, Z0, Z0 // 0.5·x
	VMULPS Z2, Z0, Z0
	VMOVUPS Z0, (DI)(AX*4)
	ADDQ $16, AX
	CMPQ AX, CX
	JLT  gelu16_loop

gelu16_done:
	VZEROUPPER
	RET

// Constants of vecSinCosMulAVX2: 2/π, π/2 split in two doubles (hi + lo),
// Cephes' sinf/cosf polynomials on [−π/4, π/4], 0.5, 1.0, the |·| mask and
// the largest phase reduced here (65536), and the int32 lanes 1 and 2.
DATA sincosD<>+0(SB)/8, $0.63661977236758134308
DATA sincosD<>+8(SB)/8, $1.5707963267948966
DATA sincosD<>+16(SB)/8, $6.123233995736766e-17
GLOBL sincosD<>(SB), RODATA|NOPTR, $24

DATA sincosF<>+0(SB)/4, $-1.6666654611e-1
DATA sincosF<>+4(SB)/4, $8.3321608736e-3
DATA sincosF<>+8(SB)/4, $-1.9515295891e-4
DATA sincosF<>+12(SB)/4, $4.166664568298827e-2
DATA sincosF<>+16(SB)/4, $-1.388731625493765e-3
DATA sincosF<>+20(SB)/4, $2.443315711809948e-5
DATA sincosF<>+24(SB)/4, $0.5
DATA sincosF<>+28(SB)/4, $1.0
DATA sincosF<>+32(SB)/4, $0x7fffffff
DATA sincosF<>+36(SB)/4, $65536.0
DATA sincosF<>+40(SB)/4, $1
DATA sincosF<>+44(SB)/4, $2
GLOBL sincosF<>(SB), RODATA|NOPTR, $48

// func vecSinCosMulAVX2(re, im, phase, mag *float32, n int) int
// re[j] = mag[j]·cos(phase[j]), im[j] = mag[j]·sin(phase[j]) for j < n (n a
// multiple of 8). Each phase is reduced in float64, r = x − k·π/2 with
// k = round(x·2/π), then sin r and cos r by float32 polynomials, swapped and
// negated by k mod 4. Returns nonzero when some |phase| exceeds 65536 or is
// NaN (where this reduction is not trusted): the caller then redoes the
// call's values with the reference loop.
TEXT ·vecSinCosMulAVX2(SB), NOSPLIT, $0-48
	MOVQ re+0(FP), DI
	MOVQ im+8(FP), DX
	MOVQ phase+16(FP), SI
	MOVQ mag+24(FP), BX
	MOVQ n+32(FP), CX
	VBROADCASTSD sincosD<>+0(SB), Y15 // 2/π
	VBROADCASTSD sincosD<>+8(SB), Y14 // π/2 hi
	VXORPS Y13, Y13, Y13 // out-of-range lanes, OR'd

sc_loop:
	CMPQ CX, $8
	JLT  sc_done
	VMOVUPS (SI), Y0
	VBROADCASTSS sincosF<>+32(SB), Y1
	VANDPS Y1, Y0, Y1
	VBROADCASTSS sincosF<>+36(SB), Y2
	VCMPPS $0x16, Y2, Y1, Y1 // |x| > 65536 or NaN
	VORPS Y1, Y13, Y13
	// Lanes 0–3 and 4–7 reduced in float64: r (Y1, Y2), k (Y3, Y4).
	VCVTPS2PD X0, Y1
	VEXTRACTF128 $1, Y0, X2
	VCVTPS2PD X2, Y2
	VMULPD Y15, Y1, Y3
	VROUNDPD $0, Y3, Y3
	VBROADCASTSD sincosD<>+16(SB), Y12 // π/2 lo
	VFNMADD231PD Y14, Y3, Y1
	VFNMADD231PD Y12, Y3, Y1
	VMULPD Y15, Y2, Y4
	VROUNDPD $0, Y4, Y4
	VFNMADD231PD Y14, Y4, Y2
	VFNMADD231PD Y12, Y4, Y2
	VCVTPD2PSY Y1, X1
	VCVTPD2PSY Y2, X2
	VINSERTF128 $1, X2, Y1, Y1 // r, 8 float32 lanes
	VCVTPD2DQY Y3, X3
	VCVTPD2DQY Y4, X4
	VINSERTI128 $1, X4, Y3, Y3 // k, 8 int32 lanes
	VMULPS Y1, Y1, Y5 // z = r²
	VBROADCASTSS sincosF<>+8(SB), Y6
	VBROADCASTSS sincosF<>+4(SB), Y7
	VFMADD213PS Y7, Y5, Y6
	VBROADCASTSS sincosF<>+0(SB), Y7
	VFMADD213PS Y7, Y5, Y6
	VMULPS Y5, Y6, Y6
	VFMADD213PS Y1, Y1, Y6 // sin r
	VBROADCASTSS sincosF<>+20(SB), Y8
	VBROADCASTSS sincosF<>+16(SB), Y7
	VFMADD213PS Y7, Y5, Y8
	VBROADCASTSS sincosF<>+12(SB), Y7
	VFMADD213PS Y7, Y5, Y8
	VMULPS Y5, Y8, Y8
	VMULPS Y5, Y8, Y8
	VBROADCASTSS sincosF<>+24(SB), Y7
	VFNMADD231PS Y7, Y5, Y8
	VBROADCASTSS sincosF<>+28(SB), Y7
	VADDPS Y7, Y8, Y8 // cos r
	VPBROADCASTD sincosF<>+40(SB), Y7 // int 1
	VPAND Y7, Y3, Y9
	VPCMPEQD Y7, Y9, Y9 // odd k: sine and cosine swap
	VBLENDVPS Y9, Y8, Y6, Y10 // sin x up to sign
	VBLENDVPS Y9, Y6, Y8, Y11 // cos x up to sign
	VPBROADCASTD sincosF<>+44(SB), Y2 // int 2
	VPAND Y2, Y3, Y12
	VPSLLD $30, Y12, Y12
	VXORPS Y12, Y10, Y10 // sin x: negated for k mod 4 ∈ {2, 3}
	VPADDD Y7, Y3, Y3
	VPAND Y2, Y3, Y12
	VPSLLD $30, Y12, Y12
	VXORPS Y12, Y11, Y11 // cos x: negated for k mod 4 ∈ {1, 2}
	VMOVUPS (BX), Y0
	VMULPS Y0, Y11, Y11
	VMULPS Y0, Y10, Y10
	VMOVUPS Y11, (DI)
	VMOVUPS Y10, (DX)
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $32, DI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP  sc_loop

sc_done:
	VMOVMSKPS Y13, AX
	MOVQ AX, ret+40(FP)
	VZEROUPPER
	RET

// func vecTapsRowAVX2(o, x, w *float32, ld, n, taps int)
// o[p] += Σ_j w[j·ld+p]·x[j·ld+p] for p < n (n a multiple of 8), 8 channels
// at a time with the taps in an inner loop (one accumulator per 8 channels).
TEXT ·vecTapsRowAVX2(SB), NOSPLIT, $0-48
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ ld+24(FP), R8
	SHLQ $2, R8 // row stride in bytes
	MOVQ n+32(FP), CX
	MOVQ taps+40(FP), R9

taps_outer:
	CMPQ CX, $8
	JLT  taps_done
	VMOVUPS (DI), Y0
	MOVQ SI, R10
	MOVQ DX, R11
	MOVQ R9, R12

taps_inner:
	TESTQ R12, R12
	JEQ   taps_store
	VMOVUPS (R10), Y1
	VFMADD231PS (R11), Y1, Y0
	ADDQ R8, R10
	ADDQ R8, R11
	DECQ R12
	JMP  taps_inner

taps_store:
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	SUBQ $8, CX
	JMP  taps_outer

taps_done:
	VZEROUPPER
	RET
