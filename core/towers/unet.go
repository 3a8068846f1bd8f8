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
// as HW tokens of C channels. The blocks are core/nn's (ResnetBlock,
// Transformer2D, Upsample2D); attention is the core's fused flash attention
// (self over the HW tokens, cross to the text encoder's states). The sinusoidal
// timestep embedding is computed in float32 as PyTorch does, so timesteps
// near 1000 round the same way.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
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

// unetBlock is one of CrossAttnDownBlock2D, DownBlock2D, CrossAttnUpBlock2D,
// UpBlock2D: resnets, an attention after each when cross-attending, then a
// down- or upsampler.
type unetBlock struct {
	resnets    []nn.ResnetBlock
	attentions []nn.Transformer2D // empty for the plain blocks
	down       *nn.Conv2D         // stride-2 conv (down blocks but the last)
	up         *nn.Upsample2D     // nearest ×2 and conv (up blocks but the last)
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
	arenas         tensor.ArenaPool // Forward's activations, kept between steps
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
	m.time1 = b.DenseLinear("time_embedding.linear_1", T, boc[0])
	m.time2 = b.DenseLinear("time_embedding.linear_2", T, T)
	attn := func(bb *nn.Binder, ch, i int) nn.Transformer2D {
		return nn.BindTransformer2D(bb, ch, cfg.NumAttentionHeads.at(i), cfg.TransformerLayersPerBlock.at(i), cfg.CrossAttentionDim, g)
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
			blk.resnets = append(blk.resnets, nn.BindResnetBlock(bb.Sub("resnets.%d", j), rin, out, T, g, eps))
			if strings.HasPrefix(kind, "CrossAttn") {
				blk.attentions = append(blk.attentions, attn(bb.Sub("attentions.%d", j), out, i))
			}
		}
		if i < nb-1 {
			c := bb.Conv2D("downsamplers.0.conv", out, out, 3, 2, 1)
			blk.down = &c
		}
		m.down = append(m.down, blk)
	}
	mb, top := b.Sub("mid_block"), boc[nb-1]
	m.mid.resnets = []nn.ResnetBlock{nn.BindResnetBlock(mb.Sub("resnets.0"), top, top, T, g, eps), nn.BindResnetBlock(mb.Sub("resnets.1"), top, top, T, g, eps)}
	m.mid.attentions = []nn.Transformer2D{attn(mb.Sub("attentions.0"), top, nb-1)}
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
			blk.resnets = append(blk.resnets, nn.BindResnetBlock(bb.Sub("resnets.%d", j), rin+skip, out, T, g, eps))
			if strings.HasPrefix(kind, "CrossAttn") {
				blk.attentions = append(blk.attentions, attn(bb.Sub("attentions.%d", j), out, ri))
			}
		}
		if i < nb-1 {
			u := nn.BindUpsample2D(bb.Sub("upsamplers.0"), out)
			blk.up = &u
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
	// The items run side by side, each share on one thread with its kernels
	// on that thread (classifier-free guidance's two halves: one per core),
	// so a core keeps its maps in its own cache from op to op; splitting
	// every op of the whole batch over the cores instead made two threads
	// slower than one on 16×16 latents (docs/BENCHMARKS.md).
	in, o := c.InChannels*h*w, c.OutChannels*h*w
	return itemsSideBySide(n, func(lo, hi int) error {
		ts := timesteps
		if len(ts) == n {
			ts = ts[lo:hi]
		}
		ar := m.arenas.Get()
		defer m.arenas.Put(ar)
		return m.forward(ar, out[lo*o:hi*o], sample[lo*in:hi*in], hi-lo, h, w, ts, ctx[lo*ctxLen*D:hi*ctxLen*D], ctxLen, nil)
	})
}

// itemsSideBySide runs fn on shares [lo, hi) of a batch of n independent
// items through kernels.ParallelItems and returns the first error.
func itemsSideBySide(n int, fn func(lo, hi int) error) error {
	var mu sync.Mutex
	var first error
	kernels.ParallelItems(n, func(lo, hi int) {
		err := fn(lo, hi)
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	})
	return first
}

// unetPart names where a stage hook runs: after resnet j (and its
// attention) of down block i, after the mid block's attention, or after
// resnet j (and its attention) of up block i.
type unetPart int

const (
	partDown unetPart = iota
	partMid
	partUp
)

// stageHook runs on the feature map after each stage of the UNet, in place:
// the motion UNet's motion modules. nil for the image UNet.
type stageHook func(part unetPart, i, j int, x featureMap) error

