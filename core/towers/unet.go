package towers

// Latent-diffusion UNet: "High-Resolution Image Synthesis with Latent
// Diffusion Models" (Rombach et al. 2022), written to the configuration
// (config.json) and tensor names of diffusers' UNet2DConditionModel, so a
// Stable Diffusion 1.x/2.x "unet" folder binds to the same code:
//
//	conv_in, time_embedding.linear_{1,2},
//	down_blocks.i.resnets.j.{norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut},
//	down_blocks.i.attentions.j.{norm, proj_in, transformer_blocks.k.{norm1, attn1.to_{q,k,v,out.0},
//	    norm2, attn2.to_{q,k,v,out.0}, norm3, ff.net.0.proj, ff.net.2}, proj_out},
//	down_blocks.i.downsamplers.0.conv, mid_block.{resnets.{0,1}, attentions.0},
//	up_blocks.i.{resnets, attentions, upsamplers.0.conv}, conv_norm_out, conv_out.
//
// Activations are NCHW (n, C, H, W); a transformer block works on the image
// as HW tokens of C channels. Attention is the core's fused flash attention
// (self over the HW tokens, cross to the text encoder's states). GroupNorm,
// conv and the GEGLU feed-forward are the core kernels; the sinusoidal
// timestep embedding is computed in float32 as PyTorch does, so timesteps
// near 1000 round the same way.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
)

// perBlock is a config value given once for all blocks or as a list per
// block (attention_head_dim: 8 or [5, 10, 20, 20]).
type perBlock []int

func (p *perBlock) UnmarshalJSON(b []byte) error {
	var one int
	if err := json.Unmarshal(b, &one); err == nil {
		*p = perBlock{one}
		return nil
	}
	var many []int
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want an int or a list of ints, got %s", b)
	}
	*p = many
	return nil
}

// at returns the value for block i of n.
func (p perBlock) at(i int) int {
	if len(p) == 1 {
		return p[0]
	}
	return p[i]
}

func (p perBlock) fits(n int) bool { return len(p) == 1 || len(p) == n }

// UNetConfig is the part of a UNet2DConditionModel config.json the tower
// reads. Keys for features it does not implement are read only to refuse them.
type UNetConfig struct {
	SampleSize                int      `json:"sample_size"`
	InChannels                int      `json:"in_channels"`
	OutChannels               int      `json:"out_channels"`
	BlockOutChannels          []int    `json:"block_out_channels"`
	LayersPerBlock            int      `json:"layers_per_block"`
	NormNumGroups             int      `json:"norm_num_groups"`
	NormEps                   float32  `json:"norm_eps"`
	DownBlockTypes            []string `json:"down_block_types"`
	UpBlockTypes              []string `json:"up_block_types"`
	MidBlockType              string   `json:"mid_block_type"`
	CrossAttentionDim         int      `json:"cross_attention_dim"`
	AttentionHeadDim          perBlock `json:"attention_head_dim"`  // diffusers' historical name: the number of heads
	NumAttentionHeads         perBlock `json:"num_attention_heads"` // wins over attention_head_dim when set
	TransformerLayersPerBlock perBlock `json:"transformer_layers_per_block"`
	FlipSinToCos              *bool    `json:"flip_sin_to_cos"`
	FreqShift                 float64  `json:"freq_shift"`
	UseLinearProjection       bool     `json:"use_linear_projection"`
	ActFn                     string   `json:"act_fn"`
	CenterInputSample         bool     `json:"center_input_sample"`
	ClassEmbedType            *string  `json:"class_embed_type"`
	AdditionEmbedType         *string  `json:"addition_embed_type"`
	TimeEmbeddingType         string   `json:"time_embedding_type"`
	ResnetTimeScaleShift      string   `json:"resnet_time_scale_shift"`
	OnlyCrossAttention        any      `json:"only_cross_attention"`
	DualCrossAttention        bool     `json:"dual_cross_attention"`
}

