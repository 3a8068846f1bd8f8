package kernels

import (
	"math"
	"math/rand"
	"strings"
	"testing"
)

// tolAttention is the normalised MSE allowed between FlashAttention (float32
// accumulation, expf, online rescaling) and AttentionNaive (float64).
const tolAttention = 1e-10

type attnCase struct {
	name                string
	heads, kvHeads, dim int
	seqQ, seqKV         int
	causal              bool
	qPos0               int
	mask                bool
	padQ, padKV, padO   int     // extra floats per row beyond packed (strided layouts)
	window              int     // sliding window (Gemma's local layers)
	softcap             float32 // score soft-capping (Gemma 2)
}

var attnCases = []attnCase{
	{name: "self tiny", heads: 1, kvHeads: 1, dim: 8, seqQ: 1, seqKV: 1},
	{name: "self odd", heads: 2, kvHeads: 2, dim: 8, seqQ: 37, seqKV: 37},
	{name: "self causal odd", heads: 2, kvHeads: 2, dim: 64, seqQ: 133, seqKV: 133, causal: true},
	{name: "gqa 8/4 causal", heads: 8, kvHeads: 4, dim: 64, seqQ: 70, seqKV: 70, causal: true},
	{name: "mqa 8/1", heads: 8, kvHeads: 1, dim: 80, seqQ: 45, seqKV: 45},
	{name: "mqa 8/1 causal", heads: 8, kvHeads: 1, dim: 80, seqQ: 45, seqKV: 45, causal: true},
	{name: "causal qpos0 chunk", heads: 4, kvHeads: 2, dim: 64, seqQ: 19, seqKV: 300, causal: true, qPos0: 281},
	{name: "causal qpos0 mid", heads: 2, kvHeads: 2, dim: 8, seqQ: 40, seqKV: 97, causal: true, qPos0: 30},
	{name: "decode", heads: 8, kvHeads: 4, dim: 64, seqQ: 1, seqKV: 517, causal: true, qPos0: 516},
	{name: "decode no causal", heads: 8, kvHeads: 8, dim: 80, seqQ: 1, seqKV: 259},
	{name: "cross", heads: 4, kvHeads: 4, dim: 64, seqQ: 29, seqKV: 77},
	{name: "cross long q", heads: 2, kvHeads: 1, dim: 8, seqQ: 150, seqKV: 11},
	{name: "mask", heads: 4, kvHeads: 2, dim: 64, seqQ: 33, seqKV: 140, mask: true},
	{name: "mask causal", heads: 2, kvHeads: 2, dim: 80, seqQ: 65, seqKV: 65, causal: true, mask: true},
	{name: "strided", heads: 4, kvHeads: 2, dim: 8, seqQ: 21, seqKV: 35, causal: true, qPos0: 14, padQ: 5, padKV: 24, padO: 3},
	{name: "strided long", heads: 8, kvHeads: 4, dim: 64, seqQ: 130, seqKV: 300, mask: true, padQ: 64, padKV: 7, padO: 1},
	{name: "window", heads: 4, kvHeads: 2, dim: 16, seqQ: 70, seqKV: 70, causal: true, window: 5},
	{name: "window tiles", heads: 2, kvHeads: 1, dim: 64, seqQ: 300, seqKV: 300, causal: true, window: 129},
	{name: "window decode", heads: 4, kvHeads: 4, dim: 8, seqQ: 1, seqKV: 517, causal: true, qPos0: 516, window: 200},
	{name: "window chunk", heads: 2, kvHeads: 2, dim: 8, seqQ: 3, seqKV: 290, causal: true, qPos0: 287, window: 140},
	{name: "softcap", heads: 4, kvHeads: 2, dim: 64, seqQ: 40, seqKV: 40, causal: true, softcap: 2.5},
	{name: "softcap window mask", heads: 2, kvHeads: 2, dim: 8, seqQ: 37, seqKV: 37, causal: true, mask: true, window: 7, softcap: 1},
	{name: "decode mask", heads: 4, kvHeads: 2, dim: 64, seqQ: 1, seqKV: 140, mask: true},
	{name: "decode softcap strided", heads: 6, kvHeads: 3, dim: 64, seqQ: 1, seqKV: 33, causal: true, softcap: 2.5, padQ: 5, padKV: 7, padO: 3},
	{name: "decode one block", heads: 3, kvHeads: 3, dim: 16, seqQ: 1, seqKV: 16, causal: true, qPos0: 15},
	// The short path (attention_short.go): at most 32 keys, head dim 8 or 16.
	{name: "short frames d8", heads: 64, kvHeads: 64, dim: 8, seqQ: 16, seqKV: 16},
	{name: "short frames d16", heads: 12, kvHeads: 12, dim: 16, seqQ: 16, seqKV: 16},
	{name: "short text", heads: 4, kvHeads: 4, dim: 16, seqQ: 97, seqKV: 24},
	{name: "short 32 keys strided gqa", heads: 4, kvHeads: 2, dim: 8, seqQ: 33, seqKV: 32, padQ: 5, padKV: 7, padO: 3},
	{name: "short 9 keys", heads: 3, kvHeads: 1, dim: 16, seqQ: 5, seqKV: 9},
	{name: "short one key", heads: 2, kvHeads: 2, dim: 16, seqQ: 3, seqKV: 1},
	{name: "short 17 keys", heads: 5, kvHeads: 5, dim: 8, seqQ: 70, seqKV: 17, padKV: 1},
	{name: "past short 33 keys", heads: 2, kvHeads: 2, dim: 8, seqQ: 20, seqKV: 33},
	{name: "past short d24", heads: 2, kvHeads: 2, dim: 24, seqQ: 20, seqKV: 16},
	{name: "long gqa d80", heads: 4, kvHeads: 2, dim: 80, seqQ: 97, seqKV: 261},
}

