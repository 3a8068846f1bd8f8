package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// Tolerances (normalised MSE) for the vector kernels against their generic
// twins: only the summation order differs, so float32 rounding is all.
const (
	tolVecDot = 1e-11
	tolVecExp = 1e-12
)

func TestVecDotsAccRows(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{1, 3, 7, 8, 9, 31, 32, 33, 63, 64, 65, 80, 127, 128, 200} {
		for _, m := range []int{1, 2, 5, 17} {
			ld := n + 3
			q := randSlice(r, n)
			k := randSlice(r, (m-1)*ld+n)
			w := randSlice(r, m)
			y0 := randSlice(r, n)
			wantD := make([]float32, m)
			vecDotsGeneric(wantD, q, k, ld, n, m)
			wantA := append([]float32(nil), y0...)
			vecAccRowsGeneric(wantA, w, k, ld, n, m)
			// The generic loops themselves against float64 sums.
			for j := 0; j < m; j++ {
				var s float64
				for c := 0; c < n; c++ {
					s += float64(q[c]) * float64(k[j*ld+c])
				}
				if math.Abs(s-float64(wantD[j])) > 1e-5*float64(n) {
					t.Fatalf("vecDotsGeneric n=%d row %d: %v, want %v", n, j, wantD[j], s)
				}
			}
			for _, impl := range impls() {
				withImpl(t, impl, func() {
					got, full := guarded(m)
					vecDots(got, q, k, ld, n, m)
					checkGuards(t, full, m)
					assertNMSE(t, impl+" vecDots", got, wantD, tolVecDot)
					acc, fullA := guarded(n)
					copy(acc, y0)
					vecAccRows(acc, w, k, ld, n, m)
					checkGuards(t, fullA, n)
					assertNMSE(t, impl+" vecAccRows", acc, wantA, tolVecDot)
				})
			}
		}
	}
}

func TestExpf(t *testing.T) {
	// Dense sweep of the range softmax uses, then the edges.
	worst := 0.0
	for x := float32(-87); x < 88; x += 0.00137 {
		got, want := float64(expf(x)), math.Exp(float64(x))
		if e := math.Abs(got-want) / want; e > worst {
			worst = e
		}
	}
	if worst > 4e-7 {
		t.Fatalf("expf worst relative error %.3g > 4e-7", worst)
	}
	if v := expf(float32(math.Inf(-1))); v != 0 {
		t.Fatalf("expf(-Inf) = %v", v)
	}
	if v := expf(-100); v != 0 {
		t.Fatalf("expf(-100) = %v", v)
	}
	if v := expf(100); !math.IsInf(float64(v), 1) {
		t.Fatalf("expf(100) = %v", v)
	}
	if v := expf(88.7); math.IsInf(float64(v), 0) || math.Abs(float64(v)/math.Exp(float64(float32(88.7)))-1) > 1e-6 {
		t.Fatalf("expf(88.7) = %v", v)
	}
	if v := expf(float32(math.NaN())); v == v {
		t.Fatalf("expf(NaN) = %v", v)
	}
}

func TestVecExpSub(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, n := range []int{3, 7, 8, 9, 16, 33, 100, 257} {
		x := randSlice(r, n)
		for i := range x {
			x[i] *= 40
		}
		x[n/2] = float32(math.Inf(-1))
		x[0] = -95 // below expMin after subtracting the max: exactly 0
		x[n-1] = 10
		mx := float32(math.Inf(-1))
		for _, v := range x {
			mx = max(mx, v)
		}
		want := append([]float32(nil), x...)
		wantSum := vecExpSubGeneric(want, mx)
		for i, v := range x {
			if e := math.Exp(float64(v - mx)); math.Abs(float64(want[i])-e) > 4e-7*e+1e-37 {
				t.Fatalf("generic exp(%v) = %v, want %v", v-mx, want[i], e)
			}
		}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				got, full := guarded(n)
				copy(got, x)
				s := vecExpSub(got, mx)
				checkGuards(t, full, n)
				assertNMSE(t, impl+" vecExpSub", got, want, tolVecExp)
				if math.Abs(float64(s-wantSum)) > 1e-5*float64(wantSum) {
					t.Fatalf("%s vecExpSub sum %v, want %v", impl, s, wantSum)
				}
				if got[n/2] != 0 || got[0] != 0 {
					t.Fatalf("%s vecExpSub: exp(-Inf)=%v exp(-95-m)=%v, want 0", impl, got[n/2], got[0])
				}
			})
		}
	}
}

