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
