//go:build amd64 && !noasm

#include "textflag.h"

// The packed int8 GEMM of the q8s types (qgemm.go): pack sixteen weight rows
// into a panel whose 64-byte vectors hold four unsigned levels of each row,
// then multiply eight activation rows against it with VPDPBUSD, one 4-byte
// group of an activation row broadcast against the sixteen rows' groups.

// PANEL_SETUP: DI = dst, SI = w, Z31 = the sixteen row offsets (r·rb),
// CX = nb, K2 = the mask of the rows that exist.
#define PANEL_SETUP \
	MOVQ         dst+0(FP), DI   \
	MOVQ         w+8(FP), SI     \
	MOVQ         rb+16(FP), AX   \
	VPBROADCASTD AX, Z31         \
	VPMULLD      kiota16<>(SB), Z31, Z31 \
	MOVQ         rows+32(FP), CX \
	MOVL         $1, AX          \
	SHLL         CX, AX          \
	DECL         AX              \
	KMOVW        AX, K2          \
	MOVQ         nb+24(FP), CX

// GATHER(off, dst) loads the dword at off from each existing row of the
// current block (rows past the last read as zero).
#define GATHER(off, dst) \
	VPXORD     dst, dst, dst       \
	KMOVW      K2, K1              \
	VPGATHERDD off(SI)(Z31*1), K1, dst

// PANEL_SCALES stores the sixteen rows' f16 block scales (the low half of
// the dword at the block start) as f32 at 512(DI).
#define PANEL_SCALES \
	GATHER(0, Z0)          \
	VPMOVDW   Z0, Y0       \
	VCVTPH2PS Y0, Z0       \
	VMOVUPS   Z0, 512(DI)

// NIBBLE_GROUPS(off, lo, hi) splits the dword at off of each row (four
// nibble bytes) into groups lo (low nibbles) and hi (high nibbles).
#define NIBBLE_GROUPS(off, lo, hi) \
	GATHER(off, Z0)          \
	VPSRLD    $4, Z0, Z1     \
	VPANDD    Z30, Z0, Z0    \
	VPANDD    Z30, Z1, Z1    \
	VMOVDQU64 Z0, lo(DI)     \
	VMOVDQU64 Z1, hi(DI)

// BYTE_GROUP(off, dst) stores the dword at off of each row (four q8_0
// bytes) made unsigned (+128: the top bit flipped) at dst(DI).
#define BYTE_GROUP(off, dst) \
	GATHER(off, Z0)           \
	VPXORD    Z30, Z0, K2, Z0 \
	VMOVDQU64 Z0, dst(DI)

// GROUP(t) adds group t of the panel (Z8) against each activation row's
// bytes 4t..4t+3 of the block, broadcast.
#define GROUP(t) \
	VMOVDQU64     64*t(SI), Z8          \
	VPDPBUSD.BCST (8+4*t)(DI), Z8, Z0   \
	VPDPBUSD.BCST (8+4*t)(R8), Z8, Z1   \
	VPDPBUSD.BCST (8+4*t)(R9), Z8, Z2   \
	VPDPBUSD.BCST (8+4*t)(R10), Z8, Z3  \
	VPDPBUSD.BCST (8+4*t)(R11), Z8, Z4  \
	VPDPBUSD.BCST (8+4*t)(R12), Z8, Z5  \
	VPDPBUSD.BCST (8+4*t)(R13), Z8, Z6  \
	VPDPBUSD.BCST (8+4*t)(AX), Z8, Z7

// FINISH(xr, acc, facc, shift) takes the offset (Σq << shift) off row xr's
// block sums, converts them and adds them times d_w (Z9) times the row's
// block scale into facc.
#define FINISH(xr, acc, facc, shift) \
	VPBROADCASTD 4(xr), Z10          \
	VPSLLD       $shift, Z10, Z10    \
	VPSUBD       Z10, acc, acc       \
	VCVTDQ2PS    acc, acc            \
	VMULPS.BCST  0(xr), Z9, Z10      \
	VFMADD231PS  acc, Z10, facc

// QGEMM(name, shift) is the 8×16 micro-kernel for one offset.
// QGEMM_ROWS: SI = p, the eight activation rows at DI, R8…R13, AX, CX =
// nb, the float sums Z16…Z23 zero.
#define QGEMM_ROWS \
	MOVQ   p+0(FP), SI      \
	MOVQ   x+8(FP), DI      \
	MOVQ   xs+16(FP), BX    \
	MOVQ   nb+24(FP), CX    \
	LEAQ   (DI)(BX*1), R8   \
	LEAQ   (DI)(BX*2), R9   \
	LEAQ   (R8)(BX*2), R10  \
	LEAQ   (DI)(BX*4), R11  \
	LEAQ   (R8)(BX*4), R12  \
	LEAQ   (R9)(BX*4), R13  \
	LEAQ   (R10)(BX*4), AX  \
	ZERO8(Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23)

// ZERO8 zeroes eight vector registers.
#define ZERO8(a, b, c, d, e, f, g, h) \
	VPXORD a, a, a \
	VPXORD b, b, b \
	VPXORD c, c, c \
	VPXORD d, d, d \
	VPXORD e, e, e \
	VPXORD f, f, f \
	VPXORD g, g, g \
	VPXORD h, h, h

