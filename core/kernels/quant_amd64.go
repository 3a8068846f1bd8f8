//go:build amd64 && !noasm

package kernels

import "golang.org/x/sys/cpu"

// Extra features the quant kernels use beyond impl.go's sets: F16C for half
// conversions under "avx2" (every AVX2 CPU has it, but it is a separate
// CPUID bit), and AVX-512 VNNI's VPDPBUSD (used at 256 bits) under "avx512".
var (
	hasF16C = cpu.X86.HasF16C
	hasVNNI = cpu.X86.HasAVX512VNNI
	hasVBMI = cpu.X86.HasAVX512VBMI // VPERMB (the repacked q4_K dot)
)

// Each routine below is the assembly twin of the named Go reference loop; the
// reference is its specification.

// dotQ4_0Q8SVNNI and dotQ8_0Q8SVNNI are dotQ4_0Q8SRef and dotQ8_0Q8SRef over
// nb ≥ 1 blocks: the weight levels made unsigned (q4_0's nibbles as they
// are, q8_0's bytes + 128) go straight into VPDPBUSD against the q8s bytes,
// and the offset (8 or 128 times q8s's Σq) comes off once per block. The
// AVX2 twins use VPMADDUBSW for q4_0 and the sign trick for q8_0 (whose
// unsigned levels would saturate VPMADDUBSW's 16-bit pairs). Per-block sums
// are exact; the float rounding order differs from the reference.
//
//go:noescape
func dotQ4_0Q8SVNNI(w, xq *byte, nb int) float32

//go:noescape
func dotQ4_0Q8SAVX2(w, xq *byte, nb int) float32

//go:noescape
func dotQ8_0Q8SVNNI(w, xq *byte, nb int) float32

//go:noescape
func dotQ8_0Q8SAVX2(w, xq *byte, nb int) float32

// dotQ4_0Q8SR4VNNI and dotQ8_0Q8SR4VNNI are dotQ4_0Q8SVNNI and
// dotQ8_0Q8SVNNI of the 4·groups weight rows w, w+rb, … against one
// activation row xq, into y[0 : 4·groups] (bit for bit the one-row
// routine's values), four rows at a time: each activation block is read
// once for the four, and a matrix is one call, not one per four rows.
//
//go:noescape
func dotQ4_0Q8SR4VNNI(w *byte, rb int, xq *byte, nb int, y *float32, groups int)

//go:noescape
func dotQ8_0Q8SR4VNNI(w *byte, rb int, xq *byte, nb int, y *float32, groups int)

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

// The K-quant dot products (quantk_amd64.s): each is the named Go reference
// (dotK with the type's levels) over nb ≥ 1 super-blocks of weights and q8_K
// activations, exact in integers, with float rounding in another order.
// The VNNI routines need AVX-512 BW/VL and VNNI, the AVX2 ones AVX2.

//go:noescape
func dotQ2_KQ8_KVNNI(w, x *byte, nb int) float32

//go:noescape
func dotQ3_KQ8_KVNNI(w, x *byte, nb int) float32

//go:noescape
func dotQ4_KQ8_KVNNI(w, x *byte, nb int) float32

//go:noescape
func dotQ5_KQ8_KVNNI(w, x *byte, nb int) float32

//go:noescape
func dotQ6_KQ8_KVNNI(w, x *byte, nb int) float32

//go:noescape
func dotQ2_KQ8_KAVX2(w, x *byte, nb int) float32

//go:noescape
func dotQ3_KQ8_KAVX2(w, x *byte, nb int) float32

//go:noescape
func dotQ4_KQ8_KAVX2(w, x *byte, nb int) float32

//go:noescape
func dotQ5_KQ8_KAVX2(w, x *byte, nb int) float32

//go:noescape
func dotQ6_KQ8_KAVX2(w, x *byte, nb int) float32

// The 32-element dot products (quant_amd64.s), each the named Go reference
// (dot32 with the type's levels) over nb ≥ 1 blocks: unsigned levels go
// straight into VPMADDUBSW / VPDPBUSD, signed ones through the sign trick of
// dotQ8_0Q8_0AVX2. The VNNI routines also use AVX-512 BW/VL byte masks.

//go:noescape
func dotQ4_1Q8_1AVX2(w, xq *byte, nb int) float32

//go:noescape
func dotQ4_1Q8_1VNNI(w, xq *byte, nb int) float32

//go:noescape
func dotQ5_0Q8_0AVX2(w, xq *byte, nb int) float32

//go:noescape
func dotQ5_0Q8_0VNNI(w, xq *byte, nb int) float32

//go:noescape
func dotQ5_1Q8_1AVX2(w, xq *byte, nb int) float32

//go:noescape
func dotQ5_1Q8_1VNNI(w, xq *byte, nb int) float32

//go:noescape
func dotIQ4NLQ8_0AVX2(w, xq *byte, nb int) float32

//go:noescape
func dotIQ4NLQ8_0VNNI(w, xq *byte, nb int) float32

// dotQ4_KQ8_Kx4VNNI is dotQ4_KQ8_KVNNI of one weight row against four
// activation rows x, x+xs, x+2·xs, x+3·xs, into out.
//
//go:noescape
func dotQ4_KQ8_Kx4VNNI(w, x *byte, xs, nb int, out *[4]float32)

// dotQ5_KQ8_Kx4VNNI and dotQ6_KQ8_Kx4VNNI are the four-row twins of
// dotQ5_KQ8_KVNNI and dotQ6_KQ8_KVNNI.
//
//go:noescape
func dotQ5_KQ8_Kx4VNNI(w, x *byte, xs, nb int, out *[4]float32)

//go:noescape
func dotQ6_KQ8_Kx4VNNI(w, x *byte, xs, nb int, out *[4]float32)

// dequantQ8_0AVX512 and dequantQ4_0AVX512 widen nb ≥ 1 blocks of q8_0 /
// q4_0 into dst (32 floats a block), bit for bit as their Go reference
// (dequant32 with levelsQ8_0 / levelsQ4_0): one conversion and one multiply
// per element.
//
//go:noescape
func dequantQ8_0AVX512(dst *float32, src *byte, nb int)

//go:noescape
func dequantQ4_0AVX512(dst *float32, src *byte, nb int)

// quantQ8SAVX512 is quantQ8SGeneric over nb ≥ 1 blocks (the same bytes:
// VCVTPS2DQ rounds half to even under Go's default MXCSR, VCVTPS2PH $0 to
// nearest even as F32ToF16).
//
//go:noescape
func quantQ8SAVX512(dst *byte, src *float32, nb int)

// quantQ8_KAVX512 is quantQ8_KGeneric over nb ≥ 1 super-blocks (the same
// bytes: VCVTPS2DQ rounds half to even as ggml's nearest_int).
//
//go:noescape
func quantQ8_KAVX512(dst *byte, src *float32, nb int)
