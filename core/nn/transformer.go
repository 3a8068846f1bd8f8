package nn

// Transformer blocks shared by the towers ("Attention Is All You Need",
// Vaswani et al. 2017), each written to the reference implementation whose
// names the towers bind:
//
//   - CrossAttention: diffusers' Attention (to_q, to_k, to_v, to_out.0),
//     multi-head attention of x over a context; self-attention is attention
//     over x itself. CLIP, ViT and FastSpeech bind their own names to it.
//   - FeedForward: diffusers' FeedForward with GEGLU (Shazeer 2020):
//     net.0.proj (2·ff, dim) holds the value half then the gate half, net.2.
//   - MLP: fc1, activation, fc2 (CLIP, ViT, GPT-2).
//   - TransformerBlock: diffusers' BasicTransformerBlock, pre-LayerNorm
//     self-attention, cross-attention (or a second self-attention) and
//     GEGLU feed-forward, each with a residual, with optional sinusoidal
//     positions.
//   - Transformer2D: diffusers' Transformer2DModel on continuous inputs, the
//     UNet's spatial transformer over a feature map's pixels.
//   - EncoderLayer: the pre-LN encoder layer of CLIP, ViT (and Whisper):
//     x += attn(LN(x)); x += mlp(LN(x)).
//   - DecoderLayer: the pre-LN decoder layer of an encoder-decoder (Whisper,
//     BART's pre-norm kin): causal self-attention over a KV cache,
//     cross-attention over encoder states whose keys and values are computed
//     once, MLP.
//   - TransformerTemporal (temporal.go): AnimateDiff's motion module,
//     attention across a video's frames at each pixel.
//
// Token activations are (T, dim) row-major. Every block takes its working
// memory from the caller's arena (nil allocates).

import (
	"fmt"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/tensor"
)

// CrossAttention is multi-head attention of x (T, dim) over ctx (S, ctxDim)
// on the core's fused flash attention: softmax(q·kᵀ/√d)·v per head, then
// the output projection.
type CrossAttention struct {
	Q       Linear // (heads·head_dim, dim)
	K, V    Linear // (heads·head_dim, ctxDim)
	O       Linear // (dim, heads·head_dim)
	Heads   int
	HeadDim int
	Causal  bool // query i sees keys 0…i (self-attention of a text encoder)
}

// BindCrossAttention binds diffusers' Attention under b: to_q, to_k, to_v
// (bias when stored) and to_out.0, widened to f32. ctxDim is dim for
// self-attention.
func BindCrossAttention(b *Binder, dim, ctxDim, heads, headDim int) CrossAttention {
	inner := heads * headDim
	return CrossAttention{Heads: heads, HeadDim: headDim,
		Q: b.DenseLinear("to_q", inner, dim), K: b.DenseLinear("to_k", inner, ctxDim),
		V: b.DenseLinear("to_v", inner, ctxDim), O: b.DenseLinear("to_out.0", dim, inner)}
}

// Forward sets out (T, dim) to the attention of x (T, dim) over ctx
// (S, ctxDim); pass x as ctx for self-attention. out may alias x or ctx.
func (a *CrossAttention) Forward(out, x []float32, T int, ctx []float32, S int, ar *tensor.Arena) error {
	return a.forward(out, x, 1, T, ctx, S, 1, ar)
}

// ForwardInterleaved sets out (T·P, dim) to the self-attention of x viewed as
// P independent sequences of T tokens laid out (T, P, dim): token t of
// sequence p is row t·P + p. A motion module's tokens are (frames, pixels,
// C), one sequence of frames per pixel. The projections run once over all
// rows and the P sequences' heads go to one fused attention call.
func (a *CrossAttention) ForwardInterleaved(out, x []float32, T, P int, ar *tensor.Arena) error {
	return a.forward(out, x, 1, T, x, T, P, ar)
}