// NEXT_ROWS(n) advances the eight activation rows by n bytes.
#define NEXT_ROWS(n) \
	ADDQ $n, DI  \
	ADDQ $n, R8  \
	ADDQ $n, R9  \
	ADDQ $n, R10 \
	ADDQ $n, R11 \
	ADDQ $n, R12 \
	ADDQ $n, R13 \
	ADDQ $n, AX

// QGEMM_STORE writes the float sums Z16…Z23 to out.
#define QGEMM_STORE \
	MOVQ    out+32(FP), DI \
	VMOVUPS Z16, 0(DI)     \
	VMOVUPS Z17, 64(DI)    \
	VMOVUPS Z18, 128(DI)   \
	VMOVUPS Z19, 192(DI)   \
	VMOVUPS Z20, 256(DI)   \
	VMOVUPS Z21, 320(DI)   \
	VMOVUPS Z22, 384(DI)   \
	VMOVUPS Z23, 448(DI)   \
	VZEROUPPER

#define QGEMM_BODY(loop, shift) \
	QGEMM_ROWS              \
loop:                       \
	ZERO8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7) \
	GROUP(0)                \
	GROUP(1)                \
	GROUP(2)                \
	GROUP(3)                \
	GROUP(4)                \
	GROUP(5)                \
	GROUP(6)                \
	GROUP(7)                \
	VMOVUPS 512(SI), Z9     \
	FINISH(DI, Z0, Z16, shift)  \
	FINISH(R8, Z1, Z17, shift)  \
	FINISH(R9, Z2, Z18, shift)  \
	FINISH(R10, Z3, Z19, shift) \
	FINISH(R11, Z4, Z20, shift) \
	FINISH(R12, Z5, Z21, shift) \
	FINISH(R13, Z6, Z22, shift) \
	FINISH(AX, Z7, Z23, shift)  \
	ADDQ $576, SI           \
	NEXT_ROWS(40)           \
	DECQ CX                 \
	JNZ  loop               \
	QGEMM_STORE

// ---- Packing full panels without gathers ----
//
// With all sixteen rows present, a panel's level vectors are a transpose:
// vector t holds dword t of each row's block. T16X4 loads four dwords
// (16 bytes at off) of each of the sixteen rows and transposes them into
// Z4…Z7 (vector t = Z4+t): VPERMD makes each 4-row vector dword-major, and
// two rounds of VSHUFI32X4 gather the 128-bit lanes.

// FULL_SETUP: PANEL_SETUP plus R8 = rb, R9 = 3·rb, R10/R11/R12 = the rows
// 4, 8 and 12 of the block at SI, Z20 = the 4×4 dword transpose.
#define FULL_SETUP \
	PANEL_SETUP                   \
	MOVQ      rb+16(FP), R8       \
	LEAQ      (R8)(R8*2), R9      \
	LEAQ      (SI)(R8*4), R10     \
	LEAQ      (R10)(R8*4), R11    \
	LEAQ      (R11)(R8*4), R12    \
	VMOVDQU32 ktr4x4<>(SB), Z20

#define T16X4(off) \
	VMOVDQU32    off(SI), X0               \
	VINSERTI32X4 $1, off(SI)(R8*1), Z0, Z0  \
	VINSERTI32X4 $2, off(SI)(R8*2), Z0, Z0  \
	VINSERTI32X4 $3, off(SI)(R9*1), Z0, Z0  \
	VMOVDQU32    off(R10), X1              \
	VINSERTI32X4 $1, off(R10)(R8*1), Z1, Z1 \
	VINSERTI32X4 $2, off(R10)(R8*2), Z1, Z1 \
	VINSERTI32X4 $3, off(R10)(R9*1), Z1, Z1 \
	VMOVDQU32    off(R11), X2              \
	VINSERTI32X4 $1, off(R11)(R8*1), Z2, Z2 \
	VINSERTI32X4 $2, off(R11)(R8*2), Z2, Z2 \
	VINSERTI32X4 $3, off(R11)(R9*1), Z2, Z2 \
	VMOVDQU32    off(R12), X3              \
	VINSERTI32X4 $1, off(R12)(R8*1), Z3, Z3 \
	VINSERTI32X4 $2, off(R12)(R8*2), Z3, Z3 \
	VINSERTI32X4 $3, off(R12)(R9*1), Z3, Z3 \
	VPERMD       Z0, Z20, Z0               \
	VPERMD       Z1, Z20, Z1               \
	VPERMD       Z2, Z20, Z2               \
	VPERMD       Z3, Z20, Z3               \
	VSHUFI32X4   $0x44, Z1, Z0, Z8         \
	VSHUFI32X4   $0xee, Z1, Z0, Z9         \
	VSHUFI32X4   $0x44, Z3, Z2, Z10        \
	VSHUFI32X4   $0xee, Z3, Z2, Z11        \
	VSHUFI32X4   $0x88, Z10, Z8, Z4        \
	VSHUFI32X4   $0xdd, Z10, Z8, Z5        \
	VSHUFI32X4   $0x88, Z11, Z9, Z6        \
	VSHUFI32X4   $0xdd, Z11, Z9, Z7

// NEXT_BLOCK(bb) advances the four row bases by bb bytes.
#define NEXT_BLOCK(bb) \
	ADDQ $bb, SI  \
	ADDQ $bb, R10 \
	ADDQ $bb, R11 \
	ADDQ $bb, R12