// TestVecNormKernels checks the norm statistics and the affine pass against
// float64 sums and scalar loops, on every implementation, tails included.
func TestVecNormKernels(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 257, 4099} {
		x := randSlice(r, n)
		for i := range x {
			x[i] = x[i]*3 + 50 // an offset mean, as activations have
		}
		var sum float64
		for _, v := range x {
			sum += float64(v)
		}
		mean := sum / float64(n)
		var sq float64
		for _, v := range x {
			sq += (float64(v) - mean) * (float64(v) - mean)
		}
		scale, shift := float32(0.7), float32(-1.25)
		want := make([]float32, n)
		for i, v := range x {
			want[i] = v*scale + shift
		}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				if got := vecSumF64(x); math.Abs(got-sum) > 1e-12*math.Abs(sum)*float64(n) {
					t.Fatalf("%s vecSumF64 n=%d: %v, want %v", impl, n, got, sum)
				}
				if got := vecSqDevF64(x, mean); math.Abs(got-sq) > 1e-12*sq*float64(n)+1e-300 {
					t.Fatalf("%s vecSqDevF64 n=%d: %v, want %v", impl, n, got, sq)
				}
				got, full := guarded(n)
				vecAffine(got, x, scale, shift)
				checkGuards(t, full, n)
				assertNMSE(t, impl+" vecAffine", got, want, tolVecDot)
				// In place.
				in := append([]float32(nil), x...)
				vecAffine(in, in, scale, shift)
				assertNMSE(t, impl+" vecAffine in place", in, want, tolVecDot)
			})
		}
	}
}

// geluInputs returns 4,096 GELU test values: random ones scaled by 1 … scale
// in turn, led by the specials (signed zeros, infinities, NaN, saturation
// at ±13.3, subnormals).
func geluInputs(seed int64, scale int) []float32 {
	r := rand.New(rand.NewSource(seed))
	x := randSlice(r, 4096)
	for i := range x {
		x[i] *= float32(1 + i%scale)
	}
	inf := float32(math.Inf(1))
	copy(x, []float32{0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()), 1e30, -1e30, -13.3, 13.3, -5, 5, 1e-20,
		-1e-20, 1e-40, -1e-40, 13.2, -13.2, 0.5, -0.5})
	return x
}

// TestVecGELUErf checks the 8-lane GELU against its reference loop
// (geluErfGeneric) value by value: the FMAs of the polynomial round
// differently, nothing else may. Specials: ±0, ±Inf, NaN, saturation.
func TestVecGELUErf(t *testing.T) {
	if !hasAVX2FMA {
		t.Skip("no AVX2+FMA, or -tags noasm: vecGELUErfAVX2 is the reference loop itself")
	}
	x := geluInputs(8, 13)
	want, got := make([]float32, len(x)), make([]float32, len(x))
	geluErfGeneric(want, x)
	vecGELUErfAVX2(&got[0], &x[0], len(x))
	for i := range x {
		w, g := float64(want[i]), float64(got[i])
		if math.IsNaN(w) != math.IsNaN(g) || math.Signbit(w) != math.Signbit(g) || math.Abs(w-g) > 2e-7*max(1, math.Abs(w)) {
			t.Fatalf("gelu_erf(%v): vector %v, reference %v", x[i], g, w)
		}
	}
}

