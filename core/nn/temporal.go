package nn

import (
	"fmt"
	"math"
	"sync"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/tensor"
)

// TransformerTemporal is AnimateDiff's motion module ("AnimateDiff", Guo et
// al. 2024) as diffusers' TransformerTemporalModel / AnimateDiffTransformer3D
// names it: GroupNorm over each video's channels × frames × pixels, proj_in,
// transformer blocks whose two self-attentions run across the frames at each
// pixel with sinusoidal frame positions, proj_out, plus the input. With a
// context width (Loom's motion_cross_attention_dim) attn2 instead attends to
// the video's text states: each pixel's frame token, carrying its frame
// position, reads the prompt, so the text can steer the motion itself
// (diffusers' UNetMotionModel gives its motion modules no text).
//
//	norm, proj_in, transformer_blocks.k.{norm1, attn1, norm2, attn2, norm3, ff, pos_embed.pe}, proj_out
//
// Activations are a batch of videos' frames (videos·frames, C, h·w), frame-major
// per video, as the UNet around it runs them.
//
// A global motion module (BindGlobalMotion; Loom's motion_global_blocks)
// has the same layers and names less the blocks' pos_embed, and attends
// across every frame and pixel of a video at once: one sequence of
// frames·h·w tokens, frame-major, with GlobalPositions added once after
// proj_in (ForwardGlobal); with KVPool its self-attentions read pooled
// keys and values.
type TransformerTemporal struct {
	Channels int
	CtxDim   int  // 0: attn2 attends across the frames; else to a context of this width
	Global   bool // one sequence of frames·pixels (ForwardGlobal), not one per pixel
	// KVPool (a global module's, Loom's motion_global_kv_pool) > 1 has each
	// self-attention take its keys and values from the tokens averaged over
	// KVPool×KVPool pixels of each frame (TransformerBlock.ForwardPooledKV):
	// every token keeps its query, at 1/KVPool² of the attention's cost.
	KVPool          int
	Norm            GroupNorm
	ProjIn, ProjOut Linear // (C, C): linear layers, as diffusers stores them
	Blocks          []TransformerBlock
}

// BindTransformerTemporal binds a motion module under b: ch channels, heads
// heads of ch/heads, layers blocks, groups norm groups, positions for up to
// maxFrames frames, attn2 over a context of width ctxDim (0: over the
// frames, AnimateDiff's double self-attention). A stored pos_embed.pe
// (1, maxFrames, ch) is used as is; without one the table is computed as
// diffusers computes it.
func BindTransformerTemporal(b *Binder, ch, heads, layers, groups, maxFrames, ctxDim int) TransformerTemporal {
	m := TransformerTemporal{Channels: ch, CtxDim: ctxDim, Norm: b.GroupNorm("norm", groups, ch, 1e-6),
		ProjIn: b.DenseLinear("proj_in", ch, ch), ProjOut: b.DenseLinear("proj_out", ch, ch)}
	if heads <= 0 || ch%heads != 0 {
		b.fail("bind %s: %d channels do not split into %d heads", b.prefix, ch, heads)
		return m
	}
	for k := 0; k < layers; k++ {
		bb := b.Sub("transformer_blocks.%d", k)
		kv := ch
		if ctxDim > 0 {
			kv = ctxDim
		}
		blk := BindTransformerBlock(bb, ch, kv, heads)
		if bb.Has("pos_embed.pe") {
			blk.PosEmbed = bb.Flat("pos_embed.pe", maxFrames*ch)
		} else {
			blk.PosEmbed = SinusoidTable(maxFrames, ch)
		}
		m.Blocks = append(m.Blocks, blk)
	}
	return m
}