// ReadUNetConfig reads a config.json and fills diffusers' defaults.
func ReadUNetConfig(path string) (UNetConfig, error) {
	var c UNetConfig
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("unet config %s: %w", path, err)
	}
	return c, nil
}

func (c *UNetConfig) fill() {
	if c.LayersPerBlock == 0 {
		c.LayersPerBlock = 2
	}
	if c.NormNumGroups == 0 {
		c.NormNumGroups = 32
	}
	if c.NormEps == 0 {
		c.NormEps = 1e-5
	}
	if c.MidBlockType == "" {
		c.MidBlockType = "UNetMidBlock2DCrossAttn"
	}
	if c.NumAttentionHeads == nil {
		c.NumAttentionHeads = c.AttentionHeadDim
	}
	if c.NumAttentionHeads == nil {
		c.NumAttentionHeads = perBlock{8}
	}
	if c.TransformerLayersPerBlock == nil {
		c.TransformerLayersPerBlock = perBlock{1}
	}
}

func (c *UNetConfig) validate() error {
	n := len(c.BlockOutChannels)
	only, _ := c.OnlyCrossAttention.(bool)
	switch {
	case c.InChannels <= 0 || c.OutChannels <= 0 || n == 0 || c.CrossAttentionDim <= 0:
		return fmt.Errorf("unet: in %d, out %d channels, %d blocks, cross-attention dim %d must be positive", c.InChannels, c.OutChannels, n, c.CrossAttentionDim)
	case n > 8 || c.LayersPerBlock < 1 || c.LayersPerBlock > 16 || c.NormNumGroups < 1:
		return fmt.Errorf("unet: %d blocks of %d layers with %d norm groups", n, c.LayersPerBlock, c.NormNumGroups)
	case len(c.DownBlockTypes) != n || len(c.UpBlockTypes) != n:
		return fmt.Errorf("unet: %d down and %d up block types for %d block channels", len(c.DownBlockTypes), len(c.UpBlockTypes), n)
	case !c.NumAttentionHeads.fits(n) || !c.TransformerLayersPerBlock.fits(n):
		return fmt.Errorf("unet: per-block heads %v or transformer layers %v do not match %d blocks", c.NumAttentionHeads, c.TransformerLayersPerBlock, n)
	case c.ClassEmbedType != nil || c.AdditionEmbedType != nil:
		return fmt.Errorf("unet: class or addition embeddings (SDXL-style conditioning) are not supported")
	case c.TimeEmbeddingType != "" && c.TimeEmbeddingType != "positional":
		return fmt.Errorf("unet: time embedding %q not supported", c.TimeEmbeddingType)
	case c.ResnetTimeScaleShift != "" && c.ResnetTimeScaleShift != "default":
		return fmt.Errorf("unet: resnet_time_scale_shift %q not supported", c.ResnetTimeScaleShift)
	case c.ActFn != "" && c.ActFn != "silu":
		return fmt.Errorf("unet: act_fn %q not supported", c.ActFn)
	case c.MidBlockType != "UNetMidBlock2DCrossAttn":
		return fmt.Errorf("unet: mid block %q not supported", c.MidBlockType)
	case c.CenterInputSample || only || c.DualCrossAttention:
		return fmt.Errorf("unet: center_input_sample, only_cross_attention and dual_cross_attention are not supported")
	}
	for i, ch := range c.BlockOutChannels {
		h := c.NumAttentionHeads.at(i)
		if ch <= 0 || ch%c.NormNumGroups != 0 || h <= 0 || ch%h != 0 || c.TransformerLayersPerBlock.at(i) <= 0 {
			return fmt.Errorf("unet: block %d has %d channels for %d groups and %d heads", i, ch, c.NormNumGroups, h)
		}
	}
	for i := range c.DownBlockTypes {
		if d := c.DownBlockTypes[i]; d != "CrossAttnDownBlock2D" && d != "DownBlock2D" {
			return fmt.Errorf("unet: down block %q not supported", d)
		}
		if u := c.UpBlockTypes[i]; u != "CrossAttnUpBlock2D" && u != "UpBlock2D" {
			return fmt.Errorf("unet: up block %q not supported", u)
		}
	}
	return nil
}

