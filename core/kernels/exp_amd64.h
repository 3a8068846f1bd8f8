// The float32 exp of expf (ops_vec.go) in vector registers, shared by the
// assembly files of this package: 8 lanes (AVX2, EXP_Y1) and 16 (AVX-512,
// EXP_Z1), and softplus built on it (SOFTPLUS_Z). Included by
// ops_amd64.s and ssm_amd64.s; the DATA symbols are file-local, so each
// file has its own copy of these few constants.

// Taylor coefficients of e^f (see expf in ops_vec.go), each broadcast to 8
// lanes so FMAs can take them as memory operands.
DATA expC7<>+0(SB)/4, $0x39500d01
DATA expC7<>+4(SB)/4, $0x39500d01
DATA expC7<>+8(SB)/4, $0x39500d01
DATA expC7<>+12(SB)/4, $0x39500d01
DATA expC7<>+16(SB)/4, $0x39500d01
DATA expC7<>+20(SB)/4, $0x39500d01
DATA expC7<>+24(SB)/4, $0x39500d01
DATA expC7<>+28(SB)/4, $0x39500d01
GLOBL expC7<>(SB), RODATA|NOPTR, $32

DATA expC6<>+0(SB)/4, $0x3ab60b61
DATA expC6<>+4(SB)/4, $0x3ab60b61
DATA expC6<>+8(SB)/4, $0x3ab60b61
DATA expC6<>+12(SB)/4, $0x3ab60b61
DATA expC6<>+16(SB)/4, $0x3ab60b61
DATA expC6<>+20(SB)/4, $0x3ab60b61
DATA expC6<>+24(SB)/4, $0x3ab60b61
DATA expC6<>+28(SB)/4, $0x3ab60b61
GLOBL expC6<>(SB), RODATA|NOPTR, $32

DATA expC5<>+0(SB)/4, $0x3c088889
DATA expC5<>+4(SB)/4, $0x3c088889
DATA expC5<>+8(SB)/4, $0x3c088889
DATA expC5<>+12(SB)/4, $0x3c088889
DATA expC5<>+16(SB)/4, $0x3c088889
DATA expC5<>+20(SB)/4, $0x3c088889
DATA expC5<>+24(SB)/4, $0x3c088889
DATA expC5<>+28(SB)/4, $0x3c088889
GLOBL expC5<>(SB), RODATA|NOPTR, $32

DATA expC4<>+0(SB)/4, $0x3d2aaaab
DATA expC4<>+4(SB)/4, $0x3d2aaaab
DATA expC4<>+8(SB)/4, $0x3d2aaaab
DATA expC4<>+12(SB)/4, $0x3d2aaaab
DATA expC4<>+16(SB)/4, $0x3d2aaaab
DATA expC4<>+20(SB)/4, $0x3d2aaaab
DATA expC4<>+24(SB)/4, $0x3d2aaaab
DATA expC4<>+28(SB)/4, $0x3d2aaaab
GLOBL expC4<>(SB), RODATA|NOPTR, $32

DATA expC3<>+0(SB)/4, $0x3e2aaaab
DATA expC3<>+4(SB)/4, $0x3e2aaaab
DATA expC3<>+8(SB)/4, $0x3e2aaaab
DATA expC3<>+12(SB)/4, $0x3e2aaaab
DATA expC3<>+16(SB)/4, $0x3e2aaaab
DATA expC3<>+20(SB)/4, $0x3e2aaaab
DATA expC3<>+24(SB)/4, $0x3e2aaaab
DATA expC3<>+28(SB)/4, $0x3e2aaaab
GLOBL expC3<>(SB), RODATA|NOPTR, $32

