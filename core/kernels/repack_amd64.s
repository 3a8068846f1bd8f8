//go:build amd64 && !noasm

#include "textflag.h"

// The eight-row dots of the repacked layouts (repack.go); see
// repack_amd64.go for each routine's contract and its Go reference.

// R8_PREFETCH_DIST is how far ahead of the super-block being read
// dotQ6_KR8VNNI prefetches the weights (five q6_Kr8 super-blocks, about
// 8 KB), into L2: PREFETCHT1; PREFETCHT0, or two super-blocks ahead, was no
// faster than none. A decode step streams every matrix from memory once,
// and with the hardware prefetchers alone the q6_Kr8 loop (three streams of
// ql/qh pieces and the scale planes in each 1680 bytes) waited on it: over
// the 32000×768 output matrix it ran at half the speed of the file layout's
// four-row dot (docs/BENCHMARKS.md). The same prefetches in the q4_0r8 and
// q4_Kr8 loops made decode slower, so they have none. Prefetches past the
// matrix's end are hints and never fault.
#define R8_PREFETCH_DIST 8400

// Q6_PREFETCH prefetches the 27 lines of a q6_Kr8 super-block (1680 bytes)
// R8_PREFETCH_DIST ahead.
#define Q6_PREFETCH \
	PREFETCHT1 (R8_PREFETCH_DIST+0)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+64)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+128)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+192)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+256)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+320)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+384)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+448)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+512)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+576)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+640)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+704)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+768)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+832)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+896)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+960)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1024)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1088)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1152)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1216)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1280)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1344)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1408)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1472)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1536)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1600)(SI) \
	PREFETCHT1 (R8_PREFETCH_DIST+1664)(SI)

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

// R8_ARGS loads the eight-row dots' arguments: SI = w, BX = nb, DX = y,
// R12 = groups.
#define R8_ARGS \
	MOVQ w+0(FP), SI       \
	MOVQ nb+16(FP), BX     \
	MOVQ y+24(FP), DX      \
	MOVQ groups+32(FP), R12

// R8_GROUP(label) starts a group at label: DI = the activation row, CX = nb,
// Z0 = 0.
#define R8_GROUP(label) \
label:                      \
	MOVQ   xq+8(FP), DI \
	MOVQ   BX, CX       \
	VPXORD Z0, Z0, Z0

// R8_GROUP_END(label) adds each odd lane of Z0 to the even one below it,
// stores the eight even lanes at DX and starts the next group at label.
#define R8_GROUP_END(label) \
	VMOVSHDUP Z0, Z1     \
	VADDPS    Z1, Z0, Z0 \
	VPMOVQD   Z0, Y0     \
	VMOVUPS   Y0, (DX)   \
	ADDQ      $32, DX    \
	DECQ      R12        \
	JNZ       label

// func dotQ4_0R8VNNI(w, xq *byte, nb int, y *float32, groups int)
//
// Per group: Z0 holds the sixteen lanes' float sums (lane 2r, 2r+1: row r).
// Per block: Z8 = the offset −8·Σq_x in the even lanes (K1), then four
// VPDPBUSD of the unsigned nibbles (Z2, Z3: low; Z4, Z5: high) by the
// activation's quadwords broadcast (Z6); Z9 = d_w·d_x per row, widened to
// the lane pairs by VPERMPS; one multiply-add. At the group's end each odd
// lane is added to the even one below it and the even lanes are stored.
TEXT ·dotQ4_0R8VNNI(SB), NOSPLIT, $0-40
	R8_ARGS
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z14
	MOVL $0x5555, AX
	KMOVW AX, K1
	VMOVDQU64 lanePairs<>(SB), Z13

	R8_GROUP(r8group)

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

	R8_GROUP_END(r8group)
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

