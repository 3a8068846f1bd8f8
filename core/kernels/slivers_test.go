package kernels

import (
	"math"
	"math/rand"
	"runtime"
	"testing"
	"time"
)

// sliverPhases are the float offsets from a 64-byte boundary the tests put
// an F32R32 matrix at: every rotation d, GGUF's 32-byte one (8) included.
var sliverPhases = []int{0, 1, 7, 8, 9, 15}

// packedSlivers returns a random n×k matrix, row-major, and a copy of it
// repacked into F32R32 at float phase sh of a 64-byte block, with NaN
// floats just outside it.
func packedSlivers(t testing.TB, r *rand.Rand, n, k, sh int) (rows, w []float32) {
	t.Helper()
	rows = randSlice(r, n*k)
	buf, _ := alignedTestFloats(sh + n*k + 16)
	nan := float32(math.NaN())
	for i := range buf {
		buf[i] = nan
	}
	w = buf[sh : sh+n*k : sh+n*k]
	copy(w, rows)
	if err := PackF32Slivers(w, n, k); err != nil {
		t.Fatal(err)
	}
	return rows, w
}

// Packing is a permutation: unpacking gives the rows back bit for bit,
// every element is where the layout says (sliverB.at), at every phase.
func TestPackF32Slivers(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, n := range []int{32, 64, 96} {
		for _, k := range []int{1, 2, 3, 5, 16, 17, 100} {
			for _, sh := range sliverPhases {
				rows, w := packedSlivers(t, r, n, k, sh)
				if d := SliversShift(w); (sh+d)%16 != 0 {
					t.Fatalf("phase %d: rotation %d does not reach a 64-byte boundary", sh, d)
				}
				back := make([]float32, n*k)
				UnpackF32Slivers(back, w, n, k)
				b := sliverB{w: w, n: n, k: k, d: SliversShift(w)}
				for i, v := range rows {
					if math.Float32bits(back[i]) != math.Float32bits(v) || math.Float32bits(b.at(i/k, i%k)) != math.Float32bits(v) {
						t.Fatalf("n=%d k=%d phase %d: element (%d,%d) unpacks to %v / %v, want %v", n, k, sh, i/k, i%k, back[i], b.at(i/k, i%k), v)
					}
				}
			}
		}
	}
	if err := PackF32Slivers(make([]float32, 40*3), 40, 3); err == nil {
		t.Fatal("40 rows packed into 32-row slivers")
	}
}

// checkSliverSums compares y (n) with W·x in float64, relative to Σ|w·x|.
func checkSliverSums(t testing.TB, what string, y, rows, x []float32, n, k int) {
	t.Helper()
	for i := 0; i < n; i++ {
		var want, mag float64
		for p := 0; p < k; p++ {
			v := float64(rows[i*k+p]) * float64(x[p])
			want += v
			mag += math.Abs(v)
		}
		if d := math.Abs(float64(y[i]) - want); !(d <= 1e-6*mag+1e-30) {
			t.Fatalf("%s n=%d k=%d: y[%d]=%v, want %v (Σ|w·x| %v)", what, n, k, i, y[i], want, mag)
		}
	}
}

// The kernel, and its reference, on whole slivers in place at every k
// step and tail, outputs in NaN guard bands.
func TestGemvSlivers(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	kernels := map[string]func(k int, x, w []float32, slivers int, y []float32){"ref": gemvSliversRef}
	if hasAVX512 {
		kernels["avx512"] = gemvSliversAVX512
	}
	for name, kern := range kernels {
		for _, k := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 768, 771} {
			for _, slivers := range []int{1, 2, 3} {
				n := slivers * SliverRows
				rows := randSlice(r, n*k)
				buf, _ := alignedTestFloats(n*k + 1)
				w := buf[:n*k]
				copy(w, rows)
				if k > 0 {
					if err := PackF32Slivers(w, n, k); err != nil {
						t.Fatal(err)
					}
				}
				x := randSlice(r, k)
				y, full := guarded(n)
				kern(k, x, w, slivers, y)
				checkGuards(t, full, n)
				checkSliverSums(t, name, y, rows, x, n, k)
			}
		}
	}
}

