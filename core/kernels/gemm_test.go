package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// tolGemm is the normalised MSE allowed between a fast GEMM and the float32
// reference loop: both round differently (FMA, summation order), which for
// k ≤ a few thousand stays near k·ε² ≈ 1e-11.
const tolGemm = 1e-10

// gemmFlops is the FLOP count of one m×n×k GEMM (a multiply and an add).
func gemmFlops(m, n, k int) float64 { return 2 * float64(m) * float64(n) * float64(k) }

type gemmCase struct {
	m, n, k          int
	padA, padB, padC int // extra leading-dimension floats (non-contiguous views)
}

// gemmCases covers 1s, odd sizes, every micro-tile edge (mr 4/6/12, nr
// 4/16/32), k tails around the unroll of 4 and the kc slabs (256; 512 for
// B up to 2048 wide), the mc blocks (96 and 192 rows), n past the nc
// block, B wide enough to be packed a row at a time (64 slivers: n ≥ 1024
// or 2048, with a part sliver after), strided views, and shapes big enough
// to take both parallel splits (tall C: row slivers; short wide C: column
// slivers).
var gemmCases = []gemmCase{
	{1, 1, 1, 0, 0, 0}, {1, 7, 3, 0, 0, 0}, {2, 1, 1, 0, 0, 0}, {1, 1, 37, 0, 0, 0},
	{2, 2, 2, 0, 0, 0}, {3, 5, 7, 1, 2, 3}, {5, 3, 1, 0, 0, 0}, {7, 17, 9, 0, 0, 0},
	{12, 32, 4, 0, 0, 0}, {12, 32, 5, 0, 0, 0}, {13, 33, 6, 0, 0, 0}, {11, 31, 3, 0, 0, 0},
	{6, 16, 8, 0, 0, 0}, {24, 64, 256, 0, 0, 0}, {25, 65, 257, 3, 5, 7}, {17, 29, 511, 0, 0, 0},
	{64, 64, 64, 0, 0, 0}, {64, 172, 64, 0, 0, 0}, {64, 64, 172, 0, 0, 0}, {33, 512, 64, 1, 0, 1},
	{1, 300, 200, 0, 0, 0}, {1, 4100, 17, 0, 3, 0}, {1, 129, 1000, 1, 1, 1}, {1, 1000, 33, 0, 0, 0},
	{3, 4100, 5, 0, 0, 0}, {130, 140, 150, 0, 0, 0}, {13, 700, 200, 2, 2, 2}, {200, 20, 300, 0, 0, 0},
	{97, 101, 600, 4, 4, 4}, {49, 65, 513, 1, 2, 3}, {50, 33, 1025, 0, 0, 0},
	{20, 4133, 70, 1, 3, 2}, {7, 2085, 300, 0, 1, 0}, {9, 1100, 33, 0, 0, 0},
}

func (g gemmCase) String() string {
	return fmt.Sprintf("%dx%dx%d/pad%d.%d.%d", g.m, g.n, g.k, g.padA, g.padB, g.padC)
}

// runGemmCase checks one shape against the reference for Gemm (trans false)
// or GemmT (trans true), with C inside NaN guard bands and NaN (beta 0: must
// not be read) or random (beta 1) initial values in C, and NaN in the gaps
// between rows of C that a kernel must leave alone.
func runGemmCase(t testing.TB, r *rand.Rand, g gemmCase, trans bool, beta float32) {
	t.Helper()
	m, n, k := g.m, g.n, g.k
	lda, ldc := k+g.padA, n+g.padC
	bRows, bCols := k, n
	if trans {
		bRows, bCols = n, k
	}
	ldb := bCols + g.padB
	a := randSlice(r, max(m*lda, 1))
	b := randSlice(r, max(bRows*ldb, 1))
	cLen := max(m*ldc, 1)
	c, full := guarded(cLen)
	want := make([]float32, cLen)
	nan := float32(math.NaN())
	for i := range c {
		if ldc > 0 && i%ldc < n && beta != 0 {
			c[i] = 2*r.Float32() - 1
		} else {
			c[i] = nan
		}
	}
	copy(want, c)
	if trans {
		packed, pfull := guarded(cLen)
		copy(packed, c)
		GemmTRef(m, n, k, a, lda, b, ldb, beta, want, ldc)
		GemmT(m, n, k, a, lda, b, ldb, beta, c, ldc)
		// The same product with W packed once: GemmT's values bit for bit.
		GemmTPacked(m, a, lda, PackT(b, n, k, ldb), beta, packed, ldc)
		checkGuards(t, pfull, cLen)
		for i := range c {
			if math.Float32bits(packed[i]) != math.Float32bits(c[i]) {
				t.Fatalf("%s %v beta=%v: GemmTPacked C[%d] = %v, GemmT %v", Impl(), g, beta, i, packed[i], c[i])
			}
		}
	} else {
		GemmRef(m, n, k, a, lda, b, ldb, beta, want, ldc)
		Gemm(m, n, k, a, lda, b, ldb, beta, c, ldc)
	}
	checkGuards(t, full, cLen)
	got := make([]float32, 0, m*n)
	ref := make([]float32, 0, m*n)
	for i := 0; i < m; i++ {
		for j := n; j < ldc && i*ldc+j < cLen; j++ {
			if v := c[i*ldc+j]; v == v {
				t.Fatalf("%v trans=%v beta=%v: gap C[%d][%d] written: %v", g, trans, beta, i, j, v)
			}
		}
		got = append(got, c[i*ldc:i*ldc+n]...)
		ref = append(ref, want[i*ldc:i*ldc+n]...)
	}
	assertNMSE(t, fmt.Sprintf("%s %v trans=%v beta=%v", Impl(), g, trans, beta), got, ref, tolGemm)
}