// Downscale is the factor between the sample and the smallest feature map.
func (c UNetConfig) Downscale() int { return 1 << (len(c.BlockOutChannels) - 1) }

// resnetBlock is ResnetBlock2D: GroupNorm, SiLU, conv, (+ time embedding),
// GroupNorm, SiLU, conv, plus the (1×1-projected) input.
type resnetBlock struct {
	in, out      int
	norm1, norm2 nn.GroupNorm
	conv1, conv2 nn.Conv2D
	temb         nn.Linear  // (out, T); W.Rows == 0 in the VAE, which has no time embedding
	shortcut     *nn.Conv2D // 1×1 when in != out
}

func bindResnet(b *nn.Binder, in, out, temb, groups int, eps float32) resnetBlock {
	r := resnetBlock{in: in, out: out,
		norm1: b.GroupNorm("norm1", groups, in, eps), conv1: b.Conv2D("conv1", out, in, 3, 1, 1),
		norm2: b.GroupNorm("norm2", groups, out, eps), conv2: b.Conv2D("conv2", out, out, 3, 1, 1)}
	if temb > 0 {
		r.temb = denseLinear(b, "time_emb_proj", out, temb)
	}
	if in != out {
		sc := b.Conv2D("conv_shortcut", out, in, 1, 1, 0)
		r.shortcut = &sc
	}
	return r
}

// forward sets out (n, out, h, w) from x (n, in, h, w); tembAct is
// silu(time embedding) (n, T) or nil.
func (r *resnetBlock) forward(ar *arena, out, x []float32, n, h, w int, tembAct []float32) error {
	hw := h * w
	t := ar.scratch(n * r.in * hw)
	if err := firstErr(r.norm1.Forward(t, x, n, hw), kernels.SiLU(t, t)); err != nil {
		return err
	}
	hid := ar.scratch(n * r.out * hw)
	if err := r.conv1.Forward(hid, t, n, h, w); err != nil {
		return err
	}
	if r.temb.W.Rows > 0 {
		if tembAct == nil {
			return fmt.Errorf("resnet: time embedding missing")
		}
		proj := ar.floats(n * r.out)
		if err := r.temb.Forward(proj, tembAct, n); err != nil {
			return err
		}
		for i := 0; i < n*r.out; i++ {
			p, plane := proj[i], hid[i*hw:(i+1)*hw]
			for j := range plane {
				plane[j] += p
			}
		}
	}
	if err := firstErr(r.norm2.Forward(hid, hid, n, hw), kernels.SiLU(hid, hid), r.conv2.Forward(out, hid, n, h, w)); err != nil {
		return err
	}
	skip := x
	if r.shortcut != nil {
		skip = hid // conv2 is done with hid: reuse it for the projected input
		if err := r.shortcut.Forward(skip, x, n, h, w); err != nil {
			return err
		}
	}
	return kernels.Add(out[:n*r.out*hw], out[:n*r.out*hw], skip[:n*r.out*hw])
}

// crossAttention is diffusers' Attention: to_q, to_k, to_v (no bias in SD),
// to_out.0; K and V come from ctx (cross) or from x (self).
type crossAttention struct {
	q, k, v, o     nn.Linear
	heads, headDim int
}

func bindAttention(b *nn.Binder, dim, ctxDim, heads, headDim int) crossAttention {
	inner := heads * headDim
	return crossAttention{heads: heads, headDim: headDim,
		q: denseLinear(b, "to_q", inner, dim), k: denseLinear(b, "to_k", inner, ctxDim),
		v: denseLinear(b, "to_v", inner, ctxDim), o: denseLinear(b, "to_out.0", dim, inner)}
}

