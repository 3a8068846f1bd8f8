//go:build amd64 && !noasm

#include "textflag.h"

// Assembly twins of the K-quant dot products (quantk.go): each is
// dotK(levels…) of its type against q8_K activations, over nb ≥ 1
// super-blocks. quant_amd64.go gives each routine's contract.
//
// The VNNI routines work on 64 elements per zmm: the weight levels are
// unpacked to unsigned bytes in element order, VPMADDUBSW multiplies them by
// the q8_K bytes into word pairs, and VPDPWSSD multiplies those by the
// group scales (one word per element pair, spread by VPERMW) into int32
// lanes. The AVX2 routines do the same 32 elements at a time with VPMADDWD.
// The integer part is exact; per super-block the int32 lanes are converted
// and scaled by d·d_x (and the min or offset term by dmin·d_x through
// bsums), so only the float summation order differs from the reference.

// HSUMK_Y0 leaves the sum of the 8 floats of Y0 in X0 (clobbers X1).
#define HSUMK_Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VHADDPS      X0, X0, X0 \
	VHADDPS      X0, X0, X0

// REDUCE_K leaves the sum of Z0 (16 floats) and Y1 (8 floats) in X0.
#define REDUCE_K \
	VEXTRACTF64X4 $1, Z0, Y2 \
	VADDPS        Y2, Y0, Y0 \
	VADDPS        Y1, Y0, Y0 \
	HSUMK_Y0                 \
	VZEROUPPER

// REDUCE_K2 leaves the sum of Y0 and Y1 in X0 (AVX2 routines).
#define REDUCE_K2 \
	VADDPS     Y1, Y0, Y0 \
	HSUMK_Y0              \
	VZEROUPPER

// SCALES_K4 unpacks the 6-bit scales and mins of the q4_K/q5_K super-block
// at SI (bytes 4..15): R8 = scales 0..7, R9 = mins 0..7, one per byte
// (scaleMinK4). Clobbers AX, BX, DX, R10.
#define SCALES_K4 \
	MOVL 4(SI), AX         \
	MOVL 8(SI), BX         \
	MOVL 12(SI), DX        \
	MOVL AX, R8            \
	ANDL $0x3f3f3f3f, R8   \
	MOVL BX, R9            \
	ANDL $0x3f3f3f3f, R9   \
	MOVL DX, R10           \
	ANDL $0x0f0f0f0f, R10  \
	SHRL $6, AX            \
	ANDL $0x03030303, AX   \
	SHLL $4, AX            \
	ORL  AX, R10           \
	SHRL $4, DX            \
	ANDL $0x0f0f0f0f, DX   \
	SHRL $6, BX            \
	ANDL $0x03030303, BX   \
	SHLL $4, BX            \
	ORL  BX, DX            \
	SHLQ $32, R10          \
	ORQ  R10, R8           \
	SHLQ $32, DX           \
	ORQ  DX, R9

// SCALES_K4_VEC sets X8 to the eight 6-bit scales then the eight mins of
// the q4_K/q5_K super-block at SI (scaleMinK4), one per byte, with vector
// shuffles: scales 0..3 and mins 0..3 are the low six bits of bytes 0..7;
// scales and mins 4..7 take a nibble of bytes 8..11 and the top two bits of
// bytes 0..7. Clobbers X9..X11.
#define SCALES_K4_VEC \
	VMOVDQU  4(SI), X8                 \
	VPSHUFB  kshufK4lo<>(SB), X8, X9    \
	VPSHUFB  kshufK4hi<>(SB), X8, X10   \
	VPSRLW   $4, X9, X11               \
	VPBLENDD $8, X11, X9, X9           \
	VPAND    kmaskK4<>(SB), X9, X9      \
	VPSRLW   $2, X10, X10              \
	VPAND    kmask30<>(SB), X10, X10    \
	VPOR     X10, X9, X8

// SCALES_K3 unpacks q3_K's sixteen 6-bit scales (bytes 96..107 of the
// super-block at SI) into R8 (scales 0..7) and R9 (8..15), one per byte,
// before the -32. Clobbers AX, BX, DX, R10, R11.
#define SCALES_K3 \
	MOVL 96(SI), AX        \
	MOVL 100(SI), BX       \
	MOVL 104(SI), DX       \
	MOVL AX, R8            \
	ANDL $0x0f0f0f0f, R8   \
	MOVL DX, R10           \
	ANDL $0x03030303, R10  \
	SHLL $4, R10           \
	ORL  R10, R8           \
	MOVL BX, R11           \
	ANDL $0x0f0f0f0f, R11  \
	MOVL DX, R10           \
	SHRL $2, R10           \
	ANDL $0x03030303, R10  \
	SHLL $4, R10           \
	ORL  R10, R11          \
	SHLQ $32, R11          \
	ORQ  R11, R8           \
	SHRL $4, AX            \
	ANDL $0x0f0f0f0f, AX   \
	MOVL DX, R10           \
	SHRL $4, R10           \
	ANDL $0x03030303, R10  \
	SHLL $4, R10           \
	ORL  R10, AX           \
	SHRL $4, BX            \
	ANDL $0x0f0f0f0f, BX   \
	SHRL $6, DX            \
	ANDL $0x03030303, DX   \
	SHLL $4, DX            \
	ORL  DX, BX            \
	MOVL AX, R9            \
	SHLQ $32, BX           \
	ORQ  BX, R9

// D_DMIN(off) sets X10 = [d·d_x, dmin·d_x] from the f16 pair at off(SI) and
// the q8_K scale at (DI). Clobbers AX, X11.
#define D_DMIN(off) \
	MOVL         off(SI), AX \
	VMOVD        AX, X10     \
	VCVTPH2PS    X10, X10    \
	VBROADCASTSS (DI), X11   \
	VMULPS       X11, X10, X10

// D_ONLY(off) sets X10 = d·d_x from the f16 at off(SI). Clobbers AX.
#define D_ONLY(off) \
	MOVWLZX   off(SI), AX \
	VMOVD     AX, X10     \
	VCVTPH2PS X10, X10    \
	VMULSS    (DI), X10, X10

// MIN_TERM subtracts Y9 (8 int32 Σ min·bsum pairs) times dmin·d_x (lane 1
// of X10) from Y1. Clobbers Y9, X11.
#define MIN_TERM \
	VCVTDQ2PS    Y9, Y9   \
	VMOVSHDUP    X10, X11 \
	VBROADCASTSS X11, Y11 \
	VFNMADD231PS Y9, Y11, Y1

// The x4 routines dot one weight row with four activation rows (x, x+xs,
// x+2·xs, x+3·xs) for the batched MatMulQ: the weights are unpacked and
// their scales spread once per super-block for all four rows. Row r's
// accumulators: int32 Zr (one super-block), float Z12+r, min/offset float
// Y16+r. Z20+r holds the dword index r (VPERMPS broadcast of lane r).

// X4_SETUP loads the four row pointers (DI, R11, R12, R13), nb (CX) and
// clears the float accumulators.
#define X4_SETUP \
	MOVQ         w+0(FP), SI   \
	MOVQ         x+8(FP), DI   \
	MOVQ         xs+16(FP), BX \
	MOVQ         nb+24(FP), CX \
	LEAQ         (DI)(BX*1), R11 \
	LEAQ         (R11)(BX*1), R12 \
	LEAQ         (R12)(BX*1), R13 \
	VPXORD       Z12, Z12, Z12 \
	VPXORD       Z13, Z13, Z13 \
	VPXORD       Z14, Z14, Z14 \
	VPXORD       Z15, Z15, Z15 \
	VPXORD       Z16, Z16, Z16 \
	VPXORD       Z17, Z17, Z17 \
	VPXORD       Z18, Z18, Z18 \
	VPXORD       Z19, Z19, Z19 \
	MOVL         $0, AX        \
	VPBROADCASTD AX, Z20       \
	MOVL         $1, AX        \
	VPBROADCASTD AX, Z21       \
	MOVL         $2, AX        \
	VPBROADCASTD AX, Z22       \
	MOVL         $3, AX        \
	VPBROADCASTD AX, Z23