// k4ScaleIdx: for sub-block s (64 bytes each), the VPERMB indices giving
// dword lanes 2r and 2r+1 row r's scale (byte 8s+r of the decoded scales)
// in their low byte (K2 zeroes the others). k4MinIdx: for pair q, lane
// 2r+p's two int16 halves row r's min of sub-block 2q+p (K3 zeroes the high
// bytes).
DATA k4ScaleIdx<>+0(SB)/8, $0x0000000000000000
DATA k4ScaleIdx<>+8(SB)/8, $0x0000000100000001
DATA k4ScaleIdx<>+16(SB)/8, $0x0000000200000002
DATA k4ScaleIdx<>+24(SB)/8, $0x0000000300000003
DATA k4ScaleIdx<>+32(SB)/8, $0x0000000400000004
DATA k4ScaleIdx<>+40(SB)/8, $0x0000000500000005
DATA k4ScaleIdx<>+48(SB)/8, $0x0000000600000006
DATA k4ScaleIdx<>+56(SB)/8, $0x0000000700000007
DATA k4ScaleIdx<>+64(SB)/8, $0x0000000800000008
DATA k4ScaleIdx<>+72(SB)/8, $0x0000000900000009
DATA k4ScaleIdx<>+80(SB)/8, $0x0000000a0000000a
DATA k4ScaleIdx<>+88(SB)/8, $0x0000000b0000000b
DATA k4ScaleIdx<>+96(SB)/8, $0x0000000c0000000c
DATA k4ScaleIdx<>+104(SB)/8, $0x0000000d0000000d
DATA k4ScaleIdx<>+112(SB)/8, $0x0000000e0000000e
DATA k4ScaleIdx<>+120(SB)/8, $0x0000000f0000000f
DATA k4ScaleIdx<>+128(SB)/8, $0x0000001000000010
DATA k4ScaleIdx<>+136(SB)/8, $0x0000001100000011
DATA k4ScaleIdx<>+144(SB)/8, $0x0000001200000012
DATA k4ScaleIdx<>+152(SB)/8, $0x0000001300000013
DATA k4ScaleIdx<>+160(SB)/8, $0x0000001400000014
DATA k4ScaleIdx<>+168(SB)/8, $0x0000001500000015
DATA k4ScaleIdx<>+176(SB)/8, $0x0000001600000016
DATA k4ScaleIdx<>+184(SB)/8, $0x0000001700000017
DATA k4ScaleIdx<>+192(SB)/8, $0x0000001800000018
DATA k4ScaleIdx<>+200(SB)/8, $0x0000001900000019
DATA k4ScaleIdx<>+208(SB)/8, $0x0000001a0000001a
DATA k4ScaleIdx<>+216(SB)/8, $0x0000001b0000001b
DATA k4ScaleIdx<>+224(SB)/8, $0x0000001c0000001c
DATA k4ScaleIdx<>+232(SB)/8, $0x0000001d0000001d
DATA k4ScaleIdx<>+240(SB)/8, $0x0000001e0000001e
DATA k4ScaleIdx<>+248(SB)/8, $0x0000001f0000001f
DATA k4ScaleIdx<>+256(SB)/8, $0x0000002000000020
DATA k4ScaleIdx<>+264(SB)/8, $0x0000002100000021
DATA k4ScaleIdx<>+272(SB)/8, $0x0000002200000022
DATA k4ScaleIdx<>+280(SB)/8, $0x0000002300000023
DATA k4ScaleIdx<>+288(SB)/8, $0x0000002400000024
DATA k4ScaleIdx<>+296(SB)/8, $0x0000002500000025
DATA k4ScaleIdx<>+304(SB)/8, $0x0000002600000026
DATA k4ScaleIdx<>+312(SB)/8, $0x0000002700000027
DATA k4ScaleIdx<>+320(SB)/8, $0x0000002800000028
DATA k4ScaleIdx<>+328(SB)/8, $0x0000002900000029
DATA k4ScaleIdx<>+336(SB)/8, $0x0000002a0000002a
DATA k4ScaleIdx<>+344(SB)/8, $0x0000002b0000002b
DATA k4ScaleIdx<>+352(SB)/8, $0x0000002c0000002c
DATA k4ScaleIdx<>+360(SB)/8, $0x0000002d0000002d
DATA k4ScaleIdx<>+368(SB)/8, $0x0000002e0000002e
DATA k4ScaleIdx<>+376(SB)/8, $0x0000002f0000002f
DATA k4ScaleIdx<>+384(SB)/8, $0x0000003000000030
DATA k4ScaleIdx<>+392(SB)/8, $0x0000003100000031
DATA k4ScaleIdx<>+400(SB)/8, $0x0000003200000032
DATA k4ScaleIdx<>+408(SB)/8, $0x0000003300000033
DATA k4ScaleIdx<>+416(SB)/8, $0x0000003400000034
DATA k4ScaleIdx<>+424(SB)/8, $0x0000003500000035
DATA k4ScaleIdx<>+432(SB)/8, $0x0000003600000036
DATA k4ScaleIdx<>+440(SB)/8, $0x0000003700000037
DATA k4ScaleIdx<>+448(SB)/8, $0x0000003800000038
DATA k4ScaleIdx<>+456(SB)/8, $0x0000003900000039
DATA k4ScaleIdx<>+464(SB)/8, $0x0000003a0000003a
DATA k4ScaleIdx<>+472(SB)/8, $0x0000003b0000003b
DATA k4ScaleIdx<>+480(SB)/8, $0x0000003c0000003c
DATA k4ScaleIdx<>+488(SB)/8, $0x0000003d0000003d
DATA k4ScaleIdx<>+496(SB)/8, $0x0000003e0000003e
DATA k4ScaleIdx<>+504(SB)/8, $0x0000003f0000003f
GLOBL k4ScaleIdx<>(SB), RODATA|NOPTR, $512

