package kernels

import (
	"math/rand"
	"testing"
)

// gemmBenchShapes names the shapes Loom cares about: the square headline,
// the linear layers of a tiny Llama (dim 64, hidden 172, vocab 512) at a
// 64-token prefill, and the batch-1 decode GEMVs of a 4096-wide model.
var gemmBenchShapes = []struct {
	name    string
	m, n, k int
}{
	{"square1024", 1024, 1024, 1024},
	{"square256", 256, 256, 256},
	{"tiny_qkv_64x64x64", 64, 64, 64},
	{"tiny_ffn_up_64x172x64", 64, 172, 64},
	{"tiny_ffn_down_64x64x172", 64, 64, 172},
	{"tiny_logits_64x512x64", 64, 512, 64},
	{"prefill_128x4096x4096", 128, 4096, 4096},
	{"gemv_1x4096x4096", 1, 4096, 4096},
	{"gemv_1x11008x4096", 1, 11008, 4096},
}

// BenchmarkGemm runs every shape as A·B ("nn") and A·Wᵀ ("nt") with the
// best implementation and reports GFLOP/s.
func BenchmarkGemm(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, s := range gemmBenchShapes {
		if testing.Short() && s.m*s.n*s.k > 1<<26 {
			continue
		}
		a := randSlice(r, s.m*s.k)
		w := randSlice(r, s.k*s.n)
		c := make([]float32, s.m*s.n)
		for _, trans := range []bool{false, true} {
			name := s.name + "/nn"
			if trans {
				name = s.name + "/nt"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(4 * (s.m*s.k + s.k*s.n + s.m*s.n)))
				for b.Loop() {
					if trans {
						GemmT(s.m, s.n, s.k, a, s.k, w, s.k, 0, c, s.n)
					} else {
						Gemm(s.m, s.n, s.k, a, s.k, w, s.n, 0, c, s.n)
					}
				}
				b.ReportMetric(gemmFlops(s.m, s.n, s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkGemmImpl compares the implementations on the 256³ square.
func BenchmarkGemmImpl(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	const n = 256
	a, w, c := randSlice(r, n*n), randSlice(r, n*n), make([]float32, n*n)
	for _, impl := range impls() {
		b.Run(impl, func(b *testing.B) {
			withImpl(b, impl, func() {
				for b.Loop() {
					Gemm(n, n, n, a, n, w, n, 0, c, n)
				}
				b.ReportMetric(gemmFlops(n, n, n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		})
	}
}

// BenchmarkGemvDecode streams the f32 weights of four blocks of
// llama134m (dim 768, hidden 2048: q, k, v, o, gate, up, down; 113 MB, past
// any cache) through one GEMV each, as a decode step does, and reports the
// weights' GB/s. Rows start 32 bytes into a cache line ("off32", where GGUF's
// 32-byte alignment puts llama134m-f32's tensors) or on one ("off0");
// "four_rows" is gemvRows, which decode used before the one-row kernel
// (docs/BENCHMARKS.md, "f32 decode: split loads").
func BenchmarkGemvDecode(b *testing.B) {
	type mat struct{ off, n, k int }
	var mats []mat
	total := 0
	for range 4 {
		for _, s := range [][2]int{{768, 768}, {768, 768}, {768, 768}, {768, 768}, {2048, 768}, {2048, 768}, {768, 2048}} {
			mats = append(mats, mat{total, s[0], s[1]})
			total += s[0] * s[1]
		}
	}
	r := rand.New(rand.NewSource(1))
	buf, _ := alignedTestFloats(total + 8)
	for i := range buf {
		buf[i] = 2*r.Float32() - 1
	}
	x, y := randSlice(r, 2048), make([]float32, 2048)
	for _, c := range []struct {
		name     string
		off      int
		fourRows bool
	}{{"one_row/off32", 8, false}, {"one_row/off0", 0, false}, {"four_rows/off32", 8, true}, {"four_rows/off0", 0, true}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(4 * total))
			for b.Loop() {
				for _, m := range mats {
					w := buf[c.off+m.off : c.off+m.off+m.n*m.k]
					if c.fourRows {
						gemvRows(y, x, w, m.k, m.k, 0, 0, m.n)
					} else {
						MatVecT(y[:m.n], w, x[:m.k], m.n, m.k)
					}
				}
			}
		})
	}
}
