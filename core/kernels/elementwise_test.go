package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// TestAddMulRows checks Add and Mul on every implementation against their
// reference loops bit for bit: every length 0–70 and a few long ones
// (tails of the 32- and 8-float steps), out a fresh slice with guard
// bands, a itself or b itself, with NaN, infinities and signed zeros
// among the values.
func TestAddMulRows(t *testing.T) {
	r := rand.New(rand.NewSource(20))
	inf := float32(math.Inf(1))
	specials := []float32{float32(math.NaN()), inf, -inf, 0, float32(math.Copysign(0, -1)), 1e-40, 3e38}
	lengths := []int{257, 1000, 4096 + 13}
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for _, n := range lengths {
				a, b := randSlice(r, n), randSlice(r, n)
				for i := range a {
					if r.Intn(9) == 0 {
						a[i] = specials[r.Intn(len(specials))]
					}
					if r.Intn(9) == 0 {
						b[i] = specials[r.Intn(len(specials))]
					}
				}
				for _, op := range []struct {
					name string
					f    func(out, a, b []float32) error
					ref  func(out, a, b []float32)
				}{{"add", Add, vecAddGeneric}, {"mul", Mul, vecMulGeneric}} {
					want := make([]float32, n)
					op.ref(want, a, b)
					got, full := guarded(n)
					if err := op.f(got, a, b); err != nil {
						t.Fatal(err)
					}
					checkGuards(t, full, n)
					inA, inB := append([]float32(nil), a...), append([]float32(nil), b...)
					if err := op.f(inA, inA, b); err != nil {
						t.Fatal(err)
					}
					if err := op.f(inB, a, inB); err != nil {
						t.Fatal(err)
					}
					for i := range want {
						for _, g := range []struct {
							how string
							v   float32
						}{{"fresh out", got[i]}, {"out = a", inA[i]}, {"out = b", inB[i]}} {
							if math.Float32bits(g.v) != math.Float32bits(want[i]) {
								t.Fatalf("%s %s n %d [%d]: %v %v %v = %v, loop %v", impl, g.how, n, i, a[i], op.name, b[i], g.v, want[i])
							}
						}
					}
				}
			}
		})
	}
}

// BenchmarkAddRows adds two motion-module token blocks (4,096 rows × 32 and
// × 64 channels) on each implementation, reporting CPU ns per value.
func BenchmarkAddRows(b *testing.B) {
	r := rand.New(rand.NewSource(21))
	for _, n := range []int{4096 * 32, 4096 * 64} {
		x, y := randSlice(r, n), randSlice(r, n)
		for _, impl := range impls() {
			b.Run(fmt.Sprintf("%d/%s", n, impl), func(b *testing.B) {
				withImpl(b, impl, func() {
					cpu0 := ProcessCPU()
					for i := 0; i < b.N; i++ {
						if err := Add(x, x, y); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64((ProcessCPU()-cpu0).Nanoseconds())/float64(b.N*n), "cpu_ns/value")
				})
			})
		}
	}
}