DATA k4MinIdx<>+0(SB)/8, $0x0008000800000000
DATA k4MinIdx<>+8(SB)/8, $0x0009000900010001
DATA k4MinIdx<>+16(SB)/8, $0x000a000a00020002
DATA k4MinIdx<>+24(SB)/8, $0x000b000b00030003
DATA k4MinIdx<>+32(SB)/8, $0x000c000c00040004
DATA k4MinIdx<>+40(SB)/8, $0x000d000d00050005
DATA k4MinIdx<>+48(SB)/8, $0x000e000e00060006
DATA k4MinIdx<>+56(SB)/8, $0x000f000f00070007
DATA k4MinIdx<>+64(SB)/8, $0x0018001800100010
DATA k4MinIdx<>+72(SB)/8, $0x0019001900110011
DATA k4MinIdx<>+80(SB)/8, $0x001a001a00120012
DATA k4MinIdx<>+88(SB)/8, $0x001b001b00130013
DATA k4MinIdx<>+96(SB)/8, $0x001c001c00140014
DATA k4MinIdx<>+104(SB)/8, $0x001d001d00150015
DATA k4MinIdx<>+112(SB)/8, $0x001e001e00160016
DATA k4MinIdx<>+120(SB)/8, $0x001f001f00170017
DATA k4MinIdx<>+128(SB)/8, $0x0028002800200020
DATA k4MinIdx<>+136(SB)/8, $0x0029002900210021
DATA k4MinIdx<>+144(SB)/8, $0x002a002a00220022
DATA k4MinIdx<>+152(SB)/8, $0x002b002b00230023
DATA k4MinIdx<>+160(SB)/8, $0x002c002c00240024
DATA k4MinIdx<>+168(SB)/8, $0x002d002d00250025
DATA k4MinIdx<>+176(SB)/8, $0x002e002e00260026
DATA k4MinIdx<>+184(SB)/8, $0x002f002f00270027
DATA k4MinIdx<>+192(SB)/8, $0x0038003800300030
DATA k4MinIdx<>+200(SB)/8, $0x0039003900310031
DATA k4MinIdx<>+208(SB)/8, $0x003a003a00320032
DATA k4MinIdx<>+216(SB)/8, $0x003b003b00330033
DATA k4MinIdx<>+224(SB)/8, $0x003c003c00340034
DATA k4MinIdx<>+232(SB)/8, $0x003d003d00350035
DATA k4MinIdx<>+240(SB)/8, $0x003e003e00360036
DATA k4MinIdx<>+248(SB)/8, $0x003f003f00370037
GLOBL k4MinIdx<>(SB), RODATA|NOPTR, $256

// K4_PIECE(j, c) adds piece (j, c) of the nibbles (SI) to the sub-block sums
// Z12 (low nibbles, sub-block 2j) and Z13 (high, 2j+1), each against its
// broadcast activation quadword (DI).
#define K4_PIECE(j, c) \
	VMOVDQU64    (128+64*(4*(j)+(c)))(SI), Z2 \
	VPSRLW       $4, Z2, Z3                     \
	VPANDD       Z14, Z2, Z2                    \
	VPANDD       Z14, Z3, Z3                    \
	VPBROADCASTQ (4+64*(j)+8*(c))(DI), Z4       \
	VPDPBUSD     Z4, Z2, Z12                    \
	VPBROADCASTQ (4+64*(j)+32+8*(c))(DI), Z5    \
	VPDPBUSD     Z5, Z3, Z13