// forward adds attention(x, ctx) to res: x (T, dim), ctx (S, ctxDim).
func (a *crossAttention) forward(ar *arena, res, x []float32, T int, ctx []float32, S int) error {
	inner := a.heads * a.headDim
	q, k, v, att := ar.floats(T*inner), ar.floats(S*inner), ar.floats(S*inner), ar.floats(T*inner)
	o := ar.floats(T * a.o.W.Rows)
	ap := kernels.AttnParams{Heads: a.heads, KVHeads: a.heads, HeadDim: a.headDim, SeqQ: T, SeqKV: S}
	return firstErr(a.q.Forward(q, x, T), a.k.Forward(k, ctx, S), a.v.Forward(v, ctx, S),
		kernels.FlashAttention(att, q, k, v, ap), a.o.Forward(o, att, T), kernels.Add(res[:len(o)], res[:len(o)], o))
}

// transformerBlock is BasicTransformerBlock: self-attention, cross-attention
// and a GEGLU feed-forward, each pre-LayerNorm with a residual.
type transformerBlock struct {
	norm1, norm2, norm3 nn.LayerNorm
	attn1, attn2        crossAttention
	ffValue, ffGate     nn.Linear // the two halves of ff.net.0.proj (FF, dim)
	ffOut               nn.Linear // ff.net.2 (dim, FF)
}

func bindTransformerBlock(b *nn.Binder, dim, ctxDim, heads int) transformerBlock {
	hd := dim / heads
	ff := 4 * dim
	t := transformerBlock{
		norm1: b.LayerNorm("norm1", dim, 1e-5), attn1: bindAttention(b.Sub("attn1"), dim, dim, heads, hd),
		norm2: b.LayerNorm("norm2", dim, 1e-5), attn2: bindAttention(b.Sub("attn2"), dim, ctxDim, heads, hd),
		norm3: b.LayerNorm("norm3", dim, 1e-5), ffOut: denseLinear(b, "ff.net.2", dim, ff),
	}
	proj := denseLinear(b, "ff.net.0.proj", 2*ff, dim)
	if proj.W.F32 != nil {
		t.ffValue, _ = proj.SplitRows(0, ff)
		t.ffGate, _ = proj.SplitRows(ff, 2*ff)
	}
	return t
}

// forward updates x (T, dim) in place given ctx (S, ctxDim).
func (t *transformerBlock) forward(ar *arena, x []float32, T, dim int, ctx []float32, S int) error {
	h := ar.floats(T * dim)
	if err := firstErr(t.norm1.Forward(h, x, T), t.attn1.forward(ar, x, h, T, h, T)); err != nil {
		return fmt.Errorf("self-attention: %w", err)
	}
	if err := firstErr(t.norm2.Forward(h, x, T), t.attn2.forward(ar, x, h, T, ctx, S)); err != nil {
		return fmt.Errorf("cross-attention: %w", err)
	}
	ff := t.ffValue.W.Rows
	val, gate, o := ar.floats(T*ff), ar.floats(T*ff), ar.floats(T*dim)
	return firstErr(t.norm3.Forward(h, x, T), t.ffValue.Forward(val, h, T), t.ffGate.Forward(gate, h, T),
		kernels.GELUErf(gate, gate), kernels.Mul(val, val, gate), t.ffOut.Forward(o, val, T), kernels.Add(x, x, o))
}

// spatialTransformer is Transformer2DModel on continuous inputs: GroupNorm,
// proj_in (1×1 conv or linear, the same matrix), blocks over HW tokens,
// proj_out, plus the input.
type spatialTransformer struct {
	ch, inner       int
	norm            nn.GroupNorm
	projIn, projOut nn.Linear // (inner, ch), (ch, inner)
	blocks          []transformerBlock
}