// TestVecGELUErf16 checks the 16-lane GELU against the 8-lane one bit for
// bit (the same steps, each rounded the same), specials included, and
// GELUErf's split of a slice into 16-lane, 8-lane and scalar parts against
// the reference loop for every length up to 70, with guard bands.
func TestVecGELUErf16(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512, or -tags noasm: vecGELUErfAVX512 is the reference loop itself")
	}
	x := geluInputs(18, 17)
	want, got := make([]float32, len(x)), make([]float32, len(x))
	vecGELUErfAVX2(&want[0], &x[0], len(x))
	vecGELUErfAVX512(&got[0], &x[0], len(x))
	for i := range x {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("gelu_erf(%v): 16 lanes %v, 8 lanes %v", x[i], got[i], want[i])
		}
	}
	withImpl(t, ImplAVX512, func() {
		for n := 1; n <= 70; n++ {
			ref := make([]float32, n)
			geluErfGeneric(ref, x[:n])
			out, full := guarded(n)
			if err := GELUErf(out, x[:n]); err != nil {
				t.Fatal(err)
			}
			checkGuards(t, full, n)
			for i := range ref {
				w, g := float64(ref[i]), float64(out[i])
				if math.IsNaN(w) != math.IsNaN(g) || math.Signbit(w) != math.Signbit(g) || math.Abs(w-g) > 2e-7*max(1, math.Abs(w)) {
					t.Fatalf("n %d: gelu_erf(%v) = %v, reference %v", n, x[i], g, w)
				}
			}
		}
	})
}

// TestPolarExp checks PolarExp against float64 math on every implementation
// (phases from tiny to the 65536 limit, beyond it and NaN through the
// reference; magnitudes clipped at magMax or underflowing), and the 8-lane
// rotation against its reference loop value by value.
func TestPolarExp(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, n := range []int{1, 7, 8, 9, 31, 256, 257, 1000, 20001} {
		lm, ph := randSlice(r, n), randSlice(r, n)
		for i := range lm {
			lm[i] = lm[i]*6 - 2
			ph[i] *= float32([]float64{1, 10, 1e3, 6e4}[i%4])
		}
		if n > 300 {
			lm[3], lm[4], ph[5], ph[6], ph[7] = 120, -200, 1e6, -70000, float32(math.Pi/4)
		}
		want := [2][]float32{make([]float32, n), make([]float32, n)}
		for i := range lm {
			m := math.Min(math.Exp(float64(lm[i])), 100)
			s, c := math.Sincos(float64(ph[i]))
			want[0][i], want[1][i] = float32(m*c), float32(m*s)
		}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				re, fre := guarded(n)
				im, fim := guarded(n)
				if err := PolarExp(re, im, lm, ph, 100); err != nil {
					t.Fatal(err)
				}
				checkGuards(t, fre, n)
				checkGuards(t, fim, n)
				for k, got := range [][]float32{re, im} {
					for i, w := range want[k] {
						if d := math.Abs(float64(got[i] - w)); !(d <= 1e-6*math.Min(math.Exp(float64(lm[i])), 100)+1e-30) {
							t.Fatalf("%s n=%d part %d: polar(%v, %v) = %v, want %v", impl, n, k, lm[i], ph[i], got[i], w)
						}
					}
				}
			})
		}
	}
	if err := PolarExp(make([]float32, 3), make([]float32, 4), make([]float32, 4), make([]float32, 4), 100); err == nil {
		t.Fatal("short re accepted")
	}
	if !hasAVX2FMA {
		return
	}
	ph, mag := randSlice(r, 4096), randSlice(r, 4096)
	for i := range ph {
		ph[i] *= 65536
		mag[i] = 1 + mag[i]
	}
	want, got := [2][]float32{make([]float32, 4096), make([]float32, 4096)}, [2][]float32{make([]float32, 4096), make([]float32, 4096)}
	sinCosMulGeneric(want[0], want[1], ph, mag)
	if vecSinCosMulAVX2(&got[0][0], &got[1][0], &ph[0], &mag[0], 4096) != 0 {
		t.Fatal("phases within ±65536 reported out of range")
	}
	for k := range got {
		for i := range ph {
			if d := math.Abs(float64(got[k][i] - want[k][i])); d > 3e-7*float64(mag[i]) {
				t.Fatalf("part %d: vector rotation of %v by %v = %v, reference %v", k, mag[i], ph[i], got[k][i], want[k][i])
			}
		}
	}
	ph[100] = float32(math.NaN())
	if vecSinCosMulAVX2(&got[0][0], &got[1][0], &ph[0], &mag[0], 4096) == 0 {
		t.Fatal("a NaN phase not reported")
	}
}

