package kernels

import (
	"math"
	"math/rand"
	"testing"
)

// MatVecMany gives each part exactly what MatVecT (f32) or MatVecQ (the
// others) gives it alone — the same kernels over the same rows — for every
// implementation, 1 and 3 threads, part sizes that split a four-row quad
// and a pool chunk, mixed activation types (q8s, q8_K, q8_1, f32 dots) in
// one group, some parts with their own activation, outputs inside NaN
// guard bands.
func TestMatVecManyMatchesParts(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	defer SetThreads(Default().Threads())
	const k = 512 // a multiple of every block size, q8_K's 256 included
	types := []DType{F32, Q4_0, Q8_0, Q4_K, Q6_K, Q4_1, F16, F32, Q5_K}
	sizes := []int{1, 5, 16, 37, 300, 129, 2, 64, 17}
	x, own := randSlice(r, k), randSlice(r, k) // own: every third part's X
	parts := make([]MatVecPart, len(types))
	fulls := make([][]float32, len(types))
	for i, d := range types {
		n := sizes[i]
		parts[i].N, parts[i].Type = n, d
		if i%3 == 1 {
			parts[i].X = own
		}
		if d == F32 {
			parts[i].F32 = randSlice(r, n*k)
		} else {
			parts[i].Data = randomWeights(t, r, d, n, k)
		}
	}
	for _, threads := range []int{1, 3} {
		SetThreads(threads)
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				for lo := 0; lo < len(parts); lo++ {
					for hi := lo + 1; hi <= len(parts); hi += 3 {
						group := parts[lo:hi]
						for i := range group {
							group[i].Y, fulls[lo+i] = guarded(group[i].N)
						}
						if err := MatVecMany(group, x, k); err != nil {
							t.Fatalf("%s: %v", impl, err)
						}
						for i, p := range group {
							checkGuards(t, fulls[lo+i], p.N)
							want, xp := make([]float32, p.N), x
							if p.X != nil {
								xp = p.X
							}
							if p.F32 != nil {
								MatVecT(want, p.F32, xp, p.N, k)
							} else if err := MatVecQ(want, p.Data, p.Type, xp, p.N, k); err != nil {
								t.Fatal(err)
							}
							for j := range want {
								if math.Float32bits(p.Y[j]) != math.Float32bits(want[j]) {
									t.Fatalf("%s, %d threads, parts %d…%d: part %d (%v, n=%d) row %d: %v, alone %v",
										impl, threads, lo, hi-1, lo+i, p.Type, p.N, j, p.Y[j], want[j])
								}
							}
						}
					}
				}
			})
		}
	}
}

// The threads take rows a chunk at a time, in whatever order they get to
// them (rowShare): every row's value must still be the one-thread value, bit
// for bit, for MatVecT and for a MatVecMany group, at 2 and 3 threads, with
// row counts that leave a short last chunk and a four-row quad split.
func TestMatVecSameAnyThreadCount(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	defer SetThreads(Default().Threads())
	for _, s := range [][2]int{{1001, 768}, {301, 2048}, {4099, 64}} {
		n, k := s[0], s[1]
		w, x := randSlice(r, n*k), randSlice(r, k)
		q := randomWeights(t, r, Q8_0, 37, k)
		run := func() (y, ym, yq []float32) {
			y, ym, yq = make([]float32, n), make([]float32, n), make([]float32, 37)
			MatVecT(y, w, x, n, k)
			if err := MatVecMany([]MatVecPart{{Y: ym, F32: w, N: n}, {Y: yq, Data: q, Type: Q8_0, N: 37}}, x, k); err != nil {
				t.Fatal(err)
			}
			return y, ym, yq
		}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				SetThreads(1)
				want, wantM, wantQ := run()
				for _, threads := range []int{2, 3} {
					SetThreads(threads)
					for rep := 0; rep < 3; rep++ {
						y, ym, yq := run()
						for name, got := range map[string][2][]float32{"MatVecT": {y, want}, "MatVecMany f32": {ym, wantM}, "MatVecMany q8_0": {yq, wantQ}} {
							for i := range got[0] {
								if math.Float32bits(got[0][i]) != math.Float32bits(got[1][i]) {
									t.Fatalf("%s %s n=%d k=%d, %d threads: row %d = %v, one thread %v", impl, name, n, k, threads, i, got[0][i], got[1][i])
								}
							}
						}
					}
				}
			})
		}
	}
}

