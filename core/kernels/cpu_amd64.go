//go:build amd64 && !noasm

package kernels

import "golang.org/x/sys/cpu"

// CPU features the assembly kernels need, read once at start-up. The AVX-512
// kernels use F for arithmetic, BW/DQ/VL for byte/word/masked ops at 128/256
// bits; cpu.X86 already checks that the OS saves the ZMM/YMM state.
var (
	hasAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	hasAVX512  = hasAVX2FMA && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW &&
		cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL
)
