package kernels

import (
	"math"
	"math/rand"
	"testing"
)

// halves rounds x to IEEE halves and returns them with their exact float32
// values: the K and V an f16 cache holds, and what the reference reads.
func halves(x []float32) ([]uint16, []float32) {
	h := make([]uint16, len(x))
	w := make([]float32, len(x))
	for i, v := range x {
		h[i] = F32ToF16(v)
		w[i] = F16ToF32(h[i])
	}
	return h, w
}

// TestFlashAttentionF16MatchesNaive runs the whole attention table with K
// and V as halves: every implementation, one and two threads, against the
// float64 reference on the widened values (the same tolerance as float32
// K and V: only the summation order differs).
func TestFlashAttentionF16MatchesNaive(t *testing.T) {
	checkNarrowKVMatchesNaive(t, 5, func(q, k32, v32 []float32, p AttnParams) (kw, vw []float32, run func([]float32) error) {
		k, kw := halves(k32)
		v, vw := halves(v32)
		return kw, vw, func(got []float32) error { return FlashAttentionF16(got, q, k, v, p) }
	})
}

// checkNarrowKVMatchesNaive runs the whole attention table (attnCases, from
// a generator seeded with seed) with K and V stored narrower by store, which
// returns their widened values and the attention call over the stored ones:
// every implementation, one and two threads, against the float64 reference
// on the widened values.
func checkNarrowKVMatchesNaive(t *testing.T, seed int64, store func(q, k32, v32 []float32, p AttnParams) (kw, vw []float32, run func([]float32) error)) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	for _, c := range attnCases {
		q, k32, v32, _, p := attnInputs(r, c)
		kw, vw, run := store(q, k32, v32, p)
		os := max(p.OStride, c.heads*c.dim)
		n := (c.seqQ-1)*os + c.heads*c.dim
		want := make([]float32, n)
		if err := AttentionNaive(want, q, kw, vw, p); err != nil {
			t.Fatalf("%s: naive: %v", c.name, err)
		}
		checkAttnImpls(t, c, want, os, run)
	}
}

// TestFlashAttentionF16Errors: short half slices are refused like short
// float32 ones, before anything is written.
func TestFlashAttentionF16Errors(t *testing.T) {
	p := AttnParams{Heads: 4, KVHeads: 2, HeadDim: 8, SeqQ: 3, SeqKV: 5}
	q, o := make([]float32, 3*32), make([]float32, 3*32)
	kv := make([]uint16, 5*16)
	if err := FlashAttentionF16(o, q, kv[:79], kv, p); err == nil {
		t.Fatal("short k: no error")
	}
	if err := FlashAttentionF16(o, q, kv, kv[:70], p); err == nil {
		t.Fatal("short v: no error")
	}
	if err := FlashAttentionF16(o, q, kv, kv, p); err != nil {
		t.Fatalf("valid params: %v", err)
	}
}

// tolVecDotF16 is tolVecDot for the half-row kernels: float32 summation
// order only, but one short row whose products cancel (a single key) can
// land just above 1e-11.
const tolVecDotF16 = 1e-10

// TestVecDotsAccRowsF16 checks the half-row kernels against their
// references (odd lengths, tails of every SIMD width, strided rows), and the
// references against float64 sums of the widened values.
func TestVecDotsAccRowsF16(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, n := range []int{1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 127, 128, 200, 256} {
		for _, m := range []int{1, 2, 3, 4, 5, 8, 17} {
			ld := n + 3
			q := randSlice(r, n)
			k, kw := halves(randSlice(r, (m-1)*ld+n))
			w := randSlice(r, m)
			y0 := randSlice(r, n)
			wantD := make([]float32, m)
			vecDotsF16Generic(wantD, q, k, ld, n, m)
			wantA := append([]float32(nil), y0...)
			vecAccRowsF16Generic(wantA, w, k, ld, n, m)
			checkRowRefs(t, "F16", q, w, y0, kw, wantD, wantA, ld, n, m)
			for _, impl := range impls() {
				withImpl(t, impl, func() {
					got, full := guarded(m)
					vecDotsF16(got, q, k, ld, n, m)
					checkGuards(t, full, m)
					assertNMSE(t, impl+" vecDotsF16", got, wantD, tolVecDotF16)
					acc, fullA := guarded(n)
					copy(acc, y0)
					vecAccRowsF16(acc, w, k, ld, n, m)
					checkGuards(t, fullA, n)
					assertNMSE(t, impl+" vecAccRowsF16", acc, wantA, tolVecDotF16)
				})
			}
		}
	}
}

// checkRowRefs holds a widened-row dot and accumulate reference's results
// (wantD = rows·q, wantA = y0 + Σ w[j]·row j) to float64 sums of the widened
// values kw (rows of n, stride ld).
func checkRowRefs(t *testing.T, kind string, q, w, y0, kw, wantD, wantA []float32, ld, n, m int) {
	t.Helper()
	for j := 0; j < m; j++ {
		var s float64
		for c := 0; c < n; c++ {
			s += float64(q[c]) * float64(kw[j*ld+c])
		}
		if math.Abs(s-float64(wantD[j])) > 1e-5*float64(n) {
			t.Fatalf("vecDots%sGeneric n=%d row %d: %v, want %v", kind, n, j, wantD[j], s)
		}
	}
	for c := 0; c < n; c++ {
		s := float64(y0[c])
		for j := 0; j < m; j++ {
			s += float64(w[j]) * float64(kw[j*ld+c])
		}
		if math.Abs(s-float64(wantA[c])) > 1e-5*float64(m) {
			t.Fatalf("vecAccRows%sGeneric n=%d col %d: %v, want %v", kind, n, c, wantA[c], s)
		}
	}
}