// Bad parts fail before anything is written.
func TestMatVecManyRejects(t *testing.T) {
	x := make([]float32, 64)
	y := []float32{7, 7}
	cases := map[string][]MatVecPart{
		"short y":         {{Y: y[:1], F32: make([]float32, 128), N: 2}},
		"short f32":       {{Y: y, F32: make([]float32, 127), N: 2}},
		"short q4_0":      {{Y: y, Data: make([]byte, 2*2*Q4_0Bytes-1), Type: Q4_0, N: 2}},
		"k not in blocks": {{Y: y, Data: make([]byte, 2*Q4_KBytes), Type: Q4_K, N: 2}},
		"no kernel":       {{Y: y, Data: make([]byte, 8), Type: DType(5), N: 2}},
	}
	for name, parts := range cases {
		if err := MatVecMany(append(parts, MatVecPart{Y: y, F32: make([]float32, 128), N: 2}), x, 64); err == nil {
			t.Errorf("%s: no error", name)
		}
		if y[0] != 7 || y[1] != 7 {
			t.Fatalf("%s: wrote %v", name, y)
		}
	}
	if err := MatVecMany(nil, x, 63); err == nil {
		t.Error("len(x) ≠ k: no error")
	}
	if err := MatVecMany([]MatVecPart{{Y: y, F32: make([]float32, 128), N: 2}}, nil, 64); err == nil {
		t.Error("no x and no X: no error")
	}
}

// Steady state allocates nothing of its own (at most the pool's bookkeeping).
func TestMatVecManyAllocs(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	const k = 256
	x := randSlice(r, k)
	parts := []MatVecPart{
		{Y: make([]float32, 64), Data: randomWeights(t, r, Q4_K, 64, k), Type: Q4_K, N: 64},
		{Y: make([]float32, 32), Data: randomWeights(t, r, Q8_0, 32, k), Type: Q8_0, N: 32},
		{Y: make([]float32, 16), F32: randSlice(r, 16*k), N: 16},
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := MatVecMany(parts, x, k); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("MatVecMany allocates %v times per call, want ≤ 1", allocs)
	}
}

// Each four-row kernel against its implementation's one-row dot, bit for
// bit, rows further apart than their bytes (the stride is honoured), block
// counts from 1 up.
func TestRowsQx4MatchDot(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			tested := 0
			defer func() {
				if impl == ImplAVX512 && hasVNNI && tested < 2 {
					t.Errorf("avx512 with VNNI: %d four-row kernels, want q4_0's and q8_0's", tested)
				}
			}()
			for _, f := range allFormats {
				tr := &traits[f]
				rows4 := tr.rowsQx4[curImpl]
				if rows4 == nil {
					continue
				}
				tested++
				act := tr.VecDot
				for _, nb := range []int{1, 2, 3, 7, 24} {
					for _, groups := range []int{1, 3} {
						k := nb * f.BlockSize()
						rb, pad := nb*f.BlockBytes(), 5
						w := randomWeights(t, r, f, 4*groups, k+pad*f.BlockSize()) // rows of rb+pad blocks
						stride := rb + pad*f.BlockBytes()
						xq := make([]byte, k/act.BlockSize()*act.BlockBytes())
						if err := act.Quantize(xq, randSlice(r, k)); err != nil {
							t.Fatal(err)
						}
						out := make([]float32, 4*groups+2) // NaN guard after the rows
						for i := range out {
							out[i] = float32(math.NaN())
						}
						rows4(&w[0], stride, &xq[0], nb, &out[0], groups)
						for i := range out[:4*groups] {
							want := tr.dotQ[curImpl](&w[i*stride], &xq[0], nb)
							if math.Float32bits(out[i]) != math.Float32bits(want) {
								t.Fatalf("%s %v nb=%d groups=%d row %d: %v, one-row dot %v", impl, f, nb, groups, i, out[i], want)
							}
						}
						for _, v := range out[4*groups:] {
							if !math.IsNaN(float64(v)) {
								t.Fatalf("%s %v nb=%d groups=%d: wrote past the rows", impl, f, nb, groups)
							}
						}
					}
				}
			}
		})
	}
}