// NIB_SPLIT(z, lo, hi): the low nibbles of z at lo(DI), the high at hi(DI).
#define NIB_SPLIT(z, lo, hi) \
	VPSRLD    $4, z, Z1      \
	VPANDD    Z30, z, Z0     \
	VPANDD    Z30, Z1, Z1    \
	VMOVDQU64 Z0, lo(DI)     \
	VMOVDQU64 Z1, hi(DI)

// FLIP_STORE(z, dst): z + 128 (the top bit flipped) at dst(DI).
#define FLIP_STORE(z, dst) \
	VPXORD    Z30, z, z \
	VMOVDQU64 z, dst(DI)

// func packQ8_0x16(dst, w *byte, rb, nb, rows int)
TEXT ·packQ8_0x16(SB), NOSPLIT, $0-40
	PANEL_SETUP
	MOVL         $0x80808080, AX
	VPBROADCASTD AX, Z30

p8block:
	PANEL_SCALES
	BYTE_GROUP(2, 0)
	BYTE_GROUP(6, 64)
	BYTE_GROUP(10, 128)
	BYTE_GROUP(14, 192)
	BYTE_GROUP(18, 256)
	BYTE_GROUP(22, 320)
	BYTE_GROUP(26, 384)
	BYTE_GROUP(30, 448)
	ADDQ      $34, SI
	ADDQ      $576, DI
	DECQ      CX
	JNZ       p8block
	VZEROUPPER
	RET

// func packQ4_0x16(dst, w *byte, rb, nb, rows int)
TEXT ·packQ4_0x16(SB), NOSPLIT, $0-40
	PANEL_SETUP
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z30

p4block:
	PANEL_SCALES
	NIBBLE_GROUPS(2, 0, 256)
	NIBBLE_GROUPS(6, 64, 320)
	NIBBLE_GROUPS(10, 128, 384)
	NIBBLE_GROUPS(14, 192, 448)
	ADDQ      $18, SI
	ADDQ      $576, DI
	DECQ      CX
	JNZ       p4block
	VZEROUPPER
	RET

// func qgemmQ4_0x8VNNI(p, x *byte, xs, nb int, out *[128]float32)
TEXT ·qgemmQ4_0x8VNNI(SB), NOSPLIT, $0-40
	QGEMM_BODY(qg4loop, 3)
	RET

// func qgemmQ8_0x8VNNI(p, x *byte, xs, nb int, out *[128]float32)
TEXT ·qgemmQ8_0x8VNNI(SB), NOSPLIT, $0-40
	QGEMM_BODY(qg8loop, 7)
	RET

DATA kiota16<>+0(SB)/8, $0x0000000100000000
DATA kiota16<>+8(SB)/8, $0x0000000300000002
DATA kiota16<>+16(SB)/8, $0x0000000500000004
DATA kiota16<>+24(SB)/8, $0x0000000700000006
DATA kiota16<>+32(SB)/8, $0x0000000900000008
DATA kiota16<>+40(SB)/8, $0x0000000b0000000a
DATA kiota16<>+48(SB)/8, $0x0000000d0000000c
DATA kiota16<>+56(SB)/8, $0x0000000f0000000e
GLOBL kiota16<>(SB), RODATA|NOPTR, $64

// ---- K-quant panels (kPanel in qgemm.go) ----

// EIGHT(m, a) is m(a, 0) … m(a, 7).
#define EIGHT(m, a) \
	m(a, 0) \
	m(a, 1) \
	m(a, 2) \
	m(a, 3) \
	m(a, 4) \
	m(a, 5) \
	m(a, 6) \
	m(a, 7)
//
// q4_K/q5_K super-block of a panel: levels at 0, eight scale vectors at 4096,
// the pairs at 4608, d at 5120, dmin at 5184 (5248 bytes). q6_K: levels,
// sixteen scale vectors at 4096, the pairs at 5120, d at 5632 (5696 bytes).

// KSCALES_LO(j) stores scale and min j < 4 of q4_K/q5_K (the low six bits
// of scale bytes j and j+4, in Z1 and Z2) at 4096 and, as a pair (m, m),
// at 4608.
#define KSCALES_LO(j) \
	VPSRLD    $(8*(j)), Z1, Z4       \
	VPANDD    Z29, Z4, Z4            \
	VMOVDQU64 Z4, (4096+64*(j))(DI)  \
	VPSRLD    $(8*(j)), Z2, Z4       \
	VPANDD    Z29, Z4, Z4            \
	VPSLLD    $16, Z4, Z5            \
	VPORD     Z5, Z4, Z4             \
	VMOVDQU64 Z4, (4608+64*(j))(DI)

// KSCALES_HI(j) stores scale and min 4+j: a nibble of byte 8+j (Z3) under
// the top two bits of byte j (Z1) or 4+j (Z2).
#define KSCALES_HI(j) \
	VPSRLD    $(8*(j)), Z3, Z4       \
	VPANDD    Z28, Z4, Z4            \
	VPSRLD    $(8*(j)+6), Z1, Z5     \
	VPANDD    Z27, Z5, Z5            \
	VPSLLD    $4, Z5, Z5             \
	VPORD     Z5, Z4, Z4             \
	VMOVDQU64 Z4, (4096+64*(4+j))(DI) \
	VPSRLD    $(8*(j)+4), Z3, Z4     \
	VPANDD    Z28, Z4, Z4            \
	VPSRLD    $(8*(j)+6), Z2, Z5     \
	VPANDD    Z27, Z5, Z5            \
	VPSLLD    $4, Z5, Z5             \
	VPORD     Z5, Z4, Z4             \
	VPSLLD    $16, Z4, Z5            \
	VPORD     Z5, Z4, Z4             \
	VMOVDQU64 Z4, (4608+64*(4+j))(DI)