// forward attends P interleaved sequences of x (T, P, dim) over ctx
// (S, P, ctxDim): with rows laid out that way, sequence p's heads are heads
// p·Heads…(p+1)·Heads of one row, so the fused kernel sees P·Heads heads.
// It does so for each of n images one after another in x (n, T, P, dim),
// each over its own ctx (n, S, P, ctxDim): the projections run once over
// every image's rows (a UNet level's 16 tokens per frame are too few rows
// for a Gemm to run well), the attention once per image. A row's
// projection does not depend on the rows beside it, so the values are those
// of n calls of one image.
func (a *CrossAttention) forward(out, x []float32, n, T int, ctx []float32, S, P int, ar *tensor.Arena) error {
	inner := a.Heads * a.HeadDim
	tq, tkv := T*P*inner, S*P*inner // one image's queries, keys (values)
	q, k, v, att := ar.Scratch(n*tq), ar.Scratch(n*tkv), ar.Scratch(n*tkv), ar.Scratch(n*tq)
	if err := a.Q.Forward(q, x, n*T*P); err != nil {
		return fmt.Errorf("attention q: %w", err)
	}
	if err := a.K.Forward(k, ctx, n*S*P); err != nil {
		return fmt.Errorf("attention k: %w", err)
	}
	if err := a.V.Forward(v, ctx, n*S*P); err != nil {
		return fmt.Errorf("attention v: %w", err)
	}
	h := a.Heads * P
	ap := kernels.AttnParams{Heads: h, KVHeads: h, HeadDim: a.HeadDim, SeqQ: T, SeqKV: S, Causal: a.Causal}
	for b := range n {
		qb, kb, vb := q[b*tq:(b+1)*tq], k[b*tkv:(b+1)*tkv], v[b*tkv:(b+1)*tkv]
		if err := kernels.FlashAttention(att[b*tq:(b+1)*tq], qb, kb, vb, ap); err != nil {
			return err
		}
	}
	if err := a.O.Forward(out, att, n*T*P); err != nil {
		return fmt.Errorf("attention out: %w", err)
	}
	return nil
}

// ContextKV sets k and v (S, heads·head_dim) to the keys and values of ctx
// (S, ctxDim): computed once when many queries attend to one context, as a
// decoder's cross-attention does at every step over the same encoder states.
func (a *CrossAttention) ContextKV(k, v, ctx []float32, S int) error {
	if err := a.K.Forward(k, ctx, S); err != nil {
		return fmt.Errorf("attention k: %w", err)
	}
	if err := a.V.Forward(v, ctx, S); err != nil {
		return fmt.Errorf("attention v: %w", err)
	}
	return nil
}

// AttendKVAdd adds to res (T, dim) the attention of x (T, dim), whose tokens
// sit at positions q0…q0+T-1, over keys and values k, v (S, heads·head_dim)
// already projected (ContextKV, or a KV cache); Causal masks keys after each
// query's position.
func (a *CrossAttention) AttendKVAdd(res, x []float32, T int, k, v []float32, S, q0 int, ar *tensor.Arena) error {
	inner, dim := a.Heads*a.HeadDim, a.O.W.Rows
	q, att, o := ar.Scratch(T*inner), ar.Scratch(T*inner), ar.Scratch(T*dim)
	if err := a.Q.Forward(q, x, T); err != nil {
		return fmt.Errorf("attention q: %w", err)
	}
	ap := kernels.AttnParams{Heads: a.Heads, KVHeads: a.Heads, HeadDim: a.HeadDim, SeqQ: T, SeqKV: S, Causal: a.Causal, QPos0: q0}
	if err := kernels.FlashAttention(att, q, k[:S*inner], v[:S*inner], ap); err != nil {
		return err
	}
	if err := a.O.Forward(o, att, T); err != nil {
		return fmt.Errorf("attention out: %w", err)
	}
	if len(res) < len(o) {
		return fmt.Errorf("attention: residual has %d floats, want %d", len(res), len(o))
	}
	return kernels.Add(res[:len(o)], res[:len(o)], o)
}

// ForwardAdd adds the attention of x over ctx to res (T, dim): the residual
// connection of a pre-norm block, where x is the normalised res.
func (a *CrossAttention) ForwardAdd(res, x []float32, T int, ctx []float32, S int, ar *tensor.Arena) error {
	return a.forwardAdd(res, x, 1, T, ctx, S, 1, ar)
}

