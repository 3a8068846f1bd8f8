//go:build amd64 && !noasm

package kernels

// AVX2+FMA routines in ops_amd64.s. Their references are the *Generic loops
// in ops_vec.go; pointers and counts are checked by the Go dispatchers.

// vecDotsAVX2: out[j] = Σ_p q[p]·k[j*ldk+p] for j < m, p < n.
//
//go:noescape
func vecDotsAVX2(out, q, k *float32, ldk, n, m int)

// vecAccRowsAVX2: y[p] += Σ_j w[j]·x[j*ldx+p] for p < n, j < m.
//
//go:noescape
func vecAccRowsAVX2(y, w, x *float32, ldx, n, m int)

// vecExpSubAVX2: x[j] = exp(x[j]-m) for j < n (n a multiple of 8, m ≥ x[j]);
// returns Σ_j x[j].
//
//go:noescape
func vecExpSubAVX2(x *float32, n int, m float32) float32

// vecSumF64AVX2: Σ_j x[j] for j < n (n a multiple of 8), in float64.
//
//go:noescape
func vecSumF64AVX2(x *float32, n int) float64

// vecSqDevF64AVX2: Σ_j (x[j]−mean)² for j < n (n a multiple of 8), in float64.
//
//go:noescape
func vecSqDevF64AVX2(x *float32, n int, mean float64) float64

// vecAffineAVX2: out[j] = x[j]·scale + shift for j < n (n a multiple of 8).
//
//go:noescape
func vecAffineAVX2(out, x *float32, n int, scale, shift float32)

// vecSiLUAVX2: out[j] = x[j]·sigmoid(x[j]) for j < n (n a multiple of 8).
//
//go:noescape
func vecSiLUAVX2(out, x *float32, n int)

// vecGELUErfAVX2: out[j] = 0.5·x[j]·(1 + erf(x[j]/√2)) for j < n (n a
// multiple of 8), geluErfGeneric's steps in 8 lanes.
//
//go:noescape
func vecGELUErfAVX2(out, x *float32, n int)

// vecGELUErfAVX512 is vecGELUErfAVX2 in 16 lanes (n a multiple of 16), the
// same values bit for bit.
//
//go:noescape
func vecGELUErfAVX512(out, x *float32, n int)

// vecSinCosMulAVX2: re[j] = mag[j]·cos(phase[j]), im[j] = mag[j]·sin(phase[j])
// for j < n (n a multiple of 8), sinCosMulGeneric to float32 accuracy
// (float64 argument reduction, float32 polynomials). Returns nonzero, with
// the outputs unspecified, when a |phase| > 65536 or NaN needs the reference.
//
//go:noescape
func vecSinCosMulAVX2(re, im, phase, mag *float32, n int) int

// vecTapsRowAVX2: o[p] += Σ_{j<taps} w[j·ld+p]·x[j·ld+p] for p < n (n a
// multiple of 8, n ≤ ld): vecTapsRowGeneric's loop with the taps innermost,
// eight channels at a time.
//
//go:noescape
func vecTapsRowAVX2(o, x, w *float32, ld, n, taps int)
