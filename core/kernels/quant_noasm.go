//go:build !amd64 || noasm

package kernels

import "unsafe"

// Without assembly the quant dispatch never selects these (useAVX2 and
// useAVX512 stay false); they exist so quant_dispatch.go builds everywhere,
// and each is its Go reference loop.
const (
	hasF16C = false
	hasVNNI = false
)

func dotQ8_0Q8_0AVX2(w, xq *byte, nb int) float32 {
	return dotQ8_0Q8_0Generic(bytesAt(w, nb*Q8_0Bytes), bytesAt(xq, nb*Q8_0Bytes), nb)
}

func dotQ8_0Q8_0VNNI(w, xq *byte, nb int) float32 { return dotQ8_0Q8_0AVX2(w, xq, nb) }

func dotQ4_0Q8_0AVX2(w, xq *byte, nb int) float32 {
	return dotQ4_0Q8_0Generic(bytesAt(w, nb*Q4_0Bytes), bytesAt(xq, nb*Q8_0Bytes), nb)
}

func dotQ4_0Q8_0VNNI(w, xq *byte, nb int) float32 { return dotQ4_0Q8_0AVX2(w, xq, nb) }

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