func (a *CrossAttention) forwardAdd(res, x []float32, n, T int, ctx []float32, S, P int, ar *tensor.Arena) error {
	o := ar.Scratch(n * T * P * a.O.W.Rows)
	if err := a.forward(o, x, n, T, ctx, S, P, ar); err != nil {
		return err
	}
	if len(res) < len(o) {
		return fmt.Errorf("attention: residual has %d floats, want %d", len(res), len(o))
	}
	return kernels.Add(res[:len(o)], res[:len(o)], o)
}

// FeedForward is diffusers' FeedForward with the GEGLU activation:
// Out·(Value·x ⊙ gelu(Gate·x)).
type FeedForward struct {
	Value, Gate Linear // the two halves of net.0.proj, each (ff, dim)
	Out         Linear // net.2 (dim, ff)
}

// BindFeedForward binds net.0.proj (2·ff, dim) and net.2 (dim, ff) under b,
// widened to f32.
func BindFeedForward(b *Binder, dim, ff int) FeedForward {
	f := FeedForward{Out: b.DenseLinear("net.2", dim, ff)}
	proj := b.DenseLinear("net.0.proj", 2*ff, dim)
	if proj.W.F32 == nil {
		return f // binding failed and said so
	}
	var err error
	if f.Value, err = proj.SplitRows(0, ff); err != nil {
		b.fail("bind %s: %w", b.name("net.0.proj"), err)
	}
	if f.Gate, err = proj.SplitRows(ff, 2*ff); err != nil {
		b.fail("bind %s: %w", b.name("net.0.proj"), err)
	}
	return f
}

// Forward sets out (T, dim) from x (T, dim). out may alias x.
func (f *FeedForward) Forward(out, x []float32, T int, ar *tensor.Arena) error {
	ff := f.Value.W.Rows
	val, gate := ar.Scratch(T*ff), ar.Scratch(T*ff)
	if err := f.Value.Forward(val, x, T); err != nil {
		return fmt.Errorf("geglu value: %w", err)
	}
	if err := f.Gate.Forward(gate, x, T); err != nil {
		return fmt.Errorf("geglu gate: %w", err)
	}
	if err := kernels.GELUErf(gate, gate); err != nil {
		return err
	}
	if err := kernels.Mul(val, val, gate); err != nil {
		return err
	}
	if err := f.Out.Forward(out, val, T); err != nil {
		return fmt.Errorf("feed-forward out: %w", err)
	}
	return nil
}

// Activation is an elementwise function out = f(x); out may alias x.
type Activation func(out, x []float32) error

// MLP is FC2·act(FC1·x), the feed-forward of CLIP, ViT and GPT-2.
type MLP struct {
	FC1 Linear // (ff, dim)
	FC2 Linear // (dim, ff)
	Act Activation
}

// Pack packs the projections' weights once (Linear.Pack).
func (a *CrossAttention) Pack() {
	for _, l := range []*Linear{&a.Q, &a.K, &a.V, &a.O} {
		l.Pack()
	}
}

// Pack packs both layers' weights once (Linear.Pack).
func (m *MLP) Pack() {
	m.FC1.Pack()
	m.FC2.Pack()
}

// Pack packs the three projections' weights once (Linear.Pack).
func (f *FeedForward) Pack() {
	f.Value.Pack()
	f.Gate.Pack()
	f.Out.Pack()
}

// Pack packs both attentions' and the feed-forward's weights once
// (Linear.Pack).
func (t *TransformerBlock) Pack() {
	t.Attn1.Pack()
	t.Attn2.Pack()
	t.FF.Pack()
}

// Pack packs proj_in, proj_out and every block's weights once (Linear.Pack):
// a UNet runs them on every step of every image.
func (s *Transformer2D) Pack() {
	s.ProjIn.Pack()
	s.ProjOut.Pack()
	for i := range s.Blocks {
		s.Blocks[i].Pack()
	}
}

// Pack packs the layer's weights once (Linear.Pack).
func (l *EncoderLayer) Pack() {
	l.Attn.Pack()
	l.MLP.Pack()
}

// Forward sets out (T, dim) from x (T, dim). out may alias x.
func (m *MLP) Forward(out, x []float32, T int, ar *tensor.Arena) error {
	h := ar.Scratch(T * m.FC1.W.Rows)
	if err := m.FC1.Forward(h, x, T); err != nil {
		return fmt.Errorf("mlp fc1: %w", err)
	}
	if err := m.Act(h, h); err != nil {
		return err
	}
	if err := m.FC2.Forward(out, h, T); err != nil {
		return fmt.Errorf("mlp fc2: %w", err)
	}
	return nil
}

