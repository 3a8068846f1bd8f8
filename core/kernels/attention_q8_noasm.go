//go:build !amd64 || noasm

package kernels

import "unsafe"

// Without assembly the q8_0 attention entry points are the reference loops
// (never chosen by the dispatchers here: useAVX512 is false).

func dotsQ8x4AVX512(k int, x *float32, w *int8, d *uint16, ldw int, out *[4]float32) {
	n := 3*ldw + k
	c := kvQ8{qs: unsafe.Slice(w, n), d: unsafe.Slice(d, n/KVQ8Block)}
	vecDotsQ8Generic(out[:], unsafe.Slice(x, k), &c, 0, ldw, k, 4)
}

func vecAccRowsQ8AVX512(y, w *float32, x *int8, d *uint16, ldx, n, m int) {
	l := (m-1)*ldx + n
	c := kvQ8{qs: unsafe.Slice(x, l), d: unsafe.Slice(d, l/KVQ8Block)}
	vecAccRowsQ8Generic(unsafe.Slice(y, n), unsafe.Slice(w, m), &c, 0, ldx, n, m)
}

func q8RowsToF32AVX512(dst *float32, src *int8, d *uint16, ld, n, m int) {
	l := (m-1)*ld + n
	c := kvQ8{qs: unsafe.Slice(src, l), d: unsafe.Slice(d, l/KVQ8Block)}
	q8RowsToF32Generic(unsafe.Slice(dst, m*n), &c, 0, ld, n, m)
}
