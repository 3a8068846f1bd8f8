//go:build amd64 && !noasm

#include "textflag.h"

// The eight-row dots of the repacked layouts (repack.go); see
// repack_amd64.go for each routine's contract and its Go reference.

// lanePairs: VPERMPS indices [0, 0, 1, 1, …, 7, 7], giving row r's value to
// dword lanes 2r and 2r+1.
DATA lanePairs<>+0(SB)/8, $0x0000000000000000
DATA lanePairs<>+8(SB)/8, $0x0000000100000001
DATA lanePairs<>+16(SB)/8, $0x0000000200000002
DATA lanePairs<>+24(SB)/8, $0x0000000300000003
DATA lanePairs<>+32(SB)/8, $0x0000000400000004
DATA lanePairs<>+40(SB)/8, $0x0000000500000005
DATA lanePairs<>+48(SB)/8, $0x0000000600000006
DATA lanePairs<>+56(SB)/8, $0x0000000700000007
GLOBL lanePairs<>(SB), RODATA|NOPTR, $64

// func dotQ4_0R8VNNI(w, xq *byte, nb int, y *float32, groups int)
//
// Per group: Z0 holds the sixteen lanes' float sums (lane 2r, 2r+1: row r).
// Per block: Z8 = the offset −8·Σq_x in the even lanes (K1), then four
// VPDPBUSD of the unsigned nibbles (Z2, Z3: low; Z4, Z5: high) by the
// activation's quadwords broadcast (Z6); Z9 = d_w·d_x per row, widened to
// the lane pairs by VPERMPS; one multiply-add. At the group's end each odd
// lane is added to the even one below it and the even lanes are stored.
TEXT ·dotQ4_0R8VNNI(SB), NOSPLIT, $0-40
	MOVQ w+0(FP), SI
	MOVQ nb+16(FP), BX
	MOVQ y+24(FP), DX
	MOVQ groups+32(FP), R12
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z14
	MOVL $0x5555, AX
	KMOVW AX, K1
	VMOVDQU64 lanePairs<>(SB), Z13

r8group:
	MOVQ   xq+8(FP), DI
	MOVQ   BX, CX
	VPXORD Z0, Z0, Z0

r8loop:
	MOVL   4(DI), AX
	SHLL   $3, AX
	NEGL   AX
	VPBROADCASTD.Z AX, K1, Z8
	VMOVDQU64 16(SI), Z2
	VMOVDQU64 80(SI), Z3
	VPSRLW $4, Z2, Z4
	VPSRLW $4, Z3, Z5
	VPANDD Z14, Z2, Z2
	VPANDD Z14, Z3, Z3
	VPANDD Z14, Z4, Z4
	VPANDD Z14, Z5, Z5
	VPBROADCASTQ 8(DI), Z6
	VPDPBUSD     Z6, Z2, Z8
	VPBROADCASTQ 16(DI), Z7
	VPDPBUSD     Z7, Z3, Z8
	VPBROADCASTQ 24(DI), Z6
	VPDPBUSD     Z6, Z4, Z8
	VPBROADCASTQ 32(DI), Z7
	VPDPBUSD     Z7, Z5, Z8
	VCVTPH2PS    (SI), Y9
	VBROADCASTSS (DI), Y10
	VMULPS       Y10, Y9, Y9
	VPERMPS      Z9, Z13, Z9
	VCVTDQ2PS    Z8, Z8
	VFMADD231PS  Z8, Z9, Z0
	ADDQ $144, SI
	ADDQ $40, DI
	DECQ CX
	JNZ  r8loop

	VMOVSHDUP Z0, Z1
	VADDPS    Z1, Z0, Z0
	VPMOVQD   Z0, Y0
	VMOVUPS   Y0, (DX)
	ADDQ $32, DX
	DECQ R12
	JNZ  r8group
	VZEROUPPER
	RET