// EncoderLayer is a pre-LN transformer encoder layer:
// x += Attn(Norm1(x)); x += MLP(Norm2(x)).
type EncoderLayer struct {
	Norm1 LayerNorm
	Attn  CrossAttention // self-attention (Causal for a text encoder)
	Norm2 LayerNorm
	MLP   MLP
}

// Forward updates x (T, dim) in place.
func (l *EncoderLayer) Forward(x []float32, T int, ar *tensor.Arena) error {
	h := ar.Scratch(T * len(l.Norm1.W))
	if err := l.Norm1.Forward(h, x, T); err != nil {
		return err
	}
	if err := l.Attn.ForwardAdd(x, h, T, h, T, ar); err != nil {
		return fmt.Errorf("self-attention: %w", err)
	}
	if err := l.Norm2.Forward(h, x, T); err != nil {
		return err
	}
	if err := l.MLP.Forward(h, h, T, ar); err != nil {
		return err
	}
	return kernels.Add(x, x, h)
}

// DecoderLayer is a pre-LN transformer decoder layer with cross-attention:
// x += Self(Norm1(x)) over the cached tokens; x += Cross(NormX(x), encoder);
// x += MLP(Norm2(x)).
type DecoderLayer struct {
	Norm1 LayerNorm
	Self  CrossAttention // Causal
	NormX LayerNorm
	Cross CrossAttention
	Norm2 LayerNorm
	MLP   MLP
}

// Forward updates x (T, dim), the tokens at positions pos…pos+T-1, in place:
// their keys and values join cache (which holds positions 0…pos-1), and ck,
// cv (S, heads·head_dim) are the encoder states' keys and values from
// Cross.ContextKV.
func (l *DecoderLayer) Forward(x []float32, T, pos int, cache *KVCache, ck, cv []float32, S int, ar *tensor.Arena) error {
	dim := len(l.Norm1.W)
	w := l.Self.Heads * l.Self.HeadDim
	if cache.Width != w {
		return fmt.Errorf("decoder layer: cache width %d, attention %d", cache.Width, w)
	}
	if cache.Half || cache.Q8 {
		return fmt.Errorf("decoder layer: an f16 or q8_0 cache is not supported here (float32 only)")
	}
	if err := cache.Reserve(pos + T); err != nil {
		return err
	}
	h := ar.Scratch(T * dim)
	if err := l.Norm1.Forward(h, x, T); err != nil {
		return err
	}
	if err := l.Self.ContextKV(cache.K[pos*w:(pos+T)*w], cache.V[pos*w:(pos+T)*w], h, T); err != nil {
		return fmt.Errorf("self-attention: %w", err)
	}
	if err := l.Self.AttendKVAdd(x, h, T, cache.K, cache.V, pos+T, pos, ar); err != nil {
		return fmt.Errorf("self-attention: %w", err)
	}
	if err := l.NormX.Forward(h, x, T); err != nil {
		return err
	}
	if err := l.Cross.AttendKVAdd(x, h, T, ck, cv, S, 0, ar); err != nil {
		return fmt.Errorf("cross-attention: %w", err)
	}
	if err := l.Norm2.Forward(h, x, T); err != nil {
		return err
	}
	if err := l.MLP.Forward(h, h, T, ar); err != nil {
		return err
	}
	return kernels.Add(x, x, h)
}

// TransformerBlock is diffusers' BasicTransformerBlock: self-attention,
// cross-attention (or, with no context, a second self-attention: diffusers'
// double_self_attention) and a GEGLU feed-forward, each pre-LayerNorm with a
// residual. PosEmbed, when set, is added to the normalised input of both
// attentions by token position (diffusers' positional_embeddings
// "sinusoidal", which motion modules use for frame positions).
type TransformerBlock struct {
	Norm1, Norm2, Norm3 LayerNorm
	Attn1, Attn2        CrossAttention
	FF                  FeedForward
	PosEmbed            []float32 // (positions, dim) or nil
}