func bindSpatialTransformer(b *nn.Binder, ch, heads, layers, ctxDim, groups int) spatialTransformer {
	s := spatialTransformer{ch: ch, inner: ch, norm: b.GroupNorm("norm", groups, ch, 1e-6)}
	// A 1×1 conv kernel (inner, ch, 1, 1) and a linear weight (inner, ch) hold
	// the same numbers in the same order.
	s.projIn = nn.Linear{W: b.FlatMatrix("proj_in.weight", s.inner, ch), Bias: b.Vector("proj_in.bias", s.inner)}
	s.projOut = nn.Linear{W: b.FlatMatrix("proj_out.weight", ch, s.inner), Bias: b.Vector("proj_out.bias", ch)}
	for k := 0; k < layers; k++ {
		s.blocks = append(s.blocks, bindTransformerBlock(b.Sub("transformer_blocks.%d", k), s.inner, ctxDim, heads))
	}
	return s
}

// forward updates x (n, ch, h·w) in place; ctx is (n, S, ctxDim).
func (s *spatialTransformer) forward(ar *arena, x []float32, n, hw int, ctx []float32, S, ctxDim int) error {
	C := s.ch
	normed := ar.floats(n * C * hw)
	if err := s.norm.Forward(normed, x, n, hw); err != nil {
		return err
	}
	tok := ar.floats(hw * C)     // (HW, C)
	h := ar.floats(hw * s.inner) // (HW, inner)
	back := ar.floats(hw * C)    // (HW, C)
	for b := 0; b < n; b++ {
		transpose(tok, normed[b*C*hw:(b+1)*C*hw], C, hw)
		if err := s.projIn.Forward(h, tok, hw); err != nil {
			return err
		}
		cb := ctx[b*S*ctxDim : (b+1)*S*ctxDim]
		for i := range s.blocks {
			if err := s.blocks[i].forward(ar, h, hw, s.inner, cb, S); err != nil {
				return fmt.Errorf("transformer block %d: %w", i, err)
			}
		}
		if err := s.projOut.Forward(back, h, hw); err != nil {
			return err
		}
		xb := x[b*C*hw : (b+1)*C*hw] // (C, HW) += backᵀ
		for p := 0; p < hw; p++ {
			row := back[p*C : (p+1)*C]
			for c, v := range row {
				xb[c*hw+p] += v
			}
		}
	}
	return nil
}

// transpose sets dst (cols, rows) to src (rows, cols)ᵀ.
func transpose(dst, src []float32, rows, cols int) {
	kernels.ParallelFor(cols, max(1, 4096/max(rows, 1)), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			d := dst[c*rows : (c+1)*rows]
			for r := range d {
				d[r] = src[r*cols+c]
			}
		}
	})
}

// denseLinear binds a Linear as f32: image towers multiply every weight by
// thousands of pixels, so a half-precision checkpoint is widened once at load.
func denseLinear(b *nn.Binder, name string, out, in int) nn.Linear {
	l := b.Linear(name, out, in)
	if l.W.F32 == nil && l.W.Data != nil {
		w, err := l.W.Dense()
		if err != nil {
			return nn.Linear{}
		}
		l.W = nn.Matrix{Rows: out, Cols: in, F32: w}
	}
	return l
}

// unetBlock is one of CrossAttnDownBlock2D, DownBlock2D, CrossAttnUpBlock2D,
// UpBlock2D: resnets, an attention after each when cross-attending, then a
// down- or upsampler.
type unetBlock struct {
	resnets    []resnetBlock
	attentions []spatialTransformer // empty for the plain blocks
	sampler    *nn.Conv2D           // stride-2 conv (down) or conv after nearest ×2 (up)
}

// UNet is a loaded UNet2DConditionModel. Each Forward takes its activations
// from an arena of its own (kept between steps), so one UNet may serve
// concurrent calls.
type UNet struct {
	Cfg            UNetConfig
	convIn         nn.Conv2D
	time1, time2   nn.Linear // (T, C0), (T, T)
	down, up       []unetBlock
	mid            unetBlock // resnets 0 and 1 around attentions 0
	normOut        nn.GroupNorm
	convOut        nn.Conv2D
	flip           bool
	timeCh, tembCh int
	arenas         arenaPool // Forward's activations, kept between steps
}

