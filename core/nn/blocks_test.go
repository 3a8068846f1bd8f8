package nn

import (
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/tensor"
)

// The shared blocks against float64 references written from their papers'
// formulas. The towers' PyTorch goldens (UNet, VAE, CLIP, the captioner)
// check the same blocks end to end on real layouts.

func init() { tensor.PoisonScratch = true }

// attention64 is softmax(q·kᵀ/√d)·v per head, q (T, H·d), k and v (S, H·d).
func attention64(q, k, v []float64, T, S, heads, d int, causal bool) []float64 {
	out := make([]float64, T*heads*d)
	w := heads * d
	for h := 0; h < heads; h++ {
		for i := 0; i < T; i++ {
			sc := make([]float64, S)
			mx := math.Inf(-1)
			for j := 0; j < S; j++ {
				if causal && j > i {
					sc[j] = math.Inf(-1)
					continue
				}
				s := 0.0
				for e := 0; e < d; e++ {
					s += q[i*w+h*d+e] * k[j*w+h*d+e]
				}
				sc[j] = s / math.Sqrt(float64(d))
				mx = math.Max(mx, sc[j])
			}
			sum := 0.0
			for j := range sc {
				sc[j] = math.Exp(sc[j] - mx)
				sum += sc[j]
			}
			for j := range sc {
				for e := 0; e < d; e++ {
					out[i*w+h*d+e] += sc[j] / sum * v[j*w+h*d+e]
				}
			}
		}
	}
	return out
}

// putRand stores a random tensor of the given shape under name and returns it.
func (m memSource) putRand(r *rand.Rand, name string, shape ...int) []float32 {
	n := 1
	for _, s := range shape {
		n *= s
	}
	v := randF(r, n)
	m.put(name, v, shape...)
	return v
}

// putTransformerBlock stores a BasicTransformerBlock's tensors under prefix:
// dim channels, attn2 over a context of ctxDim.
func (m memSource) putTransformerBlock(r *rand.Rand, prefix string, dim, ctxDim int) {
	for _, n := range []string{"norm1", "norm2", "norm3"} {
		m.putRand(r, prefix+n+".weight", dim)
		m.putRand(r, prefix+n+".bias", dim)
	}
	for _, a := range []struct {
		name string
		kv   int
	}{{"attn1", dim}, {"attn2", ctxDim}} {
		m.putRand(r, prefix+a.name+".to_q.weight", dim, dim)
		m.putRand(r, prefix+a.name+".to_k.weight", dim, a.kv)
		m.putRand(r, prefix+a.name+".to_v.weight", dim, a.kv)
		m.putRand(r, prefix+a.name+".to_out.0.weight", dim, dim)
		m.putRand(r, prefix+a.name+".to_out.0.bias", dim)
	}
	m.putRand(r, prefix+"ff.net.0.proj.weight", 8*dim, dim)
	m.putRand(r, prefix+"ff.net.0.proj.bias", 8*dim)
	m.putRand(r, prefix+"ff.net.2.weight", dim, 4*dim)
	m.putRand(r, prefix+"ff.net.2.bias", dim)
}

func maxErr64(got []float32, want []float64) float64 {
	m := 0.0
	for i := range want {
		m = math.Max(m, math.Abs(float64(got[i])-want[i]))
	}
	return m
}

func TestCrossAttentionMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	const dim, ctxDim, heads, hd, T, S = 4, 6, 2, 3, 5, 7
	inner := heads * hd
	src := memSource{}
	wq, wk, wv, wo, bo := randF(r, inner*dim), randF(r, inner*ctxDim), randF(r, inner*ctxDim), randF(r, dim*inner), randF(r, dim)
	src.put("a.to_q.weight", wq, inner, dim)
	src.put("a.to_k.weight", wk, inner, ctxDim)
	src.put("a.to_v.weight", wv, inner, ctxDim)
	src.put("a.to_out.0.weight", wo, dim, inner)
	src.put("a.to_out.0.bias", bo, dim)
	b := NewBinder(src)
	a := BindCrossAttention(b.Sub("a"), dim, ctxDim, heads, hd)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	x, ctx := randF(r, T*dim), randF(r, S*ctxDim)
	att := attention64(linear64(to64(x), wq, nil, T, inner, dim), linear64(to64(ctx), wk, nil, S, inner, ctxDim),
		linear64(to64(ctx), wv, nil, S, inner, ctxDim), T, S, heads, hd, false)
	want := linear64(att, wo, bo, T, dim, inner)
	var ar tensor.Arena
	out := make([]float32, T*dim)
	if err := a.Forward(out, x, T, ctx, S, &ar); err != nil {
		t.Fatal(err)
	}
	if e := maxErr64(out, want); e > 1e-5 {
		t.Fatalf("cross-attention differs from the reference by %g", e)
	}
	// ForwardAdd adds the same output to a residual.
	res := randF(r, T*dim)
	sum := make([]float64, len(res))
	for i := range sum {
		sum[i] = float64(res[i]) + want[i]
	}
	if err := a.ForwardAdd(res, x, T, ctx, S, nil); err != nil {
		t.Fatal(err)
	}
	if e := maxErr64(res, sum); e > 1e-5 {
		t.Fatalf("ForwardAdd differs by %g", e)
	}
	// Causal self-attention (a text encoder's) needs ctx = x and matching widths.
	self := CrossAttention{Q: a.Q, K: Linear{W: Matrix{Rows: inner, Cols: dim, F32: wq}}, V: Linear{W: Matrix{Rows: inner, Cols: dim, F32: wq}},
		O: a.O, Heads: heads, HeadDim: hd, Causal: true}
	qx := linear64(to64(x), wq, nil, T, inner, dim)
	want = linear64(attention64(qx, qx, qx, T, T, heads, hd, true), wo, bo, T, dim, inner)
	if err := self.Forward(out, x, T, x, T, &ar); err != nil {
		t.Fatal(err)
	}
	if e := maxErr64(out, want); e > 1e-5 {
		t.Fatalf("causal self-attention differs from the reference by %g", e)
	}
}

func gelu64(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }

func TestFeedForwardGEGLUMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	const dim, ff, T = 6, 8, 3
	src := memSource{}
	w0, b0, w2, b2 := randF(r, 2*ff*dim), randF(r, 2*ff), randF(r, dim*ff), randF(r, dim)
	src.put("ff.net.0.proj.weight", w0, 2*ff, dim)
	src.put("ff.net.0.proj.bias", b0, 2*ff)
	src.put("ff.net.2.weight", w2, dim, ff)
	src.put("ff.net.2.bias", b2, dim)
	b := NewBinder(src)
	f := BindFeedForward(b.Sub("ff"), dim, ff)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	x := randF(r, T*dim)
	proj := linear64(to64(x), w0, b0, T, 2*ff, dim)
	mid := make([]float64, T*ff)
	for i := 0; i < T; i++ {
		for j := 0; j < ff; j++ {
			mid[i*ff+j] = proj[i*2*ff+j] * gelu64(proj[i*2*ff+ff+j]) // value half ⊙ gelu(gate half)
		}
	}
	want := linear64(mid, w2, b2, T, dim, ff)
	out := append([]float32(nil), x...)
	if err := f.Forward(out, out, T, nil); err != nil { // out aliases x
		t.Fatal(err)
	}
	if e := maxErr64(out, want); e > 1e-5 {
		t.Fatalf("GEGLU feed-forward differs from the reference by %g", e)
	}
}

