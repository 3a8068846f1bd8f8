//go:build !amd64 || noasm

package kernels

import "unsafe"

// Without assembly the half-precision attention entry points are the
// reference loops (never chosen by the dispatchers here: useAVX2 is false).

func dotsF16x4AVX512(k int, x *float32, w *uint16, ldw int, out *[4]float32) {
	vecDotsF16Generic(out[:], unsafe.Slice(x, k), unsafe.Slice(w, 3*ldw+k), ldw, k, 4)
}

func vecAccRowsF16AVX2(y, w *float32, x *uint16, ldx, n, m int) {
	vecAccRowsF16Generic(unsafe.Slice(y, n), unsafe.Slice(w, m), unsafe.Slice(x, (m-1)*ldx+n), ldx, n, m)
}

func f16RowsToF32AVX512(dst *float32, src *uint16, ld, n, m int) {
	f16RowsToF32Generic(unsafe.Slice(dst, m*n), unsafe.Slice(src, (m-1)*ld+n), ld, n, m)
}