// attnInputs builds q, k, v and mask for c; scores get a spread of magnitudes
// (scale 3) so the online max actually changes between tiles.
func attnInputs(r *rand.Rand, c attnCase) (q, k, v, mask []float32, p AttnParams) {
	p = AttnParams{Heads: c.heads, KVHeads: c.kvHeads, HeadDim: c.dim, SeqQ: c.seqQ, SeqKV: c.seqKV,
		Causal: c.causal, QPos0: c.qPos0, Window: c.window, Softcap: c.softcap}
	if c.padQ+c.padKV+c.padO > 0 {
		p.QStride = c.heads*c.dim + c.padQ
		p.KStride = c.kvHeads*c.dim + c.padKV
		p.VStride = c.kvHeads*c.dim + c.padKV
		p.OStride = c.heads*c.dim + c.padO
	}
	qs, ks := max(p.QStride, c.heads*c.dim), max(p.KStride, c.kvHeads*c.dim)
	q = randSlice(r, c.seqQ*qs)
	for i := range q {
		q[i] *= 3
	}
	k = randSlice(r, c.seqKV*ks)
	v = randSlice(r, c.seqKV*ks)
	if c.mask {
		mask = make([]float32, c.seqQ*c.seqKV)
		for i := range mask {
			switch r.Intn(5) {
			case 0:
				mask[i] = float32(math.Inf(-1))
			case 1:
				mask[i] = -2 * r.Float32()
			}
		}
		// One row masked out entirely: its output must be zeros.
		for j := 0; j < c.seqKV; j++ {
			mask[(c.seqQ/2)*c.seqKV+j] = float32(math.Inf(-1))
		}
		p.Mask = mask
	}
	return q, k, v, mask, p
}

func TestFlashAttentionMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, c := range attnCases {
		q, k, v, _, p := attnInputs(r, c)
		os := max(p.OStride, c.heads*c.dim)
		n := (c.seqQ-1)*os + c.heads*c.dim
		want := make([]float32, n)
		if err := AttentionNaive(want, q, k, v, p); err != nil {
			t.Fatalf("%s: naive: %v", c.name, err)
		}
		if c.mask {
			row := want[(c.seqQ/2)*os : (c.seqQ/2)*os+c.heads*c.dim]
			for _, x := range row {
				if x != 0 {
					t.Fatalf("%s: naive: fully masked row not zero", c.name)
				}
			}
		}
		checkAttnImpls(t, c, want, os, func(got []float32) error { return FlashAttention(got, q, k, v, p) })
	}
}