// K4_PAIR(j, lo, hi) is chunk j (sub-blocks 2j, 2j+1): four pieces, then
// each sub-block's lane sums times the rows' scales (lo, hi: the scale
// index registers) into the super-block's integer sums Z1.
#define K4_PAIR(j, lo, hi) \
	VPXORD   Z12, Z12, Z12   \
	VPXORD   Z13, Z13, Z13   \
	K4_PIECE(j, 0)           \
	K4_PIECE(j, 1)           \
	K4_PIECE(j, 2)           \
	K4_PIECE(j, 3)           \
	VPERMB.Z Z20, lo, K2, Z6 \
	VPDPWSSD Z6, Z12, Z1     \
	VPERMB.Z Z20, hi, K2, Z7 \
	VPDPWSSD Z7, Z13, Z1

// K4_MINS(q, idx) adds pair q's mins times q8_K's bsums 4q…4q+3 to Z11.
#define K4_MINS(q, idx) \
	VPERMB.Z     Z21, idx, K3, Z6 \
	VPBROADCASTQ (260+8*(q))(DI), Z7 \
	VPDPWSSD     Z7, Z6, Z11

// func dotQ4_KR8VNNI(w, xq *byte, nb int, y *float32, groups int)
//
// Per group: Z0 the sixteen lanes' float sums (lanes 2r, 2r+1: row r). Per
// super-block: the twelve planes of scales decode to Z20 (scale of
// sub-block s, row r at byte 8s+r) and Z21 (mins, same places); Z1 gathers
// the scaled integer sums, Z11 the min sums; then Z0 += Z1·d·d_x and
// Z0 −= Z11·dmin·d_x, the rows' d and dmin widened to the lane pairs.
TEXT ·dotQ4_KR8VNNI(SB), NOSPLIT, $0-40
	R8_ARGS
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z14
	MOVL $0x3f3f3f3f, AX
	VPBROADCASTD AX, Z15
	MOVL $0x30303030, AX
	VPBROADCASTD AX, Z29
	MOVQ $0x1111111111111111, AX
	KMOVQ AX, K2
	MOVQ $0x5555555555555555, AX
	KMOVQ AX, K3
	VMOVDQU64 lanePairs<>(SB), Z28
	VMOVDQU64 k4ScaleIdx<>+0(SB), Z16
	VMOVDQU64 k4ScaleIdx<>+64(SB), Z17
	VMOVDQU64 k4ScaleIdx<>+128(SB), Z18
	VMOVDQU64 k4ScaleIdx<>+192(SB), Z19
	VMOVDQU64 k4ScaleIdx<>+256(SB), Z22
	VMOVDQU64 k4ScaleIdx<>+320(SB), Z23
	VMOVDQU64 k4ScaleIdx<>+384(SB), Z24
	VMOVDQU64 k4ScaleIdx<>+448(SB), Z25
	VMOVDQU64 k4MinIdx<>+0(SB), Z26
	VMOVDQU64 k4MinIdx<>+64(SB), Z27
	VMOVDQU64 k4MinIdx<>+128(SB), Z30
	VMOVDQU64 k4MinIdx<>+192(SB), Z31

	R8_GROUP(k4group)

k4loop:
	// Scales: Z8 = planes 0…7, Y9 = planes 8…11.
	VMOVDQU64 32(SI), Z8
	VMOVDQU   96(SI), Y9
	VPANDD    Z15, Z8, Z10     // sc 0…3 | m 0…3
	VPSRLW    $2, Z8, Z8
	VPANDD    Z29, Z8, Z8      // top two bits of planes 0…7, at bits 4…5
	VPSRLW    $4, Y9, Y3
	VPAND     Y14, Y9, Y9      // low nibbles of planes 8…11
	VPAND     Y14, Y3, Y3      // high nibbles
	VPOR      Y8, Y9, Y9       // sc 4…7
	VEXTRACTI64X4 $1, Z8, Y8
	VPOR      Y8, Y3, Y3       // m 4…7
	VINSERTI64X4 $1, Y9, Z10, Z20
	VEXTRACTI64X4 $1, Z10, Y10
	VINSERTI64X4 $1, Y3, Z10, Z21

	VPXORD Z1, Z1, Z1
	K4_PAIR(0, Z16, Z17)
	K4_PAIR(1, Z18, Z19)
	K4_PAIR(2, Z22, Z23)
	K4_PAIR(3, Z24, Z25)

	VPXORD Z11, Z11, Z11
	K4_MINS(0, Z26)
	K4_MINS(1, Z27)
	K4_MINS(2, Z30)
	K4_MINS(3, Z31)

	VBROADCASTSS (DI), Y10
	VCVTPH2PS    (SI), Y9
	VMULPS       Y10, Y9, Y9
	VPERMPS      Z9, Z28, Z9
	VCVTPH2PS    16(SI), Y8
	VMULPS       Y10, Y8, Y8
	VPERMPS      Z8, Z28, Z8
	VCVTDQ2PS    Z1, Z1
	VFMADD231PS  Z1, Z9, Z0
	VCVTDQ2PS    Z11, Z11
	VFNMADD231PS Z11, Z8, Z0

	ADDQ $1152, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  k4loop

	R8_GROUP_END(k4group)
	VZEROUPPER
	RET