// K4_HEAD stores d, dmin, the scales and the pairs of a q4_K/q5_K block.
#define K4_HEAD \
	GATHER(0, Z0)                 \
	VPMOVDW   Z0, Y1              \
	VCVTPH2PS Y1, Z1              \
	VMOVUPS   Z1, 5120(DI)        \
	VPSRLD    $16, Z0, Z0         \
	VPMOVDW   Z0, Y1              \
	VCVTPH2PS Y1, Z1              \
	VMOVUPS   Z1, 5184(DI)        \
	GATHER(4, Z1)                 \
	GATHER(8, Z2)                 \
	GATHER(12, Z3)                \
	KSCALES_LO(0)                 \
	KSCALES_LO(1)                 \
	KSCALES_LO(2)                 \
	KSCALES_LO(3)                 \
	KSCALES_HI(0)                 \
	KSCALES_HI(1)                 \
	KSCALES_HI(2)                 \
	KSCALES_HI(3)

// K4_CONSTS: Z30 = 0x0f bytes, Z29 = 63, Z28 = 15, Z27 = 3, Z26 = 0x01 bytes.
#define K4_CONSTS \
	MOVL         $0x0f0f0f0f, AX \
	VPBROADCASTD AX, Z30         \
	MOVL         $63, AX         \
	VPBROADCASTD AX, Z29         \
	MOVL         $15, AX         \
	VPBROADCASTD AX, Z28         \
	MOVL         $3, AX          \
	VPBROADCASTD AX, Z27         \
	MOVL         $0x01010101, AX \
	VPBROADCASTD AX, Z26

// K4_PAIR(p) stores level vectors 16p…16p+15 of q4_K: qs byte l of pair p
// holds element 64p+l (low nibble) and 64p+32+l (high).
#define K4_PAIR(p) \
	NIBBLE_GROUPS(16+32*(p)+0, 64*(16*(p)+0), 64*(16*(p)+8))   \
	NIBBLE_GROUPS(16+32*(p)+4, 64*(16*(p)+1), 64*(16*(p)+9))   \
	NIBBLE_GROUPS(16+32*(p)+8, 64*(16*(p)+2), 64*(16*(p)+10))  \
	NIBBLE_GROUPS(16+32*(p)+12, 64*(16*(p)+3), 64*(16*(p)+11)) \
	NIBBLE_GROUPS(16+32*(p)+16, 64*(16*(p)+4), 64*(16*(p)+12)) \
	NIBBLE_GROUPS(16+32*(p)+20, 64*(16*(p)+5), 64*(16*(p)+13)) \
	NIBBLE_GROUPS(16+32*(p)+24, 64*(16*(p)+6), 64*(16*(p)+14)) \
	NIBBLE_GROUPS(16+32*(p)+28, 64*(16*(p)+7), 64*(16*(p)+15))

// K5_SPLIT(qs, qh, p, t): level vectors 16p+t and 16p+8+t of q5_K from a
// transposed qs vector and the matching transposed qh vector.
#define K5_SPLIT(qs, qh, p, t) \
	VPSRLD    $4, qs, Z1                  \
	VPANDD    Z30, qs, Z0                 \
	VPANDD    Z30, Z1, Z1                 \
	VPSRLD    $(2*(p)), qh, Z2            \
	VPANDD    Z26, Z2, Z2                 \
	VPSLLD    $4, Z2, Z2                  \
	VPORD     Z2, Z0, Z0                  \
	VPSRLD    $(2*(p)+1), qh, Z2          \
	VPANDD    Z26, Z2, Z2                 \
	VPSLLD    $4, Z2, Z2                  \
	VPORD     Z2, Z1, Z1                  \
	VMOVDQU64 Z0, (64*(16*(p)+(t)))(DI)   \
	VMOVDQU64 Z1, (64*(16*(p)+8+(t)))(DI)

// K5_GROUP(p, t) stores level vectors 16p+t and 16p+8+t of q5_K: the
// nibbles of qs (at 48) under bits 2p and 2p+1 of qh (at 16).
#define K5_GROUP(p, t) \
	GATHER(48+32*(p)+4*(t), Z3) \
	GATHER(16+4*(t), Z4)        \
	K5_SPLIT(Z3, Z4, p, t)

// func packQ4_Kx16(dst, w *byte, rb, nb, rows int)
TEXT ·packQ4_Kx16(SB), NOSPLIT, $0-40
	PANEL_SETUP
	K4_CONSTS

pk4block:
	K4_HEAD
	K4_PAIR(0)
	K4_PAIR(1)
	K4_PAIR(2)
	K4_PAIR(3)
	ADDQ $144, SI
	ADDQ $5248, DI
	DECQ CX
	JNZ  pk4block
	VZEROUPPER
	RET