func TestGemmConformance(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for _, g := range gemmCases {
				for _, trans := range []bool{false, true} {
					for _, beta := range []float32{0, 1, 0.5} {
						runGemmCase(t, r, g, trans, beta)
					}
				}
			}
		})
	}
}

// TestGemmSingleThread runs the table on a one-worker pool, where the
// serial branches (no pool.For) are taken.
func TestGemmSingleThread(t *testing.T) {
	defer SetThreads(Default().Threads())
	SetThreads(1)
	r := rand.New(rand.NewSource(2))
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for _, g := range gemmCases {
				runGemmCase(t, r, g, false, 1)
				runGemmCase(t, r, g, true, 0)
			}
		})
	}
}

// TestGemmSameBitsAnyThreadCount: every parallel split (a tall C's row
// slivers, a wide C's column slivers) gives the bits of one thread, which
// match the reference loop.
func TestGemmSameBitsAnyThreadCount(t *testing.T) {
	defer SetThreads(Default().Threads())
	r := rand.New(rand.NewSource(7))
	cases := []gemmCase{
		{200, 20, 300, 0, 0, 0}, {97, 101, 600, 4, 4, 4}, {50, 33, 1025, 0, 0, 0}, {301, 70, 1300, 1, 2, 3},
		{130, 140, 150, 0, 0, 0}, {300, 200, 700, 2, 1, 0}, {1560, 4100, 9, 0, 0, 0},
		{13, 700, 200, 2, 2, 2}, {20, 4133, 70, 1, 3, 2},
	}
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for _, g := range cases {
				for _, trans := range []bool{false, true} {
					m, n, k := g.m, g.n, g.k
					lda, ldb, ldc := k+g.padA, n+g.padB, n+g.padC
					if trans {
						ldb = k + g.padB
					}
					a := randSlice(r, m*lda)
					b := randSlice(r, max(k, n)*ldb)
					c0 := randSlice(r, m*ldc)
					run := func(threads int, beta float32) []float32 {
						SetThreads(threads)
						c := append([]float32(nil), c0...)
						if trans {
							GemmT(m, n, k, a, lda, b, ldb, beta, c, ldc)
						} else {
							Gemm(m, n, k, a, lda, b, ldb, beta, c, ldc)
						}
						return c
					}
					for _, beta := range []float32{0, 1} {
						name := fmt.Sprintf("%s %v trans=%v beta=%v", impl, g, trans, beta)
						one := run(1, beta)
						want := append([]float32(nil), c0...)
						if trans {
							GemmTRef(m, n, k, a, lda, b, ldb, beta, want, ldc)
						} else {
							GemmRef(m, n, k, a, lda, b, ldb, beta, want, ldc)
						}
						assertNMSE(t, name, one, want, tolGemm)
						for _, threads := range []int{2, 3} {
							got := run(threads, beta)
							for i := range got {
								if math.Float32bits(got[i]) != math.Float32bits(one[i]) {
									t.Fatalf("%s, %d threads: C[%d] = %v, 1 thread %v", name, threads, i, got[i], one[i])
								}
							}
						}
					}
				}
			}
		})
	}
}