// groupNorm64 normalises x (C, hw) over groups of channels with an affine.
func groupNorm64(x []float64, w, b []float32, C, hw, groups int, eps float64) []float64 {
	out := make([]float64, len(x))
	per := C / groups
	for g := 0; g < groups; g++ {
		seg := x[g*per*hw : (g+1)*per*hw]
		mean, vr := 0.0, 0.0
		for _, v := range seg {
			mean += v
		}
		mean /= float64(len(seg))
		for _, v := range seg {
			vr += (v - mean) * (v - mean)
		}
		vr /= float64(len(seg))
		for i, v := range seg {
			c := g*per + i/hw
			out[g*per*hw+i] = (v-mean)/math.Sqrt(vr+eps)*float64(w[c]) + float64(b[c])
		}
	}
	return out
}

func silu64(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v / (1 + math.Exp(-v))
	}
	return out
}

// conv64 is a k×k, stride-1 convolution with pad k/2 of x (C, h, w).
func conv64(x []float64, w, b []float32, O, C, k, h, wd int) []float64 {
	out := make([]float64, O*h*wd)
	p := k / 2
	for o := 0; o < O; o++ {
		for y := 0; y < h; y++ {
			for xx := 0; xx < wd; xx++ {
				s := float64(b[o])
				for c := 0; c < C; c++ {
					for ky := 0; ky < k; ky++ {
						for kx := 0; kx < k; kx++ {
							iy, ix := y+ky-p, xx+kx-p
							if iy >= 0 && iy < h && ix >= 0 && ix < wd {
								s += x[(c*h+iy)*wd+ix] * float64(w[((o*C+c)*k+ky)*k+kx])
							}
						}
					}
				}
				out[(o*h+y)*wd+xx] = s
			}
		}
	}
	return out
}

func TestResnetBlockMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	const in, out, temb, groups, h, w = 4, 6, 5, 2, 3, 4
	src := memSource{}
	put := func(name string, shape ...int) []float32 { return src.putRand(r, name, shape...) }
	n1w, n1b := put("r.norm1.weight", in), put("r.norm1.bias", in)
	c1w, c1b := put("r.conv1.weight", out, in, 3, 3), put("r.conv1.bias", out)
	tw, tb := put("r.time_emb_proj.weight", out, temb), put("r.time_emb_proj.bias", out)
	n2w, n2b := put("r.norm2.weight", out), put("r.norm2.bias", out)
	c2w, c2b := put("r.conv2.weight", out, out, 3, 3), put("r.conv2.bias", out)
	sw, sb := put("r.conv_shortcut.weight", out, in, 1, 1), put("r.conv_shortcut.bias", out)
	b := NewBinder(src)
	rb := BindResnetBlock(b.Sub("r"), in, out, temb, groups, 1e-5)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	x, te := randF(r, in*h*w), randF(r, temb)
	hid := conv64(silu64(groupNorm64(to64(x), n1w, n1b, in, h*w, groups, 1e-5)), c1w, c1b, out, in, 3, h, w)
	proj := linear64(to64(te), tw, tb, 1, out, temb)
	for c := 0; c < out; c++ {
		for i := 0; i < h*w; i++ {
			hid[c*h*w+i] += proj[c]
		}
	}
	want := conv64(silu64(groupNorm64(hid, n2w, n2b, out, h*w, groups, 1e-5)), c2w, c2b, out, out, 3, h, w)
	skip := conv64(to64(x), sw, sb, out, in, 1, h, w)
	for i := range want {
		want[i] += skip[i]
	}
	got := make([]float32, out*h*w)
	if err := rb.Forward(got, x, 1, h, w, te, nil); err != nil {
		t.Fatal(err)
	}
	if e := maxErr64(got, want); e > 1e-4 {
		t.Fatalf("resnet block differs from the reference by %g", e)
	}
	if err := rb.Forward(got, x, 1, h, w, nil, nil); err == nil || !strings.Contains(err.Error(), "time embedding") {
		t.Fatalf("a missing time embedding gave %v", err)
	}
	if err := rb.Forward(got, x[:5], 1, h, w, te, nil); err == nil {
		t.Fatal("short input accepted")
	}
}