// func packQ5_Kx16(dst, w *byte, rb, nb, rows int)
TEXT ·packQ5_Kx16(SB), NOSPLIT, $0-40
	PANEL_SETUP
	K4_CONSTS

pk5block:
	K4_HEAD
	EIGHT(K5_GROUP, 0)
	EIGHT(K5_GROUP, 1)
	EIGHT(K5_GROUP, 2)
	EIGHT(K5_GROUP, 3)
	ADDQ $176, SI
	ADDQ $5248, DI
	DECQ CX
	JNZ  pk5block
	VZEROUPPER
	RET

// K6_SCALES(a) stores scales 4a…4a+3 of q6_K (signed bytes at 192+4a) as
// int32 at 4096, and the pairs (32·sc) of groups 4a…4a+3 at 5120.
#define K6_SCALES(a) \
	GATHER(192+4*(a), Z1)                \
	VPSLLD    $24, Z1, Z4                \
	VPSRAD    $24, Z4, Z4                \
	VPSLLD    $16, Z1, Z5                \
	VPSRAD    $24, Z5, Z5                \
	VPSLLD    $8, Z1, Z6                 \
	VPSRAD    $24, Z6, Z6                \
	VPSRAD    $24, Z1, Z7                \
	VMOVDQU64 Z4, (4096+64*(4*(a)+0))(DI) \
	VMOVDQU64 Z5, (4096+64*(4*(a)+1))(DI) \
	VMOVDQU64 Z6, (4096+64*(4*(a)+2))(DI) \
	VMOVDQU64 Z7, (4096+64*(4*(a)+3))(DI) \
	VPSLLD    $5, Z4, Z4                 \
	VPANDD    Z29, Z4, Z4                \
	VPSLLD    $21, Z5, Z5                \
	VPORD     Z5, Z4, Z4                 \
	VMOVDQU64 Z4, (5120+64*(2*(a)))(DI)  \
	VPSLLD    $5, Z6, Z6                 \
	VPANDD    Z29, Z6, Z6                \
	VPSLLD    $21, Z7, Z7                \
	VPORD     Z7, Z6, Z6                 \
	VMOVDQU64 Z6, (5120+64*(2*(a)+1))(DI)

// K6_GROUP(h, l) stores level vectors 32h+8i+l (i < 4) of q6_K: element
// 128h+32i+4l… takes its low nibble from ql[64h+4l+32(i&1)] (i ≥ 2: the
// high nibble) and its top two bits from bits 2i of qh[32h+4l].
#define K6_GROUP(h, l) \
	GATHER(64*(h)+4*(l), Z1)                   \
	GATHER(64*(h)+32+4*(l), Z2)                \
	GATHER(128+32*(h)+4*(l), Z3)               \
	K6_STORE(Z1, Z3, 64*(32*(h)+(l)))          \
	VPSRLD   $2, Z3, Z6                        \
	K6_STORE(Z2, Z6, 64*(32*(h)+8+(l)))        \
	VPSRLD   $4, Z1, Z7                        \
	VPSRLD   $4, Z3, Z6                        \
	K6_STORE(Z7, Z6, 64*(32*(h)+16+(l)))       \
	VPSRLD   $4, Z2, Z7                        \
	VPSRLD   $6, Z3, Z6                        \
	K6_STORE(Z7, Z6, 64*(32*(h)+24+(l)))

// K6_STORE(nib, top, dst) stores the low nibbles of nib under the low two
// bits of top (in every byte) at dst(DI).
#define K6_STORE(nib, top, dst) \
	VPANDD    Z30, nib, Z4 \
	VPANDD    Z27, top, Z5 \
	VPSLLD    $4, Z5, Z5   \
	VPORD     Z5, Z4, Z4   \
	VMOVDQU64 Z4, (dst)(DI)

// func packQ6_Kx16(dst, w *byte, rb, nb, rows int)
TEXT ·packQ6_Kx16(SB), NOSPLIT, $0-40
	PANEL_SETUP
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z30
	MOVL         $0xffff, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x03030303, AX
	VPBROADCASTD AX, Z27

pk6block:
	GATHER(206, Z0)
	VPSRLD    $16, Z0, Z0
	VPMOVDW   Z0, Y1
	VCVTPH2PS Y1, Z1
	VMOVUPS   Z1, 5632(DI)
	K6_SCALES(0)
	K6_SCALES(1)
	K6_SCALES(2)
	K6_SCALES(3)
	EIGHT(K6_GROUP, 0)
	EIGHT(K6_GROUP, 1)
	ADDQ $210, SI
	ADDQ $5696, DI
	DECQ CX
	JNZ  pk6block
	VZEROUPPER
	RET

// KVEC(t) adds level vector t (Z8) times each activation row's q8_K bytes
// 4t…4t+3, broadcast, into Z0…Z7.
#define KVEC(t) \
	VMOVDQU64     (64*(t))(SI), Z8      \
	VPDPBUSD.BCST (4+4*(t))(DI), Z8, Z0  \
	VPDPBUSD.BCST (4+4*(t))(R8), Z8, Z1  \
	VPDPBUSD.BCST (4+4*(t))(R9), Z8, Z2  \
	VPDPBUSD.BCST (4+4*(t))(R10), Z8, Z3 \
	VPDPBUSD.BCST (4+4*(t))(R11), Z8, Z4 \
	VPDPBUSD.BCST (4+4*(t))(R12), Z8, Z5 \
	VPDPBUSD.BCST (4+4*(t))(R13), Z8, Z6 \
	VPDPBUSD.BCST (4+4*(t))(AX), Z8, Z7

