//go:build amd64 && !noasm

#include "textflag.h"

// Assembly twins of the quant/half row kernels; see quant_amd64.go for each
// routine's contract and the Go reference it must match.

// HSUM_Y0 leaves the sum of the 8 floats of Y0 in X0 (clobbers X1).
#define HSUM_Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VHADDPS      X0, X0, X0 \
	VHADDPS      X0, X0, X0

// BLOCK_SCALE loads the f16 scales at (SI) and (DI), multiplies them and
// broadcasts the product to Y1 (clobbers AX, BX, X2).
#define BLOCK_SCALE \
	MOVWLZX      (SI), AX \
	MOVWLZX      (DI), BX \
	VMOVD        AX, X1   \
	VMOVD        BX, X2   \
	VCVTPH2PS    X1, X1   \
	VCVTPH2PS    X2, X2   \
	VMULSS       X2, X1, X1 \
	VBROADCASTSS X1, Y1

// Q4_UNPACK loads the 16 nibble bytes of the q4_0 block at SI into Y2 as 32
// signed bytes q-8: low nibbles (elements 0..15) in the low lane, high
// nibbles (16..31) in the high lane. Needs Y14 = 0x0f bytes, Y13 = 8 bytes.
#define Q4_UNPACK \
	VMOVDQU     2(SI), X2       \
	VPSRLW      $4, X2, X3      \
	VINSERTI128 $1, X3, Y2, Y2  \
	VPAND       Y14, Y2, Y2     \
	VPSUBB      Y13, Y2, Y2

// Q4_CONSTS sets Y14 = 0x0f bytes and Y13 = 0x08 bytes.
#define Q4_CONSTS \
	MOVL         $0x0f0f0f0f, AX \
	VMOVD        AX, X14         \
	VPBROADCASTD X14, Y14        \
	MOVL         $0x08080808, AX \
	VMOVD        AX, X13         \
	VPBROADCASTD X13, Y13

// INT8_DOT_AVX2 turns signed bytes w (Y2) and x (Y3) into 8 int32 partial
// dots converted to float in Y6; Y15 must hold 16-bit ones.
#define INT8_DOT_AVX2 \
	VPSIGNB    Y2, Y2, Y4  \
	VPSIGNB    Y2, Y3, Y5  \
	VPMADDUBSW Y5, Y4, Y6  \
	VPMADDWD   Y15, Y6, Y6 \
	VCVTDQ2PS  Y6, Y6

// INT8_DOT_VNNI is INT8_DOT_AVX2 with one VPDPBUSD (no 16-bit stage).
#define INT8_DOT_VNNI \
	VPSIGNB   Y2, Y2, Y4 \
	VPSIGNB   Y2, Y3, Y5 \
	VPXOR     Y6, Y6, Y6 \
	VPDPBUSD  Y5, Y4, Y6 \
	VCVTDQ2PS Y6, Y6

// OFFSET_TERM adds m_w·s_x (the f16s at 2(SI) and 2(DI)) to X7: the
// offset types' term against q8_1. Clobbers AX, BX, X8, X9.
#define OFFSET_TERM \
	MOVWLZX     2(SI), AX \
	MOVWLZX     2(DI), BX \
	VMOVD       AX, X8    \
	VMOVD       BX, X9    \
	VCVTPH2PS   X8, X8    \
	VCVTPH2PS   X9, X9    \
	VFMADD231SS X9, X8, X7

// NIBBLES(off) loads the 16 nibble bytes at off(SI) into Y2 as 32 bytes in
// element order (low nibbles, then high). Needs Y14 = 0x0f bytes.
#define NIBBLES(off) \
	VMOVDQU     off(SI), X2    \
	VPSRLW      $4, X2, X3     \
	VINSERTI128 $1, X3, Y2, Y2 \
	VPAND       Y14, Y2, Y2