// MatVecTSlivers and MatVecMany's f32r32 parts give W·x at every rotation,
// for every implementation, the same bits at 1, 2 and 3 threads, and
// MatVecMany's the same as MatVecTSlivers'.
func TestMatVecTSlivers(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	defer SetThreads(Default().Threads())
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for _, shape := range [][2]int{{32, 1}, {64, 5}, {96, 257}, {320, 768}, {2048, 768}} {
				n, k := shape[0], shape[1]
				for _, sh := range sliverPhases {
					rows, w := packedSlivers(t, r, n, k, sh)
					x := randSlice(r, k)
					var first []float32
					for _, threads := range []int{1, 2, 3} {
						SetThreads(threads)
						y, full := guarded(n)
						MatVecTSlivers(y, w, x, n, k)
						checkGuards(t, full, n)
						checkSliverSums(t, impl, y, rows, x, n, k)
						// In a group, after a part of 16 rows.
						y2, full2 := guarded(n)
						other := randSlice(r, 16*k)
						parts := []MatVecPart{{Y: make([]float32, 16), F32: other, N: 16}, {Y: y2, F32: w, Type: F32R32, N: n}}
						if err := MatVecMany(parts, x, k); err != nil {
							t.Fatal(err)
						}
						checkGuards(t, full2, n)
						if first == nil {
							first = append([]float32(nil), y...)
						}
						for i := range y {
							if math.Float32bits(y[i]) != math.Float32bits(first[i]) || math.Float32bits(y2[i]) != math.Float32bits(first[i]) {
								t.Fatalf("%s %d×%d phase %d, %d threads: y[%d] = %v, MatVecMany %v, 1 thread %v", impl, n, k, sh, threads, i, y[i], y2[i], first[i])
							}
						}
					}
				}
			}
		})
	}
}

// GemmTSlivers is GemmT on the unpacked matrix: shapes across GEMM's k
// slabs (256, and 512 for a B up to 2048 wide) and column blocks (nc 4096), every
// rotation, beta 0, 1 and another, 1 and 2 threads, every implementation;
// C in NaN guard bands.
func TestGemmTSlivers(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	defer SetThreads(Default().Threads())
	type shape struct{ m, n, k int }
	shapes := []shape{{1, 64, 7}, {2, 32, 1}, {3, 64, 17}, {13, 96, 256}, {40, 64, 600}, {50, 32, 1030}, {5, 4128, 9}}
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for _, threads := range []int{1, 2} {
				SetThreads(threads)
				for _, s := range shapes {
					for _, sh := range []int{0, 8, 15} {
						for _, beta := range []float32{0, 1, 0.5} {
							rows, w := packedSlivers(t, r, s.n, s.k, sh)
							lda := s.k + 3
							a := randSlice(r, s.m*lda)
							ldc := s.n + 5
							c, full := guarded(s.m * ldc)
							c0 := randSlice(r, s.m*ldc)
							copy(c, c0)
							want := append([]float32(nil), c0...)
							GemmTRef(s.m, s.n, s.k, a, lda, rows, s.k, beta, want, ldc)
							GemmTSlivers(s.m, a, lda, w, s.n, s.k, beta, c, ldc)
							checkGuards(t, full, s.m*ldc)
							for i := 0; i < s.m; i++ {
								for j := 0; j < s.n; j++ {
									got, exp := c[i*ldc+j], want[i*ldc+j]
									var mag float64
									for p := 0; p < s.k; p++ {
										mag += math.Abs(float64(a[i*lda+p]) * float64(rows[j*s.k+p]))
									}
									mag += math.Abs(float64(c0[i*ldc+j]))
									if d := math.Abs(float64(got) - float64(exp)); !(d <= 2e-6*mag) {
										t.Fatalf("%s %d threads %+v phase %d beta %v: C[%d][%d] = %v, want %v", impl, threads, s, sh, beta, i, j, got, exp)
									}
								}
							}
						}
					}
				}
			}
		})
	}
}

// sliverBenchMats are four Llama blocks of llama134m (dim 768, ff 2048):
// q, k, v, o, gate, up, down; 113 MB, past any cache.
func sliverBenchMats() (shapes [][2]int, total int) {
	for range 4 {
		for _, s := range [][2]int{{768, 768}, {768, 768}, {768, 768}, {768, 768}, {2048, 768}, {2048, 768}, {768, 2048}} {
			shapes = append(shapes, s)
			total += s[0] * s[1]
		}
	}
	return shapes, total
}