// q6ScaleIdx: VPERMB indices giving dword lanes 2r and 2r+1 the byte r of a
// 64-byte window (row r's scale of the window's first group) in their top
// byte (K2), for VPSRAD to sign-extend. q6OffIdx: lane 2r+p's two int16
// halves rows r's scales of groups 2p and 2p+1 of a window of four groups,
// in their high bytes (K3), for VPSRAW.
DATA q6ScaleIdx<>+0(SB)/8, $0x0000000000000000
DATA q6ScaleIdx<>+8(SB)/8, $0x0100000001000000
DATA q6ScaleIdx<>+16(SB)/8, $0x0200000002000000
DATA q6ScaleIdx<>+24(SB)/8, $0x0300000003000000
DATA q6ScaleIdx<>+32(SB)/8, $0x0400000004000000
DATA q6ScaleIdx<>+40(SB)/8, $0x0500000005000000
DATA q6ScaleIdx<>+48(SB)/8, $0x0600000006000000
DATA q6ScaleIdx<>+56(SB)/8, $0x0700000007000000
GLOBL q6ScaleIdx<>(SB), RODATA|NOPTR, $64

DATA q6OffIdx<>+0(SB)/8, $0x1800100008000000
DATA q6OffIdx<>+8(SB)/8, $0x1900110009000100
DATA q6OffIdx<>+16(SB)/8, $0x1a0012000a000200
DATA q6OffIdx<>+24(SB)/8, $0x1b0013000b000300
DATA q6OffIdx<>+32(SB)/8, $0x1c0014000c000400
DATA q6OffIdx<>+40(SB)/8, $0x1d0015000d000500
DATA q6OffIdx<>+48(SB)/8, $0x1e0016000e000600
DATA q6OffIdx<>+56(SB)/8, $0x1f0017000f000700
GLOBL q6OffIdx<>(SB), RODATA|NOPTR, $64

// Q6_LEVEL_DOT(lv, act, acc) adds the level vector lv times the activation
// quadword at act(DI) to acc.
#define Q6_LEVEL_DOT(lv, act, acc) \
	VPBROADCASTQ act(DI), Z8 \
	VPDPBUSD     Z8, lv, acc

// Q6_CHUNK(h, c, g0, g1, g2, g3): chunk c of half h, the four level
// vectors i = 0…3 into the group sums g0…g3 (groups 8h+2i+c/2). Each level
// is (ql nibble) | (qh bits 2i…2i+1 at bits 4…5): the qh bits shifted and
// masked, then one VPTERNLOGD (imm 0xf8: A | B&C) ORs in the ql bits that
// the 0x0f mask (Z20) keeps.
#define Q6_CHUNK(h, c, g0, g1, g2, g3) \
	VMOVDQU64  (144+64*(8*(h)+(c)))(SI), Z2   \
	VMOVDQU64  (144+64*(8*(h)+4+(c)))(SI), Z3 \
	VMOVDQU64  (1168+64*(4*(h)+(c)))(SI), Z4  \
	VPSLLW     $4, Z4, Z5                     \
	VPANDD     Z21, Z5, Z5                    \
	VPTERNLOGD $0xf8, Z20, Z2, Z5             \
	Q6_LEVEL_DOT(Z5, (4+128*(h)+8*(c)), g0)   \
	VPSLLW     $2, Z4, Z6                     \
	VPANDD     Z21, Z6, Z6                    \
	VPTERNLOGD $0xf8, Z20, Z3, Z6             \
	Q6_LEVEL_DOT(Z6, (4+128*(h)+32+8*(c)), g1) \
	VPANDD     Z21, Z4, Z5                    \
	VPSRLW     $4, Z2, Z2                     \
	VPTERNLOGD $0xf8, Z20, Z2, Z5             \
	Q6_LEVEL_DOT(Z5, (4+128*(h)+64+8*(c)), g2) \
	VPSRLW     $2, Z4, Z6                     \
	VPANDD     Z21, Z6, Z6                    \
	VPSRLW     $4, Z3, Z3                     \
	VPTERNLOGD $0xf8, Z20, Z3, Z6             \
	Q6_LEVEL_DOT(Z6, (4+128*(h)+96+8*(c)), g3)