// A feature map through Transformer2D in a batch equals each image alone bit
// for bit (the batch's projections run over every image's tokens at once,
// the attention per image; tokens per image ≥ 2, where a one-row projection
// would be a GEMV), packed weights or not, and a zero proj_out leaves the
// map as it was (the residual).
func TestTransformer2DBatchesAndResidual(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	const ch, heads, ctxDim, groups, S = 8, 2, 5, 2, 3
	src := memSource{}
	for _, n := range []string{"norm.weight", "norm.bias", "proj_in.bias", "proj_out.bias"} {
		src.putRand(r, "t."+n, ch)
	}
	src.putRand(r, "t.proj_in.weight", ch, ch, 1, 1)
	src.putRand(r, "t.proj_out.weight", ch, ch, 1, 1)
	src.putTransformerBlock(r, "t.transformer_blocks.0.", ch, ctxDim)
	b := NewBinder(src)
	tr := BindTransformer2D(b.Sub("t"), ch, heads, 1, ctxDim, groups)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	var x, ctx, both []float32
	const n, hw = 2, 6 // the residual check's batch
	for _, c := range []struct{ n, hw int }{{5, 16}, {3, 7}, {n, hw}} {
		for _, packed := range []bool{false, true} {
			if packed {
				tr.Pack()
			}
			x, ctx = randF(r, c.n*ch*c.hw), randF(r, c.n*S*ctxDim)
			both = append([]float32(nil), x...)
			var ar tensor.Arena
			if err := tr.Forward(both, c.n, c.hw, ctx, S, &ar); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < c.n; i++ {
				one := append([]float32(nil), x[i*ch*c.hw:(i+1)*ch*c.hw]...)
				ar.Reset()
				if err := tr.Forward(one, 1, c.hw, ctx[i*S*ctxDim:(i+1)*S*ctxDim], S, &ar); err != nil {
					t.Fatal(err)
				}
				for j, v := range one {
					if v != both[i*ch*c.hw+j] {
						t.Fatalf("%d images of %d tokens (packed %v): image %d alone differs at %d: %v vs %v", c.n, c.hw, packed, i, j, v, both[i*ch*c.hw+j])
					}
				}
			}
		}
	}
	if err := tr.Forward(both, n, hw, ctx[:S*ctxDim], S, nil); err == nil {
		t.Fatal("a context for one image of two accepted")
	}
	changed := false
	for i := range x {
		changed = changed || both[i] != x[i]
	}
	if !changed {
		t.Fatal("transformer left the map unchanged")
	}
	clear(tr.ProjOut.W.F32)
	clear(tr.ProjOut.Bias)
	tr.ProjOut.Pack() // the zeros, not the packed copy of the weight
	same := append([]float32(nil), x...)
	if err := tr.Forward(same, 2, hw, ctx, S, nil); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if same[i] != x[i] {
			t.Fatalf("zero proj_out changed the map at %d", i)
		}
	}
}

func TestBlockBindersRecordErrors(t *testing.T) {
	src := memSource{}
	src.put("ff.net.0.proj.weight", make([]float32, 3*4), 3, 4) // odd rows: not two halves of 2
	src.put("ff.net.2.weight", make([]float32, 4*2), 4, 2)
	b := NewBinder(src)
	BindFeedForward(b.Sub("ff"), 4, 2)
	b.DenseLinear("missing", 2, 2)
	err := b.Err()
	if err == nil || !strings.Contains(err.Error(), "ff.net.0.proj.weight") || !strings.Contains(err.Error(), "missing.weight") {
		t.Fatalf("binding errors not recorded: %v", err)
	}
}