// LoadUNet binds a UNet2DConditionModel under b.
func LoadUNet(b *nn.Binder, cfg UNetConfig) (*UNet, error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	boc := cfg.BlockOutChannels
	nb, lpb, g, eps := len(boc), cfg.LayersPerBlock, cfg.NormNumGroups, cfg.NormEps
	m := &UNet{Cfg: cfg, timeCh: boc[0], tembCh: 4 * boc[0], flip: cfg.FlipSinToCos == nil || *cfg.FlipSinToCos}
	T := m.tembCh
	m.convIn = b.Conv2D("conv_in", boc[0], cfg.InChannels, 3, 1, 1)
	m.time1 = denseLinear(b, "time_embedding.linear_1", T, boc[0])
	m.time2 = denseLinear(b, "time_embedding.linear_2", T, T)
	attn := func(bb *nn.Binder, ch, i int) spatialTransformer {
		return bindSpatialTransformer(bb, ch, cfg.NumAttentionHeads.at(i), cfg.TransformerLayersPerBlock.at(i), cfg.CrossAttentionDim, g)
	}
	out := boc[0]
	for i, kind := range cfg.DownBlockTypes {
		in := out
		out = boc[i]
		bb := b.Sub("down_blocks.%d", i)
		var blk unetBlock
		for j := 0; j < lpb; j++ {
			rin := out
			if j == 0 {
				rin = in
			}
			blk.resnets = append(blk.resnets, bindResnet(bb.Sub("resnets.%d", j), rin, out, T, g, eps))
			if strings.HasPrefix(kind, "CrossAttn") {
				blk.attentions = append(blk.attentions, attn(bb.Sub("attentions.%d", j), out, i))
			}
		}
		if i < nb-1 {
			c := bb.Conv2D("downsamplers.0.conv", out, out, 3, 2, 1)
			blk.sampler = &c
		}
		m.down = append(m.down, blk)
	}
	mb, top := b.Sub("mid_block"), boc[nb-1]
	m.mid.resnets = []resnetBlock{bindResnet(mb.Sub("resnets.0"), top, top, T, g, eps), bindResnet(mb.Sub("resnets.1"), top, top, T, g, eps)}
	m.mid.attentions = []spatialTransformer{attn(mb.Sub("attentions.0"), top, nb-1)}
	out = boc[nb-1]
	for i, kind := range cfg.UpBlockTypes {
		prev := out
		ri := nb - 1 - i // the block's channels and per-block settings, counted from the top
		out = boc[ri]
		in := boc[max(ri-1, 0)]
		bb := b.Sub("up_blocks.%d", i)
		var blk unetBlock
		for j := 0; j <= lpb; j++ {
			skip, rin := out, out
			if j == lpb {
				skip = in
			}
			if j == 0 {
				rin = prev
			}
			blk.resnets = append(blk.resnets, bindResnet(bb.Sub("resnets.%d", j), rin+skip, out, T, g, eps))
			if strings.HasPrefix(kind, "CrossAttn") {
				blk.attentions = append(blk.attentions, attn(bb.Sub("attentions.%d", j), out, ri))
			}
		}
		if i < nb-1 {
			c := bb.Conv2D("upsamplers.0.conv", out, out, 3, 1, 1)
			blk.sampler = &c
		}
		m.up = append(m.up, blk)
	}
	m.normOut = b.GroupNorm("conv_norm_out", g, boc[0], eps)
	m.convOut = b.Conv2D("conv_out", cfg.OutChannels, boc[0], 3, 1, 1)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load unet: %w", err)
	}
	return m, nil
}