// forward is Forward on checked arguments, with a hook after each stage.
func (m *UNet) forward(ar *tensor.Arena, out, sample []float32, n, h, w int, timesteps, ctx []float32, ctxLen int, hook stageHook) error {
	c := m.Cfg
	ts := timesteps
	if len(ts) == 1 && n > 1 {
		ts = ar.Floats(n)
		for i := range ts {
			ts[i] = timesteps[0]
		}
	}
	emb := ar.Floats(n * m.timeCh)
	timestepEmbedding(emb, ts, m.timeCh, m.flip, c.FreqShift)
	temb := ar.Floats(n * m.tembCh)
	if err := m.time1.Forward(temb, emb, n); err != nil {
		return fmt.Errorf("unet time embedding: %w", err)
	}
	if err := kernels.SiLU(temb, temb); err != nil {
		return err
	}
	t2 := ar.Floats(n * m.tembCh)
	if err := m.time2.Forward(t2, temb, n); err != nil {
		return fmt.Errorf("unet time embedding: %w", err)
	}
	// Every resnet applies SiLU to the embedding before its projection: do it once.
	if err := kernels.SiLU(t2, t2); err != nil {
		return err
	}
	temb = t2

	x := featureMap{ar.Scratch(n * m.convIn.Out * h * w), m.convIn.Out, h, w}
	if err := m.convIn.Forward(x.x, sample, n, h, w); err != nil {
		return fmt.Errorf("unet conv_in: %w", err)
	}
	skips := []featureMap{x}
	resnet := func(r *nn.ResnetBlock, in featureMap) (featureMap, error) {
		o := featureMap{ar.Scratch(n * r.Out * in.h * in.w), r.Out, in.h, in.w}
		return o, r.Forward(o.x, in.x, n, in.h, in.w, temb, ar)
	}
	for i := range m.down {
		blk := &m.down[i]
		for j := range blk.resnets {
			var err error
			if x, err = resnet(&blk.resnets[j], x); err != nil {
				return fmt.Errorf("unet down block %d resnet %d: %w", i, j, err)
			}
			if len(blk.attentions) > 0 {
				if err := blk.attentions[j].Forward(x.x, n, x.h*x.w, ctx, ctxLen, ar); err != nil {
					return fmt.Errorf("unet down block %d attention %d: %w", i, j, err)
				}
			}
			if hook != nil {
				if err := hook(partDown, i, j, x); err != nil {
					return fmt.Errorf("unet down block %d: %w", i, err)
				}
			}
			skips = append(skips, x)
		}
		if blk.down != nil {
			oh, ow := blk.down.OutSize(x.h, x.w)
			d := featureMap{ar.Scratch(n * x.ch * oh * ow), x.ch, oh, ow}
			if err := blk.down.Forward(d.x, x.x, n, x.h, x.w); err != nil {
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
	if err := m.mid.attentions[0].Forward(x.x, n, x.h*x.w, ctx, ctxLen, ar); err != nil {
		return fmt.Errorf("unet mid attention: %w", err)
	}
	if hook != nil {
		if err := hook(partMid, 0, 0, x); err != nil {
			return fmt.Errorf("unet mid block: %w", err)
		}
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
				if err := blk.attentions[j].Forward(x.x, n, x.h*x.w, ctx, ctxLen, ar); err != nil {
					return fmt.Errorf("unet up block %d attention %d: %w", i, j, err)
				}
			}
			if hook != nil {
				if err := hook(partUp, i, j, x); err != nil {
					return fmt.Errorf("unet up block %d: %w", i, err)
				}
			}
		}
		if blk.up != nil {
			if x, err = upsample(ar, blk.up, x, n); err != nil {
				return fmt.Errorf("unet up block %d upsampler: %w", i, err)
			}
		}
	}
	if err := m.normOut.Forward(x.x, x.x, n, h*w); err != nil {
		return fmt.Errorf("unet out: %w", err)
	}
	if err := kernels.SiLU(x.x, x.x); err != nil {
		return err
	}
	if err := m.convOut.Forward(out, x.x, n, h, w); err != nil {
		return fmt.Errorf("unet conv_out: %w", err)
	}
	return nil
}

// featureMap is a batch of activations x (n, ch, h, w); n is the caller's.
type featureMap struct {
	x        []float32
	ch, h, w int
}

// upsample runs an Upsample2D on x, into a map of twice the sides.
func upsample(ar *tensor.Arena, u *nn.Upsample2D, x featureMap, n int) (featureMap, error) {
	o := featureMap{ar.Scratch(n * u.Conv.Out * 4 * x.h * x.w), u.Conv.Out, 2 * x.h, 2 * x.w}
	return o, u.Forward(o.x, x.x, n, x.h, x.w, ar)
}

// concatChannels returns (n, ca+cb, hw): each image's a channels then b's.
func concatChannels(ar *tensor.Arena, a []float32, ca int, b []float32, cb, n, hw int) []float32 {
	out := ar.Scratch(n * (ca + cb) * hw)
	for i := 0; i < n; i++ {
		o := out[i*(ca+cb)*hw:]
		copy(o[:ca*hw], a[i*ca*hw:(i+1)*ca*hw])
		copy(o[ca*hw:(ca+cb)*hw], b[i*cb*hw:(i+1)*cb*hw])
	}
	return out
}
