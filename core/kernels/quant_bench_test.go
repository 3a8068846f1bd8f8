package kernels

import (
	"math/rand"
	"testing"
)

// Matvec shapes for the decode path: (n, k) = (out, in) of a weight.
var matVecQShapes = []struct {
	name string
	n, k int
}{{"4096x4096", 4096, 4096}}

// BenchmarkMatVecQ times y = W·x per storage format with the best
// implementation, beside f32 MatVecT on the same shape. Bytes/s counts the
// weight bytes read, the bound at batch 1.
func BenchmarkMatVecQ(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, s := range matVecQShapes {
		x := randSlice(r, s.k)
		y := make([]float32, s.n)
		b.Run("f32-MatVecT/"+s.name, func(b *testing.B) {
			w := randSlice(r, s.n*s.k)
			b.SetBytes(int64(4 * s.n * s.k))
			for b.Loop() {
				MatVecT(y, w, x, s.n, s.k)
			}
		})
		for _, f := range allFormats {
			w := randomWeights(b, r, f, s.n, s.k)
			b.Run(f.String()+"/"+s.name, func(b *testing.B) {
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					if err := MatVecQ(y, w, f, x, s.n, s.k); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMatMulQBatch times the batched form (8 activation rows) for q4_0.
func BenchmarkMatMulQBatch(b *testing.B) {
	r := rand.New(rand.NewSource(2))
	const m, n, k = 8, 4096, 4096
	w := randomWeights(b, r, Q4_0, n, k)
	x := randSlice(r, m*k)
	y := make([]float32, m*n)
	b.SetBytes(int64(len(w)))
	for b.Loop() {
		if err := MatMulQ(y, w, Q4_0, x, m, n, k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatMulQPrefill times a prompt's batch (128 activation rows)
// through a 2048×768 weight, the shape of a small Llama's FFN, per type with
// a packed int8 GEMM; MACs/s is reported as bytes/s of m·n·k.
func BenchmarkMatMulQPrefill(b *testing.B) {
	r := rand.New(rand.NewSource(3))
	const m, n, k = 128, 2048, 768
	x := randSlice(r, m*k)
	y := make([]float32, m*n)
	for _, f := range []DType{Q4_0, Q8_0, Q4_K, Q5_K, Q6_K} {
		w := randomWeights(b, r, f, n, k)
		b.Run(f.String(), func(b *testing.B) {
			b.SetBytes(m * n * k)
			for b.Loop() {
				if err := MatMulQ(y, w, f, x, m, n, k); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
