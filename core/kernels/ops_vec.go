package kernels

// Small vector kernels shared by attention, norms and activations. Each
// dispatches on the implementation selector (impl.go); the *Generic body is
// the reference every SIMD routine is tested against (ops_vec_test.go).

import "math"

// vecDots sets out[j] = dot(q[:n], k[j*ldk : j*ldk+n]) for j < m: one query
// row against m key rows of a strided (seq, heads·head_dim) cache.
func vecDots(out, q, k []float32, ldk, n, m int) {
	if m <= 0 {
		return
	}
	_ = out[m-1]
	_ = q[n-1]
	_ = k[(m-1)*ldk+n-1]
	if useAVX512 && n%16 == 0 {
		// Four keys per pass of the f32 GEMV kernel (16-lane FMAs, one
		// transposed reduction for the four): a decode step's scores.
		gemvRows(out[:m], q[:n], k, ldk, n, 0, 0, m)
		return
	}
	if useAVX2 {
		vecDotsAVX2(&out[0], &q[0], &k[0], ldk, n, m)
		return
	}
	vecDotsGeneric(out, q, k, ldk, n, m)
}

// vecAccRows adds Σ_j w[j]·x[j*ldx : j*ldx+n] (j < m) to y[:n]: the P·V step
// of attention, one output row at a time with the row kept in registers.
func vecAccRows(y, w, x []float32, ldx, n, m int) {
	if m <= 0 || n <= 0 {
		return
	}
	_ = y[n-1]
	_ = w[m-1]
	_ = x[(m-1)*ldx+n-1]
	if useAVX2 {
		vecAccRowsAVX2(&y[0], &w[0], &x[0], ldx, n, m)
		return
	}
	vecAccRowsGeneric(y, w, x, ldx, n, m)
}

// vecExpSub sets x[j] = exp(x[j] - m) for every j and returns their sum
// (float32 accumulation). It is the softmax numerator after the row max, so
// callers guarantee m ≥ x[j] (the SIMD routine does not saturate to +Inf);
// x[j] = -Inf gives exactly 0.
func vecExpSub(x []float32, m float32) float32 {
	var s float32
	if n8 := len(x) &^ 7; useAVX2 && n8 > 0 {
		s = vecExpSubAVX2(&x[0], n8, m)
		x = x[n8:]
	}
	return s + vecExpSubGeneric(x, m)
}

func vecDotsGeneric(out, q, k []float32, ldk, n, m int) {
	q = q[:n]
	for j := 0; j < m; j++ {
		kj := k[j*ldk : j*ldk+n]
		var s float32
		for p, qv := range q {
			s += qv * kj[p]
		}
		out[j] = s
	}
}

func vecAccRowsGeneric(y, w, x []float32, ldx, n, m int) {
	y = y[:n]
	for j := 0; j < m; j++ {
		wj := w[j]
		xj := x[j*ldx : j*ldx+n]
		for p := range y {
			y[p] += wj * xj[p]
		}
	}
}

func vecExpSubGeneric(x []float32, m float32) float32 {
	var s float32
	for j, v := range x {
		e := expf(v - m)
		x[j] = e
		s += e
	}
	return s
}

// Range of expf: below expMin the result underflows to 0 (it would be a
// float32 subnormal), above expMax it is +Inf.
const (
	expMin = -87.33654
	expMax = 88.72283
	log2e  = 1.44269504088896341
	// ln2 split in two so n·ln2Hi is exact in float32 for |n| < 256.
	ln2Hi = 0.693359375
	ln2Lo = -2.12194440e-4
)

// expf is a float32 exp accurate to about 2 ulp (relative error < 3e-7 on
// [-87, 88]): x = n·ln2 + f with |f| ≤ ln2/2, e^f by its Taylor series to
// degree 7 (truncation error |f|^8/8! < 6e-9), times 2^n built in the
// exponent bits. math.Exp works in float64 and is several times slower, and
// attention computes one exp per score.
func expf(x float32) float32 {
	switch {
	case x != x:
		return x
	case x < expMin:
		return 0
	case x > expMax:
		return float32(math.Inf(1))
	}
	// floor(x·log2e + 0.5) without math.Floor: the argument is positive.
	n := int32(x*log2e+128.5) - 128
	fn := float32(n)
	f := x - fn*ln2Hi - fn*ln2Lo
	p := float32(1.0 / 5040)
	p = p*f + 1.0/720
	p = p*f + 1.0/120
	p = p*f + 1.0/24
	p = p*f + 1.0/6
	p = p*f + 0.5
	p = p*f + 1
	p = p*f + 1
	if n > 127 { // x near expMax: 2^128 is not a float32, so split it
		return p * 2 * math.Float32frombits(uint32(127+127)<<23)
	}
	return p * math.Float32frombits(uint32(n+127)<<23)
}

// Exp is expf for callers outside the package: e^x in float32 to about
// 2 ulp, 0 below expMin, +Inf above expMax, several times faster than
// float64 math.Exp (a tower's per-channel gates and decays).
func Exp(x float32) float32 { return expf(x) }

// vecSumF64 returns Σ x[j] accumulated in float64: the mean of a norm.
func vecSumF64(x []float32) float64 {
	var s float64
	if n8 := len(x) &^ 7; useAVX2 && n8 > 0 {
		s = vecSumF64AVX2(&x[0], n8)
		x = x[n8:]
	}
	return s + vecSumF64Generic(x)
}

// vecSqDevF64 returns Σ (x[j] − mean)² accumulated in float64: the second,
// cancellation-free pass of a norm's variance.
func vecSqDevF64(x []float32, mean float64) float64 {
	var s float64
	if n8 := len(x) &^ 7; useAVX2 && n8 > 0 {
		s = vecSqDevF64AVX2(&x[0], n8, mean)
		x = x[n8:]
	}
	return s + vecSqDevF64Generic(x, mean)
}

// vecAffine sets out[j] = x[j]·scale + shift (a fused multiply-add in the
// SIMD routine). out may alias x.
func vecAffine(out, x []float32, scale, shift float32) {
	out = out[:len(x)]
	if n8 := len(x) &^ 7; useAVX2 && n8 > 0 {
		vecAffineAVX2(&out[0], &x[0], n8, scale, shift)
		out, x = out[n8:], x[n8:]
	}
	vecAffineGeneric(out, x, scale, shift)
}

func vecSumF64Generic(x []float32) float64 {
	// Four accumulators: the same precision, four independent dependency
	// chains instead of one add's latency per element.
	var s0, s1, s2, s3 float64
	n4 := len(x) &^ 3
	for i := 0; i < n4; i += 4 {
		v := x[i : i+4 : i+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for _, v := range x[n4:] {
		s0 += float64(v)
	}
	return s0 + s1 + s2 + s3
}

func vecSqDevF64Generic(x []float32, mean float64) float64 {
	var s0, s1, s2, s3 float64
	n4 := len(x) &^ 3
	for i := 0; i < n4; i += 4 {
		v := x[i : i+4 : i+4]
		d0, d1, d2, d3 := float64(v[0])-mean, float64(v[1])-mean, float64(v[2])-mean, float64(v[3])-mean
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for _, v := range x[n4:] {
		d := float64(v) - mean
		s0 += d * d
	}
	return s0 + s1 + s2 + s3
}

func vecAffineGeneric(out, x []float32, scale, shift float32) {
	out = out[:len(x)]
	for i, v := range x {
		out[i] = v*scale + shift
	}
}
