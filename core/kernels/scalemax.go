package kernels

import "math"

// vecScaleMax sets x[j] = x[j]·scale for every j and returns the largest
// product: one pass over an attention row's scores where the scalar loop
// took a multiply and a NaN-aware max per score (12 % of FastSpeech 2's
// decoder at one thread). As Go's max it returns NaN when any product is
// NaN and −Inf for an empty x; the SIMD routine may return −0 where the
// loop returns +0 (they compare equal and subtract alike). With the result
// ignored it is a vector x *= scale, rounded as the loop's multiply.
func vecScaleMax(x []float32, scale float32) float32 {
	mx := float32(math.Inf(-1))
	if n8 := len(x) &^ 7; useAVX2 && n8 > 0 {
		mx = vecScaleMaxAVX2(&x[0], n8, scale)
		x = x[n8:]
	}
	return max(mx, vecScaleMaxGeneric(x, scale))
}

func vecScaleMaxGeneric(x []float32, scale float32) float32 {
	mx := float32(math.Inf(-1))
	for j, v := range x {
		v *= scale
		x[j] = v
		mx = max(mx, v)
	}
	return mx
}