func TestGemmLargeK(t *testing.T) {
	k := 4099
	if testing.Short() {
		k = 1030
	}
	r := rand.New(rand.NewSource(3))
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			runGemmCase(t, r, gemmCase{m: 14, n: 35, k: k}, false, 0)
			runGemmCase(t, r, gemmCase{m: 14, n: 35, k: k, padA: 1, padB: 1, padC: 1}, true, 1)
			runGemmCase(t, r, gemmCase{m: 1, n: 70, k: k}, true, 0)
			// W past streamPackBytes: packed with packT8StreamAVX.
			runGemmCase(t, r, gemmCase{m: 13, n: 700, k: 401, padB: 3}, true, 0)
			runGemmCase(t, r, gemmCase{m: 40, n: 129, k: 2100, padA: 1, padC: 2}, true, 1)
		})
	}
}

// TestMicroKernels checks each register-tiled kernel (assembly, or its Go
// twin under -tags noasm) directly against its reference loop, including k
// values around the unroll of 4 and k = 0.
func TestMicroKernels(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, tl := range []*gemmTiling{&tilingGeneric, &tilingAVX2, &tilingAVX512} {
		if (tl == &tilingAVX2 && !hasAVX2FMA) || (tl == &tilingAVX512 && !hasAVX512) {
			continue
		}
		for _, k := range []int{0, 1, 2, 3, 4, 5, 8, 9, 255, 256} {
			for _, acc := range []bool{false, true} {
				mr, nr, ldc := tl.mr, tl.nr, tl.nr+3
				a, b := randSlice(r, max(k*mr, 1)), randSlice(r, max(k*nr, 1))
				c, full := guarded(mr * ldc)
				for i := range c {
					c[i] = 2*r.Float32() - 1
				}
				want := append([]float32(nil), c...)
				for i := 0; i < mr; i++ {
					for j := 0; j < nr; j++ {
						var s float32
						for p := 0; p < k; p++ {
							s += a[p*mr+i] * b[p*nr+j]
						}
						if acc {
							want[i*ldc+j] += s
						} else {
							want[i*ldc+j] = s
						}
					}
				}
				tl.micro(k, a, b, c, ldc, acc)
				checkGuards(t, full, mr*ldc)
				assertNMSE(t, fmt.Sprintf("micro %dx%d k=%d acc=%v", mr, nr, k, acc), c, want, tolGemm)
			}
		}
	}
}

func TestMatVecT(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for _, s := range [][2]int{{1, 1}, {3, 5}, {4, 16}, {7, 33}, {64, 64}, {130, 1000}, {512, 512}, {1001, 129}} {
				n, k := s[0], s[1]
				w, x := randSlice(r, n*k), randSlice(r, k)
				y, full := guarded(n)
				for i := range y {
					y[i] = float32(math.NaN())
				}
				want := make([]float32, n)
				GemmTRef(1, n, k, x, k, w, k, 0, want, n)
				MatVecT(y, w, x, n, k)
				checkGuards(t, full, n)
				assertNMSE(t, fmt.Sprintf("%s MatVecT n=%d k=%d", impl, n, k), y, want, tolGemm)
			}
		})
	}
}

// TestGemvRows1 checks the one-row streaming GEMV kernel against its
// reference loop: k around the 64- and 16-float steps and the masked head and
// tail, rows at every phase of a 64-byte block (sh 0–15, xs shifted to
// match), row strides that keep the phase and one that does not (the sums
// stay right, only slower), rows whose gaps hold NaN (a read past k would
// poison the sum), y inside NaN guard bands.
func TestGemvRows1(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512, or -tags noasm (the Go twin is the reference loop)")
	}
	r := rand.New(rand.NewSource(9))
	nan := float32(math.NaN())
	for _, k := range []int{0, 1, 5, 15, 16, 17, 31, 48, 63, 64, 65, 79, 127, 128, 200, 768, 773, 2048} {
		for _, sh := range []int{0, 1, 7, 8, 15} {
			for _, n := range []int{1, 3, 17} {
				for _, pad := range []int{0, 3, 16 - k%16} {
					ld := k + pad
					// w's row 0 at float sh of a 64-byte block.
					wbuf, _ := alignedTestFloats(sh + n*ld + 16)
					w := wbuf[sh : sh+n*ld]
					for i := range w {
						w[i] = 2*r.Float32() - 1
						if i%ld >= k {
							w[i] = nan
						}
					}
					xbuf, _ := alignedTestFloats(sh + k + 16)
					xs := xbuf[:sh+k]
					for i := range xbuf {
						xbuf[i] = nan
					}
					for i := sh; i < sh+k; i++ {
						xs[i] = 2*r.Float32() - 1
					}
					// A row's sum may cancel: the bound is relative to
					// Σ|w·x|, in float64.
					want, mag := make([]float64, n), make([]float64, n)
					for i := range want {
						for p := 0; p < k; p++ {
							v := float64(w[i*ld+p]) * float64(xs[sh+p])
							want[i] += v
							mag[i] += math.Abs(v)
						}
					}
					y, full := guarded(n)
					for i := range y {
						y[i] = nan
					}
					gemvRows1AVX512(n, k, xs, sh, w, ld, y)
					checkGuards(t, full, n)
					for i, v := range y {
						if d := math.Abs(float64(v) - want[i]); !(d <= 1e-6*mag[i]) {
							t.Fatalf("gemvRows1 n=%d k=%d sh=%d ld=%d: y[%d]=%v, want %v (Σ|w·x| %v)", n, k, sh, ld, i, v, want[i], mag[i])
						}
					}
				}
			}
		}
	}
}