// BindTransformerBlock binds norm1, attn1 (self), norm2, attn2 (over a
// context of width ctxDim), norm3 and ff under b, with heads heads of
// dim/heads.
func BindTransformerBlock(b *Binder, dim, ctxDim, heads int) TransformerBlock {
	hd := dim / heads
	return TransformerBlock{
		Norm1: b.LayerNorm("norm1", dim, 1e-5), Attn1: BindCrossAttention(b.Sub("attn1"), dim, dim, heads, hd),
		Norm2: b.LayerNorm("norm2", dim, 1e-5), Attn2: BindCrossAttention(b.Sub("attn2"), dim, ctxDim, heads, hd),
		Norm3: b.LayerNorm("norm3", dim, 1e-5), FF: BindFeedForward(b.Sub("ff"), dim, 4*dim),
	}
}

// Forward updates x (T, dim) in place given ctx (S, ctxDim); a nil ctx makes
// attn2 a second self-attention.
func (t *TransformerBlock) Forward(x []float32, T int, ctx []float32, S int, ar *tensor.Arena) error {
	return t.forward(x, 1, T, 1, ctx, S, nil, ar)
}

// ForwardInterleaved updates x (T, P, dim) in place: P sequences of T tokens
// (CrossAttention.ForwardInterleaved's layout), attn1 within each sequence,
// PosEmbed by position t. attn2 is a second attention within each sequence
// when ctx is nil; otherwise every token (T·P of them, each carrying its
// position) attends to ctx (S, ctxDim), the one context all the sequences
// share.
func (t *TransformerBlock) ForwardInterleaved(x []float32, T, P int, ctx []float32, S int, ar *tensor.Arena) error {
	return t.forward(x, 1, T, P, ctx, S, nil, ar)
}

// ForwardImages updates x (n, T, dim) in place: n images of T tokens, each
// attending within itself and over its own context ctx (n, S, ctxDim), or
// a second time within itself when ctx is nil. The values are those of n
// Forward calls; the layers run once over all n·T rows (CrossAttention's
// forward).
func (t *TransformerBlock) ForwardImages(x []float32, n, T int, ctx []float32, S int, ar *tensor.Arena) error {
	return t.forward(x, n, T, 1, ctx, S, nil, ar)
}

// ForwardPooledKV updates x (frames·h·w, dim) in place: one video's tokens,
// frame-major, as Forward would, except that each self-attention (attn1,
// and attn2 when ctx is nil) takes its keys and values from the normed
// tokens averaged over pool×pool pixels of each frame (PoolTokens): every
// token still has its own query and output, at 1/pool² of the attention's
// cost. pool ≤ 1 is Forward.
func (t *TransformerBlock) ForwardPooledKV(x []float32, frames, h, w, pool int, ctx []float32, S int, ar *tensor.Arena) error {
	if pool <= 1 {
		return t.forward(x, 1, frames*h*w, 1, ctx, S, nil, ar)
	}
	return t.forward(x, 1, frames*h*w, 1, ctx, S, &kvPool{frames: frames, h: h, w: w, p: pool}, ar)
}

// kvPool is how ForwardPooledKV pools a self-attention's keys and values.
type kvPool struct{ frames, h, w, p int }

// PoolTokens sets out (frames·⌈h/p⌉·⌈w/p⌉, dim) to the mean of x's (frames·h·w,
// dim) tokens over each frame's p×p cells, frame-major and row-major like x;
// a cell at the right or bottom edge averages the pixels it covers. It
// returns the number of pooled tokens.
func PoolTokens(out, x []float32, frames, h, w, p, dim int) (int, error) {
	if p < 1 || frames < 1 || h < 1 || w < 1 || len(x) < frames*h*w*dim {
		return 0, fmt.Errorf("pool tokens: %d floats for %d frames of %d×%d×%d, cell %d", len(x), frames, h, w, dim, p)
	}
	ph, pw := (h+p-1)/p, (w+p-1)/p
	if len(out) < frames*ph*pw*dim {
		return 0, fmt.Errorf("pool tokens: out has %d floats, want %d", len(out), frames*ph*pw*dim)
	}
	for f := 0; f < frames; f++ {
		for cy := 0; cy < ph; cy++ {
			y1 := min((cy+1)*p, h)
			for cx := 0; cx < pw; cx++ {
				x1 := min((cx+1)*p, w)
				row := out[((f*ph+cy)*pw+cx)*dim:][:dim]
				clear(row)
				for y := cy * p; y < y1; y++ {
					for xx := cx * p; xx < x1; xx++ {
						src := x[((f*h+y)*w+xx)*dim:][:dim]
						for c, v := range src {
							row[c] += v
						}
					}
				}
				inv := 1 / float32((y1-cy*p)*(x1-cx*p))
				for c := range row {
					row[c] *= inv
				}
			}
		}
	}
	return frames * ph * pw, nil
}