// KSCALE(off) adds Z0…Z7 times the scale vector at off into Z24…Z31.
#define KSCALE(off) \
	VMOVDQU64 off(SI), Z9 \
	VPMULLD   Z9, Z0, Z0  \
	VPMULLD   Z9, Z1, Z1  \
	VPMULLD   Z9, Z2, Z2  \
	VPMULLD   Z9, Z3, Z3  \
	VPMULLD   Z9, Z4, Z4  \
	VPMULLD   Z9, Z5, Z5  \
	VPMULLD   Z9, Z6, Z6  \
	VPMULLD   Z9, Z7, Z7  \
	VPADDD    Z0, Z24, Z24 \
	VPADDD    Z1, Z25, Z25 \
	VPADDD    Z2, Z26, Z26 \
	VPADDD    Z3, Z27, Z27 \
	VPADDD    Z4, Z28, Z28 \
	VPADDD    Z5, Z29, Z29 \
	VPADDD    Z6, Z30, Z30 \
	VPADDD    Z7, Z31, Z31

#define ZERO_T ZERO8(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)

// KGROUP32(g): sub-block g of 32 (vectors 8g…8g+7) of q4_K/q5_K.
#define KGROUP32(g) \
	ZERO_T             \
	KVEC(8*(g)+0)      \
	KVEC(8*(g)+1)      \
	KVEC(8*(g)+2)      \
	KVEC(8*(g)+3)      \
	KVEC(8*(g)+4)      \
	KVEC(8*(g)+5)      \
	KVEC(8*(g)+6)      \
	KVEC(8*(g)+7)      \
	KSCALE(4096+64*(g))

// KGROUP16(g): group g of 16 (vectors 4g…4g+3) of q6_K.
#define KGROUP16(g) \
	ZERO_T             \
	KVEC(4*(g)+0)      \
	KVEC(4*(g)+1)      \
	KVEC(4*(g)+2)      \
	KVEC(4*(g)+3)      \
	KSCALE(4096+64*(g))

// KPAIR(off, q) adds the pair vector at off+64q times each row's bsums
// 2q, 2q+1 (at 260+4q) into Z0…Z7.
#define KPAIR(off, q) \
	VMOVDQU64     (off+64*(q))(SI), Z9    \
	VPDPWSSD.BCST (260+4*(q))(DI), Z9, Z0  \
	VPDPWSSD.BCST (260+4*(q))(R8), Z9, Z1  \
	VPDPWSSD.BCST (260+4*(q))(R9), Z9, Z2  \
	VPDPWSSD.BCST (260+4*(q))(R10), Z9, Z3 \
	VPDPWSSD.BCST (260+4*(q))(R11), Z9, Z4 \
	VPDPWSSD.BCST (260+4*(q))(R12), Z9, Z5 \
	VPDPWSSD.BCST (260+4*(q))(R13), Z9, Z6 \
	VPDPWSSD.BCST (260+4*(q))(AX), Z9, Z7

// KPAIRS(off): Z0…Z7 = msum of each row.
#define KPAIRS(off) \
	ZERO_T        \
	KPAIR(off, 0) \
	KPAIR(off, 1) \
	KPAIR(off, 2) \
	KPAIR(off, 3) \
	KPAIR(off, 4) \
	KPAIR(off, 5) \
	KPAIR(off, 6) \
	KPAIR(off, 7)

// KFIN_ASYM(xr, t, i, f): f += i·(d·d_x) − t·(dmin·d_x), d in Z9, dmin
// in Z10, d_x at 0(xr).
#define KFIN_ASYM(xr, t, i, f) \
	VCVTDQ2PS    i, i            \
	VCVTDQ2PS    t, t            \
	VMULPS.BCST  0(xr), Z9, Z11  \
	VFMADD231PS  i, Z11, f       \
	VMULPS.BCST  0(xr), Z10, Z11 \
	VFNMADD231PS t, Z11, f

// KFIN_SYM(xr, t, i, f): f += (i − t)·(d·d_x).
#define KFIN_SYM(xr, t, i, f) \
	VPSUBD      t, i, i         \
	VCVTDQ2PS   i, i            \
	VMULPS.BCST 0(xr), Z9, Z11  \
	VFMADD231PS i, Z11, f

#define KFIN_ROWS(fin) \
	fin(DI, Z0, Z24, Z16)  \
	fin(R8, Z1, Z25, Z17)  \
	fin(R9, Z2, Z26, Z18)  \
	fin(R10, Z3, Z27, Z19) \
	fin(R11, Z4, Z28, Z20) \
	fin(R12, Z5, Z29, Z21) \
	fin(R13, Z6, Z30, Z22) \
	fin(AX, Z7, Z31, Z23)

#define ZERO_I ZERO8(Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31)

// func qgemmK8x8VNNI(p, x *byte, xs, nb int, out *[128]float32)
TEXT ·qgemmK8x8VNNI(SB), NOSPLIT, $0-40
	QGEMM_ROWS