// BenchmarkSliversDecode times one pass of GEMVs over sliverBenchMats, the
// row-major rows (MatVecT) against F32R32 (MatVecTSlivers), both at 32
// bytes into a cache line as in a GGUF file, alternating pass by pass in
// one process: the best thread CPU of a pass of each, as GB/s of weights
// (run at one thread: LOOM_THREADS=1, -cpu 1).
func BenchmarkSliversDecode(b *testing.B) {
	shapes, total := sliverBenchMats()
	r := rand.New(rand.NewSource(5))
	var sides [2][][]float32
	for side := range sides {
		buf, _ := alignedTestFloats(8 + total)
		off := 8
		for _, s := range shapes {
			w := buf[off : off+s[0]*s[1]]
			copy(w, randSlice(r, len(w)))
			if side == 1 {
				if err := PackF32Slivers(w, s[0], s[1]); err != nil {
					b.Fatal(err)
				}
			}
			sides[side] = append(sides[side], w)
			off += len(w)
		}
	}
	x, y := randSlice(r, 2048), make([]float32, 2048)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := [2]time.Duration{math.MaxInt64, math.MaxInt64}
	for b.Loop() {
		for side, ws := range sides {
			t0 := threadCPU()
			for i, s := range shapes {
				if side == 0 {
					MatVecT(y[:s[0]], ws[i], x[:s[1]], s[0], s[1])
				} else {
					MatVecTSlivers(y[:s[0]], ws[i], x[:s[1]], s[0], s[1])
				}
			}
			best[side] = min(best[side], threadCPU()-t0)
		}
	}
	gb := float64(4*total) / 1e9
	b.ReportMetric(gb/best[0].Seconds(), "rows-GB/s")
	b.ReportMetric(gb/best[1].Seconds(), "slivers-GB/s")
}

// BenchmarkSliversPrefill times a 128-token batch through one block's seven
// matrices (GemmT on the rows against GemmTSlivers), alternating call by
// call: the best process CPU of a block of each, in ms, and its wall time.
func BenchmarkSliversPrefill(b *testing.B) {
	const m = 128
	shapes, _ := sliverBenchMats()
	shapes = shapes[:7]
	r := rand.New(rand.NewSource(6))
	var sides [2][][]float32
	for side := range sides {
		for _, s := range shapes {
			buf, _ := alignedTestFloats(8 + s[0]*s[1])
			w := buf[8:]
			copy(w, randSlice(r, len(w)))
			if side == 1 {
				if err := PackF32Slivers(w, s[0], s[1]); err != nil {
					b.Fatal(err)
				}
			}
			sides[side] = append(sides[side], w)
		}
	}
	a, c := randSlice(r, m*2048), make([]float32, m*2048)
	bestCPU := [2]time.Duration{math.MaxInt64, math.MaxInt64}
	bestWall := bestCPU
	for b.Loop() {
		for side, ws := range sides {
			t0, w0 := ProcessCPU(), time.Now()
			for i, s := range shapes {
				n, k := s[0], s[1]
				if side == 0 {
					GemmT(m, n, k, a, k, ws[i], k, 0, c, n)
				} else {
					GemmTSlivers(m, a, k, ws[i], n, k, 0, c, n)
				}
			}
			bestCPU[side] = min(bestCPU[side], ProcessCPU()-t0)
			bestWall[side] = min(bestWall[side], time.Since(w0))
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
	b.ReportMetric(ms(bestCPU[0]), "rows-cpu-ms")
	b.ReportMetric(ms(bestCPU[1]), "slivers-cpu-ms")
	b.ReportMetric(ms(bestWall[0]), "rows-wall-ms")
	b.ReportMetric(ms(bestWall[1]), "slivers-wall-ms")
}

// GemmTSlivers and MatVecTSlivers allocate nothing of their own in steady
// state (at most the pool's bookkeeping), the wrapped last slab included.
func TestSliversAllocs(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	const m, n, k = 20, 64, 300
	_, w := packedSlivers(t, r, n, k, 8)
	a, c, x := randSlice(r, m*k), make([]float32, m*n), randSlice(r, k)
	for name, f := range map[string]func(){
		"GemmTSlivers":   func() { GemmTSlivers(m, a, k, w, n, k, 0, c, n) },
		"MatVecTSlivers": func() { MatVecTSlivers(c[:n], w, x, n, k) },
	} {
		if allocs := testing.AllocsPerRun(20, f); allocs > 1 {
			t.Fatalf("%s allocates %v times per call, want ≤ 1", name, allocs)
		}
	}
}