// X4_DX gathers the four rows' q8_K scales into X11.
#define X4_DX \
	VMOVSS    (DI), X11             \
	VINSERTPS $0x10, (R11), X11, X11 \
	VINSERTPS $0x20, (R12), X11, X11 \
	VINSERTPS $0x30, (R13), X11, X11

// X4_ZERO clears the int32 accumulators.
#define X4_ZERO \
	VPXORD Z0, Z0, Z0 \
	VPXORD Z1, Z1, Z1 \
	VPXORD Z2, Z2, Z2 \
	VPXORD Z3, Z3, Z3

// X4_MUL(xr, off, lv, sc, acc) adds the 64 levels lv (unsigned bytes) times
// row xr's bytes at off, times the scale words sc, into acc.
#define X4_MUL(xr, off, lv, sc, acc) \
	VPMADDUBSW off(xr), lv, Z6 \
	VPDPWSSD   sc, Z6, acc

// X4_CHUNK(off, lv, sc) is X4_MUL for all four rows.
#define X4_CHUNK(off, lv, sc) \
	X4_MUL(DI, off, lv, sc, Z0)  \
	X4_MUL(R11, off, lv, sc, Z1) \
	X4_MUL(R12, off, lv, sc, Z2) \
	X4_MUL(R13, off, lv, sc, Z3)

// X4_TERM(xr, src, bc, facc) adds Y-vector src (8 int32, per row) times lane
// bc of Z7 (a per-row float scale) into facc, and clobbers src, Y4.
#define X4_TERM(src, bc, facc) \
	VCVTDQ2PS   src, src  \
	VPERMPS     Z7, bc, Z4 \
	VFMADD231PS src, Y4, facc

// X4_FINAL(acc, bc, facc) converts int32 acc and adds it times lane bc of
// Z10 (d·dx per row) into facc.
#define X4_FINAL(acc, bc, facc) \
	VCVTDQ2PS   acc, acc   \
	VPERMPS     Z10, bc, Z6 \
	VFMADD231PS acc, Z6, facc

// X4_FINALS finishes a super-block for all rows and steps the row pointers.
#define X4_FINALS(wbytes) \
	X4_FINAL(Z0, Z20, Z12) \
	X4_FINAL(Z1, Z21, Z13) \
	X4_FINAL(Z2, Z22, Z14) \
	X4_FINAL(Z3, Z23, Z15) \
	ADDQ $wbytes, SI       \
	ADDQ $292, DI          \
	ADDQ $292, R11         \
	ADDQ $292, R12         \
	ADDQ $292, R13

// X4_OUT(facc, yfacc, macc, off) stores the sum of row accumulators facc
// (16; yfacc its low half) and macc (8) as out[off/4] (out in DX).
#define X4_OUT(facc, yfacc, macc, off) \
	VEXTRACTF64X4 $1, facc, Y6 \
	VADDPS        Y6, yfacc, Y6 \
	VADDPS        macc, Y6, Y6  \
	VEXTRACTF128  $1, Y6, X7    \
	VADDPS        X7, X6, X6    \
	VHADDPS       X6, X6, X6    \
	VHADDPS       X6, X6, X6    \
	MOVSS         X6, off(DX)

#define X4_OUTS \
	MOVQ out+32(FP), DX \
	X4_OUT(Z12, Y12, Y16, 0) \
	X4_OUT(Z13, Y13, Y17, 4) \
	X4_OUT(Z14, Y14, Y18, 8) \
	X4_OUT(Z15, Y15, Y19, 12) \
	VZEROUPPER

// X4_K5_PAIRS(qs, x, off) is two pairs of q5_K sub-blocks for four rows:
// the nibbles at qs(SI), fifth bits from Z27 = [qh | qh] against the chunk
// masks at kbitsK+off (Z28 = 0x10 bytes), scale indices from kidxSub32+off.
#define X4_K5_PAIRS(qs, x, off) \
	VMOVDQU64  qs(SI), Z6                   \
	VPSRLW     $4, Z6, Z7                   \
	VPANDD     Z31, Z6, Z6                  \
	VPANDD     Z31, Z7, Z7                  \
	VSHUFI64X2 $0x44, Z7, Z6, Z24           \
	VSHUFI64X2 $0xee, Z7, Z6, Z25           \
	VPTESTMB   kbitsK<>+off(SB), Z27, K1    \
	VPADDB     Z28, Z24, K1, Z24            \
	VPTESTMB   kbitsK<>+off+64(SB), Z27, K2 \
	VPADDB     Z28, Z25, K2, Z25            \
	VMOVDQU64  kidxSub32<>+off(SB), Z4      \
	VPERMW     Z8, Z4, Z4                   \
	VMOVDQU64  kidxSub32<>+off+64(SB), Z5   \
	VPERMW     Z8, Z5, Z5                   \
	X4_CHUNK(x, Z24, Z4)                    \
	X4_CHUNK(x+64, Z25, Z5)

// X4_Q6_HALF(ql, qh, x, off) is q6_K half h for four rows (ql at ql(SI),
// qh at qh(SI)); scale indices from kidxG16+off. Needs Z31 = 0x0f,
// Z30 = 0x30 bytes, Z29/Z28 the shift counts [4|2] and [0|2].
#define X4_Q6_HALF(ql, qh, x, off) \
	VMOVDQU64       ql(SI), Z6             \
	VBROADCASTI64X4 qh(SI), Z7             \
	VPSRLW          $4, Z6, Z25            \
	VPANDD          Z31, Z6, Z24           \
	VPANDD          Z31, Z25, Z25          \
	VPSLLVW         Z29, Z7, Z6            \
	VPTERNLOGD      $0xf8, Z30, Z6, Z24    \
	VPSRLVW         Z28, Z7, Z6            \
	VPTERNLOGD      $0xf8, Z30, Z6, Z25    \
	VMOVDQU64       kidxG16<>+off(SB), Z4  \
	VPERMW          Z8, Z4, Z4             \
	VMOVDQU64       kidxG16<>+off+64(SB), Z5 \
	VPERMW          Z8, Z5, Z5             \
	X4_CHUNK(x, Z24, Z4)                   \
	X4_CHUNK(x+64, Z25, Z5)

// ---------------------------------------------------------------- AVX-512 VNNI

// K4_PAIRS(qs, x, ia, ib, hook) adds two pairs of q4_K/q5_K sub-blocks (64
// bytes of nibbles at qs(SI): 128 elements) against x(DI) into Z2, with the
// scale indices Zia, Zib; hook adds any high bits to the levels (Z5: the
// first 64 elements, Z6: the next 64). Needs Z31 = 0x0f bytes, Z8 the scale
// words.
#define K4_PAIRS(qs, x, ia, ib, hook) \
	VMOVDQU64  qs(SI), Z3          \
	VPSRLW     $4, Z3, Z4          \
	VPANDD     Z31, Z3, Z3         \
	VPANDD     Z31, Z4, Z4         \
	VSHUFI64X2 $0x44, Z4, Z3, Z5   \
	VSHUFI64X2 $0xee, Z4, Z3, Z6   \
	hook                           \
	VPMADDUBSW x(DI), Z5, Z5       \
	VPMADDUBSW x+64(DI), Z6, Z6    \
	VPERMW     Z8, ia, Z7          \
	VPDPWSSD   Z7, Z5, Z2          \
	VPERMW     Z8, ib, Z7          \
	VPDPWSSD   Z7, Z6, Z2

#define NO_HOOK