// evenLanes / oddLanes: VPERMI2D indices taking the even (odd) dword lanes of
// the first table, then of the second: row r's lane 2r (2r+1) of two groups,
// rows 0…7 then 8…15.
DATA evenLanes<>+0(SB)/8, $0x0000000200000000
DATA evenLanes<>+8(SB)/8, $0x0000000600000004
DATA evenLanes<>+16(SB)/8, $0x0000000a00000008
DATA evenLanes<>+24(SB)/8, $0x0000000e0000000c
DATA evenLanes<>+32(SB)/8, $0x0000001200000010
DATA evenLanes<>+40(SB)/8, $0x0000001600000014
DATA evenLanes<>+48(SB)/8, $0x0000001a00000018
DATA evenLanes<>+56(SB)/8, $0x0000001e0000001c
GLOBL evenLanes<>(SB), RODATA|NOPTR, $64

DATA oddLanes<>+0(SB)/8, $0x0000000300000001
DATA oddLanes<>+8(SB)/8, $0x0000000700000005
DATA oddLanes<>+16(SB)/8, $0x0000000b00000009
DATA oddLanes<>+24(SB)/8, $0x0000000f0000000d
DATA oddLanes<>+32(SB)/8, $0x0000001300000011
DATA oddLanes<>+40(SB)/8, $0x0000001700000015
DATA oddLanes<>+48(SB)/8, $0x0000001b00000019
DATA oddLanes<>+56(SB)/8, $0x0000001f0000001d
GLOBL oddLanes<>(SB), RODATA|NOPTR, $64

// R8_SPLIT(v, lo, hi) stores v's low nibbles at lo(DI) and its high ones at
// hi(DI) (Z14 = 0x0f bytes; clobbers Z10).
#define R8_SPLIT(v, lo, hi) \
	VPSRLW  $4, v, Z10    \
	VPANDD  Z14, v, v     \
	VPANDD  Z14, Z10, Z10 \
	VMOVDQU64 v, lo(DI)   \
	VMOVDQU64 Z10, hi(DI)

// func packQ4_0R8x16(dst, w *byte, nb int)
//
// Level vector t of a block holds elements 4t…4t+3 of the sixteen rows: of
// row r < 8 (group A at w) or r-8 (group B, a group's bytes after A), the
// low (t < 4) or high nibbles of lane 2r + t%2 of the block's first (t/2
// even) or second 64 bytes of nibbles.
TEXT ·packQ4_0R8x16(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ nb+16(FP), CX
	IMUL3Q $144, CX, R8
	LEAQ (SI)(R8*1), R9 // group B
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z14
	VMOVDQU64 evenLanes<>(SB), Z12
	VMOVDQU64 oddLanes<>(SB), Z13

r8pack:
	VMOVDQU64 16(SI), Z0
	VMOVDQU64 80(SI), Z1
	VMOVDQU64 16(R9), Z2
	VMOVDQU64 80(R9), Z3
	VMOVDQA64 Z12, Z4
	VPERMI2D  Z2, Z0, Z4 // t = 0 / 4: bytes 0…3
	VMOVDQA64 Z13, Z5
	VPERMI2D  Z2, Z0, Z5 // t = 1 / 5: bytes 4…7
	VMOVDQA64 Z12, Z6
	VPERMI2D  Z3, Z1, Z6 // t = 2 / 6: bytes 8…11
	VMOVDQA64 Z13, Z7
	VPERMI2D  Z3, Z1, Z7 // t = 3 / 7: bytes 12…15
	R8_SPLIT(Z4, 0, 256)
	R8_SPLIT(Z5, 64, 320)
	R8_SPLIT(Z6, 128, 384)
	R8_SPLIT(Z7, 192, 448)
	VCVTPH2PS (SI), Y8
	VCVTPH2PS (R9), Y9
	VMOVUPS   Y8, 512(DI)
	VMOVUPS   Y9, 544(DI)
	ADDQ $144, SI
	ADDQ $144, R9
	ADDQ $576, DI
	DECQ CX
	JNZ  r8pack
	VZEROUPPER
	RET