qk8loop:
	ZERO_I
	KGROUP32(0)
	KGROUP32(1)
	KGROUP32(2)
	KGROUP32(3)
	KGROUP32(4)
	KGROUP32(5)
	KGROUP32(6)
	KGROUP32(7)
	KPAIRS(4608)
	VMOVUPS 5120(SI), Z9
	VMOVUPS 5184(SI), Z10
	KFIN_ROWS(KFIN_ASYM)
	ADDQ $5248, SI
	NEXT_ROWS(292)
	DECQ CX
	JNZ  qk8loop
	QGEMM_STORE
	RET

// func qgemmK16x8VNNI(p, x *byte, xs, nb int, out *[128]float32)
TEXT ·qgemmK16x8VNNI(SB), NOSPLIT, $0-40
	QGEMM_ROWS

qk16loop:
	ZERO_I
	KGROUP16(0)
	KGROUP16(1)
	KGROUP16(2)
	KGROUP16(3)
	KGROUP16(4)
	KGROUP16(5)
	KGROUP16(6)
	KGROUP16(7)
	KGROUP16(8)
	KGROUP16(9)
	KGROUP16(10)
	KGROUP16(11)
	KGROUP16(12)
	KGROUP16(13)
	KGROUP16(14)
	KGROUP16(15)
	KPAIRS(5120)
	VMOVUPS 5632(SI), Z9
	KFIN_ROWS(KFIN_SYM)
	ADDQ $5696, SI
	NEXT_ROWS(292)
	DECQ CX
	JNZ  qk16loop
	QGEMM_STORE
	RET

// func packQ4_0x16Full(dst, w *byte, rb, nb, rows int)
TEXT ·packQ4_0x16Full(SB), NOSPLIT, $0-40
	FULL_SETUP
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z30

pf4block:
	PANEL_SCALES
	T16X4(2)
	NIB_SPLIT(Z4, 0, 256)
	NIB_SPLIT(Z5, 64, 320)
	NIB_SPLIT(Z6, 128, 384)
	NIB_SPLIT(Z7, 192, 448)
	NEXT_BLOCK(18)
	ADDQ $576, DI
	DECQ CX
	JNZ  pf4block
	VZEROUPPER
	RET

// func packQ8_0x16Full(dst, w *byte, rb, nb, rows int)
TEXT ·packQ8_0x16Full(SB), NOSPLIT, $0-40
	FULL_SETUP
	MOVL         $0x80808080, AX
	VPBROADCASTD AX, Z30

pf8block:
	PANEL_SCALES
	T16X4(2)
	FLIP_STORE(Z4, 0)
	FLIP_STORE(Z5, 64)
	FLIP_STORE(Z6, 128)
	FLIP_STORE(Z7, 192)
	T16X4(18)
	FLIP_STORE(Z4, 256)
	FLIP_STORE(Z5, 320)
	FLIP_STORE(Z6, 384)
	FLIP_STORE(Z7, 448)
	NEXT_BLOCK(34)
	ADDQ $576, DI
	DECQ CX
	JNZ  pf8block
	VZEROUPPER
	RET

// ktr4x4: VPERMD indices that transpose four rows of four dwords.
DATA ktr4x4<>+0(SB)/8, $0x0000000400000000
DATA ktr4x4<>+8(SB)/8, $0x0000000c00000008
DATA ktr4x4<>+16(SB)/8, $0x0000000500000001
DATA ktr4x4<>+24(SB)/8, $0x0000000d00000009
DATA ktr4x4<>+32(SB)/8, $0x0000000600000002
DATA ktr4x4<>+40(SB)/8, $0x0000000e0000000a
DATA ktr4x4<>+48(SB)/8, $0x0000000700000003
DATA ktr4x4<>+56(SB)/8, $0x0000000f0000000b
GLOBL ktr4x4<>(SB), RODATA|NOPTR, $64

// K4_PAIR_FULL(p): level vectors 16p…16p+15 of q4_K from two transposes
// of the pair's 32 bytes.
#define K4_PAIR_FULL(p) \
	T16X4(16+32*(p))                                   \
	NIB_SPLIT(Z4, 64*(16*(p)+0), 64*(16*(p)+8))        \
	NIB_SPLIT(Z5, 64*(16*(p)+1), 64*(16*(p)+9))        \
	NIB_SPLIT(Z6, 64*(16*(p)+2), 64*(16*(p)+10))       \
	NIB_SPLIT(Z7, 64*(16*(p)+3), 64*(16*(p)+11))       \
	T16X4(16+32*(p)+16)                                \
	NIB_SPLIT(Z4, 64*(16*(p)+4), 64*(16*(p)+12))       \
	NIB_SPLIT(Z5, 64*(16*(p)+5), 64*(16*(p)+13))       \
	NIB_SPLIT(Z6, 64*(16*(p)+6), 64*(16*(p)+14))       \
	NIB_SPLIT(Z7, 64*(16*(p)+7), 64*(16*(p)+15))

// func packQ4_Kx16Full(dst, w *byte, rb, nb, rows int)
TEXT ·packQ4_Kx16Full(SB), NOSPLIT, $0-40
	FULL_SETUP
	K4_CONSTS

pkf4block:
	K4_HEAD
	K4_PAIR_FULL(0)
	K4_PAIR_FULL(1)
	K4_PAIR_FULL(2)
	K4_PAIR_FULL(3)
	NEXT_BLOCK(144)
	ADDQ $5248, DI
	DECQ CX
	JNZ  pkf4block
	VZEROUPPER
	RET