// FIFTH_BITS(boff) adds 16 to the levels of Z5 and Z6 whose q5_K qh bit
// (Z24 = [qh | qh], chunk masks at kbitsK+boff) is set; Z25 = 0x10 bytes.
#define FIFTH_BITS(boff) \
	VPTESTMB kbitsK<>+boff(SB), Z24, K1    \
	VPADDB   Z25, Z5, K1, Z5               \
	VPTESTMB kbitsK<>+boff+64(SB), Z24, K2 \
	VPADDB   Z25, Z6, K2, Z6

// func dotQ4_KQ8_KVNNI(w, x *byte, nb int) float32
TEXT ·dotQ4_KQ8_KVNNI(SB), NOSPLIT, $0-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VPXORD       Z0, Z0, Z0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	VMOVDQU64    kidxSub32<>+0(SB), Z27
	VMOVDQU64    kidxSub32<>+64(SB), Z28
	VMOVDQU64    kidxSub32<>+128(SB), Z29
	VMOVDQU64    kidxSub32<>+192(SB), Z30
	VMOVDQU64    kidxMinsK4<>(SB), Y26

q4kv:
	SCALES_K4_VEC
	VPMOVZXBW    X8, Y8             // words: scales 0..7, mins 0..7
	VPERMW       Y8, Y26, Y9        // mins, each twice
	VPMADDWD     260(DI), Y9, Y9    // Σ mins·bsums, pairwise
	D_DMIN(0)
	MIN_TERM
	VBROADCASTSS X10, Z10
	VPXORD       Z2, Z2, Z2
	K4_PAIRS(16, 4, Z27, Z28, NO_HOOK)
	K4_PAIRS(80, 132, Z29, Z30, NO_HOOK)
	VCVTDQ2PS    Z2, Z2
	VFMADD231PS  Z2, Z10, Z0
	ADDQ         $144, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q4kv
	REDUCE_K
	MOVSS X0, ret+24(FP)
	RET

// func dotQ5_KQ8_KVNNI(w, x *byte, nb int) float32
TEXT ·dotQ5_KQ8_KVNNI(SB), NOSPLIT, $0-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VPXORD       Z0, Z0, Z0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x10101010, AX
	VPBROADCASTD AX, Z25
	VMOVDQU64    kidxSub32<>+0(SB), Z27
	VMOVDQU64    kidxSub32<>+64(SB), Z28
	VMOVDQU64    kidxSub32<>+128(SB), Z29
	VMOVDQU64    kidxSub32<>+192(SB), Z30
	VMOVDQU64    kidxMinsK4<>(SB), Y26

q5kv:
	SCALES_K4_VEC
	VPMOVZXBW       X8, Y8
	VPERMW          Y8, Y26, Y9
	VPMADDWD        260(DI), Y9, Y9
	D_DMIN(0)
	MIN_TERM
	VBROADCASTSS    X10, Z10
	VBROADCASTI64X4 16(SI), Z24      // [qh | qh]
	VPXORD          Z2, Z2, Z2
	K4_PAIRS(48, 4, Z27, Z28, FIFTH_BITS(0))
	K4_PAIRS(112, 132, Z29, Z30, FIFTH_BITS(128))
	VCVTDQ2PS       Z2, Z2
	VFMADD231PS     Z2, Z10, Z0
	ADDQ            $176, SI
	ADDQ            $292, DI
	DECQ            CX
	JNZ             q5kv
	REDUCE_K
	MOVSS X0, ret+24(FP)
	RET

// Q6_HALF(ql, qh, x, ia, ib) adds the 128 elements of q6_K half at ql(SI)
// (64 bytes) and qh(SI) (32 bytes) against x(DI) into Z2, with the group
// scale indices Zia and Zib. Needs Z31 = 0x0f, Z30 = 0x30 bytes, Z24/Z25 the
// shift counts [4|2] and [0|2], Z8 the scale words.
#define Q6_HALF(ql, qh, x, ia, ib) \
	VMOVDQU64       ql(SI), Z3            \
	VBROADCASTI64X4 qh(SI), Z4            \
	VPSRLW          $4, Z3, Z5            \
	VPANDD          Z31, Z3, Z3           \
	VPANDD          Z31, Z5, Z5           \
	VPSLLVW         Z24, Z4, Z6           \
	VPTERNLOGD      $0xf8, Z30, Z6, Z3    \
	VPSRLVW         Z25, Z4, Z7           \
	VPTERNLOGD      $0xf8, Z30, Z7, Z5    \
	VPMADDUBSW      x(DI), Z3, Z3         \
	VPMADDUBSW      x+64(DI), Z5, Z5      \
	VPERMW          Z8, ia, Z6            \
	VPDPWSSD        Z6, Z3, Z2            \
	VPERMW          Z8, ib, Z6            \
	VPDPWSSD        Z6, Z5, Z2

// func dotQ6_KQ8_KVNNI(w, x *byte, nb int) float32
TEXT ·dotQ6_KQ8_KVNNI(SB), NOSPLIT, $0-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VPXORD       Z0, Z0, Z0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x30303030, AX
	VPBROADCASTD AX, Z30
	MOVL         $0xc2000000, AX           // -32.0
	VMOVD        AX, X23
	VMOVDQU64    kidxG16<>+0(SB), Z26
	VMOVDQU64    kidxG16<>+64(SB), Z27
	VMOVDQU64    kidxG16<>+128(SB), Z28
	VMOVDQU64    kidxG16<>+192(SB), Z29
	VMOVDQU64    kshift42<>(SB), Z24
	VMOVDQU64    kshift02<>(SB), Z25

q6kv:
	VPMOVSXBW    192(SI), Y8           // the 16 scales as words
	VPMADDWD     260(DI), Y8, Y9       // Σ scale·bsums, pairwise
	VCVTDQ2PS    Y9, Y9
	D_ONLY(208)
	VBROADCASTSS X10, Z10
	VMULSS       X23, X10, X11         // -32·d·d_x: the levels' offset
	VBROADCASTSS X11, Y11
	VFMADD231PS  Y9, Y11, Y1
	VPXORD       Z2, Z2, Z2
	Q6_HALF(0, 128, 4, Z26, Z27)
	Q6_HALF(64, 160, 132, Z28, Z29)
	VCVTDQ2PS    Z2, Z2
	VFMADD231PS  Z2, Z10, Z0
	ADDQ         $210, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q6kv
	REDUCE_K
	MOVSS X0, ret+24(FP)
	RET

// K2_HALF(qs, x, ia, ib) adds the 128 elements whose two-bit levels are
// at qs(SI) (32 bytes) against x(DI) into Z2 (q2_K, and q3_K's low bits
// without the +4 of the third bit: see K3_HALF). Needs Z31 = 0x03 bytes,
// Z24/Z25 shift counts [0|2] and [4|6], Z8 the scale words.
#define K2_HALF(qs, x, ia, ib) \
	VBROADCASTI64X4 qs(SI), Z3     \
	VPSRLVW         Z24, Z3, Z4    \
	VPANDD          Z31, Z4, Z4    \
	VPSRLVW         Z25, Z3, Z5    \
	VPANDD          Z31, Z5, Z5    \
	VPMADDUBSW      x(DI), Z4, Z4  \
	VPMADDUBSW      x+64(DI), Z5, Z5 \
	VPERMW          Z8, ia, Z6     \
	VPDPWSSD        Z6, Z4, Z2     \
	VPERMW          Z8, ib, Z6     \
	VPDPWSSD        Z6, Z5, Z2