// checkAttnImpls runs attend (which writes rows of stride os into got) with
// every implementation at 1 and 2 threads: no write into the guard bands or
// the row padding, and the result within tolAttention of want.
func checkAttnImpls(t *testing.T, c attnCase, want []float32, os int, attend func(got []float32) error) {
	t.Helper()
	n := len(want)
	w := append([]float32(nil), want...)
	for i := range w {
		if i%os >= c.heads*c.dim {
			w[i] = 0
		}
	}
	for _, impl := range impls() {
		for _, threads := range []int{1, 2} {
			withImpl(t, impl, func() {
				SetThreads(threads)
				defer SetThreads(0)
				got, full := guarded(n)
				for i := range got {
					got[i] = float32(math.NaN()) // padding between rows must stay untouched
				}
				if err := attend(got); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				checkGuards(t, full, n)
				for i := range got {
					if i%os >= c.heads*c.dim {
						if got[i] == got[i] {
							t.Fatalf("%s: wrote into output row padding at %d", c.name, i)
						}
						got[i] = 0
					}
				}
				assertNMSE(t, c.name+" "+impl, got, w, tolAttention)
			})
		}
	}
}

// TestAttentionNaiveByHand checks the reference itself on a case small
// enough to work out: one head, two keys, dim 1.
func TestAttentionNaiveByHand(t *testing.T) {
	q := []float32{1, 2}   // (2 queries, 1 head, dim 1)
	k := []float32{1, -1}  // (2 keys)
	v := []float32{10, 20} // (2 keys)
	out := make([]float32, 2)
	p := AttnParams{Heads: 1, KVHeads: 1, HeadDim: 1, SeqQ: 2, SeqKV: 2, Causal: true}
	if err := AttentionNaive(out, q, k, v, p); err != nil {
		t.Fatal(err)
	}
	// Query 0 sees key 0 only → 10. Query 1: scores 2, -2 → weights e^2, e^-2.
	w0 := math.Exp(2) / (math.Exp(2) + math.Exp(-2))
	want1 := w0*10 + (1-w0)*20
	if out[0] != 10 || math.Abs(float64(out[1])-want1) > 1e-5 {
		t.Fatalf("naive = %v, want [10 %v]", out, want1)
	}
	got := make([]float32, 2)
	if err := FlashAttention(got, q, k, v, p); err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(got[0]-10)) > 1e-6 || math.Abs(float64(got[1])-want1) > 1e-5 {
		t.Fatalf("flash = %v, want [10 %v]", got, want1)
	}
	// A window of one key: each query sees only itself.
	p.Window = 1
	if err := AttentionNaive(out, q, k, v, p); err != nil {
		t.Fatal(err)
	}
	if out[0] != 10 || out[1] != 20 {
		t.Fatalf("naive window 1 = %v, want [10 20]", out)
	}
	// Soft-capped at 1: query 1's scores become tanh(2), tanh(-2).
	p.Window, p.Softcap = 0, 1
	if err := AttentionNaive(out, q, k, v, p); err != nil {
		t.Fatal(err)
	}
	w0 = math.Exp(math.Tanh(2)) / (math.Exp(math.Tanh(2)) + math.Exp(math.Tanh(-2)))
	if want1 = w0*10 + (1-w0)*20; math.Abs(float64(out[1])-want1) > 1e-5 {
		t.Fatalf("naive soft-capped = %v, want [10 %v]", out, want1)
	}
}