// BITS_AVX2(off) sets Y8 to 0xff in byte j where bit j of the uint32 at
// off(SI) is set. Needs Y12 = kshufBits, Y11 = kbitSel.
#define BITS_AVX2(off) \
	VPBROADCASTD off(SI), Y8  \
	VPSHUFB      Y12, Y8, Y8  \
	VPAND        Y11, Y8, Y8  \
	VPCMPEQB     Y11, Y8, Y8

// UNSIGNED_DOT_AVX2 turns unsigned levels (Y2) times signed bytes at
// off(DI) into 8 floats in Y6; Y15 must hold 16-bit ones.
#define UNSIGNED_DOT_AVX2(off) \
	VPMADDUBSW off(DI), Y2, Y6 \
	VPMADDWD   Y15, Y6, Y6     \
	VCVTDQ2PS  Y6, Y6

#define UNSIGNED_DOT_VNNI(off) \
	VPXOR     Y6, Y6, Y6     \
	VPDPBUSD  off(DI), Y2, Y6 \
	VCVTDQ2PS Y6, Y6

// BITS_CONSTS loads Y12 = kshufBits and Y11 = kbitSel.
#define BITS_CONSTS \
	VMOVDQU kshufBits<>(SB), Y12 \
	VMOVDQU kbitSel<>(SB), Y11

// ONES_W sets Y15 to 16-bit ones.
#define ONES_W \
	VPCMPEQW Y15, Y15, Y15 \
	VPSRLW   $15, Y15, Y15

// BYTE_CONST(v, reg) broadcasts the 32-bit pattern v into ymm reg.
#define BYTE_CONST(v, x, y) \
	MOVL         v, AX \
	VMOVD        AX, x \
	VPBROADCASTD x, y

// func dotQ4_1Q8_1AVX2(w, xq *byte, nb int) float32
TEXT ·dotQ4_1Q8_1AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   xq+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS X7, X7, X7
	ONES_W
	BYTE_CONST($0x0f0f0f0f, X14, Y14)

q41loop:
	BLOCK_SCALE
	NIBBLES(4)
	UNSIGNED_DOT_AVX2(4)
	VFMADD231PS Y6, Y1, Y0
	OFFSET_TERM
	ADDQ        $20, SI
	ADDQ        $36, DI
	DECQ        CX
	JNZ         q41loop

	HSUM_Y0
	VADDSS X7, X0, X0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func dotQ4_1Q8_1VNNI(w, xq *byte, nb int) float32