// func dotQ2_KQ8_KVNNI(w, x *byte, nb int) float32
TEXT ·dotQ2_KQ8_KVNNI(SB), NOSPLIT, $0-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VPXORD       Z0, Z0, Z0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x03030303, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x000f000f, AX
	VPBROADCASTD AX, Y23
	VMOVDQU64    kidxG16<>+0(SB), Z26
	VMOVDQU64    kidxG16<>+64(SB), Z27
	VMOVDQU64    kidxG16<>+128(SB), Z28
	VMOVDQU64    kidxG16<>+192(SB), Z29
	VMOVDQU64    kshift02<>(SB), Z24
	VMOVDQU64    kshift46<>(SB), Z25

q2kv:
	VPMOVZXBW    0(SI), Y8             // scale bytes as words
	VPSRLW       $4, Y8, Y9            // mins
	VPANDD       Y23, Y8, Y8           // scales
	VPMADDWD     260(DI), Y9, Y9
	D_DMIN(80)
	MIN_TERM
	VBROADCASTSS X10, Z10
	VPXORD       Z2, Z2, Z2
	K2_HALF(16, 4, Z26, Z27)
	K2_HALF(48, 132, Z28, Z29)
	VCVTDQ2PS    Z2, Z2
	VFMADD231PS  Z2, Z10, Z0
	ADDQ         $84, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q2kv
	REDUCE_K
	MOVSS X0, ret+24(FP)
	RET

// K3_HALF(qs, x, ia, ib, boff) is K2_HALF for q3_K: the levels get +4
// where their hmask bit (Z20 = [hmask | hmask], tested against the chunk
// masks at kbitsK+boff) is set; Z21 = 0x04 bytes.
#define K3_HALF(qs, x, ia, ib, boff) \
	VBROADCASTI64X4 qs(SI), Z3      \
	VPSRLVW         Z24, Z3, Z4     \
	VPANDD          Z31, Z4, Z4     \
	VPSRLVW         Z25, Z3, Z5     \
	VPANDD          Z31, Z5, Z5     \
	VPTESTMB        kbitsK<>+boff(SB), Z20, K1 \
	VPADDB          Z21, Z4, K1, Z4 \
	VPTESTMB        kbitsK<>+boff+64(SB), Z20, K2 \
	VPADDB          Z21, Z5, K2, Z5 \
	VPMADDUBSW      x(DI), Z4, Z4   \
	VPMADDUBSW      x+64(DI), Z5, Z5 \
	VPERMW          Z8, ia, Z6      \
	VPDPWSSD        Z6, Z4, Z2      \
	VPERMW          Z8, ib, Z6      \
	VPDPWSSD        Z6, Z5, Z2

// func dotQ3_KQ8_KVNNI(w, x *byte, nb int) float32
TEXT ·dotQ3_KQ8_KVNNI(SB), NOSPLIT, $0-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VPXORD       Z0, Z0, Z0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x03030303, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x04040404, AX
	VPBROADCASTD AX, Z21
	MOVL         $0x00200020, AX
	VPBROADCASTD AX, Y22               // 32 as words
	MOVL         $0xc0800000, AX       // -4.0
	VMOVD        AX, X23
	VMOVDQU64    kidxG16<>+0(SB), Z26
	VMOVDQU64    kidxG16<>+64(SB), Z27
	VMOVDQU64    kidxG16<>+128(SB), Z28
	VMOVDQU64    kidxG16<>+192(SB), Z29
	VMOVDQU64    kshift02<>(SB), Z24
	VMOVDQU64    kshift46<>(SB), Z25

q3kv:
	SCALES_K3
	VMOVQ           R8, X8
	VPINSRQ         $1, R9, X8, X8
	VPMOVZXBW       X8, Y8
	VPSUBW          Y22, Y8, Y8        // signed scales
	VPMADDWD        260(DI), Y8, Y9    // Σ scale·bsums, pairwise
	VCVTDQ2PS       Y9, Y9
	D_ONLY(108)
	VBROADCASTSS    X10, Z10
	VMULSS          X23, X10, X11      // -4·d·d_x: the levels' offset
	VBROADCASTSS    X11, Y11
	VFMADD231PS     Y9, Y11, Y1
	VBROADCASTI64X4 0(SI), Z20         // [hmask | hmask]
	VPXORD          Z2, Z2, Z2
	K3_HALF(32, 4, Z26, Z27, 0)
	K3_HALF(64, 132, Z28, Z29, 128)
	VCVTDQ2PS       Z2, Z2
	VFMADD231PS     Z2, Z10, Z0
	ADDQ            $110, SI
	ADDQ            $292, DI
	DECQ            CX
	JNZ             q3kv
	REDUCE_K
	MOVSS X0, ret+24(FP)
	RET
// ---------------------------------------------------------------- 4 rows

// func dotQ4_KQ8_Kx4VNNI(w, x *byte, xs, nb int, out *[4]float32)
TEXT ·dotQ4_KQ8_Kx4VNNI(SB), NOSPLIT, $0-40
	X4_SETUP
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	VMOVDQU64    kidxSub32<>+0(SB), Z27
	VMOVDQU64    kidxSub32<>+64(SB), Z28
	VMOVDQU64    kidxSub32<>+128(SB), Z29
	VMOVDQU64    kidxSub32<>+192(SB), Z30
	VMOVDQU64    kidxMinsK4<>(SB), Y26

q4kx4:
	SCALES_K4_VEC
	VPMOVZXBW    X8, Y8             // scale words, then min words
	VPERMW       Y8, Y26, Y9        // mins, each twice
	MOVL         (SI), AX
	VMOVD        AX, X10
	VCVTPH2PS    X10, X10           // [d, dmin]
	X4_DX
	VMOVSHDUP    X10, X7
	VBROADCASTSS X7, X7
	VMULPS       X11, X7, X7        // dmin·dx per row
	VBROADCASTSS X10, X10
	VMULPS       X11, X10, X10      // d·dx per row
	VXORPS       X5, X5, X5
	VSUBPS       X7, X5, X7         // -dmin·dx: the min term is subtracted
	VPMADDWD     260(DI), Y9, Y0
	X4_TERM(Y0, Z20, Y16)
	VPMADDWD     260(R11), Y9, Y0
	X4_TERM(Y0, Z21, Y17)
	VPMADDWD     260(R12), Y9, Y0
	X4_TERM(Y0, Z22, Y18)
	VPMADDWD     260(R13), Y9, Y0
	X4_TERM(Y0, Z23, Y19)
	X4_ZERO
	VMOVDQU64    16(SI), Z6
	VPSRLW       $4, Z6, Z7
	VPANDD       Z31, Z6, Z6
	VPANDD       Z31, Z7, Z7
	VSHUFI64X2   $0x44, Z7, Z6, Z24
	VSHUFI64X2   $0xee, Z7, Z6, Z25
	VPERMW       Z8, Z27, Z4
	VPERMW       Z8, Z28, Z5
	X4_CHUNK(4, Z24, Z4)
	X4_CHUNK(68, Z25, Z5)
	VMOVDQU64    80(SI), Z6
	VPSRLW       $4, Z6, Z7
	VPANDD       Z31, Z6, Z6
	VPANDD       Z31, Z7, Z7
	VSHUFI64X2   $0x44, Z7, Z6, Z24
	VSHUFI64X2   $0xee, Z7, Z6, Z25
	VPERMW       Z8, Z29, Z4
	VPERMW       Z8, Z30, Z5
	X4_CHUNK(132, Z24, Z4)
	X4_CHUNK(196, Z25, Z5)
	X4_FINALS(144)
	DECQ         CX
	JNZ          q4kx4
	X4_OUTS
	RET

// func dotQ5_KQ8_Kx4VNNI(w, x *byte, xs, nb int, out *[4]float32)
TEXT ·dotQ5_KQ8_Kx4VNNI(SB), NOSPLIT, $0-40
	X4_SETUP
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x10101010, AX
	VPBROADCASTD AX, Z28
	VMOVDQU64    kidxMinsK4<>(SB), Y26

