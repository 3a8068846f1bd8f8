//go:build amd64 && !noasm

#include "textflag.h"

// func fftStageAVX512(zr, zi, wr, wi *float64, n, half int)
// One radix-2 stage of half-size half (a multiple of 8) over n points:
// per group, x = z[a0 : a0+half], y = z[a0+half : a0+2·half], w the
// stage's twiddles at wr/wi[half:]; t = y·w (tr = yr·wr − yi·wi,
// ti = yr·wi + yi·wr), y = x − t, x = x + t, eight lanes of float64.
TEXT ·fftStageAVX512(SB), NOSPLIT, $0-48
	MOVQ zr+0(FP), DI
	MOVQ zi+8(FP), SI
	MOVQ wr+16(FP), R8
	MOVQ wi+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ half+40(FP), DX
	LEAQ (R8)(DX*8), R8  // the stage's twiddles
	LEAQ (R9)(DX*8), R9
	MOVQ DX, R10
	SHLQ $3, R10         // half in bytes
	SHLQ $3, CX          // n in bytes
	XORQ AX, AX          // group start, bytes

fft_group:
	CMPQ AX, CX
	JGE  fft_done
	LEAQ (DI)(AX*1), R11 // xr
	LEAQ (SI)(AX*1), R12 // xi
	LEAQ (R11)(R10*1), R13 // yr
	LEAQ (R12)(R10*1), R14 // yi
	XORQ BX, BX

fft_bfly:
	VMOVUPD     (R11)(BX*1), Z0
	VMOVUPD     (R12)(BX*1), Z1
	VMOVUPD     (R13)(BX*1), Z2
	VMOVUPD     (R14)(BX*1), Z3
	VMOVUPD     (R8)(BX*1), Z4
	VMOVUPD     (R9)(BX*1), Z5
	VMULPD      Z5, Z3, Z6    // yi·wi
	VFMSUB231PD Z4, Z2, Z6    // tr = yr·wr − yi·wi
	VMULPD      Z4, Z3, Z7    // yi·wr
	VFMADD231PD Z5, Z2, Z7    // ti = yr·wi + yi·wr
	VSUBPD      Z6, Z0, Z8
	VSUBPD      Z7, Z1, Z9
	VADDPD      Z6, Z0, Z0
	VADDPD      Z7, Z1, Z1
	VMOVUPD     Z0, (R11)(BX*1)
	VMOVUPD     Z1, (R12)(BX*1)
	VMOVUPD     Z8, (R13)(BX*1)
	VMOVUPD     Z9, (R14)(BX*1)
	ADDQ        $64, BX
	CMPQ        BX, R10
	JLT         fft_bfly
	LEAQ        (AX)(R10*2), AX
	JMP         fft_group

fft_done:
	VZEROUPPER
	RET