func TestAttentionErrors(t *testing.T) {
	ok := AttnParams{Heads: 4, KVHeads: 2, HeadDim: 8, SeqQ: 3, SeqKV: 5}
	q, o := make([]float32, 3*32), make([]float32, 3*32)
	kv := make([]float32, 5*16)
	for _, tc := range []struct {
		name string
		edit func(p *AttnParams)
		q    []float32
		want string
	}{
		{"zero heads", func(p *AttnParams) { p.Heads = 0 }, q, "positive"},
		{"gqa mismatch", func(p *AttnParams) { p.KVHeads = 3 }, q, "multiple"},
		{"negative seq", func(p *AttnParams) { p.SeqKV = -1 }, q, "negative"},
		{"short q", func(p *AttnParams) {}, q[:95], "q has"},
		{"short kv", func(p *AttnParams) { p.SeqKV = 6 }, q, "k has"},
		{"small stride", func(p *AttnParams) { p.QStride = 31 }, q, "strides"},
		{"short mask", func(p *AttnParams) { p.Mask = make([]float32, 14) }, q, "mask"},
		{"nan scale", func(p *AttnParams) { p.Scale = float32(math.NaN()) }, q, "scale"},
		{"window not causal", func(p *AttnParams) { p.Window = 2 }, q, "window"},
		{"negative soft-cap", func(p *AttnParams) { p.Softcap = -1; p.Causal = true }, q, "soft-cap"},
	} {
		p := ok
		tc.edit(&p)
		for name, f := range map[string]func([]float32, []float32, []float32, []float32, AttnParams) error{
			"flash": FlashAttention, "naive": AttentionNaive} {
			err := f(o, tc.q, kv, kv, p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s %s: err = %v, want it to mention %q", name, tc.name, err, tc.want)
			}
		}
	}
	if err := FlashAttention(o, q, kv, kv, ok); err != nil {
		t.Fatalf("valid params: %v", err)
	}
}

// FuzzAttentionParams: any dims either fail cleanly or give the naive result.
func FuzzAttentionParams(f *testing.F) {
	f.Add(2, 1, 4, 3, 5, true, 2, 0)
	f.Add(3, 3, 1, 1, 0, false, 0, 7)
	f.Fuzz(func(t *testing.T, heads, kvHeads, dim, seqQ, seqKV int, causal bool, qPos0, pad int) {
		if heads > 8 || kvHeads > 8 || dim > 16 || seqQ > 40 || seqKV > 40 || qPos0 > 64 || pad > 8 ||
			heads < -2 || kvHeads < -2 || dim < -2 || seqQ < -2 || seqKV < -2 || qPos0 < -2 || pad < -2 {
			return
		}
		p := AttnParams{Heads: heads, KVHeads: kvHeads, HeadDim: dim, SeqQ: seqQ, SeqKV: seqKV,
			Causal: causal, QPos0: qPos0, KStride: pad}
		r := rand.New(rand.NewSource(int64(heads*1000 + dim)))
		q, k, v := randSlice(r, 40*8*16), randSlice(r, 40*8*16+8), randSlice(r, 40*8*16+8)
		got, want := make([]float32, 40*8*16), make([]float32, 40*8*16)
		errF := FlashAttention(got, q, k, v, p)
		errN := AttentionNaive(want, q, k, v, p)
		if (errF == nil) != (errN == nil) {
			t.Fatalf("flash err %v, naive err %v", errF, errN)
		}
		if errF == nil {
			assertNMSE(t, "fuzz", got, want, tolAttention)
		}
	})
}

// attnBenchShapes are the shapes BENCHMARKS.md tracks (8 heads × 64 dims).
var attnBenchShapes = []struct {
	name   string
	seqQ   int
	seqKV  int
	causal bool
}{
	{"prefill512_causal", 512, 512, true},
	{"prefill2048_causal", 2048, 2048, true},
	{"decode_kv4096", 1, 4096, true},
	{"decode_kv192", 1, 192, true}, // loom bench generate's last decode step
}

