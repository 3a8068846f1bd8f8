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
#define QGEMM_BODY(loop, shift) \
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
	VPXORD Z16, Z16, Z16    \
	VPXORD Z17, Z17, Z17    \
	VPXORD Z18, Z18, Z18    \
	VPXORD Z19, Z19, Z19    \
	VPXORD Z20, Z20, Z20    \
	VPXORD Z21, Z21, Z21    \
	VPXORD Z22, Z22, Z22    \
	VPXORD Z23, Z23, Z23    \
loop:                       \
	VPXORD Z0, Z0, Z0       \
	VPXORD Z1, Z1, Z1       \
	VPXORD Z2, Z2, Z2       \
	VPXORD Z3, Z3, Z3       \
	VPXORD Z4, Z4, Z4       \
	VPXORD Z5, Z5, Z5       \
	VPXORD Z6, Z6, Z6       \
	VPXORD Z7, Z7, Z7       \
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
	ADDQ $40, DI            \
	ADDQ $40, R8            \
	ADDQ $40, R9            \
	ADDQ $40, R10           \
	ADDQ $40, R11           \
	ADDQ $40, R12           \
	ADDQ $40, R13           \
	ADDQ $40, AX            \
	DECQ CX                 \
	JNZ  loop               \
	MOVQ out+32(FP), DI     \
	VMOVUPS Z16, 0(DI)      \
	VMOVUPS Z17, 64(DI)     \
	VMOVUPS Z18, 128(DI)    \
	VMOVUPS Z19, 192(DI)    \
	VMOVUPS Z20, 256(DI)    \
	VMOVUPS Z21, 320(DI)    \
	VMOVUPS Z22, 384(DI)    \
	VMOVUPS Z23, 448(DI)    \
	VZEROUPPER

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