// Interleaved self-attention is P ordinary self-attentions: each sequence
// pulled out of the (T, P, dim) layout and run alone gives the same rows.
func TestCrossAttentionInterleavedIsPerSequence(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	const dim, heads, hd, T, P = 6, 2, 3, 5, 4
	inner := heads * hd
	lin := func(out, in int) Linear {
		return Linear{W: Matrix{Rows: out, Cols: in, F32: randF(r, out*in)}, Bias: randF(r, out)}
	}
	a := CrossAttention{Q: lin(inner, dim), K: lin(inner, dim), V: lin(inner, dim), O: lin(dim, inner), Heads: heads, HeadDim: hd}
	x := randF(r, T*P*dim)
	got := make([]float32, T*P*dim)
	if err := a.ForwardInterleaved(got, x, T, P, nil); err != nil {
		t.Fatal(err)
	}
	seq, one := make([]float32, T*dim), make([]float32, T*dim)
	for p := 0; p < P; p++ {
		for i := 0; i < T; i++ {
			copy(seq[i*dim:(i+1)*dim], x[(i*P+p)*dim:(i*P+p+1)*dim])
		}
		if err := a.Forward(one, seq, T, seq, T, nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < T; i++ {
			for c := 0; c < dim; c++ {
				if d := math.Abs(float64(got[(i*P+p)*dim+c] - one[i*dim+c])); d > 1e-5 {
					t.Fatalf("sequence %d token %d channel %d: interleaved %v, alone %v", p, i, c, got[(i*P+p)*dim+c], one[i*dim+c])
				}
			}
		}
	}
}

// A motion module binds its frame positions from the checkpoint when stored
// and computes diffusers' table otherwise; a table of the wrong length is a
// binding error, and a clip longer than the table is refused.
func TestTransformerTemporalPositions(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	const ch, heads, groups, maxF = 8, 2, 2, 6
	mk := func(withPE bool, peLen int) memSource {
		src := memSource{}
		for _, n := range []string{"norm.weight", "norm.bias", "proj_in.bias", "proj_out.bias"} {
			src.putRand(r, "m."+n, ch)
		}
		src.putRand(r, "m.proj_in.weight", ch, ch)
		src.putRand(r, "m.proj_out.weight", ch, ch)
		src.putTransformerBlock(r, "m.transformer_blocks.0.", ch, ch)
		if withPE {
			src.put("m.transformer_blocks.0.pos_embed.pe", SinusoidTable(peLen, ch), 1, peLen, ch)
		}
		return src
	}
	bind := func(src memSource) (TransformerTemporal, error) {
		b := NewBinder(src)
		m := BindTransformerTemporal(b.Sub("m"), ch, heads, 1, groups, maxF, 0)
		return m, b.Err()
	}
	stored, err := bind(mk(true, maxF))
	if err != nil {
		t.Fatal(err)
	}
	want := SinusoidTable(maxF, ch)
	for i, v := range stored.Blocks[0].PosEmbed {
		if v != want[i] {
			t.Fatalf("stored table not used: %d: %v vs %v", i, v, want[i])
		}
	}
	computed, err := bind(mk(false, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(computed.Blocks[0].PosEmbed) != maxF*ch {
		t.Fatalf("computed table has %d floats", len(computed.Blocks[0].PosEmbed))
	}
	if _, err := bind(mk(true, maxF+2)); err == nil {
		t.Fatal("a position table of the wrong length bound")
	}
	x := randF(r, 2*(maxF+1)*ch*4)
	if err := computed.Forward(x, 2, maxF+1, 4, nil, 0, nil); err == nil || !strings.Contains(err.Error(), "positions") {
		t.Fatalf("a clip longer than the table: %v", err)
	}
	if err := computed.Forward(x[:2*maxF*ch*4], 2, maxF, 4, nil, 0, nil); err != nil {
		t.Fatal(err)
	}
}

// A transformer block whose attn2 reads a context, run on P interleaved
// sequences of frames, is P ordinary blocks: each sequence pulled out and run
// alone over the same context (with the same positions) gives the same rows.
func TestTransformerBlockInterleavedContext(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	const dim, ctxDim, heads, T, P, S = 8, 6, 2, 5, 3, 7
	src := memSource{}
	src.putTransformerBlock(r, "b.", dim, ctxDim)
	b := NewBinder(src)
	blk := BindTransformerBlock(b.Sub("b"), dim, ctxDim, heads)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	blk.PosEmbed = SinusoidTable(T, dim)
	x, ctx := randF(r, T*P*dim), randF(r, S*ctxDim)
	got := append([]float32(nil), x...)
	if err := blk.ForwardInterleaved(got, T, P, ctx, S, nil); err != nil {
		t.Fatal(err)
	}
	seq := make([]float32, T*dim)
	for p := 0; p < P; p++ {
		for i := 0; i < T; i++ {
			copy(seq[i*dim:(i+1)*dim], x[(i*P+p)*dim:(i*P+p+1)*dim])
		}
		if err := blk.Forward(seq, T, ctx, S, nil); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < T; i++ {
			for c := 0; c < dim; c++ {
				if d := math.Abs(float64(got[(i*P+p)*dim+c] - seq[i*dim+c])); d > 1e-4 {
					t.Fatalf("sequence %d token %d channel %d: interleaved %v, alone %v", p, i, c, got[(i*P+p)*dim+c], seq[i*dim+c])
				}
			}
		}
	}
}

// The cached position table a global motion module reads is GlobalPositions'
// table for that shape, shared between calls, and the cache forgets old
// shapes past its bound instead of growing.
func TestGlobalPositionsCache(t *testing.T) {
	for _, s := range [][4]int{{16, 8, 8, 64}, {3, 5, 7, 9}, {1, 1, 1, 2}} {
		a := globalPositionsCached(s[0], s[1], s[2], s[3])
		want := GlobalPositions(s[0], s[1], s[2], s[3])
		if len(a) != len(want) {
			t.Fatalf("%v: %d values, want %d", s, len(a), len(want))
		}
		for i := range want {
			if a[i] != want[i] {
				t.Fatalf("%v: value %d = %v, want %v", s, i, a[i], want[i])
			}
		}
		if b := globalPositionsCached(s[0], s[1], s[2], s[3]); &b[0] != &a[0] {
			t.Fatalf("%v: second call built a new table", s)
		}
	}
	for f := 1; f <= 3*globalPosMax; f++ {
		globalPositionsCached(f, 2, 2, 4)
	}
	globalPos.Lock()
	n := len(globalPos.m)
	globalPos.Unlock()
	if n > globalPosMax {
		t.Fatalf("cache holds %d shapes, bound %d", n, globalPosMax)
	}
}

// PoolTokens against the mean written out per cell, on grids that the cell
// does not divide (the edge cells average the pixels they cover).
func TestPoolTokens(t *testing.T) {
	r := rand.New(rand.NewSource(21))
	for _, c := range [][5]int{{2, 5, 7, 2, 3}, {1, 4, 4, 2, 5}, {3, 6, 5, 3, 1}, {1, 3, 3, 4, 2}, {2, 4, 6, 1, 4}} {
		frames, h, w, p, dim := c[0], c[1], c[2], c[3], c[4]
		x := randF(r, frames*h*w*dim)
		ph, pw := (h+p-1)/p, (w+p-1)/p
		out := make([]float32, frames*ph*pw*dim)
		n, err := PoolTokens(out, x, frames, h, w, p, dim)
		if err != nil || n != frames*ph*pw {
			t.Fatalf("%v: %d tokens, %v", c, n, err)
		}
		for f := 0; f < frames; f++ {
			for cy := 0; cy < ph; cy++ {
				for cx := 0; cx < pw; cx++ {
					for ch := 0; ch < dim; ch++ {
						sum, cnt := 0.0, 0
						for y := cy * p; y < h && y < (cy+1)*p; y++ {
							for xx := cx * p; xx < w && xx < (cx+1)*p; xx++ {
								sum += float64(x[((f*h+y)*w+xx)*dim+ch])
								cnt++
							}
						}
						if got := out[((f*ph+cy)*pw+cx)*dim+ch]; math.Abs(float64(got)-sum/float64(cnt)) > 1e-6 {
							t.Fatalf("%v: frame %d cell %d,%d channel %d = %v, want %v", c, f, cy, cx, ch, got, sum/float64(cnt))
						}
					}
				}
			}
		}
	}
	if _, err := PoolTokens(make([]float32, 4), make([]float32, 8), 1, 2, 2, 2, 3); err == nil {
		t.Fatal("short x accepted")
	}
	if _, err := PoolTokens(make([]float32, 2), make([]float32, 12), 1, 2, 2, 2, 3); err == nil {
		t.Fatal("short out accepted")
	}
}

// Pooled keys and values are exact where the tokens are constant over each
// cell: p² equal keys take p² times one key's softmax weight, so attention
// over every token equals attention over the cells' means. On varied tokens
// they differ (the test can fail), and pool 1 is the plain block.
func TestForwardPooledKV(t *testing.T) {
	r := rand.New(rand.NewSource(23))
	const dim, ctxDim, heads, frames, h, w, p, S = 8, 6, 2, 2, 4, 6, 2, 5
	for _, cross := range []bool{false, true} {
		src := memSource{}
		kvDim := dim
		if cross {
			kvDim = ctxDim
		}
		src.putTransformerBlock(r, "b.", dim, kvDim)
		b := NewBinder(src)
		blk := BindTransformerBlock(b.Sub("b"), dim, kvDim, heads)
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		var ctx []float32
		if cross {
			ctx = randF(r, S*ctxDim)
		}
		T := frames * h * w
		cells := randF(r, frames*(h/p)*(w/p)*dim)
		x := make([]float32, T*dim)
		for f := 0; f < frames; f++ {
			for y := 0; y < h; y++ {
				for xx := 0; xx < w; xx++ {
					copy(x[((f*h+y)*w+xx)*dim:][:dim], cells[((f*(h/p)+y/p)*(w/p)+xx/p)*dim:][:dim])
				}
			}
		}
		maxDiff := func(x []float32, pool int) float64 {
			full, pooled := append([]float32(nil), x...), append([]float32(nil), x...)
			if err := blk.ForwardImages(full, 1, T, ctx, S, nil); err != nil {
				t.Fatal(err)
			}
			if err := blk.ForwardPooledKV(pooled, frames, h, w, pool, ctx, S, nil); err != nil {
				t.Fatal(err)
			}
			d := 0.0
			for i := range full {
				d = math.Max(d, math.Abs(float64(full[i]-pooled[i])))
			}
			return d
		}
		if d := maxDiff(x, p); d > 1e-4 {
			t.Fatalf("cross %v: constant cells, pooled differs from full by %g", cross, d)
		}
		varied := randF(r, T*dim)
		if d := maxDiff(varied, 1); d != 0 {
			t.Fatalf("cross %v: pool 1 differs from the plain block by %g", cross, d)
		}
		if d := maxDiff(varied, p); d < 1e-3 {
			t.Fatalf("cross %v: varied tokens, pooled equals full (%g): pooling did nothing", cross, d)
		}
	}
	src := memSource{}
	src.putTransformerBlock(r, "b.", dim, dim)
	b := NewBinder(src)
	blk := BindTransformerBlock(b.Sub("b"), dim, dim, heads)
	blk.PosEmbed = SinusoidTable(frames*h*w, dim)
	if err := blk.ForwardPooledKV(randF(r, frames*h*w*dim), frames, h, w, p, nil, 0, nil); err == nil || !strings.Contains(err.Error(), "position table") {
		t.Fatalf("pooled keys with a position table: %v", err)
	}
}