// timestepEmbedding sets emb (n, C) to the sinusoidal embedding of each
// timestep: [cos | sin](t·exp(-ln(10000)·i/(C/2 - shift))) when flipped, in
// float32 like diffusers so large t round alike.
func timestepEmbedding(emb, ts []float32, C int, flip bool, shift float64) {
	half := C / 2
	for b, t := range ts {
		row := emb[b*C : (b+1)*C]
		for i := 0; i < half; i++ {
			e := float32(-math.Log(10000)) * float32(i) / float32(float64(half)-shift)
			f := float32(math.Exp(float64(e)))
			a := float64(t * f)
			s, c := float32(math.Sin(a)), float32(math.Cos(a))
			if flip {
				row[i], row[half+i] = c, s
			} else {
				row[i], row[half+i] = s, c
			}
		}
		if C%2 == 1 {
			row[C-1] = 0
		}
	}
}

// Forward predicts the model output (noise, or v) out (n, OutChannels, h, w)
// for sample (n, InChannels, h, w) at timesteps (n, or 1 shared) given the
// text encoder's states ctx (n, ctxLen, CrossAttentionDim). h and w must be
// multiples of Downscale().
func (m *UNet) Forward(out, sample []float32, n, h, w int, timesteps []float32, ctx []float32, ctxLen int) error {
	c := m.Cfg
	f, D := c.Downscale(), c.CrossAttentionDim
	switch {
	case n <= 0 || h <= 0 || w <= 0 || h%f != 0 || w%f != 0:
		return fmt.Errorf("unet: batch %d of %dx%d (sides must be positive multiples of %d)", n, h, w, f)
	case len(sample) != n*c.InChannels*h*w || len(out) < n*c.OutChannels*h*w:
		return fmt.Errorf("unet: sample has %d floats (want %d), out %d", len(sample), n*c.InChannels*h*w, len(out))
	case len(timesteps) != n && len(timesteps) != 1:
		return fmt.Errorf("unet: %d timesteps for batch %d", len(timesteps), n)
	case ctxLen <= 0 || len(ctx) != n*ctxLen*D:
		return fmt.Errorf("unet: context has %d floats, want %d×%d×%d", len(ctx), n, ctxLen, D)
	}
	ar := m.arenas.get()
	defer m.arenas.put(ar)
	ts := timesteps
	if len(ts) == 1 && n > 1 {
		ts = ar.floats(n)
		for i := range ts {
			ts[i] = timesteps[0]
		}
	}
	emb := ar.floats(n * m.timeCh)
	timestepEmbedding(emb, ts, m.timeCh, m.flip, c.FreqShift)
	temb := ar.floats(n * m.tembCh)
	if err := firstErr(m.time1.Forward(temb, emb, n), kernels.SiLU(temb, temb)); err != nil {
		return fmt.Errorf("unet time embedding: %w", err)
	}
	t2 := ar.floats(n * m.tembCh)
	// Every resnet applies SiLU to the embedding before its projection: do it once.
	if err := firstErr(m.time2.Forward(t2, temb, n), kernels.SiLU(t2, t2)); err != nil {
		return fmt.Errorf("unet time embedding: %w", err)
	}
	temb = t2

	x := featureMap{ar.scratch(n * m.convIn.Out * h * w), m.convIn.Out, h, w}
	if err := m.convIn.Forward(x.x, sample, n, h, w); err != nil {
		return fmt.Errorf("unet conv_in: %w", err)
	}
	skips := []featureMap{x}
	resnet := func(r *resnetBlock, in featureMap) (featureMap, error) {
		o := featureMap{ar.scratch(n * r.out * in.h * in.w), r.out, in.h, in.w}
		return o, r.forward(ar, o.x, in.x, n, in.h, in.w, temb)
	}
	for i := range m.down {
		blk := &m.down[i]
		for j := range blk.resnets {
			var err error
			if x, err = resnet(&blk.resnets[j], x); err != nil {
				return fmt.Errorf("unet down block %d resnet %d: %w", i, j, err)
			}
			if len(blk.attentions) > 0 {
				if err := blk.attentions[j].forward(ar, x.x, n, x.h*x.w, ctx, ctxLen, D); err != nil {
					return fmt.Errorf("unet down block %d attention %d: %w", i, j, err)
				}
			}
			skips = append(skips, x)
		}
		if blk.sampler != nil {
			oh, ow := blk.sampler.OutSize(x.h, x.w)
			d := featureMap{ar.floats(n * x.ch * oh * ow), x.ch, oh, ow}
			if err := blk.sampler.Forward(d.x, x.x, n, x.h, x.w); err != nil {
				return fmt.Errorf("unet down block %d downsampler: %w", i, err)
			}
			x = d
			skips = append(skips, x)
		}
	}
	var err error
	if x, err = resnet(&m.mid.resnets[0], x); err != nil {
		return fmt.Errorf("unet mid resnet 0: %w", err)
	}
	if err := m.mid.attentions[0].forward(ar, x.x, n, x.h*x.w, ctx, ctxLen, D); err != nil {
		return fmt.Errorf("unet mid attention: %w", err)
	}
	if x, err = resnet(&m.mid.resnets[1], x); err != nil {
		return fmt.Errorf("unet mid resnet 1: %w", err)
	}
	for i := range m.up {
		blk := &m.up[i]
		for j := range blk.resnets {
			s := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			cat := featureMap{concatChannels(ar, x.x, x.ch, s.x, s.ch, n, x.h*x.w), x.ch + s.ch, x.h, x.w}
			if x, err = resnet(&blk.resnets[j], cat); err != nil {
				return fmt.Errorf("unet up block %d resnet %d: %w", i, j, err)
			}
			if len(blk.attentions) > 0 {
				if err := blk.attentions[j].forward(ar, x.x, n, x.h*x.w, ctx, ctxLen, D); err != nil {
					return fmt.Errorf("unet up block %d attention %d: %w", i, j, err)
				}
			}
		}
		if blk.sampler != nil {
			if x, err = upsample(ar, blk.sampler, x.x, n, x.ch, x.h, x.w); err != nil {
				return fmt.Errorf("unet up block %d upsampler: %w", i, err)
			}
		}
	}
	hw := h * w
	if err := firstErr(m.normOut.Forward(x.x, x.x, n, hw), kernels.SiLU(x.x, x.x), m.convOut.Forward(out, x.x, n, h, w)); err != nil {
		return fmt.Errorf("unet out: %w", err)
	}
	return nil
}