q5kx4:
	SCALES_K4_VEC
	VPMOVZXBW       X8, Y8
	VPERMW          Y8, Y26, Y9
	MOVL            (SI), AX
	VMOVD           AX, X10
	VCVTPH2PS       X10, X10
	X4_DX
	VMOVSHDUP       X10, X7
	VBROADCASTSS    X7, X7
	VMULPS          X11, X7, X7
	VBROADCASTSS    X10, X10
	VMULPS          X11, X10, X10
	VXORPS          X5, X5, X5
	VSUBPS          X7, X5, X7
	VPMADDWD        260(DI), Y9, Y0
	X4_TERM(Y0, Z20, Y16)
	VPMADDWD        260(R11), Y9, Y0
	X4_TERM(Y0, Z21, Y17)
	VPMADDWD        260(R12), Y9, Y0
	X4_TERM(Y0, Z22, Y18)
	VPMADDWD        260(R13), Y9, Y0
	X4_TERM(Y0, Z23, Y19)
	X4_ZERO
	VBROADCASTI64X4 16(SI), Z27        // [qh | qh]
	X4_K5_PAIRS(48, 4, 0)
	X4_K5_PAIRS(112, 132, 128)
	X4_FINALS(176)
	DECQ            CX
	JNZ             q5kx4
	X4_OUTS
	RET

// func dotQ6_KQ8_Kx4VNNI(w, x *byte, xs, nb int, out *[4]float32)
TEXT ·dotQ6_KQ8_Kx4VNNI(SB), NOSPLIT, $0-40
	X4_SETUP
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z31
	MOVL         $0x30303030, AX
	VPBROADCASTD AX, Z30
	VMOVDQU64    kshift42<>(SB), Z29
	VMOVDQU64    kshift02<>(SB), Z28
	MOVL         $0xc2000000, AX       // -32.0
	VMOVD        AX, X27

q6kx4:
	VPMOVSXBW    192(SI), Y8           // the 16 scales as words
	MOVWLZX      208(SI), AX
	VMOVD        AX, X10
	VCVTPH2PS    X10, X10              // d
	X4_DX
	VBROADCASTSS X10, X10
	VMULPS       X11, X10, X10         // d·dx per row
	VBROADCASTSS X27, X7
	VMULPS       X10, X7, X7           // -32·d·dx: the levels' offset
	VPMADDWD     260(DI), Y8, Y0
	X4_TERM(Y0, Z20, Y16)
	VPMADDWD     260(R11), Y8, Y0
	X4_TERM(Y0, Z21, Y17)
	VPMADDWD     260(R12), Y8, Y0
	X4_TERM(Y0, Z22, Y18)
	VPMADDWD     260(R13), Y8, Y0
	X4_TERM(Y0, Z23, Y19)
	X4_ZERO
	X4_Q6_HALF(0, 128, 4, 0)
	X4_Q6_HALF(64, 160, 132, 128)
	X4_FINALS(210)
	DECQ         CX
	JNZ          q6kx4
	X4_OUTS
	RET

