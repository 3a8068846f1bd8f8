//go:build !amd64 || noasm

package kernels

import "unsafe"

// Without assembly the SIMD entry points are the generic loops. The
// dispatchers never call them here (useAVX2 is false), but one set of call
// sites then compiles on every build.

func vecDotsAVX2(out, q, k *float32, ldk, n, m int) {
	vecDotsGeneric(unsafe.Slice(out, m), unsafe.Slice(q, n), unsafe.Slice(k, (m-1)*ldk+n), ldk, n, m)
}

func vecAccRowsAVX2(y, w, x *float32, ldx, n, m int) {
	vecAccRowsGeneric(unsafe.Slice(y, n), unsafe.Slice(w, m), unsafe.Slice(x, (m-1)*ldx+n), ldx, n, m)
}

func vecExpSubAVX2(x *float32, n int, m float32) float32 {
	return vecExpSubGeneric(unsafe.Slice(x, n), m)
}

func vecSumF64AVX2(x *float32, n int) float64 { return vecSumF64Generic(unsafe.Slice(x, n)) }

func vecSqDevF64AVX2(x *float32, n int, mean float64) float64 {
	return vecSqDevF64Generic(unsafe.Slice(x, n), mean)
}

func vecAffineAVX2(out, x *float32, n int, scale, shift float32) {
	vecAffineGeneric(unsafe.Slice(out, n), unsafe.Slice(x, n), scale, shift)
}

func vecSiLUAVX2(out, x *float32, n int) { siluGeneric(unsafe.Slice(out, n), unsafe.Slice(x, n)) }

func vecGELUErfAVX2(out, x *float32, n int) { geluErfGeneric(unsafe.Slice(out, n), unsafe.Slice(x, n)) }

func vecGELUErfAVX512(out, x *float32, n int) {
	geluErfGeneric(unsafe.Slice(out, n), unsafe.Slice(x, n))
}

func vecSinCosMulAVX2(re, im, phase, mag *float32, n int) int {
	sinCosMulGeneric(unsafe.Slice(re, n), unsafe.Slice(im, n), unsafe.Slice(phase, n), unsafe.Slice(mag, n))
	return 0
}

func vecTapsRowAVX2(o, x, w *float32, ld, n, taps int) {
	span := (taps-1)*ld + n
	vecTapsRowGeneric(unsafe.Slice(o, n), unsafe.Slice(x, span), unsafe.Slice(w, span), ld, 0, taps)
}