// TestAddBiasExact: AddBias through the vector row kernel equals the plain
// add bit for bit, at widths off the 8-lane width.
func TestAddBiasExact(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, dim := range []int{1, 5, 8, 13, 64, 191} {
		rows := 7
		x, bias := randSlice(r, rows*dim), randSlice(r, dim)
		want := append([]float32(nil), x...)
		for i := range want {
			want[i] += bias[i%dim]
		}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				got := append([]float32(nil), x...)
				if err := AddBias(got, bias, rows, dim); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s dim %d: [%d] = %v, want %v", impl, dim, i, got[i], want[i])
					}
				}
			})
		}
	}
}

// vecNormAffine's SIMD routine against its generic twin, bit for bit, on
// lengths around the 8-lane step and in place.
func TestVecNormAffine(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, n := range []int{1, 7, 8, 9, 16, 31, 32, 33, 64, 65, 200} {
		x, w, b := randSlice(r, n), randSlice(r, n), randSlice(r, n)
		m, iv := r.Float32()-0.5, 0.5+r.Float32()
		want := make([]float32, n)
		vecNormAffineGeneric(want, x, w, b, m, iv)
		for i, v := range x {
			if e := ((v-m)*iv)*w[i] + b[i]; want[i] != e {
				t.Fatalf("generic n=%d elem %d: %v, want %v", n, i, want[i], e)
			}
		}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				got, full := guarded(n)
				vecNormAffine(got, x, w, b, m, iv)
				checkGuards(t, full, n)
				in := append([]float32(nil), x...)
				vecNormAffine(in, in, w, b, m, iv)
				for i := range want {
					if got[i] != want[i] || in[i] != want[i] {
						t.Fatalf("%s n=%d elem %d: %v (in place %v), want %v", impl, n, i, got[i], in[i], want[i])
					}
				}
			})
		}
	}
}

// LayerNorm over a motion module's tokens: 4,096 rows of 32 channels (16
// frames × 256 pixels) and 1,024 of 64.
func BenchmarkLayerNormTokens(b *testing.B) {
	for _, s := range []struct{ rows, dim int }{{4096, 32}, {1024, 64}} {
		b.Run(fmt.Sprintf("%dx%d", s.rows, s.dim), func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			x, w, bias := randSlice(r, s.rows*s.dim), randSlice(r, s.dim), randSlice(r, s.dim)
			out := make([]float32, len(x))
			for b.Loop() {
				if err := LayerNorm(out, x, w, bias, s.rows, s.dim, 1e-5); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGELUErf runs GELUErf over a Vocos ConvNeXt block's hidden rows
// (354 frames × 576) on each implementation, reporting CPU ns per value.
func BenchmarkGELUErf(b *testing.B) {
	r := rand.New(rand.NewSource(19))
	x := randSlice(r, 354*576)
	out := make([]float32, len(x))
	for _, impl := range impls() {
		b.Run(impl, func(b *testing.B) {
			withImpl(b, impl, func() {
				cpu0 := ProcessCPU()
				for i := 0; i < b.N; i++ {
					if err := GELUErf(out, x); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64((ProcessCPU()-cpu0).Nanoseconds())/float64(b.N*len(x)), "cpu_ns/value")
			})
		})
	}
}