// alignedTestFloats returns n floats starting on a 64-byte boundary, and
// the buffer holding them.
func alignedTestFloats(n int) ([]float32, []float32) {
	buf := make([]float32, n+15)
	a := int((64 - uintptr(unsafe.Pointer(&buf[0]))%64) % 64 / 4)
	return buf[a : a+n], buf
}

// TestMatVecTAlignments runs MatVecT and MatVecMany on weights at every
// 4-byte offset of a 64-byte block (GGUF aligns tensors to 32 bytes only),
// with x at an odd offset too: the one-row kernel's x copy and masks must
// follow the phase, and both entry points must agree bit for bit.
func TestMatVecTAlignments(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for _, s := range [][2]int{{5, 16}, {33, 768}, {17, 100}, {64, 2048}} {
				n, k := s[0], s[1]
				wbuf, _ := alignedTestFloats(16 + n*k)
				xbuf := randSlice(r, k+1)
				x := xbuf[1:]
				for off := 0; off < 16; off++ {
					w := wbuf[off : off+n*k]
					for i := range w {
						w[i] = 2*r.Float32() - 1
					}
					want := make([]float32, n)
					GemmTRef(1, n, k, x, k, w, k, 0, want, n)
					y, full := guarded(n)
					MatVecT(y, w, x, n, k)
					checkGuards(t, full, n)
					assertNMSE(t, fmt.Sprintf("%s MatVecT n=%d k=%d off=%d", impl, n, k, off), y, want, tolGemm)
					y2 := make([]float32, n)
					if err := MatVecMany([]MatVecPart{{Y: y2, F32: w, N: n}}, x, k); err != nil {
						t.Fatal(err)
					}
					for i := range y {
						if y[i] != y2[i] {
							t.Fatalf("%s n=%d k=%d off=%d: MatVecMany y[%d]=%v, MatVecT %v", impl, n, k, off, i, y2[i], y[i])
						}
					}
				}
			}
		})
	}
}

func TestGemmDegenerate(t *testing.T) {
	c := []float32{1, 2, 3, 4}
	Gemm(2, 2, 0, nil, 1, nil, 2, 1, c, 2)
	if c[0] != 1 || c[3] != 4 {
		t.Fatalf("k=0 beta=1 changed C: %v", c)
	}
	GemmT(2, 2, 0, nil, 1, nil, 1, 0, c, 2)
	if c[0] != 0 || c[3] != 0 {
		t.Fatalf("k=0 beta=0 left C: %v", c)
	}
	Gemm(0, 5, 5, nil, 5, make([]float32, 25), 5, 0, nil, 5)
	GemmT(5, 0, 5, make([]float32, 25), 5, nil, 5, 0, nil, 1)
	// m = 1 takes the GEMV paths; no rows: nothing to read or write.
	GemmT(1, 0, 5, make([]float32, 5), 5, nil, 16, 0, nil, 1)
	MatVecT(nil, nil, make([]float32, 16), 0, 16)
	gemvT(0, 16, make([]float32, 16), nil, 16, 0, nil) // conv's direct call, no output channels
	if err := MatVecMany([]MatVecPart{{Y: []float32{}, F32: []float32{}, N: 0}}, make([]float32, 16), 16); err != nil {
		t.Fatal(err)
	}
}

func TestGemmBadShapePanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
		msg  string
	}{
		{"short a", func() { Gemm(2, 2, 2, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2) }, "len(a)"},
		{"short c", func() { GemmT(2, 2, 2, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2) }, "len(c)"},
		{"lda", func() { Gemm(2, 2, 3, make([]float32, 9), 2, make([]float32, 6), 2, 0, make([]float32, 4), 2) }, "lda"},
		{"negative", func() { Gemm(-1, 2, 2, nil, 2, nil, 2, 0, nil, 2) }, "negative"},
		{"matvec", func() { MatVecT(make([]float32, 2), make([]float32, 5), make([]float32, 3), 2, 3) }, "len(b)"},
	} {
		func() {
			defer func() {
				e := recover()
				if e == nil || !strings.Contains(fmt.Sprint(e), tc.msg) {
					t.Errorf("%s: panic %v, want one mentioning %q", tc.name, e, tc.msg)
				}
			}()
			tc.f()
		}()
	}
}

// TestGemmNoAlloc checks the steady state allocates nothing on one thread
// (packing buffers and job state are recycled), and on two threads no
// buffers: only Pool.For's own per-loop bookkeeping (a few small objects,
// pool.go's business) is tolerated. The shapes take the parallel paths.
func TestGemmNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("-race adds allocations")
	}
	defer SetThreads(Default().Threads())
	r := rand.New(rand.NewSource(6))
	m, n, k := 100, 170, 300
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	x, y := randSlice(r, k), make([]float32, n)
	calls := func() {
		Gemm(m, n, k, a, k, b, n, 0, c, n)
		GemmT(m, n, k, a, k, b, k, 1, c, n)
		GemmT(3, n, k, a, k, b, k, 0, c, n)
		MatVecT(y, b, x, n, k)
		Gemm(1, n, k, x, k, b, n, 0, y, n)
	}
	for _, threads := range []int{1, 2} {
		SetThreads(threads)
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				calls()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				const runs = 10
				for i := 0; i < runs; i++ {
					calls()
				}
				runtime.ReadMemStats(&after)
				objs := (after.Mallocs - before.Mallocs) / runs
				bytes := (after.TotalAlloc - before.TotalAlloc) / runs
				if threads == 1 && objs > 0 {
					t.Errorf("%s, 1 thread: %d allocations (%d bytes) per round", impl, objs, bytes)
				}
				if bytes > 2<<10 {
					t.Errorf("%s, %d threads: %d bytes per round: buffers are not recycled", impl, threads, bytes)
				}
			})
		}
	}
}

func FuzzGemm(f *testing.F) {
	f.Add(uint8(3), uint8(5), uint8(7), uint8(0), uint8(1), uint8(2), false, uint8(0), uint8(0))
	f.Add(uint8(13), uint8(33), uint8(9), uint8(1), uint8(0), uint8(0), true, uint8(1), uint8(1))
	f.Add(uint8(1), uint8(200), uint8(17), uint8(0), uint8(0), uint8(3), true, uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, m, n, k, padA, padB, padC uint8, trans bool, betaSel, implSel uint8) {
		g := gemmCase{int(m % 70), int(n % 90), int(k % 80), int(padA % 5), int(padB % 5), int(padC % 5)}
		beta := []float32{0, 1, -0.5}[betaSel%3]
		all := impls()
		withImpl(t, all[int(implSel)%len(all)], func() {
			runGemmCase(t, rand.New(rand.NewSource(int64(m)<<16|int64(n)<<8|int64(k))), g, trans, beta)
		})
	})
}

// TestGemmTPackedOtherTiling: a PackedT made under one implementation and
// used under another falls back to GemmT there.
func TestGemmTPackedOtherTiling(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	m, n, k := 13, 70, 300
	a, w := randSlice(r, m*k), randSlice(r, n*k)
	for _, from := range impls() {
		var p *PackedT
		withImpl(t, from, func() { p = PackT(w, n, k, k) })
		for _, to := range impls() {
			withImpl(t, to, func() {
				got, want := make([]float32, m*n), make([]float32, m*n)
				GemmTPacked(m, a, k, p, 0, got, n)
				GemmT(m, n, k, a, k, w, k, 0, want, n)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("packed under %s, run under %s: C[%d] = %v, GemmT %v", from, to, i, got[i], want[i])
					}
				}
			})
		}
	}
}