// BindGlobalMotion binds a global motion module under b (norm, proj_in,
// transformer_blocks.0.{norm1, attn1, norm2, attn2, norm3, ff}, proj_out):
// ch channels, heads heads, groups norm groups, attn2 over a context of
// width ctxDim (0: a second self-attention).
func BindGlobalMotion(b *Binder, ch, heads, groups, ctxDim int) TransformerTemporal {
	m := TransformerTemporal{Channels: ch, CtxDim: ctxDim, Global: true, Norm: b.GroupNorm("norm", groups, ch, 1e-6),
		ProjIn: b.DenseLinear("proj_in", ch, ch), ProjOut: b.DenseLinear("proj_out", ch, ch)}
	if heads <= 0 || ch%heads != 0 {
		b.fail("bind %s: %d channels do not split into %d heads", b.prefix, ch, heads)
		return m
	}
	kv := ch
	if ctxDim > 0 {
		kv = ctxDim
	}
	m.Blocks = []TransformerBlock{BindTransformerBlock(b.Sub("transformer_blocks.0"), ch, kv, heads)}
	return m
}

// GlobalPositions is a global motion module's position table (frames·h·w,
// dim): token f·h·w + y·w + x gets frame f's row of SinusoidTable(frames,
// dim), plus row y's of SinusoidTable(h, dim/2) on the first dim/2 channels
// and column x's of SinusoidTable(w, dim-dim/2) on the rest.
func GlobalPositions(frames, h, w, dim int) []float32 {
	half := dim / 2
	ft, yt, xt := SinusoidTable(frames, dim), SinusoidTable(h, half), SinusoidTable(w, dim-half)
	t := make([]float32, frames*h*w*dim)
	for f := 0; f < frames; f++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				row := t[((f*h+y)*w+x)*dim:][:dim]
				for c := range row {
					v := ft[f*dim+c]
					if c < half {
						v += yt[y*half+c]
					} else {
						v += xt[x*(dim-half)+c-half]
					}
					row[c] = v
				}
			}
		}
	}
	return t
}

// globalPos caches GlobalPositions tables by shape: every global module of
// a UNet, at every step of every video, reads the same few tables. Callers
// only read them. At most globalPosMax shapes are kept (a request's frames
// and size are bounded, so that is rarely reached; past it the cache starts over).
var globalPos = struct {
	sync.Mutex
	m map[[4]int][]float32
}{m: map[[4]int][]float32{}}

const globalPosMax = 32

func globalPositionsCached(frames, h, w, dim int) []float32 {
	k := [4]int{frames, h, w, dim}
	globalPos.Lock()
	defer globalPos.Unlock()
	if t, ok := globalPos.m[k]; ok {
		return t
	}
	if len(globalPos.m) >= globalPosMax {
		clear(globalPos.m)
	}
	t := GlobalPositions(frames, h, w, dim)
	globalPos.m[k] = t
	return t
}

// Pack packs proj_in, proj_out and every block's weights once (Linear.Pack):
// a motion UNet runs them on every step of every video.
func (m *TransformerTemporal) Pack() {
	m.ProjIn.Pack()
	m.ProjOut.Pack()
	for i := range m.Blocks {
		m.Blocks[i].Pack()
	}
}

// SinusoidTable is diffusers' SinusoidalPositionalEmbedding table (n, dim):
// sin on even channels and cos on odd ones of p·10000^(-2i/dim), rounded
// through float32 at each step as PyTorch computes it.
func SinusoidTable(n, dim int) []float32 {
	t := make([]float32, n*dim)
	e := float32(-math.Log(10000) / float64(dim))
	for i := 0; 2*i < dim; i++ {
		div := float32(math.Exp(float64(float32(2*i) * e)))
		for p := 0; p < n; p++ {
			a := float64(float32(p) * div)
			t[p*dim+2*i] = float32(math.Sin(a))
			if 2*i+1 < dim {
				t[p*dim+2*i+1] = float32(math.Cos(a))
			}
		}
	}
	return t
}

// Forward updates x (videos·frames, C, hw) in place. ctx is each video's
// context (videos, ctxLen, CtxDim) when CtxDim is set, and ignored otherwise.
func (m *TransformerTemporal) Forward(x []float32, videos, frames, hw int, ctx []float32, ctxLen int, ar *tensor.Arena) error {
	if m.Global {
		return fmt.Errorf("motion module: a global module runs with ForwardGlobal")
	}
	return m.forward(x, videos, frames, hw, 0, 0, nil, ctx, ctxLen, ar)
}

