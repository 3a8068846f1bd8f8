//go:build !amd64 || noasm

package kernels

import "unsafe"

// Without assembly the dispatch never selects these (useAVX2 and useAVX512
// stay false); they exist so the dtype table and quant_dispatch.go build
// everywhere, and each is its Go reference.
const (
	hasF16C = false
	hasVNNI = false
	hasVBMI = false
)

var (
	dotQ8_0Q8SAVX2, dotQ8_0Q8SVNNI     = dotQ8_0Q8SRef, dotQ8_0Q8SRef
	dotQ4_0Q8SAVX2, dotQ4_0Q8SVNNI     = dotQ4_0Q8SRef, dotQ4_0Q8SRef
	dotQ4_1Q8_1AVX2, dotQ4_1Q8_1VNNI   = dotQ4_1Q8_1Ref, dotQ4_1Q8_1Ref
	dotQ5_0Q8_0AVX2, dotQ5_0Q8_0VNNI   = dotQ5_0Q8_0Ref, dotQ5_0Q8_0Ref
	dotQ5_1Q8_1AVX2, dotQ5_1Q8_1VNNI   = dotQ5_1Q8_1Ref, dotQ5_1Q8_1Ref
	dotIQ4NLQ8_0AVX2, dotIQ4NLQ8_0VNNI = dotIQ4NLQ8_0Ref, dotIQ4NLQ8_0Ref
	dotQ2_KQ8_KAVX2, dotQ2_KQ8_KVNNI   = dotQ2_KQ8_KRef, dotQ2_KQ8_KRef
	dotQ3_KQ8_KAVX2, dotQ3_KQ8_KVNNI   = dotQ3_KQ8_KRef, dotQ3_KQ8_KRef
	dotQ4_KQ8_KAVX2, dotQ4_KQ8_KVNNI   = dotQ4_KQ8_KRef, dotQ4_KQ8_KRef
	dotQ5_KQ8_KAVX2, dotQ5_KQ8_KVNNI   = dotQ5_KQ8_KRef, dotQ5_KQ8_KRef
	dotQ6_KQ8_KAVX2, dotQ6_KQ8_KVNNI   = dotQ6_KQ8_KRef, dotQ6_KQ8_KRef

	// Never chosen: hasVNNI is false.
	dotQ4_KQ8_Kx4VNNI, dotQ5_KQ8_Kx4VNNI, dotQ6_KQ8_Kx4VNNI quantDot4
	dotQ4_0Q8SR4VNNI, dotQ8_0Q8SR4VNNI                      quantRows4
)

func dequantQ8_0AVX512(dst *float32, src *byte, nb int) {
	dequant32(levelsQ8_0, Q8_0Bytes)(unsafe.Slice(dst, nb*qk32), bytesAt(src, nb*Q8_0Bytes))
}

func dequantQ4_0AVX512(dst *float32, src *byte, nb int) {
	dequant32(levelsQ4_0, Q4_0Bytes)(unsafe.Slice(dst, nb*qk32), bytesAt(src, nb*Q4_0Bytes))
}

func quantQ8SAVX512(dst *byte, src *float32, nb int) {
	quantQ8SGeneric(bytesAt(dst, nb*Q8SBytes), unsafe.Slice(src, nb*qk32))
}

func quantQ8_KAVX512(dst *byte, src *float32, nb int) {
	quantQ8_KGeneric(bytesAt(dst, nb*Q8_KBytes), unsafe.Slice(src, nb*QKK))
}

func dotF16AVX2(w *byte, x *float32, n int) float32 {
	return dotF16Generic(bytesAt(w, 2*n), unsafe.Slice(x, n))
}

func dotF16AVX512(w *byte, x *float32, n int) float32 { return dotF16AVX2(w, x, n) }

func dotBF16AVX2(w *byte, x *float32, n int) float32 {
	return dotBF16Generic(bytesAt(w, 2*n), unsafe.Slice(x, n))
}

func dotBF16AVX512(w *byte, x *float32, n int) float32 { return dotBF16AVX2(w, x, n) }

func f16ToF32AVX2(dst *float32, src *byte, n int) {
	f16RowToF32Generic(unsafe.Slice(dst, n), bytesAt(src, 2*n))
}

func f32ToF16AVX2(dst *byte, src *float32, n int) {
	f32RowToF16Generic(bytesAt(dst, 2*n), unsafe.Slice(src, n))
}

// Never chosen without assembly (qgemmFor needs VNNI); they exist so the
// table of packed GEMMs builds.
var (
	packQ8_0x16, packQ4_0x16, packQ4_Kx16, packQ5_Kx16, packQ6_Kx16                     func(dst, w *byte, rb, nb, rows int)
	packQ8_0x16Full, packQ4_0x16Full, packQ4_Kx16Full, packQ5_Kx16Full, packQ6_Kx16Full func(dst, w *byte, rb, nb, rows int)

	qgemmQ4_0x8VNNI, qgemmQ8_0x8VNNI, qgemmK8x8VNNI, qgemmK16x8VNNI func(p, x *byte, xs, nb int, out *[qgActRows * qgRows]float32)
)