// Q6_SCALE(grp, g) adds group grp's lane sums g times the rows' scales to Z1.
#define Q6_SCALE(grp, g) \
	VPERMB.Z (16+8*(grp))(SI), Z22, K2, Z9 \
	VPSRAD   $24, Z9, Z9                   \
	VPMULLD  Z9, g, g                      \
	VPADDD   g, Z1, Z1

// Q6_HALF(h): the 128 elements of half h into Z1.
#define Q6_HALF(h) \
	VPXORD Z12, Z12, Z12 \
	VPXORD Z13, Z13, Z13 \
	VPXORD Z14, Z14, Z14 \
	VPXORD Z15, Z15, Z15 \
	VPXORD Z16, Z16, Z16 \
	VPXORD Z17, Z17, Z17 \
	VPXORD Z18, Z18, Z18 \
	VPXORD Z19, Z19, Z19 \
	Q6_CHUNK(h, 0, Z12, Z14, Z16, Z18) \
	Q6_CHUNK(h, 1, Z12, Z14, Z16, Z18) \
	Q6_CHUNK(h, 2, Z13, Z15, Z17, Z19) \
	Q6_CHUNK(h, 3, Z13, Z15, Z17, Z19) \
	Q6_SCALE(8*(h)+0, Z12) \
	Q6_SCALE(8*(h)+1, Z13) \
	Q6_SCALE(8*(h)+2, Z14) \
	Q6_SCALE(8*(h)+3, Z15) \
	Q6_SCALE(8*(h)+4, Z16) \
	Q6_SCALE(8*(h)+5, Z17) \
	Q6_SCALE(8*(h)+6, Z18) \
	Q6_SCALE(8*(h)+7, Z19)

// Q6_OFF(q) adds the scales of groups 4q…4q+3 times their bsums to Z11.
#define Q6_OFF(q) \
	VPERMB.Z     (16+32*(q))(SI), Z23, K3, Z9 \
	VPSRAW       $8, Z9, Z9                   \
	VPBROADCASTQ (260+8*(q))(DI), Z10         \
	VPDPWSSD     Z10, Z9, Z11

// func dotQ6_KR8VNNI(w, xq *byte, nb int, y *float32, groups int)
//
// Per group: Z0 the sixteen lanes' float sums (lanes 2r, 2r+1: row r). Per
// super-block: Z1 = Σ_g scale·(lane sums of group g) − 32·Σ scale·bsum
// (Z11), then Z0 += Z1·d·d_x, the rows' d widened to the lane pairs.
TEXT ·dotQ6_KR8VNNI(SB), NOSPLIT, $0-40
	R8_ARGS
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Z20
	MOVL $0x30303030, AX
	VPBROADCASTD AX, Z21
	MOVQ $0x8888888888888888, AX
	KMOVQ AX, K2
	MOVQ $0xaaaaaaaaaaaaaaaa, AX
	KMOVQ AX, K3
	VMOVDQU64 q6ScaleIdx<>(SB), Z22
	VMOVDQU64 q6OffIdx<>(SB), Z23
	VMOVDQU64 lanePairs<>(SB), Z24

	R8_GROUP(q6group)

q6loop:
	Q6_PREFETCH
	VPXORD Z1, Z1, Z1
	Q6_HALF(0)
	Q6_HALF(1)
	VPXORD Z11, Z11, Z11
	Q6_OFF(0)
	Q6_OFF(1)
	Q6_OFF(2)
	Q6_OFF(3)
	VPSLLD $5, Z11, Z11
	VPSUBD Z11, Z1, Z1

	VBROADCASTSS (DI), Y10
	VCVTPH2PS    (SI), Y9
	VMULPS       Y10, Y9, Y9
	VPERMPS      Z9, Z24, Z9
	VCVTDQ2PS    Z1, Z1
	VFMADD231PS  Z1, Z9, Z0

	ADDQ $1680, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q6loop

	R8_GROUP_END(q6group)
	VZEROUPPER
	RET
