//go:build amd64 && !noasm

package kernels

import "golang.org/x/sys/cpu"

// Extra features the quant kernels use beyond impl.go's sets: F16C for half
// conversions under "avx2" (every AVX2 CPU has it, but it is a separate
// CPUID bit), and AVX-512 VNNI's VPDPBUSD (used at 256 bits) under "avx512".
var (
	hasF16C = cpu.X86.HasF16C
	hasVNNI = cpu.X86.HasAVX512VNNI
)

// Each routine below is the assembly twin of the named Go reference loop; the
// reference is its specification.

// dotQ8_0Q8_0AVX2 is dotQ8_0Q8_0Generic over nb blocks (nb ≥ 1). The int8
// products use the sign trick (|w| unsigned × x·sign(w) signed), exact for
// activations in [-127, 127] as quantQ8_0 produces; per-block sums are
// scaled and accumulated in 8 float lanes, so the float rounding order
// differs from the reference.
//
//go:noescape
func dotQ8_0Q8_0AVX2(w, xq *byte, nb int) float32

// dotQ8_0Q8_0VNNI is dotQ8_0Q8_0AVX2 with VPDPBUSD for the int8 dot.
//
//go:noescape
func dotQ8_0Q8_0VNNI(w, xq *byte, nb int) float32

// dotQ4_0Q8_0AVX2 is dotQ4_0Q8_0Generic over nb blocks (nb ≥ 1).
//
//go:noescape
func dotQ4_0Q8_0AVX2(w, xq *byte, nb int) float32

// dotQ4_0Q8_0VNNI is dotQ4_0Q8_0AVX2 with VPDPBUSD for the int8 dot.
//
//go:noescape
func dotQ4_0Q8_0VNNI(w, xq *byte, nb int) float32

// dotF16AVX2 is dotF16Generic over n halves, n a positive multiple of 8.
//
//go:noescape
func dotF16AVX2(w *byte, x *float32, n int) float32

// dotF16AVX512 is dotF16Generic over n halves, n a positive multiple of 16.
//
//go:noescape
func dotF16AVX512(w *byte, x *float32, n int) float32

// dotBF16AVX2 is dotBF16Generic over n values, n a positive multiple of 8.
//
//go:noescape
func dotBF16AVX2(w *byte, x *float32, n int) float32

// dotBF16AVX512 is dotBF16Generic over n values, n a positive multiple of 16.
//
//go:noescape
func dotBF16AVX512(w *byte, x *float32, n int) float32

// f16ToF32AVX2 is f16RowToF32Generic over n halves, n a positive multiple of 8.
//
//go:noescape
func f16ToF32AVX2(dst *float32, src *byte, n int)

// f32ToF16AVX2 is f32RowToF16Generic over n floats, n a positive multiple of
// 8 (VCVTPS2PH rounds to nearest even, as F32ToF16).
//
//go:noescape
func f32ToF16AVX2(dst *byte, src *float32, n int)