// featureMap is a batch of activations x (n, ch, h, w); n is the caller's.
type featureMap struct {
	x        []float32
	ch, h, w int
}

// upsample is Upsample2D: nearest ×2, then conv (3×3, pad 1).
func upsample(ar *arena, conv *nn.Conv2D, x []float32, n, ch, h, w int) (featureMap, error) {
	big := ar.scratch(n * ch * 4 * h * w)
	if err := kernels.UpsampleNearest2x(big, x, n, ch, h, w); err != nil {
		return featureMap{}, err
	}
	o := featureMap{ar.scratch(n * conv.Out * 4 * h * w), conv.Out, 2 * h, 2 * w}
	return o, conv.Forward(o.x, big, n, 2*h, 2*w)
}

// concatChannels returns (n, ca+cb, hw): each image's a channels then b's.
func concatChannels(ar *arena, a []float32, ca int, b []float32, cb, n, hw int) []float32 {
	out := ar.scratch(n * (ca + cb) * hw)
	for i := 0; i < n; i++ {
		o := out[i*(ca+cb)*hw:]
		copy(o[:ca*hw], a[i*ca*hw:(i+1)*ca*hw])
		copy(o[ca*hw:(ca+cb)*hw], b[i*cb*hw:(i+1)*cb*hw])
	}
	return out
}