// ForwardGlobal updates x (videos·frames, C, h·w) in place with a global
// motion module (BindGlobalMotion): each video's frames·h·w tokens attend to
// one another, carrying GlobalPositions.
func (m *TransformerTemporal) ForwardGlobal(x []float32, videos, frames, h, w int, ctx []float32, ctxLen int, ar *tensor.Arena) error {
	if !m.Global {
		return fmt.Errorf("motion module: ForwardGlobal on a per-pixel module")
	}
	if h <= 0 || w <= 0 {
		return fmt.Errorf("global motion module: %d×%d pixels", h, w)
	}
	return m.forward(x, videos, frames, h*w, h, w, globalPositionsCached(frames, h, w, m.ProjIn.W.Rows), ctx, ctxLen, ar)
}

// forward runs either kind: pos nil, one sequence of frames per pixel;
// else one sequence of frames·hw tokens per video (hw = gh·gw) with pos
// added after proj_in.
func (m *TransformerTemporal) forward(x []float32, videos, frames, hw, gh, gw int, pos, ctx []float32, ctxLen int, ar *tensor.Arena) error {
	C, F := m.Channels, frames
	per := F * C * hw
	if videos <= 0 || F <= 0 || hw <= 0 || len(x) < videos*per {
		return fmt.Errorf("motion module: x has %d floats for %d videos of %d frames × %d × %d", len(x), videos, F, C, hw)
	}
	if m.CtxDim > 0 && (ctxLen <= 0 || len(ctx) != videos*ctxLen*m.CtxDim) {
		return fmt.Errorf("motion module: context has %d floats, want %d×%d×%d", len(ctx), videos, ctxLen, m.CtxDim)
	}
	inner := m.ProjIn.W.Rows
	cf := ar.Scratch(per)           // (C, F, hw): one video channel-major, for the norm
	tok := ar.Scratch(F * hw * C)   // (F, hw, C): a sequence of frames per pixel, interleaved
	h := ar.Scratch(F * hw * inner) // (F, hw, inner)
	back := ar.Scratch(F * hw * C)  // (F, hw, C)
	for v := 0; v < videos; v++ {
		xv := x[v*per : (v+1)*per] // (F, C, hw)
		for f := 0; f < F; f++ {
			for c := 0; c < C; c++ {
				copy(cf[(c*F+f)*hw:(c*F+f+1)*hw], xv[(f*C+c)*hw:(f*C+c+1)*hw])
			}
		}
		if err := m.Norm.Forward(cf, cf, 1, F*hw); err != nil {
			return err
		}
		if err := kernels.Transpose(tok, cf, C, F*hw); err != nil {
			return err
		}
		if err := m.ProjIn.Forward(h, tok, F*hw); err != nil {
			return fmt.Errorf("proj_in: %w", err)
		}
		if pos != nil {
			if err := kernels.Add(h, h, pos); err != nil {
				return err
			}
		}
		var cv []float32
		if m.CtxDim > 0 {
			cv = ctx[v*ctxLen*m.CtxDim : (v+1)*ctxLen*m.CtxDim]
		}
		for i := range m.Blocks {
			var err error
			if pos != nil {
				err = m.Blocks[i].ForwardPooledKV(h, F, gh, gw, m.KVPool, cv, ctxLen, ar)
			} else {
				err = m.Blocks[i].ForwardInterleaved(h, F, hw, cv, ctxLen, ar)
			}
			if err != nil {
				return fmt.Errorf("temporal block %d: %w", i, err)
			}
		}
		if err := m.ProjOut.Forward(back, h, F*hw); err != nil {
			return fmt.Errorf("proj_out: %w", err)
		}
		for f := 0; f < F; f++ {
			AddTokens(xv[f*C*hw:(f+1)*C*hw], back[f*hw*C:(f+1)*hw*C], C, hw)
		}
	}
	return nil
}