func BenchmarkFlashAttention(b *testing.B) {
	for _, s := range attnBenchShapes {
		for _, impl := range []string{"fused", "naive"} {
			if impl == "naive" && s.seqQ > 512 && testing.Short() {
				continue
			}
			b.Run(s.name+"/"+impl, func(b *testing.B) {
				r := rand.New(rand.NewSource(1))
				p := AttnParams{Heads: 8, KVHeads: 8, HeadDim: 64, SeqQ: s.seqQ, SeqKV: s.seqKV, Causal: s.causal, QPos0: s.seqKV - s.seqQ}
				q, k, v := randSlice(r, s.seqQ*512), randSlice(r, s.seqKV*512), randSlice(r, s.seqKV*512)
				out := make([]float32, len(q))
				f := FlashAttention
				if impl == "naive" {
					f = AttentionNaive
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := f(out, q, k, v, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// The composed GEMM+softmax path agrees with the reference on the same table.
func TestAttentionComposedMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, c := range []struct {
		heads, kv, d, sq, skv, pos int
		causal                     bool
		window                     int
		softcap                    float32
	}{{2, 2, 8, 37, 37, 0, false, 0, 0}, {8, 4, 64, 70, 70, 0, true, 0, 0}, {4, 2, 64, 19, 300, 281, true, 0, 0},
		{4, 4, 64, 29, 77, 0, false, 0, 0}, {4, 2, 16, 19, 300, 281, true, 40, 0}, {2, 2, 8, 50, 50, 0, true, 9, 1.5}} {
		p := AttnParams{Heads: c.heads, KVHeads: c.kv, HeadDim: c.d, SeqQ: c.sq, SeqKV: c.skv, Causal: c.causal, QPos0: c.pos,
			Window: c.window, Softcap: c.softcap}
		q, k, v := randSlice(r, c.sq*c.heads*c.d), randSlice(r, c.skv*c.kv*c.d), randSlice(r, c.skv*c.kv*c.d)
		want, got := make([]float32, len(q)), make([]float32, len(q))
		if err := AttentionNaive(want, q, k, v, p); err != nil {
			t.Fatal(err)
		}
		if err := AttentionComposed(got, q, k, v, p); err != nil {
			t.Fatal(err)
		}
		assertNMSE(t, "attention composed", got, want, 1e-10)
	}
}

// TestAttnPackedMatchesTiles: with K and V packed once per head and call
// (attnPacked, every call of more than one query tile), FlashAttention's
// output is bit for bit that of each (head, query tile) run on its own,
// packing its K and V tiles itself: every implementation, 1 and 2 threads,
// float32 and half K and V.
func TestAttnPackedMatchesTiles(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	packed := 0
	for _, c := range attnCases {
		q, k32, v32, _, p := attnInputs(r, c)
		os := max(p.OStride, c.heads*c.dim)
		n := (c.seqQ-1)*os + c.heads*c.dim
		if err := p.normalize(make([]float32, n), q, len(k32), len(v32)); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		qTiles := (c.seqQ + attnQTile - 1) / attnQTile
		k16, _ := halves(k32)
		v16, _ := halves(v32)
		k8, _ := q8Cache(k32)
		v8, _ := q8Cache(v32)
		kvs := [][2]kvRows{{{f32: k32}, {f32: v32}}, {{f16: k16, half: true}, {f16: v16, half: true}}, {{q8: k8, isQ8: true}, {q8: v8, isQ8: true}}}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				if p.shortKeys(kvs[0][0]) || !p.attnPackable(qTiles) {
					return
				}
				packed++
				for kind, kv := range kvs {
					var s attnScratch
					want := make([]float32, n)
					for h := 0; h < c.heads; h++ {
						for i0 := 0; i0 < c.seqQ; i0 += attnQTile {
							i1 := min(i0+attnQTile, c.seqQ)
							if i1-i0 >= attnGemmRows {
								attnTileGemm(want, q, kv[0], kv[1], &p, h, i0, i1, &s, nil)
							} else {
								attnTile(want, q, kv[0], kv[1], &p, h, i0, i1, &s)
							}
						}
					}
					for _, threads := range []int{1, 2} {
						SetThreads(threads)
						got := make([]float32, n)
						if err := flashAttention(got, q, kv[0], kv[1], p); err != nil {
							t.Fatalf("%s: %v", c.name, err)
						}
						SetThreads(0)
						for i := range want {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %s kind %d threads %d: out[%d] = %v, unpacked %v", c.name, impl, kind, threads, i, got[i], want[i])
							}
						}
					}
				}
			})
		}
	}
	if packed == 0 {
		t.Fatal("no case took the packed path")
	}
}
