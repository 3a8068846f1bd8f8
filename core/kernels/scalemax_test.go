package kernels

import (
	"math"
	"math/rand"
	"testing"
)

// TestVecScaleMax: every implementation scales exactly as x·scale in
// float32 and returns the largest product, on lengths with and without
// vector tails, with −Inf scores, an all-negative row, a NaN anywhere (the
// result is NaN) and the empty row (−Inf); NaN guards catch stray writes.
func TestVecScaleMax(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	negInf := float32(math.Inf(-1))
	for _, n := range []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 33, 64, 100, 128, 257} {
		for _, c := range []string{"random", "negative", "nan"} {
			x := randSlice(r, n)
			switch c {
			case "negative":
				for i := range x {
					x[i] = -1 - float32(math.Abs(float64(x[i])))
				}
				if n > 2 {
					x[n/3] = negInf
				}
			case "nan":
				if n == 0 {
					continue
				}
				x[r.Intn(n)] = float32(math.NaN())
			}
			scale := float32(0.125) + float32(r.Float64())
			// The reference: Go's multiply and max, element by element.
			want, wantMax := make([]float32, n), negInf
			for i, v := range x {
				want[i] = v * scale
				wantMax = max(wantMax, want[i])
			}
			if g := vecScaleMaxGeneric(append([]float32(nil), x...), scale); !sameMax(g, wantMax) {
				t.Fatalf("generic n=%d %s: max %v, want %v", n, c, g, wantMax)
			}
			for _, impl := range impls() {
				withImpl(t, impl, func() {
					got, full := guarded(n)
					copy(got, x)
					m := vecScaleMax(got, scale)
					checkGuards(t, full, n)
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s n=%d %s: x[%d] = %v, want %v", impl, n, c, i, got[i], want[i])
						}
					}
					if !sameMax(m, wantMax) {
						t.Fatalf("%s n=%d %s: max %v, want %v", impl, n, c, m, wantMax)
					}
				})
			}
		}
	}
}

// sameMax: equal (±0 alike) or both NaN.
func sameMax(a, b float32) bool { return a == b || (a != a && b != b) }