// func quantQ8_KAVX512(dst *byte, src *float32, nb int)
TEXT ·quantQ8_KAVX512(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         nb+16(FP), CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z15               // |x| mask
	MOVL         $127, AX
	VPBROADCASTD AX, Z14               // 127 as int32
	MOVL         $0xc2fe0000, AX       // -127.0
	VMOVD        AX, X13
	MOVL         $0x3f800000, AX       // 1.0
	VMOVD        AX, X12

q8kblock:
	// max|x| over the 256 elements, broadcast into Z0.
	VANDPS       (SI), Z15, Z0
	MOVQ         $64, BX

q8kmax:
	VANDPS       (SI)(BX*1), Z15, Z1
	VMAXPS       Z1, Z0, Z0
	ADDQ         $64, BX
	CMPQ         BX, $1024
	JLT          q8kmax
	VEXTRACTF64X4 $1, Z0, Y1
	VMAXPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VXORPS       X1, X1, X1
	VUCOMISS     X1, X0
	JEQ          q8kzero
	VBROADCASTSS X0, Z0
	// The first element of that magnitude, with its sign.
	XORQ         BX, BX

q8kfind:
	VANDPS       (SI)(BX*1), Z15, Z1
	VCMPPS       $0, Z0, Z1, K1
	KMOVW        K1, AX
	TESTL        AX, AX
	JNZ          q8kfound
	ADDQ         $64, BX
	JMP          q8kfind

q8kfound:
	TZCNTL       AX, AX
	LEAQ         (SI)(BX*1), DX
	VMOVSS       (DX)(AX*4), X2        // max, signed
	VDIVSS       X2, X13, X3           // iscale = -127/max
	VDIVSS       X3, X12, X4           // d = 1/iscale
	VMOVSS       X4, (DI)
	VBROADCASTSS X3, Z3
	XORQ         BX, BX
	XORQ         DX, DX

q8kgroup:
	VMULPS       (SI)(BX*1), Z3, Z1
	VCVTPS2DQ    Z1, Z1                // round half to even
	VPMINSD      Z14, Z1, Z1
	VPMOVSDB     Z1, X2
	VMOVDQU      X2, 4(DI)(DX*1)
	VEXTRACTI64X4 $1, Z1, Y2
	VPADDD       Y2, Y1, Y1
	VEXTRACTI128 $1, Y1, X2
	VPADDD       X2, X1, X1
	VPSHUFD      $0x4e, X1, X2
	VPADDD       X2, X1, X1
	VPSHUFD      $0xb1, X1, X2
	VPADDD       X2, X1, X1
	VMOVD        X1, AX
	MOVQ         DX, R8
	SHRQ         $3, R8                // group index · 2: bsums offset
	MOVW         AX, 260(DI)(R8*1)
	ADDQ         $64, BX
	ADDQ         $16, DX
	CMPQ         DX, $256
	JLT          q8kgroup
	JMP          q8knext

q8kzero:
	VPXORD       Z1, Z1, Z1
	VMOVDQU64    Z1, (DI)
	VMOVDQU64    Z1, 64(DI)
	VMOVDQU64    Z1, 128(DI)
	VMOVDQU64    Z1, 192(DI)
	VMOVDQU64    Z1, 228(DI)           // bytes 228…291 (overlaps, all zero)

q8knext:
	ADDQ         $1024, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q8kblock
	VZEROUPPER
	RET

// ---------------------------------------------------------------- AVX2

// PAIR_SCALED(x, s) adds the 32 unsigned levels in Y5 (two 16-element
// groups) times the q8_K bytes at x(DI), times the groups' scale words at
// s(SP) and s+2(SP), into the int32 lanes of Y2. Needs Y13 = kpairW.
// Clobbers Y5, Y6.
#define PAIR_SCALED(x, s) \
	VPMADDUBSW   x(DI), Y5, Y5 \
	VPBROADCASTD s(SP), Y6     \
	VPSHUFB      Y13, Y6, Y6   \
	VPMADDWD     Y6, Y5, Y5    \
	VPADDD       Y5, Y2, Y2

// K4_PAIR_AVX2(qs, x, s) adds pair p of q4_K/q5_K (32 bytes of nibbles at
// qs(SI): sub-blocks 2p and 2p+1) against x(DI) into Y2, with the scale words
// at s(SP), s+2(SP); the high bits, if any, are ORed in by hook before the
// products (Y3 low nibbles, Y4 high). Needs Y15 = 0x0f bytes.
#define K4_PAIR_AVX2(qs, x, s, hook) \
	VMOVDQU      qs(SI), Y3    \
	VPSRLW       $4, Y3, Y4    \
	VPAND        Y15, Y3, Y3   \
	VPAND        Y15, Y4, Y4   \
	hook                       \
	VPMADDUBSW   x(DI), Y3, Y3 \
	VPMADDUBSW   x+32(DI), Y4, Y4 \
	VPBROADCASTW s(SP), Y5     \
	VPBROADCASTW s+2(SP), Y6   \
	VPMADDWD     Y5, Y3, Y3    \
	VPMADDWD     Y6, Y4, Y4    \
	VPADDD       Y3, Y2, Y2    \
	VPADDD       Y4, Y2, Y2

// HIGH_BIT(reg, bit) ORs 16 into the bytes of reg whose bit (a kpow2 index)
// is set in q5_K's qh (Y7). Needs Y14 = 0x10 bytes; clobbers Y8, Y9.
#define HIGH_BIT(reg, bit) \
	VPBROADCASTB kpow2<>+bit(SB), Y8 \
	VPAND        Y7, Y8, Y9  \
	VPCMPEQB     Y8, Y9, Y9  \
	VPAND        Y14, Y9, Y9 \
	VPOR         Y9, reg, reg

#define HIGH_BITS(p0, p1) HIGH_BIT(Y3, p0) HIGH_BIT(Y4, p1)

// K4_PROLOGUE turns SCALES_K4's R8/R9 into the scale words at 0(SP) and
// the Σ min·bsum pairs (Y9), and sets X10 = [d·d_x, dmin·d_x].
#define K4_PROLOGUE \
	SCALES_K4                  \
	VMOVQ        R8, X8        \
	VPMOVZXBW    X8, X8        \
	VMOVDQU      X8, 0(SP)     \
	VMOVQ        R9, X9        \
	VPMOVZXBW    X9, X9        \
	VPUNPCKLWD   X9, X9, X12   \
	VPUNPCKHWD   X9, X9, X13   \
	VINSERTI128  $1, X13, Y12, Y9 \
	VPMADDWD     260(DI), Y9, Y9 \
	D_DMIN(0)                  \
	MIN_TERM                   \
	VBROADCASTSS X10, Y10

// func dotQ4_KQ8_KAVX2(w, x *byte, nb int) float32
TEXT ·dotQ4_KQ8_KAVX2(SB), NOSPLIT, $16-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15

q4ka:
	K4_PROLOGUE
	VPXOR        Y2, Y2, Y2
	K4_PAIR_AVX2(16, 4, 0, NO_HOOK)
	K4_PAIR_AVX2(48, 68, 4, NO_HOOK)
	K4_PAIR_AVX2(80, 132, 8, NO_HOOK)
	K4_PAIR_AVX2(112, 196, 12, NO_HOOK)
	VCVTDQ2PS    Y2, Y2
	VFMADD231PS  Y2, Y10, Y0
	ADDQ         $144, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q4ka
	REDUCE_K2
	MOVSS        X0, ret+24(FP)
	RET

// func dotQ5_KQ8_KAVX2(w, x *byte, nb int) float32
TEXT ·dotQ5_KQ8_KAVX2(SB), NOSPLIT, $16-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x10101010, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14

q5ka:
	K4_PROLOGUE
	VMOVDQU      16(SI), Y7            // qh
	VPXOR        Y2, Y2, Y2
	K4_PAIR_AVX2(48, 4, 0, HIGH_BITS(0, 1))
	K4_PAIR_AVX2(80, 68, 4, HIGH_BITS(2, 3))
	K4_PAIR_AVX2(112, 132, 8, HIGH_BITS(4, 5))
	K4_PAIR_AVX2(144, 196, 12, HIGH_BITS(6, 7))
	VCVTDQ2PS    Y2, Y2
	VFMADD231PS  Y2, Y10, Y0
	ADDQ         $176, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q5ka
	REDUCE_K2
	MOVSS        X0, ret+24(FP)
	RET

// Q6_HALF_AVX2(ql, qh, x, s) adds q6_K half h (ql at ql(SI), qh at qh(SI))
// against x(DI) into Y2, with its eight scale words from s(SP). Needs
// Y15 = 0x0f, Y14 = 0x30 bytes; clobbers Y3..Y7.
#define Q6_HALF_AVX2(ql, qh, x, s) \
	VMOVDQU qh(SI), Y7            \
	VMOVDQU ql(SI), Y3            \
	VMOVDQU ql+32(SI), Y4         \
	VPAND   Y15, Y3, Y5           \
	VPSLLW  $4, Y7, Y6            \
	VPAND   Y14, Y6, Y6           \
	VPOR    Y6, Y5, Y5            \
	PAIR_SCALED(x, s)             \
	VPAND   Y15, Y4, Y5           \
	VPSLLW  $2, Y7, Y6            \
	VPAND   Y14, Y6, Y6           \
	VPOR    Y6, Y5, Y5            \
	PAIR_SCALED(x+32, s+4)        \
	VPSRLW  $4, Y3, Y5            \
	VPAND   Y15, Y5, Y5           \
	VPAND   Y14, Y7, Y6           \
	VPOR    Y6, Y5, Y5            \
	PAIR_SCALED(x+64, s+8)        \
	VPSRLW  $4, Y4, Y5            \
	VPAND   Y15, Y5, Y5           \
	VPSRLW  $2, Y7, Y6            \
	VPAND   Y14, Y6, Y6           \
	VPOR    Y6, Y5, Y5            \
	PAIR_SCALED(x+96, s+12)

// func dotQ6_KQ8_KAVX2(w, x *byte, nb int) float32
TEXT ·dotQ6_KQ8_KAVX2(SB), NOSPLIT, $32-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x0f0f0f0f, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x30303030, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU      kpairW<>(SB), Y13
	MOVL         $0xc2000000, AX       // -32.0
	VMOVD        AX, X12

q6ka:
	VPMOVSXBW    192(SI), Y8
	VMOVDQU      Y8, 0(SP)
	VPMADDWD     260(DI), Y8, Y9
	VCVTDQ2PS    Y9, Y9
	D_ONLY(208)
	VMULSS       X12, X10, X11
	VBROADCASTSS X11, Y11
	VFMADD231PS  Y9, Y11, Y1
	VBROADCASTSS X10, Y10
	VPXOR        Y2, Y2, Y2
	Q6_HALF_AVX2(0, 128, 4, 0)
	Q6_HALF_AVX2(64, 160, 132, 16)
	VCVTDQ2PS    Y2, Y2
	VFMADD231PS  Y2, Y10, Y0
	ADDQ         $210, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q6ka
	REDUCE_K2
	MOVSS        X0, ret+24(FP)
	RET

// K2_J_AVX2(shift, x, s) adds the levels (Y3 >> shift) & 3 of 32 elements.
#define K2_J_AVX2(shift, x, s) \
	VPSRLW $shift, Y3, Y5 \
	VPAND  Y15, Y5, Y5     \
	PAIR_SCALED(x, s)

// func dotQ2_KQ8_KAVX2(w, x *byte, nb int) float32
TEXT ·dotQ2_KQ8_KAVX2(SB), NOSPLIT, $32-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x03030303, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x000f000f, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU      kpairW<>(SB), Y13

q2ka:
	VPMOVZXBW    0(SI), Y8
	VPSRLW       $4, Y8, Y9
	VPAND        Y14, Y8, Y8
	VMOVDQU      Y8, 0(SP)
	VPMADDWD     260(DI), Y9, Y9
	D_DMIN(80)
	MIN_TERM
	VBROADCASTSS X10, Y10
	VPXOR        Y2, Y2, Y2
	VMOVDQU      16(SI), Y3
	K2_J_AVX2(0, 4, 0)
	K2_J_AVX2(2, 36, 4)
	K2_J_AVX2(4, 68, 8)
	K2_J_AVX2(6, 100, 12)
	VMOVDQU      48(SI), Y3
	K2_J_AVX2(0, 132, 16)
	K2_J_AVX2(2, 164, 20)
	K2_J_AVX2(4, 196, 24)
	K2_J_AVX2(6, 228, 28)
	VCVTDQ2PS    Y2, Y2
	VFMADD231PS  Y2, Y10, Y0
	ADDQ         $84, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q2ka
	REDUCE_K2
	MOVSS        X0, ret+24(FP)
	RET

// K3_J_AVX2(shift, x, s, bit) adds q3_K's 32 elements with low bits
// (Y3 >> shift) & 3 and third bit kpow2[bit] of hmask (Y7), as unsigned
// levels low + 4·bit. Needs Y14 = 0x04 bytes.
#define K3_J_AVX2(shift, x, s, bit) \
	VPSRLW       $shift, Y3, Y5      \
	VPAND        Y15, Y5, Y5         \
	VPBROADCASTB kpow2<>+bit(SB), Y6 \
	VPAND        Y7, Y6, Y4          \
	VPCMPEQB     Y6, Y4, Y4          \
	VPAND        Y14, Y4, Y4         \
	VPOR         Y4, Y5, Y5          \
	PAIR_SCALED(x, s)

// func dotQ3_KQ8_KAVX2(w, x *byte, nb int) float32
TEXT ·dotQ3_KQ8_KAVX2(SB), NOSPLIT, $32-28
	MOVQ         w+0(FP), SI
	MOVQ         x+8(FP), DI
	MOVQ         nb+16(FP), CX
	VXORPS       Y0, Y0, Y0
	VXORPS       Y1, Y1, Y1
	MOVL         $0x03030303, AX
	VMOVD        AX, X15
	VPBROADCASTD X15, Y15
	MOVL         $0x04040404, AX
	VMOVD        AX, X14
	VPBROADCASTD X14, Y14
	VMOVDQU      kpairW<>(SB), Y13
	MOVL         $0x00200020, AX
	VMOVD        AX, X12
	VPBROADCASTD X12, Y12              // 32 as words

q3ka:
	SCALES_K3
	VMOVQ        R8, X8
	VPINSRQ      $1, R9, X8, X8
	VPMOVZXBW    X8, Y8
	VPSUBW       Y12, Y8, Y8
	VMOVDQU      Y8, 0(SP)
	VPMADDWD     260(DI), Y8, Y9
	VCVTDQ2PS    Y9, Y9
	D_ONLY(108)
	MOVL         $0xc0800000, AX       // -4.0
	VMOVD        AX, X7
	VMULSS       X7, X10, X11
	VBROADCASTSS X11, Y11
	VFMADD231PS  Y9, Y11, Y1
	VBROADCASTSS X10, Y10
	VMOVDQU      0(SI), Y7             // hmask
	VPXOR        Y2, Y2, Y2
	VMOVDQU      32(SI), Y3
	K3_J_AVX2(0, 4, 0, 0)
	K3_J_AVX2(2, 36, 4, 1)
	K3_J_AVX2(4, 68, 8, 2)
	K3_J_AVX2(6, 100, 12, 3)
	VMOVDQU      64(SI), Y3
	K3_J_AVX2(0, 132, 16, 4)
	K3_J_AVX2(2, 164, 20, 5)
	K3_J_AVX2(4, 196, 24, 6)
	K3_J_AVX2(6, 228, 28, 7)
	VCVTDQ2PS    Y2, Y2
	VFMADD231PS  Y2, Y10, Y0
	ADDQ         $110, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q3ka
	REDUCE_K2
	MOVSS        X0, ret+24(FP)
	RET

// kidxSub32: VPERMW indices, chunk p (0..3) of 64 elements: words 0-15
// take scale 2p, words 16-31 scale 2p+1 (q4_K/q5_K sub-blocks of 32).
DATA kidxSub32<>+0(SB)/8, $0x0000000000000000
DATA kidxSub32<>+8(SB)/8, $0x0000000000000000
DATA kidxSub32<>+16(SB)/8, $0x0000000000000000
DATA kidxSub32<>+24(SB)/8, $0x0000000000000000
DATA kidxSub32<>+32(SB)/8, $0x0001000100010001
DATA kidxSub32<>+40(SB)/8, $0x0001000100010001
DATA kidxSub32<>+48(SB)/8, $0x0001000100010001
DATA kidxSub32<>+56(SB)/8, $0x0001000100010001
DATA kidxSub32<>+64(SB)/8, $0x0002000200020002
DATA kidxSub32<>+72(SB)/8, $0x0002000200020002
DATA kidxSub32<>+80(SB)/8, $0x0002000200020002
DATA kidxSub32<>+88(SB)/8, $0x0002000200020002
DATA kidxSub32<>+96(SB)/8, $0x0003000300030003
DATA kidxSub32<>+104(SB)/8, $0x0003000300030003
DATA kidxSub32<>+112(SB)/8, $0x0003000300030003
DATA kidxSub32<>+120(SB)/8, $0x0003000300030003
DATA kidxSub32<>+128(SB)/8, $0x0004000400040004
DATA kidxSub32<>+136(SB)/8, $0x0004000400040004
DATA kidxSub32<>+144(SB)/8, $0x0004000400040004
DATA kidxSub32<>+152(SB)/8, $0x0004000400040004
DATA kidxSub32<>+160(SB)/8, $0x0005000500050005
DATA kidxSub32<>+168(SB)/8, $0x0005000500050005
DATA kidxSub32<>+176(SB)/8, $0x0005000500050005
DATA kidxSub32<>+184(SB)/8, $0x0005000500050005
DATA kidxSub32<>+192(SB)/8, $0x0006000600060006
DATA kidxSub32<>+200(SB)/8, $0x0006000600060006
DATA kidxSub32<>+208(SB)/8, $0x0006000600060006
DATA kidxSub32<>+216(SB)/8, $0x0006000600060006
DATA kidxSub32<>+224(SB)/8, $0x0007000700070007
DATA kidxSub32<>+232(SB)/8, $0x0007000700070007
DATA kidxSub32<>+240(SB)/8, $0x0007000700070007
DATA kidxSub32<>+248(SB)/8, $0x0007000700070007
GLOBL kidxSub32<>(SB), RODATA|NOPTR, $256

// kidxMinsK4: words [8,8,9,9,…,15,15]: the mins (words 8-15) each twice,
// to meet bsums pairwise in VPMADDWD.
DATA kidxMinsK4<>+0(SB)/8, $0x0009000900080008
DATA kidxMinsK4<>+8(SB)/8, $0x000b000b000a000a
DATA kidxMinsK4<>+16(SB)/8, $0x000d000d000c000c
DATA kidxMinsK4<>+24(SB)/8, $0x000f000f000e000e
GLOBL kidxMinsK4<>(SB), RODATA|NOPTR, $32

// kidxG16: VPERMW indices, chunk c (0..3) of 64 elements: word w takes the
// scale of group 4c + w/8 (16-element groups).
DATA kidxG16<>+0(SB)/8, $0x0000000000000000
DATA kidxG16<>+8(SB)/8, $0x0000000000000000
DATA kidxG16<>+16(SB)/8, $0x0001000100010001
DATA kidxG16<>+24(SB)/8, $0x0001000100010001
DATA kidxG16<>+32(SB)/8, $0x0002000200020002
DATA kidxG16<>+40(SB)/8, $0x0002000200020002
DATA kidxG16<>+48(SB)/8, $0x0003000300030003
DATA kidxG16<>+56(SB)/8, $0x0003000300030003
DATA kidxG16<>+64(SB)/8, $0x0004000400040004
DATA kidxG16<>+72(SB)/8, $0x0004000400040004
DATA kidxG16<>+80(SB)/8, $0x0005000500050005
DATA kidxG16<>+88(SB)/8, $0x0005000500050005
DATA kidxG16<>+96(SB)/8, $0x0006000600060006
DATA kidxG16<>+104(SB)/8, $0x0006000600060006
DATA kidxG16<>+112(SB)/8, $0x0007000700070007
DATA kidxG16<>+120(SB)/8, $0x0007000700070007
DATA kidxG16<>+128(SB)/8, $0x0008000800080008
DATA kidxG16<>+136(SB)/8, $0x0008000800080008
DATA kidxG16<>+144(SB)/8, $0x0009000900090009
DATA kidxG16<>+152(SB)/8, $0x0009000900090009
DATA kidxG16<>+160(SB)/8, $0x000a000a000a000a
DATA kidxG16<>+168(SB)/8, $0x000a000a000a000a
DATA kidxG16<>+176(SB)/8, $0x000b000b000b000b
DATA kidxG16<>+184(SB)/8, $0x000b000b000b000b
DATA kidxG16<>+192(SB)/8, $0x000c000c000c000c
DATA kidxG16<>+200(SB)/8, $0x000c000c000c000c
DATA kidxG16<>+208(SB)/8, $0x000d000d000d000d
DATA kidxG16<>+216(SB)/8, $0x000d000d000d000d
DATA kidxG16<>+224(SB)/8, $0x000e000e000e000e
DATA kidxG16<>+232(SB)/8, $0x000e000e000e000e
DATA kidxG16<>+240(SB)/8, $0x000f000f000f000f
DATA kidxG16<>+248(SB)/8, $0x000f000f000f000f
GLOBL kidxG16<>(SB), RODATA|NOPTR, $256

// kbitsK: chunk p (0..3): bytes 0-31 hold 1<<2p, bytes 32-63 1<<(2p+1)
// (q5_K's fifth bit and q3_K's third bit of the two halves of a chunk).
DATA kbitsK<>+0(SB)/8, $0x0101010101010101
DATA kbitsK<>+8(SB)/8, $0x0101010101010101
DATA kbitsK<>+16(SB)/8, $0x0101010101010101
DATA kbitsK<>+24(SB)/8, $0x0101010101010101
DATA kbitsK<>+32(SB)/8, $0x0202020202020202
DATA kbitsK<>+40(SB)/8, $0x0202020202020202
DATA kbitsK<>+48(SB)/8, $0x0202020202020202
DATA kbitsK<>+56(SB)/8, $0x0202020202020202
DATA kbitsK<>+64(SB)/8, $0x0404040404040404
DATA kbitsK<>+72(SB)/8, $0x0404040404040404
DATA kbitsK<>+80(SB)/8, $0x0404040404040404
DATA kbitsK<>+88(SB)/8, $0x0404040404040404
DATA kbitsK<>+96(SB)/8, $0x0808080808080808
DATA kbitsK<>+104(SB)/8, $0x0808080808080808
DATA kbitsK<>+112(SB)/8, $0x0808080808080808
DATA kbitsK<>+120(SB)/8, $0x0808080808080808
DATA kbitsK<>+128(SB)/8, $0x1010101010101010
DATA kbitsK<>+136(SB)/8, $0x1010101010101010
DATA kbitsK<>+144(SB)/8, $0x1010101010101010
DATA kbitsK<>+152(SB)/8, $0x1010101010101010
DATA kbitsK<>+160(SB)/8, $0x2020202020202020
DATA kbitsK<>+168(SB)/8, $0x2020202020202020
DATA kbitsK<>+176(SB)/8, $0x2020202020202020
DATA kbitsK<>+184(SB)/8, $0x2020202020202020
DATA kbitsK<>+192(SB)/8, $0x4040404040404040
DATA kbitsK<>+200(SB)/8, $0x4040404040404040
DATA kbitsK<>+208(SB)/8, $0x4040404040404040
DATA kbitsK<>+216(SB)/8, $0x4040404040404040
DATA kbitsK<>+224(SB)/8, $0x8080808080808080
DATA kbitsK<>+232(SB)/8, $0x8080808080808080
DATA kbitsK<>+240(SB)/8, $0x8080808080808080
DATA kbitsK<>+248(SB)/8, $0x8080808080808080
GLOBL kbitsK<>(SB), RODATA|NOPTR, $256

// Per-word shift counts of the two halves of a zmm: [a×16 | b×16].
DATA kshift42<>+0(SB)/8, $0x0004000400040004
DATA kshift42<>+8(SB)/8, $0x0004000400040004
DATA kshift42<>+16(SB)/8, $0x0004000400040004
DATA kshift42<>+24(SB)/8, $0x0004000400040004
DATA kshift42<>+32(SB)/8, $0x0002000200020002
DATA kshift42<>+40(SB)/8, $0x0002000200020002
DATA kshift42<>+48(SB)/8, $0x0002000200020002
DATA kshift42<>+56(SB)/8, $0x0002000200020002
GLOBL kshift42<>(SB), RODATA|NOPTR, $64
DATA kshift02<>+0(SB)/8, $0x0000000000000000
DATA kshift02<>+8(SB)/8, $0x0000000000000000
DATA kshift02<>+16(SB)/8, $0x0000000000000000
DATA kshift02<>+24(SB)/8, $0x0000000000000000
DATA kshift02<>+32(SB)/8, $0x0002000200020002
DATA kshift02<>+40(SB)/8, $0x0002000200020002
DATA kshift02<>+48(SB)/8, $0x0002000200020002
DATA kshift02<>+56(SB)/8, $0x0002000200020002
GLOBL kshift02<>(SB), RODATA|NOPTR, $64
DATA kshift46<>+0(SB)/8, $0x0004000400040004
DATA kshift46<>+8(SB)/8, $0x0004000400040004
DATA kshift46<>+16(SB)/8, $0x0004000400040004
DATA kshift46<>+24(SB)/8, $0x0004000400040004
DATA kshift46<>+32(SB)/8, $0x0006000600060006
DATA kshift46<>+40(SB)/8, $0x0006000600060006
DATA kshift46<>+48(SB)/8, $0x0006000600060006
DATA kshift46<>+56(SB)/8, $0x0006000600060006
GLOBL kshift46<>(SB), RODATA|NOPTR, $64

// kpairW: VPSHUFB that spreads the dword [s0, s1] (two words) into
// [s0 ×8 | s1 ×8] across the lanes of a ymm.
DATA kpairW<>+0(SB)/8, $0x0100010001000100
DATA kpairW<>+8(SB)/8, $0x0100010001000100
DATA kpairW<>+16(SB)/8, $0x0302030203020302
DATA kpairW<>+24(SB)/8, $0x0302030203020302
GLOBL kpairW<>(SB), RODATA|NOPTR, $32

// kpow2: the bytes 1, 2, 4, …, 128 (VPBROADCASTB sources).
DATA kpow2<>+0(SB)/8, $0x8040201008040201
GLOBL kpow2<>(SB), RODATA|NOPTR, $8

// q4_K/q5_K scale unpacking (SCALES_K4_VEC): the shuffles that gather the
// low-bit and top-bit sources, and the masks.
DATA kshufK4lo<>+0(SB)/8, $0x0b0a090803020100
DATA kshufK4lo<>+8(SB)/8, $0x0b0a090807060504
GLOBL kshufK4lo<>(SB), RODATA|NOPTR, $16
DATA kshufK4hi<>+0(SB)/8, $0x0302010080808080
DATA kshufK4hi<>+8(SB)/8, $0x0706050480808080
GLOBL kshufK4hi<>(SB), RODATA|NOPTR, $16
DATA kmaskK4<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA kmaskK4<>+8(SB)/8, $0x0f0f0f0f3f3f3f3f
GLOBL kmaskK4<>(SB), RODATA|NOPTR, $16
DATA kmask30<>+0(SB)/8, $0x3030303030303030
DATA kmask30<>+8(SB)/8, $0x3030303030303030
GLOBL kmask30<>(SB), RODATA|NOPTR, $16