// K6_STORE2(nib, top, dst) is K6_STORE with other scratch registers.
#define K6_STORE2(nib, top, dst) \
	VPANDD    Z30, nib, Z23 \
	VPANDD    Z27, top, Z24 \
	VPSLLD    $4, Z24, Z24  \
	VPORD     Z24, Z23, Z23 \
	VMOVDQU64 Z23, (dst)(DI)

// K6_COMBINE(q0, q1, qh, h, l) is K6_GROUP(h, l) on transposed ql (q0:
// ql[64h+4l], q1: ql[64h+32+4l]) and qh (qh[32h+4l]) vectors.
#define K6_COMBINE(q0, q1, qh, h, l) \
	K6_STORE2(q0, qh, 64*(32*(h)+(l)))      \
	VPSRLD    $2, qh, Z21                   \
	K6_STORE2(q1, Z21, 64*(32*(h)+8+(l)))   \
	VPSRLD    $4, q0, Z22                   \
	VPSRLD    $4, qh, Z21                   \
	K6_STORE2(Z22, Z21, 64*(32*(h)+16+(l))) \
	VPSRLD    $4, q1, Z22                   \
	VPSRLD    $6, qh, Z21                   \
	K6_STORE2(Z22, Z21, 64*(32*(h)+24+(l)))

// K6_QUAD(h, j): level vectors of q6_K for l = 4j…4j+3 of half h.
#define K6_QUAD(h, j) \
	T16X4(64*(h)+16*(j))                       \
	VMOVDQA64 Z4, Z12                          \
	VMOVDQA64 Z5, Z13                          \
	VMOVDQA64 Z6, Z14                          \
	VMOVDQA64 Z7, Z15                          \
	T16X4(64*(h)+32+16*(j))                    \
	VMOVDQA64 Z4, Z16                          \
	VMOVDQA64 Z5, Z17                          \
	VMOVDQA64 Z6, Z18                          \
	VMOVDQA64 Z7, Z19                          \
	T16X4(128+32*(h)+16*(j))                   \
	K6_COMBINE(Z12, Z16, Z4, h, 4*(j)+0)       \
	K6_COMBINE(Z13, Z17, Z5, h, 4*(j)+1)       \
	K6_COMBINE(Z14, Z18, Z6, h, 4*(j)+2)       \
	K6_COMBINE(Z15, Z19, Z7, h, 4*(j)+3)

// func packQ6_Kx16Full(dst, w *byte, rb, nb, rows int)
TEXT ·packQ6_Kx16Full(SB), NOSPLIT, $0-40
	FULL_SETUP
	MOVL         $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z30
	MOVL         $0xffff, AX
	VPBROADCASTD AX, Z29
	MOVL         $0x03030303, AX
	VPBROADCASTD AX, Z27

pkf6block:
	GATHER(206, Z0)
	VPSRLD    $16, Z0, Z0
	VPMOVDW   Z0, Y1
	VCVTPH2PS Y1, Z1
	VMOVUPS   Z1, 5632(DI)
	K6_SCALES(0)
	K6_SCALES(1)
	K6_SCALES(2)
	K6_SCALES(3)
	K6_QUAD(0, 0)
	K6_QUAD(0, 1)
	K6_QUAD(1, 0)
	K6_QUAD(1, 1)
	NEXT_BLOCK(210)
	ADDQ $5696, DI
	DECQ CX
	JNZ  pkf6block
	VZEROUPPER
	RET

// K5_PAIR_FULL(p): level vectors 16p…16p+15 of q5_K; qh's transposed
// dwords are in Z12…Z19.
#define K5_PAIR_FULL(p) \
	T16X4(48+32*(p))             \
	K5_SPLIT(Z4, Z12, p, 0)      \
	K5_SPLIT(Z5, Z13, p, 1)      \
	K5_SPLIT(Z6, Z14, p, 2)      \
	K5_SPLIT(Z7, Z15, p, 3)      \
	T16X4(48+32*(p)+16)          \
	K5_SPLIT(Z4, Z16, p, 4)      \
	K5_SPLIT(Z5, Z17, p, 5)      \
	K5_SPLIT(Z6, Z18, p, 6)      \
	K5_SPLIT(Z7, Z19, p, 7)

// func packQ5_Kx16Full(dst, w *byte, rb, nb, rows int)
TEXT ·packQ5_Kx16Full(SB), NOSPLIT, $0-40
	FULL_SETUP
	K4_CONSTS

pkf5block:
	K4_HEAD
	T16X4(16)
	VMOVDQA64 Z4, Z12
	VMOVDQA64 Z5, Z13
	VMOVDQA64 Z6, Z14
	VMOVDQA64 Z7, Z15
	T16X4(32)
	VMOVDQA64 Z4, Z16
	VMOVDQA64 Z5, Z17
	VMOVDQA64 Z6, Z18
	VMOVDQA64 Z7, Z19
	K5_PAIR_FULL(0)
	K5_PAIR_FULL(1)
	K5_PAIR_FULL(2)
	K5_PAIR_FULL(3)
	NEXT_BLOCK(176)
	ADDQ $5248, DI
	DECQ CX
	JNZ  pkf5block
	VZEROUPPER
	RET