TEXT ·dotQ4_1Q8_1VNNI(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   xq+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS X7, X7, X7
	BYTE_CONST($0x0f0f0f0f, X14, Y14)

q41vloop:
	BLOCK_SCALE
	NIBBLES(4)
	UNSIGNED_DOT_VNNI(4)
	VFMADD231PS Y6, Y1, Y0
	OFFSET_TERM
	ADDQ        $20, SI
	ADDQ        $36, DI
	DECQ        CX
	JNZ         q41vloop

	HSUM_Y0
	VADDSS X7, X0, X0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func dotQ5_1Q8_1AVX2(w, xq *byte, nb int) float32
TEXT ·dotQ5_1Q8_1AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   xq+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS X7, X7, X7
	ONES_W
	BYTE_CONST($0x0f0f0f0f, X14, Y14)
	BYTE_CONST($0x10101010, X10, Y10)
	BITS_CONSTS

q51loop:
	BLOCK_SCALE
	NIBBLES(8)
	BITS_AVX2(4)
	VPAND       Y10, Y8, Y8
	VPOR        Y8, Y2, Y2
	UNSIGNED_DOT_AVX2(4)
	VFMADD231PS Y6, Y1, Y0
	OFFSET_TERM
	ADDQ        $24, SI
	ADDQ        $36, DI
	DECQ        CX
	JNZ         q51loop

	HSUM_Y0
	VADDSS X7, X0, X0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func dotQ5_1Q8_1VNNI(w, xq *byte, nb int) float32
TEXT ·dotQ5_1Q8_1VNNI(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   xq+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS X7, X7, X7
	BYTE_CONST($0x0f0f0f0f, X14, Y14)
	BYTE_CONST($0x10101010, X10, Y10)

q51vloop:
	BLOCK_SCALE
	NIBBLES(8)
	KMOVD       4(SI), K1
	VPADDB      Y10, Y2, K1, Y2
	UNSIGNED_DOT_VNNI(4)
	VFMADD231PS Y6, Y1, Y0
	OFFSET_TERM
	ADDQ        $24, SI
	ADDQ        $36, DI
	DECQ        CX
	JNZ         q51vloop

	HSUM_Y0
	VADDSS X7, X0, X0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func dotQ5_0Q8_0AVX2(w, xq *byte, nb int) float32
TEXT ·dotQ5_0Q8_0AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   xq+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	ONES_W
	BYTE_CONST($0x0f0f0f0f, X14, Y14)
	BYTE_CONST($0xf0f0f0f0, X10, Y10)
	BITS_CONSTS

q50loop:
	BLOCK_SCALE
	NIBBLES(6)
	BITS_AVX2(2)
	VPANDN      Y10, Y8, Y8            // 0xf0 where the fifth bit is clear: level - 16
	VPOR        Y8, Y2, Y2
	VMOVDQU     2(DI), Y3
	INT8_DOT_AVX2
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $22, SI
	ADDQ        $34, DI
	DECQ        CX
	JNZ         q50loop

	HSUM_Y0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotQ5_0Q8_0VNNI(w, xq *byte, nb int) float32
TEXT ·dotQ5_0Q8_0VNNI(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   xq+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	BYTE_CONST($0x0f0f0f0f, X14, Y14)
	BYTE_CONST($0x10101010, X10, Y10)

q50vloop:
	BLOCK_SCALE
	NIBBLES(6)
	KMOVD       2(SI), K1
	KNOTD       K1, K2
	VPSUBB      Y10, Y2, K2, Y2        // level - 16 where the fifth bit is clear
	VMOVDQU     2(DI), Y3
	INT8_DOT_VNNI
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $22, SI
	ADDQ        $34, DI
	DECQ        CX
	JNZ         q50vloop

	HSUM_Y0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotIQ4NLQ8_0AVX2(w, xq *byte, nb int) float32
TEXT ·dotIQ4NLQ8_0AVX2(SB), NOSPLIT, $0-28
	MOVQ    w+0(FP), SI
	MOVQ    xq+8(FP), DI
	MOVQ    nb+16(FP), CX
	VXORPS  Y0, Y0, Y0
	ONES_W
	BYTE_CONST($0x0f0f0f0f, X14, Y14)
	VMOVDQU kvaluesIQ4NL2<>(SB), Y12

iq4loop:
	BLOCK_SCALE
	NIBBLES(2)
	VPSHUFB     Y2, Y12, Y2            // the non-linear levels
	VMOVDQU     2(DI), Y3
	INT8_DOT_AVX2
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $18, SI
	ADDQ        $34, DI
	DECQ        CX
	JNZ         iq4loop

	HSUM_Y0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotIQ4NLQ8_0VNNI(w, xq *byte, nb int) float32
TEXT ·dotIQ4NLQ8_0VNNI(SB), NOSPLIT, $0-28
	MOVQ    w+0(FP), SI
	MOVQ    xq+8(FP), DI
	MOVQ    nb+16(FP), CX
	VXORPS  Y0, Y0, Y0
	BYTE_CONST($0x0f0f0f0f, X14, Y14)
	VMOVDQU kvaluesIQ4NL2<>(SB), Y12

iq4vloop:
	BLOCK_SCALE
	NIBBLES(2)
	VPSHUFB     Y2, Y12, Y2
	VMOVDQU     2(DI), Y3
	INT8_DOT_VNNI
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $18, SI
	ADDQ        $34, DI
	DECQ        CX
	JNZ         iq4vloop

	HSUM_Y0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// Q8S_SCALE sets Y1 to d_w·d_x: the f16 weight scale at (SI) times the f32
// q8s scale at (DI). Clobbers AX.
#define Q8S_SCALE \
	MOVWLZX      (SI), AX  \
	VMOVD        AX, X1    \
	VCVTPH2PS    X1, X1    \
	VMULSS       (DI), X1, X1 \
	VBROADCASTSS X1, Y1

// Q8S_OFFSET(shift) sets Y6 to [-(Σq << shift), 0, …]: the offset of the
// unsigned weight levels (8 = 1<<3 for q4_0, 128 = 1<<7 for q8_0) taken off
// once per block through lane 0. Clobbers AX.
#define Q8S_OFFSET(shift) \
	MOVL  4(DI), AX   \
	SHLL  $shift, AX  \
	NEGL  AX          \
	VMOVD AX, X6

// func dotQ4_0Q8SVNNI(w, xq *byte, nb int) float32
TEXT ·dotQ4_0Q8SVNNI(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   xq+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	BYTE_CONST($0x0f0f0f0f, X14, Y14)

q4sloop:
	Q8S_SCALE
	Q8S_OFFSET(3)
	NIBBLES(2)
	VPDPBUSD    8(DI), Y2, Y6
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $18, SI
	ADDQ        $40, DI
	DECQ        CX
	JNZ         q4sloop

	HSUM_Y0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotQ4_0Q8SAVX2(w, xq *byte, nb int) float32
TEXT ·dotQ4_0Q8SAVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   xq+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	ONES_W
	BYTE_CONST($0x0f0f0f0f, X14, Y14)

q4saloop:
	Q8S_SCALE
	Q8S_OFFSET(3)
	NIBBLES(2)
	VPMADDUBSW  8(DI), Y2, Y7
	VPMADDWD    Y15, Y7, Y7
	VPADDD      Y7, Y6, Y6
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $18, SI
	ADDQ        $40, DI
	DECQ        CX
	JNZ         q4saloop

	HSUM_Y0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotQ8_0Q8SVNNI(w, xq *byte, nb int) float32
TEXT ·dotQ8_0Q8SVNNI(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   xq+8(FP), DI
	MOVQ   nb+16(FP), CX
	VXORPS Y0, Y0, Y0
	BYTE_CONST($0x80808080, X13, Y13)

q8sloop:
	Q8S_SCALE
	Q8S_OFFSET(7)
	VPXOR       2(SI), Y13, Y2         // w + 128: unsigned
	VPDPBUSD    8(DI), Y2, Y6
	VCVTDQ2PS   Y6, Y6
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $34, SI
	ADDQ        $40, DI
	DECQ        CX
	JNZ         q8sloop

	HSUM_Y0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dotQ8_0Q8SAVX2(w, xq *byte, nb int) float32
TEXT ·dotQ8_0Q8SAVX2(SB), NOSPLIT, $0-28
	MOVQ     w+0(FP), SI
	MOVQ     xq+8(FP), DI
	MOVQ     nb+16(FP), CX
	VXORPS   Y0, Y0, Y0
	ONES_W

q8saloop:
	Q8S_SCALE
	VMOVDQU     2(SI), Y2
	VMOVDQU     8(DI), Y3
	INT8_DOT_AVX2
	VFMADD231PS Y6, Y1, Y0
	ADDQ        $34, SI
	ADDQ        $40, DI
	DECQ        CX
	JNZ         q8saloop

	HSUM_Y0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func quantQ8SAVX512(dst *byte, src *float32, nb int)
TEXT ·quantQ8SAVX512(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         nb+16(FP), CX
	MOVL         $0x7fffffff, AX
	VPBROADCASTD AX, Z15               // |x| mask
	MOVL         $0x42fe0000, AX       // 127.0
	VMOVD        AX, X14
	VXORPS       X13, X13, X13

q8sqloop:
	VMOVUPS      (SI), Z0
	VMOVUPS      64(SI), Z1
	VANDPS       Z15, Z0, Z2
	VANDPS       Z15, Z1, Z3
	VMAXPS       Z3, Z2, Z2
	VEXTRACTF64X4 $1, Z2, Y3
	VMAXPS       Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VMAXPS       X3, X2, X2
	VPERMILPS    $0x4e, X2, X3
	VMAXPS       X3, X2, X2
	VPERMILPS    $0xb1, X2, X3
	VMAXPS       X3, X2, X2            // max|x| in every lane
	VDIVSS       X14, X2, X4           // d = max/127
	VCVTPS2PH    $0, X4, X4
	VCVTPH2PS    X4, X4                // rounded to f16
	VMOVSS       X4, (DI)
	VDIVSS       X2, X14, X5           // 127/max
	VCMPSS       $4, X13, X2, X6       // max != 0
	VANDPS       X6, X5, X5
	VBROADCASTSS X5, Z5
	VMULPS       Z5, Z0, Z0
	VMULPS       Z5, Z1, Z1
	VCVTPS2DQ    Z0, Z0                // round half to even
	VCVTPS2DQ    Z1, Z1
	VPMOVSDB     Z0, 8(DI)
	VPMOVSDB     Z1, 24(DI)
	VPADDD       Z1, Z0, Z0
	VEXTRACTI64X4 $1, Z0, Y1
	VPADDD       Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, 4(DI)             // Σq
	ADDQ         $128, SI
	ADDQ         $40, DI
	DECQ         CX
	JNZ          q8sqloop
	VZEROUPPER
	RET

// func dequantQ8_0AVX512(dst *float32, src *byte, nb int)
TEXT ·dequantQ8_0AVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX

dq8loop:
	MOVWLZX      (SI), AX
	VMOVD        AX, X0
	VCVTPH2PS    X0, X0
	VBROADCASTSS X0, Z0
	VPMOVSXBD    2(SI), Z1
	VPMOVSXBD    18(SI), Z2
	VCVTDQ2PS    Z1, Z1
	VCVTDQ2PS    Z2, Z2
	VMULPS       Z0, Z1, Z1
	VMULPS       Z0, Z2, Z2
	VMOVUPS      Z1, (DI)
	VMOVUPS      Z2, 64(DI)
	ADDQ         $34, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          dq8loop
	VZEROUPPER
	RET

// func dequantQ4_0AVX512(dst *float32, src *byte, nb int)
TEXT ·dequantQ4_0AVX512(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         nb+16(FP), CX
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, X3
	MOVL         $8, AX
	VPBROADCASTD AX, Z4

dq4loop:
	MOVWLZX      (SI), AX
	VMOVD        AX, X0
	VCVTPH2PS    X0, X0
	VBROADCASTSS X0, Z0
	VMOVDQU      2(SI), X1
	VPSRLW       $4, X1, X2
	VPAND        X3, X1, X1
	VPAND        X3, X2, X2
	VPMOVZXBD    X1, Z1
	VPMOVZXBD    X2, Z2
	VPSUBD       Z4, Z1, Z1
	VPSUBD       Z4, Z2, Z2
	VCVTDQ2PS    Z1, Z1
	VCVTDQ2PS    Z2, Z2
	VMULPS       Z0, Z1, Z1
	VMULPS       Z0, Z2, Z2
	VMOVUPS      Z1, (DI)
	VMOVUPS      Z2, 64(DI)
	ADDQ         $18, SI
	ADDQ         $128, DI
	DECQ         CX
	JNZ          dq4loop
	VZEROUPPER
	RET

// func dotF16AVX2(w *byte, x *float32, n int) float32
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

h32:
	CMPQ        CX, $32
	JLT         h8
	VCVTPH2PS   (SI), Y4
	VCVTPH2PS   16(SI), Y5
	VCVTPH2PS   32(SI), Y6
	VCVTPH2PS   48(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         h32

h8:
	CMPQ        CX, $8
	JLT         hdone
	VCVTPH2PS   (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $16, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         h8

hdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM_Y0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func dotF16AVX512(w *byte, x *float32, n int) float32
TEXT ·dotF16AVX512(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3

z64:
	CMPQ        CX, $64
	JLT         z16
	VCVTPH2PS   (SI), Z4
	VCVTPH2PS   32(SI), Z5
	VCVTPH2PS   64(SI), Z6
	VCVTPH2PS   96(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $128, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         z64

z16:
	CMPQ        CX, $16
	JLT         zdone
	VCVTPH2PS   (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $32, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         z16

zdone:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	HSUM_Y0
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET

// func dotBF16AVX2(w *byte, x *float32, n int) float32
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

b32:
	CMPQ        CX, $32
	JLT         b8
	VPMOVZXWD   (SI), Y4
	VPMOVZXWD   16(SI), Y5
	VPMOVZXWD   32(SI), Y6
	VPMOVZXWD   48(SI), Y7
	VPSLLD      $16, Y4, Y4
	VPSLLD      $16, Y5, Y5
	VPSLLD      $16, Y6, Y6
	VPSLLD      $16, Y7, Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $64, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         b32

b8:
	CMPQ        CX, $8
	JLT         bdone
	VPMOVZXWD   (SI), Y4
	VPSLLD      $16, Y4, Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $16, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         b8

bdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM_Y0
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func dotBF16AVX512(w *byte, x *float32, n int) float32
TEXT ·dotBF16AVX512(SB), NOSPLIT, $0-28
	MOVQ   w+0(FP), SI
	MOVQ   x+8(FP), DI
	MOVQ   n+16(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3

bz64:
	CMPQ        CX, $64
	JLT         bz16
	VPMOVZXWD   (SI), Z4
	VPMOVZXWD   32(SI), Z5
	VPMOVZXWD   64(SI), Z6
	VPMOVZXWD   96(SI), Z7
	VPSLLD      $16, Z4, Z4
	VPSLLD      $16, Z5, Z5
	VPSLLD      $16, Z6, Z6
	VPSLLD      $16, Z7, Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ        $128, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         bz64

bz16:
	CMPQ        CX, $16
	JLT         bzdone
	VPMOVZXWD   (SI), Z4
	VPSLLD      $16, Z4, Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ        $32, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         bz16

bzdone:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	HSUM_Y0
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET

// func f16ToF32AVX2(dst *float32, src *byte, n int)
TEXT ·f16ToF32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

cvt8:
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	SUBQ      $8, CX
	JNZ       cvt8
	VZEROUPPER
	RET

// func f32ToF16AVX2(dst *byte, src *float32, n int)
TEXT ·f32ToF16AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

nar8:
	VMOVUPS   (SI), Y0
	VCVTPS2PH $0, Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $16, DI
	SUBQ      $8, CX
	JNZ       nar8
	VZEROUPPER
	RET

// kshufBits: VPSHUFB spreading a broadcast uint32 so byte j holds byte j/8.
DATA kshufBits<>+0(SB)/8, $0x0000000000000000
DATA kshufBits<>+8(SB)/8, $0x0101010101010101
DATA kshufBits<>+16(SB)/8, $0x0202020202020202
DATA kshufBits<>+24(SB)/8, $0x0303030303030303
GLOBL kshufBits<>(SB), RODATA|NOPTR, $32

// kbitSel: byte j holds 1<<(j%8).
DATA kbitSel<>+0(SB)/8, $0x8040201008040201
DATA kbitSel<>+8(SB)/8, $0x8040201008040201
DATA kbitSel<>+16(SB)/8, $0x8040201008040201
DATA kbitSel<>+24(SB)/8, $0x8040201008040201
GLOBL kbitSel<>(SB), RODATA|NOPTR, $32

// kvaluesIQ4NL2: iq4_nl's 16 levels in both lanes (VPSHUFB table).
DATA kvaluesIQ4NL2<>+0(SB)/8, $0xf6eaddcfbfad9881
DATA kvaluesIQ4NL2<>+8(SB)/8, $0x7159453526190d01
DATA kvaluesIQ4NL2<>+16(SB)/8, $0xf6eaddcfbfad9881
DATA kvaluesIQ4NL2<>+24(SB)/8, $0x7159453526190d01
GLOBL kvaluesIQ4NL2<>(SB), RODATA|NOPTR, $32

// ---- four weight rows against one activation row (decode) ----
//
// Row r of four starts at w + r·rb: rows 0 and 2 off SI, 1 and 3 off R10 =
// SI+rb, the odd ones by the index R8*2 (= 2·rb). The four rows are one
// contiguous region read as four short streams (a 768-element q8_0 row is
// 13 cache lines), too short for the hardware prefetchers to pick up: from
// main memory that ran at half the speed of one row at a time. So each
// block also prefetches its share of the region eight rows ahead (R11), in
// memory order. Per block the q8s scale,
// offset and bytes are read once for all four; each row then does exactly
// what dotQ4_0Q8SVNNI / dotQ8_0Q8SVNNI do, in the same order, so each
// output is that routine's bit for bit.

// R4_PROLOGUE loads the arguments that hold for every group of four rows:
// R13 = the group's first row, R8 = rb, DX = y, R12 = groups.
#define R4_PROLOGUE \
	MOVQ w+0(FP), R13       \
	MOVQ rb+8(FP), R8       \
	MOVQ y+32(FP), DX       \
	MOVQ groups+40(FP), R12

// R4_GROUP starts a group: SI/R10 = its rows 0 and 1, R11 = 8 rows on (the
// prefetch stream), DI = the activation row, CX = nb, and clears the four
// accumulators (Y0, Y4, Y5, Y7).
#define R4_GROUP \
	MOVQ   R13, SI          \
	MOVQ   xq+16(FP), DI    \
	MOVQ   nb+24(FP), CX    \
	LEAQ   (SI)(R8*1), R10  \
	LEAQ   (SI)(R8*8), R11  \
	VXORPS Y0, Y0, Y0       \
	VXORPS Y4, Y4, Y4       \
	VXORPS Y5, Y5, Y5       \
	VXORPS Y7, Y7, Y7

// R4_NEXT stores the group's four values at DX and moves to the next group
// (R13 += 4·rb, DX += 16); falls through when R12 groups are done.
#define R4_NEXT(loop) \
	R4_STORE                \
	LEAQ (R13)(R8*4), R13   \
	ADDQ $16, DX            \
	DECQ R12                \
	JNZ  loop

// R4_ACT(shift) reads the q8s block at DI: Y1 = d_x in every lane, Y6 =
// the offset [-(Σq << shift), 0, …], Y3 = the 32 bytes.
#define R4_ACT(shift) \
	VBROADCASTSS (DI), Y1 \
	MOVL    4(DI), AX  \
	SHLL    $shift, AX \
	NEGL    AX         \
	VMOVD   AX, X6     \
	VMOVDQU 8(DI), Y3

// R4_SCALE(sc) sets Y9 to d_w·d_x (every lane) for the f16 weight scale at
// sc: broadcast as f16 and widened eight at a time, so no lane moves through
// a general register (each lane is the one float product VMULSS gave).
#define R4_SCALE(sc) \
	VPBROADCASTW sc, X9     \
	VCVTPH2PS    X9, Y9     \
	VMULPS       Y1, Y9, Y9

// R4_DOT(acc) adds d_w·d_x (Y9) times the block's integer dot of the
// unsigned levels in Y2 with Y3, offset by Y6, to acc.
#define R4_DOT(acc) \
	VMOVDQA     Y6, Y8     \
	VPDPBUSD    Y3, Y2, Y8 \
	VCVTDQ2PS   Y8, Y8     \
	VFMADD231PS Y8, Y9, acc

// R4_Q4(sc, nib, acc) is one q4_0 row's block: scale at sc, nibbles at nib
// (the 16 bytes in both halves, the upper half shifted right by 4 per dword
// with Y12 = R4_NIBBLE_SHIFTS, masked to the low nibbles).
#define R4_Q4(sc, nib, acc) \
	R4_SCALE(sc)                 \
	VBROADCASTI128 nib, Y2       \
	VPSRLVD        Y12, Y2, Y2   \
	VPAND          Y14, Y2, Y2   \
	R4_DOT(acc)

// R4_NIBBLE_SHIFTS sets Y12 to the dword shifts [0 ×4, 4 ×4] (uses Y11).
#define R4_NIBBLE_SHIFTS \
	MOVL         $4, AX           \
	VMOVD        AX, X12          \
	VPBROADCASTD X12, X12         \
	VPXOR        X11, X11, X11    \
	VINSERTI128  $1, X12, Y11, Y12

// R4_Q8(sc, qs, acc) is one q8_0 row's block: the bytes + 128.
#define R4_Q8(sc, qs, acc) \
	R4_SCALE(sc)          \
	VPXOR qs, Y13, Y2     \
	R4_DOT(acc)

// R4_HSUM(acc, accx, i) sums acc as HSUM_Y0 does into out[i]; R4_STORE all four.
#define R4_HSUM(acc, accx, i) \
	VEXTRACTF128 $1, acc, X1  \
	VADDPS       X1, accx, X1 \
	VHADDPS      X1, X1, X1   \
	VHADDPS      X1, X1, X1   \
	VMOVSS       X1, (4*i)(DX)

#define R4_STORE \
	R4_HSUM(Y0, X0, 0)  \
	R4_HSUM(Y4, X4, 1)  \
	R4_HSUM(Y5, X5, 2)  \
	R4_HSUM(Y7, X7, 3)

// func dotQ4_0Q8SR4VNNI(w *byte, rb int, xq *byte, nb int, y *float32, groups int)
TEXT ·dotQ4_0Q8SR4VNNI(SB), NOSPLIT, $0-48
	R4_PROLOGUE
	BYTE_CONST($0x0f0f0f0f, X14, Y14)
	R4_NIBBLE_SHIFTS

q4r4group:
	R4_GROUP

q4r4loop:
	R4_ACT(3)
	R4_Q4(0(SI), 2(SI), Y0)
	R4_Q4(0(R10), 2(R10), Y4)
	R4_Q4(0(SI)(R8*2), 2(SI)(R8*2), Y5)
	R4_Q4(0(R10)(R8*2), 2(R10)(R8*2), Y7)
	PREFETCHT0 (R11)
	PREFETCHT0 64(R11)
	ADDQ $72, R11
	ADDQ $18, SI
	ADDQ $18, R10
	ADDQ $40, DI
	DECQ CX
	JNZ  q4r4loop

	R4_NEXT(q4r4group)
	VZEROUPPER
	RET

// func dotQ8_0Q8SR4VNNI(w *byte, rb int, xq *byte, nb int, y *float32, groups int)
TEXT ·dotQ8_0Q8SR4VNNI(SB), NOSPLIT, $0-48
	R4_PROLOGUE
	BYTE_CONST($0x80808080, X13, Y13)

q8r4group:
	R4_GROUP

q8r4loop:
	R4_ACT(7)
	R4_Q8(0(SI), 2(SI), Y0)
	R4_Q8(0(R10), 2(R10), Y4)
	R4_Q8(0(SI)(R8*2), 2(SI)(R8*2), Y5)
	R4_Q8(0(R10)(R8*2), 2(R10)(R8*2), Y7)
	PREFETCHT0 (R11)
	PREFETCHT0 64(R11)
	PREFETCHT0 128(R11)
	ADDQ $136, R11
	ADDQ $34, SI
	ADDQ $34, R10
	ADDQ $40, DI
	DECQ CX
	JNZ  q8r4loop

	R4_NEXT(q8r4group)
	VZEROUPPER
	RET