// selfKV is what a self-attention over h (T tokens) reads its keys and
// values from: h itself, or h pooled (kv set).
func (t *TransformerBlock) selfKV(h []float32, T int, kv *kvPool, ar *tensor.Arena) ([]float32, int, error) {
	if kv == nil {
		return h, T, nil
	}
	if kv.frames*kv.h*kv.w != T {
		return nil, 0, fmt.Errorf("transformer block: %d tokens, pooling %d frames of %d×%d", T, kv.frames, kv.h, kv.w)
	}
	dim := len(t.Norm1.W)
	pooled := ar.Scratch(kv.frames * ((kv.h + kv.p - 1) / kv.p) * ((kv.w + kv.p - 1) / kv.p) * dim)
	S, err := PoolTokens(pooled, h, kv.frames, kv.h, kv.w, kv.p, dim)
	return pooled, S, err
}

// forward is ForwardInterleaved for each of n images (x (n, T, P, dim));
// with a context, n > 1 needs P = 1 (each image's ctx is its own). kv, when
// set (n = 1, P = 1), pools the self-attentions' keys and values.
func (t *TransformerBlock) forward(x []float32, n, T, P int, ctx []float32, S int, kv *kvPool, ar *tensor.Arena) error {
	dim, rows := len(t.Norm1.W), n*T*P
	if n > 1 && P > 1 && ctx != nil {
		return fmt.Errorf("transformer block: %d images of %d interleaved sequences over a context", n, P)
	}
	if t.PosEmbed != nil && len(t.PosEmbed) < T*dim {
		return fmt.Errorf("transformer block: %d positions, position table holds %d", T, len(t.PosEmbed)/dim)
	}
	h := ar.Scratch(rows * dim)
	if err := t.Norm1.Forward(h, x, rows); err != nil {
		return err
	}
	if kv != nil && (n != 1 || P != 1 || t.PosEmbed != nil) {
		return fmt.Errorf("transformer block: pooled keys and values need one sequence without a position table")
	}
	t.addPositions(h, n, T, P, dim)
	self, selfT, err := t.selfKV(h, T, kv, ar)
	if err != nil {
		return err
	}
	if err := t.Attn1.forwardAdd(x, h, n, T, self, selfT, P, ar); err != nil {
		return fmt.Errorf("self-attention: %w", err)
	}
	if err := t.Norm2.Forward(h, x, rows); err != nil {
		return err
	}
	t.addPositions(h, n, T, P, dim)
	if ctx == nil {
		if self, selfT, err = t.selfKV(h, T, kv, ar); err != nil {
			return err
		}
		err = t.Attn2.forwardAdd(x, h, n, T, self, selfT, P, ar)
	} else {
		err = t.Attn2.forwardAdd(x, h, n, T*P, ctx, S, 1, ar) // per image a shared context: one sequence of T·P queries
	}
	if err != nil {
		return fmt.Errorf("cross-attention: %w", err)
	}
	if err := t.Norm3.Forward(h, x, rows); err != nil {
		return err
	}
	if err := t.FF.Forward(h, h, rows, ar); err != nil {
		return err
	}
	return kernels.Add(x, x, h)
}

// addPositions adds PosEmbed row t to every token t of h (n, T, P, dim).
func (t *TransformerBlock) addPositions(h []float32, n, T, P, dim int) {
	if t.PosEmbed == nil {
		return
	}
	for r := 0; r < n*T; r++ {
		pe := t.PosEmbed[r%T*dim : (r%T+1)*dim]
		for p := 0; p < P; p++ {
			row := h[(r*P+p)*dim : (r*P+p+1)*dim]
			for c, v := range pe {
				row[c] += v
			}
		}
	}
}