// TestF16RowsToF32: the strided tile widening against its reference.
func TestF16RowsToF32(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, n := range []int{1, 8, 16, 17, 64, 80, 256} {
		for _, m := range []int{1, 3, 128} {
			ld := n + 5
			src, _ := halves(randSlice(r, (m-1)*ld+n))
			want := make([]float32, m*n)
			f16RowsToF32Generic(want, src, ld, n, m)
			for _, impl := range impls() {
				withImpl(t, impl, func() {
					got, full := guarded(m * n)
					f16RowsToF32(got, src, ld, n, m)
					checkGuards(t, full, m*n)
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("%s n=%d m=%d [%d]: %v, want %v", impl, n, m, i, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

// TestF16Rows: the exported row conversions give the scalar conversions'
// bits, every implementation, any length.
func TestF16Rows(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 33, 100} {
		x := randSlice(r, n)
		for i := range x {
			x[i] *= 1000
		}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				h := make([]uint16, n+1)
				h[n] = 0xabcd
				F32ToF16Row(h, x)
				if h[n] != 0xabcd {
					t.Fatalf("%s n=%d: F32ToF16Row wrote past the row", impl, n)
				}
				back := make([]float32, n)
				F16ToF32Row(back, h)
				for i, v := range x {
					if h[i] != F32ToF16(v) || back[i] != F16ToF32(h[i]) {
						t.Fatalf("%s n=%d [%d]: %v -> %#x -> %v, want %#x -> %v", impl, n, i, v, h[i], back[i], F32ToF16(v), F16ToF32(F32ToF16(v)))
					}
				}
			})
		}
	}
}

// BenchmarkFlashAttentionF16 is BenchmarkFlashAttention's fused shapes with
// an f16 K and V (compare the two for what halving the cache costs).
func BenchmarkFlashAttentionF16(b *testing.B) {
	for _, s := range attnBenchShapes {
		b.Run(s.name, func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			p := AttnParams{Heads: 8, KVHeads: 8, HeadDim: 64, SeqQ: s.seqQ, SeqKV: s.seqKV, Causal: s.causal, QPos0: s.seqKV - s.seqQ}
			q := randSlice(r, s.seqQ*512)
			k, _ := halves(randSlice(r, s.seqKV*512))
			v, _ := halves(randSlice(r, s.seqKV*512))
			out := make([]float32, len(q))
			b.ReportAllocs()
			for b.Loop() {
				if err := FlashAttentionF16(out, q, k, v, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAttnDecodeMatchesTile: a decode step's attention (attnDecode, keys in
// blocks across heads) is attnTile's head by head, bit for bit, for every
// one-row case of the table and key counts around the block and tile
// edges, K and V as halves and as float32, over all heads at once and in
// two head ranges, every implementation; nothing outside the heads' output
// is written.
func TestAttnDecodeMatchesTile(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	cases := []attnCase{}
	for _, c := range attnCases {
		if c.seqQ == 1 {
			cases = append(cases, c)
		}
	}
	for _, n := range []int{1, 4, 15, 17, 31, 127, 128, 129, 257} {
		cases = append(cases, attnCase{name: "keys", heads: 4, kvHeads: 2, dim: 64, seqQ: 1, seqKV: n, causal: true, qPos0: n - 1})
	}
	for _, c := range cases {
		q, k32, v32, _, p := attnInputs(r, c)
		if err := p.normalize(make([]float32, c.heads*c.dim+p.OStride), q, len(k32), len(v32)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		k16, _ := halves(k32)
		v16, _ := halves(v32)
		k8, _ := q8Cache(k32)
		v8, _ := q8Cache(v32)
		kvs := [][2]kvRows{{{f16: k16, half: true}, {f16: v16, half: true}}, {{f32: k32}, {f32: v32}}, {{q8: k8, isQ8: true}, {q8: v8, isQ8: true}}}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				for kind, kv := range kvs {
					var s attnScratch
					w := c.heads * c.dim
					want := make([]float32, w)
					for h := 0; h < c.heads; h++ {
						attnTile(want, q, kv[0], kv[1], &p, h, 0, 1, &s)
					}
					for _, split := range []int{c.heads, (c.heads + 1) / 2} {
						got := make([]float32, w+3)
						for i := range got {
							got[i] = float32(math.NaN())
						}
						attnDecode(got, q, kv[0], kv[1], &p, 0, split, &s)
						attnDecode(got, q, kv[0], kv[1], &p, split, c.heads, &s)
						for i := range got[w:] {
							if got[w+i] == got[w+i] {
								t.Fatalf("%s %s kind %d: wrote past the heads at %d", c.name, impl, kind, w+i)
							}
						}
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %s kind %d split %d: out[%d] = %v, attnTile %v", c.name, impl, kind, split, i, got[i], want[i])
							}
						}
					}
				}
			})
		}
	}
}