DATA expC2<>+0(SB)/4, $0x3f000000
DATA expC2<>+4(SB)/4, $0x3f000000
DATA expC2<>+8(SB)/4, $0x3f000000
DATA expC2<>+12(SB)/4, $0x3f000000
DATA expC2<>+16(SB)/4, $0x3f000000
DATA expC2<>+20(SB)/4, $0x3f000000
DATA expC2<>+24(SB)/4, $0x3f000000
DATA expC2<>+28(SB)/4, $0x3f000000
GLOBL expC2<>(SB), RODATA|NOPTR, $32

// EXP_CONSTS loads the constants of EXP_Y1 (clobbers AX): Y14 log2e,
// Y13 ln2Hi = 0.693359375, Y12 ln2Lo = -2.12194440e-4, Y11 expMin =
// -87.33654, Y10 1.0.
#define EXP_CONSTS \
	MOVL $0x3fb8aa3b, AX; VMOVD AX, X14; VPBROADCASTD X14, Y14; \
	MOVL $0x3f318000, AX; VMOVD AX, X13; VPBROADCASTD X13, Y13; \
	MOVL $0xb95e8083, AX; VMOVD AX, X12; VPBROADCASTD X12, Y12; \
	MOVL $0xc2aeac4f, AX; VMOVD AX, X11; VPBROADCASTD X11, Y11; \
	MOVL $0x3f800000, AX; VMOVD AX, X10; VPBROADCASTD X10, Y10

// EXP_Y1 sets Y4 = e^Y1 for Y1 ≥ expMin (clamped by the caller; clobbers Y1
// and Y2): Y1 = n·ln2 + f by rounding Y1·log2e, e^f by Horner (expC*), 2^n
// added into the exponent bits (n<<23 plus the bits of 1.0).
#define EXP_Y1 \
	VMULPS Y14, Y1, Y2; \
	VROUNDPS $0, Y2, Y2; \
	VFNMADD231PS Y13, Y2, Y1; \
	VFNMADD231PS Y12, Y2, Y1; \
	VMOVUPS expC7<>(SB), Y4; \
	VFMADD213PS expC6<>(SB), Y1, Y4; \
	VFMADD213PS expC5<>(SB), Y1, Y4; \
	VFMADD213PS expC4<>(SB), Y1, Y4; \
	VFMADD213PS expC3<>(SB), Y1, Y4; \
	VFMADD213PS expC2<>(SB), Y1, Y4; \
	VFMADD213PS Y10, Y1, Y4; \
	VFMADD213PS Y10, Y1, Y4; \
	VCVTPS2DQ Y2, Y2; \
	VPSLLD $23, Y2, Y2; \
	VPADDD Y10, Y2, Y2; \
	VMULPS Y2, Y4, Y4


// EXP_CONSTS_Z loads the constants of EXP_Z1 into 16 lanes (clobbers AX):
// Z14 log2e, Z13 ln2Hi, Z12 ln2Lo, Z11 expMin, Z10 1.0, Z9 expMax =
// 88.72283.
#define EXP_CONSTS_Z \
	MOVL $0x3fb8aa3b, AX; VMOVD AX, X14; VPBROADCASTD X14, Z14; \
	MOVL $0x3f318000, AX; VMOVD AX, X13; VPBROADCASTD X13, Z13; \
	MOVL $0xb95e8083, AX; VMOVD AX, X12; VPBROADCASTD X12, Z12; \
	MOVL $0xc2aeac4f, AX; VMOVD AX, X11; VPBROADCASTD X11, Z11; \
	MOVL $0x3f800000, AX; VMOVD AX, X10; VPBROADCASTD X10, Z10; \
	MOVL $0x42b17218, AX; VMOVD AX, X9; VPBROADCASTD X9, Z9