// Transformer2D is diffusers' Transformer2DModel on continuous inputs:
// GroupNorm, proj_in (a 1×1 conv or a linear layer: the same matrix), the
// blocks over the h·w pixels as tokens, proj_out, plus the input.
type Transformer2D struct {
	Channels        int
	Norm            GroupNorm
	ProjIn, ProjOut Linear // (inner, C), (C, inner)
	Blocks          []TransformerBlock
}

// BindTransformer2D binds norm, proj_in, transformer_blocks.k and proj_out
// under b: ch channels, heads heads of ch/heads, layers blocks attending to
// a context of width ctxDim.
func BindTransformer2D(b *Binder, ch, heads, layers, ctxDim, groups int) Transformer2D {
	inner := ch
	s := Transformer2D{Channels: ch, Norm: b.GroupNorm("norm", groups, ch, 1e-6)}
	// A 1×1 conv kernel (inner, ch, 1, 1) and a linear weight (inner, ch) hold
	// the same numbers in the same order.
	s.ProjIn = Linear{W: b.FlatMatrix("proj_in.weight", inner, ch), Bias: b.Vector("proj_in.bias", inner)}
	s.ProjOut = Linear{W: b.FlatMatrix("proj_out.weight", ch, inner), Bias: b.Vector("proj_out.bias", ch)}
	for k := 0; k < layers; k++ {
		s.Blocks = append(s.Blocks, BindTransformerBlock(b.Sub("transformer_blocks.%d", k), inner, ctxDim, heads))
	}
	return s
}

// Forward updates x (n, C, hw) in place; ctx is (n, S, ctxDim), one
// context per image.
func (s *Transformer2D) Forward(x []float32, n, hw int, ctx []float32, S int, ar *tensor.Arena) error {
	C, inner := s.Channels, s.ProjIn.W.Rows
	if len(x) < n*C*hw || n <= 0 || len(ctx)%n != 0 {
		return fmt.Errorf("transformer2d: x has %d floats for %d×%d×%d, context %d", len(x), n, C, hw, len(ctx))
	}
	for i := range s.Blocks {
		if d := s.Blocks[i].Attn2.K.W.Cols; ctx != nil && len(ctx) != n*S*d {
			return fmt.Errorf("transformer2d: context has %d floats, want %d×%d×%d", len(ctx), n, S, d)
		}
	}
	normed := ar.Scratch(n * C * hw)
	if err := s.Norm.Forward(normed, x, n, hw); err != nil {
		return err
	}
	// Every image's pixels as tokens, image after image: the projections and
	// feed-forwards run once over all n·HW rows (TransformerBlock.ForwardImages).
	tok := ar.Scratch(n * hw * C)   // (n, HW, C)
	h := ar.Scratch(n * hw * inner) // (n, HW, inner)
	for b := 0; b < n; b++ {
		if err := kernels.Transpose(tok[b*hw*C:(b+1)*hw*C], normed[b*C*hw:(b+1)*C*hw], C, hw); err != nil {
			return err
		}
	}
	if err := s.ProjIn.Forward(h, tok, n*hw); err != nil {
		return fmt.Errorf("proj_in: %w", err)
	}
	for i := range s.Blocks {
		if err := s.Blocks[i].ForwardImages(h, n, hw, ctx, S, ar); err != nil {
			return fmt.Errorf("transformer block %d: %w", i, err)
		}
	}
	back := tok // (n, HW, C): proj_out's rows
	if err := s.ProjOut.Forward(back, h, n*hw); err != nil {
		return fmt.Errorf("proj_out: %w", err)
	}
	for b := 0; b < n; b++ {
		AddTokens(x[b*C*hw:(b+1)*C*hw], back[b*hw*C:(b+1)*hw*C], C, hw)
	}
	return nil
}

// AddTokens adds token rows tok (hw, C) to a feature map x (C, hw): the
// residual of a block that ran on the map's pixels as tokens.
func AddTokens(x, tok []float32, C, hw int) {
	for p := 0; p < hw; p++ {
		for c, v := range tok[p*C : (p+1)*C] {
			x[c*hw+p] += v
		}
	}
}