// EXP_Z1 is EXP_Y1 in 16 lanes, but stops short of the scale: it leaves
// Z4 = e^f and Z2 = n for Z1 = n·ln2 + f in [expMin, expMax] (clamped by
// the caller; clobbers Z1), so the caller's VSCALEFPS Z2, Z4, [mask,] Z4
// makes e^Z1 = e^f·2ⁿ, zeroing lanes under a mask if it needs to.
#define EXP_Z1 \
	VMULPS Z14, Z1, Z2; \
	VRNDSCALEPS $0, Z2, Z2; \
	VFNMADD231PS Z13, Z2, Z1; \
	VFNMADD231PS Z12, Z2, Z1; \
	VBROADCASTSS expC7<>(SB), Z4; \
	VFMADD213PS.BCST expC6<>(SB), Z1, Z4; \
	VFMADD213PS.BCST expC5<>(SB), Z1, Z4; \
	VFMADD213PS.BCST expC4<>(SB), Z1, Z4; \
	VFMADD213PS.BCST expC3<>(SB), Z1, Z4; \
	VFMADD213PS.BCST expC2<>(SB), Z1, Z4; \
	VFMADD213PS Z10, Z1, Z4; \
	VFMADD213PS Z10, Z1, Z4

// Softplus's constants (see Softplus in ssm.go): the sign bit, 2, 20, then
// the coefficients of log1p(z) = s·(2 + 2/3·s² + … + 2/15·s¹⁴) for
// s = z/(2+z), highest first.
DATA softplusC<>+0(SB)/4, $0x80000000
DATA softplusC<>+4(SB)/4, $2.0
DATA softplusC<>+8(SB)/4, $20.0
DATA softplusC<>+12(SB)/4, $0.13333333333333333
DATA softplusC<>+16(SB)/4, $0.15384615384615385
DATA softplusC<>+20(SB)/4, $0.18181818181818182
DATA softplusC<>+24(SB)/4, $0.2222222222222222
DATA softplusC<>+28(SB)/4, $0.2857142857142857
DATA softplusC<>+32(SB)/4, $0.4
DATA softplusC<>+36(SB)/4, $0.6666666666666666
DATA softplusC<>+40(SB)/4, $2.0
GLOBL softplusC<>(SB), RODATA|NOPTR, $44

// SOFTPLUS_Z sets Z3 = softplus(Z0) in 16 lanes, Softplus's steps: z =
// e^−|x| (EXP_Z1, ≈1e-38 rather than 0 below expMin, which the sum
// cannot see), s = z/(2+z), log1p(z) by its odd series in s, plus
// max(x, 0); x itself above 20. NaN stays NaN. Needs EXP_CONSTS_Z;
// clobbers Z1, Z2, Z4, Z5 and K2.
#define SOFTPLUS_Z \
	VORPS.BCST softplusC<>+0(SB), Z0, Z1; \
	VMAXPS Z11, Z1, Z1; \
	EXP_Z1; \
	VSCALEFPS Z2, Z4, Z4; \
	VADDPS.BCST softplusC<>+4(SB), Z4, Z1; \
	VDIVPS Z1, Z4, Z1; \
	VMULPS Z1, Z1, Z2; \
	VBROADCASTSS softplusC<>+12(SB), Z5; \
	VFMADD213PS.BCST softplusC<>+16(SB), Z2, Z5; \
	VFMADD213PS.BCST softplusC<>+20(SB), Z2, Z5; \
	VFMADD213PS.BCST softplusC<>+24(SB), Z2, Z5; \
	VFMADD213PS.BCST softplusC<>+28(SB), Z2, Z5; \
	VFMADD213PS.BCST softplusC<>+32(SB), Z2, Z5; \
	VFMADD213PS.BCST softplusC<>+36(SB), Z2, Z5; \
	VFMADD213PS.BCST softplusC<>+40(SB), Z2, Z5; \
	VMULPS Z5, Z1, Z1; \
	VXORPS Z5, Z5, Z5; \
	VMAXPS Z0, Z5, Z3; \
	VADDPS Z1, Z3, Z3; \
	VCMPPS.BCST $0x1e, softplusC<>+8(SB), Z0, K2; \
	VMOVAPS Z0, K2, Z3
