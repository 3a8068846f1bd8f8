package towers

// KL autoencoder of latent diffusion (Rombach et al. 2022, appendix G),
// written to the configuration and tensor names of diffusers' AutoencoderKL,
// so a Stable Diffusion "vae" folder binds to the same code:
//
//	encoder.{conv_in, down_blocks.i.{resnets.j, downsamplers.0.conv}, mid_block, conv_norm_out, conv_out},
//	quant_conv, post_quant_conv,
//	decoder.{conv_in, mid_block, up_blocks.i.{resnets.j, upsamplers.0.conv}, conv_norm_out, conv_out},
//	mid_block.{resnets.{0,1}, attentions.0.{group_norm, to_q, to_k, to_v, to_out.0}}
//
// (older exports name the attention query/key/value/proj_attn; both bind).
// Resnets are core/nn's ResnetBlock without a time embedding; the encoder
// downsamples with a stride-2 conv after padding one zero row and column at
// the bottom and right; the mid-block attention is one head over all pixels.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// VAEConfig is the part of an AutoencoderKL config.json the tower reads.
type VAEConfig struct {
	InChannels           int      `json:"in_channels"`
	OutChannels          int      `json:"out_channels"`
	LatentChannels       int      `json:"latent_channels"`
	BlockOutChannels     []int    `json:"block_out_channels"`
	LayersPerBlock       int      `json:"layers_per_block"`
	NormNumGroups        int      `json:"norm_num_groups"`
	SampleSize           int      `json:"sample_size"`
	ScalingFactor        float32  `json:"scaling_factor"`
	ShiftFactor          *float32 `json:"shift_factor"`
	DownBlockTypes       []string `json:"down_block_types"`
	UpBlockTypes         []string `json:"up_block_types"`
	ActFn                string   `json:"act_fn"`
	MidBlockAddAttention *bool    `json:"mid_block_add_attention"`
	UseQuantConv         *bool    `json:"use_quant_conv"`
	UsePostQuantConv     *bool    `json:"use_post_quant_conv"`
}

// ReadVAEConfig reads a config.json.
func ReadVAEConfig(path string) (VAEConfig, error) {
	var c VAEConfig
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("vae config %s: %w", path, err)
	}
	return c, nil
}

func (c *VAEConfig) fill() {
	if c.LayersPerBlock == 0 {
		c.LayersPerBlock = 1
	}
	if c.NormNumGroups == 0 {
		c.NormNumGroups = 32
	}
	if c.ScalingFactor == 0 {
		c.ScalingFactor = 0.18215
	}
}

func (c *VAEConfig) validate() error {
	n := len(c.BlockOutChannels)
	switch {
	case c.InChannels <= 0 || c.OutChannels <= 0 || c.LatentChannels <= 0 || n == 0:
		return fmt.Errorf("vae: in %d, out %d, latent %d channels and %d blocks must be positive", c.InChannels, c.OutChannels, c.LatentChannels, n)
	case n > 8 || c.LayersPerBlock < 1 || c.LayersPerBlock > 16 || c.NormNumGroups < 1:
		return fmt.Errorf("vae: %d blocks of %d layers with %d norm groups", n, c.LayersPerBlock, c.NormNumGroups)
	case c.ActFn != "" && c.ActFn != "silu":
		return fmt.Errorf("vae: act_fn %q not supported", c.ActFn)
	case c.MidBlockAddAttention != nil && !*c.MidBlockAddAttention:
		return fmt.Errorf("vae: a mid block without attention is not supported")
	case (c.DownBlockTypes != nil && len(c.DownBlockTypes) != n) || (c.UpBlockTypes != nil && len(c.UpBlockTypes) != n):
		return fmt.Errorf("vae: %d down and %d up block types for %d blocks", len(c.DownBlockTypes), len(c.UpBlockTypes), n)
	}
	for _, t := range c.DownBlockTypes {
		if t != "DownEncoderBlock2D" {
			return fmt.Errorf("vae: down block %q not supported", t)
		}
	}
	for _, t := range c.UpBlockTypes {
		if t != "UpDecoderBlock2D" {
			return fmt.Errorf("vae: up block %q not supported", t)
		}
	}
	for i, ch := range c.BlockOutChannels {
		if ch <= 0 || ch%c.NormNumGroups != 0 {
			return fmt.Errorf("vae: block %d has %d channels for %d groups", i, ch, c.NormNumGroups)
		}
	}
	return nil
}

// Downscale is the factor between image and latent sides.
func (c VAEConfig) Downscale() int { return 1 << (len(c.BlockOutChannels) - 1) }

// pixelAttention is the VAE mid block's single-head self-attention over all
// h·w pixels, with a residual.
type pixelAttention struct {
	norm nn.GroupNorm
	attn nn.CrossAttention // one head of C, q/k/v/o (C, C) with biases
}

func bindPixelAttention(b *nn.Binder, ch, groups int) pixelAttention {
	names := [4]string{"to_q", "to_k", "to_v", "to_out.0"}
	if !b.Has("to_q.weight") && b.Has("query.weight") {
		names = [4]string{"query", "key", "value", "proj_attn"}
	}
	// Converted checkpoints may keep the 1×1 conv kernels (C, C, 1, 1).
	lin := func(name string) nn.Linear {
		return nn.Linear{W: b.FlatMatrix(name+".weight", ch, ch), Bias: b.Vector(name+".bias", ch)}
	}
	return pixelAttention{norm: b.GroupNorm("group_norm", groups, ch, 1e-6),
		attn: nn.CrossAttention{Q: lin(names[0]), K: lin(names[1]), V: lin(names[2]), O: lin(names[3]), Heads: 1, HeadDim: ch}}
}

// forward updates x (n, C, hw) in place.
func (a *pixelAttention) forward(ar *tensor.Arena, x []float32, n, hw int) error {
	C := a.attn.HeadDim
	normed := ar.Scratch(n * C * hw)
	if err := a.norm.Forward(normed, x, n, hw); err != nil {
		return err
	}
	tok, o := ar.Scratch(hw*C), ar.Scratch(hw*C) // (HW, C)
	for b := 0; b < n; b++ {
		if err := kernels.Transpose(tok, normed[b*C*hw:(b+1)*C*hw], C, hw); err != nil {
			return err
		}
		if err := a.attn.Forward(o, tok, hw, tok, hw, ar); err != nil {
			return err
		}
		nn.AddTokens(x[b*C*hw:(b+1)*C*hw], o, C, hw)
	}
	return nil
}

// vaeMid is UNetMidBlock2D without a time embedding: resnet, attention, resnet.
type vaeMid struct {
	r0, r1 nn.ResnetBlock
	attn   pixelAttention
}

func bindVAEMid(b *nn.Binder, ch, groups int) vaeMid {
	return vaeMid{r0: nn.BindResnetBlock(b.Sub("resnets.0"), ch, ch, 0, groups, 1e-6),
		attn: bindPixelAttention(b.Sub("attentions.0"), ch, groups),
		r1:   nn.BindResnetBlock(b.Sub("resnets.1"), ch, ch, 0, groups, 1e-6)}
}

// forward passes x (n, C, h, w) through the block; the result replaces x.
func (m *vaeMid) forward(ar *tensor.Arena, x []float32, n, h, w int) error {
	t := ar.Scratch(len(x))
	if err := m.r0.Forward(t, x, n, h, w, nil, ar); err != nil {
		return fmt.Errorf("mid block resnet 0: %w", err)
	}
	if err := m.attn.forward(ar, t, n, h*w); err != nil {
		return fmt.Errorf("mid block attention: %w", err)
	}
	if err := m.r1.Forward(x, t, n, h, w, nil, ar); err != nil {
		return fmt.Errorf("mid block resnet 1: %w", err)
	}
	return nil
}

// vaeBlock is DownEncoderBlock2D or UpDecoderBlock2D.
type vaeBlock struct {
	resnets []nn.ResnetBlock
	down    *nn.Conv2D     // stride-2 conv without padding (encoder blocks but the last)
	up      *nn.Upsample2D // nearest ×2 and conv (decoder blocks but the last)
}

// bindVAEBlock binds a DownEncoderBlock2D (down) or UpDecoderBlock2D of
// layers resnets, with its sampler when sample is set.
func bindVAEBlock(b *nn.Binder, in, out, layers, groups int, sample, down bool) vaeBlock {
	var blk vaeBlock
	for j := 0; j < layers; j++ {
		rin := out
		if j == 0 {
			rin = in
		}
		blk.resnets = append(blk.resnets, nn.BindResnetBlock(b.Sub("resnets.%d", j), rin, out, 0, groups, 1e-6))
	}
	switch {
	case sample && down:
		c := b.Conv2D("downsamplers.0.conv", out, out, 3, 2, 0)
		blk.down = &c
	case sample:
		u := nn.BindUpsample2D(b.Sub("upsamplers.0"), out)
		blk.up = &u
	}
	return blk
}

// VAE is a loaded AutoencoderKL (encoder and decoder). Each call takes its
// activations from an arena of its own (kept between calls), so one VAE may
// serve concurrent calls.
type VAE struct {
	Cfg              VAEConfig
	encIn, encOut    nn.Conv2D
	encBlocks        []vaeBlock
	encMid           vaeMid
	encNorm          nn.GroupNorm
	quant, postQuant *nn.Conv2D // 1×1
	decIn, decOut    nn.Conv2D
	decMid           vaeMid
	decBlocks        []vaeBlock
	decNorm          nn.GroupNorm
	HasEncoder       bool
	arenas           tensor.ArenaPool // activations of Encode and Decode, kept between calls
}

// LoadVAE binds an AutoencoderKL under b. A folder holding only the decoder
// (encoder.* absent) loads for text-to-image; Encode then fails.
func LoadVAE(b *nn.Binder, cfg VAEConfig) (*VAE, error) {
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	boc, g, lpb, L := cfg.BlockOutChannels, cfg.NormNumGroups, cfg.LayersPerBlock, cfg.LatentChannels
	nb, top := len(boc), boc[len(boc)-1]
	m := &VAE{Cfg: cfg, HasEncoder: b.Has("encoder.conv_in.weight")}
	if m.HasEncoder {
		e := b.Sub("encoder")
		m.encIn = e.Conv2D("conv_in", boc[0], cfg.InChannels, 3, 1, 1)
		out := boc[0]
		for i := 0; i < nb; i++ {
			in := out
			out = boc[i]
			m.encBlocks = append(m.encBlocks, bindVAEBlock(e.Sub("down_blocks.%d", i), in, out, lpb, g, i < nb-1, true))
		}
		m.encMid = bindVAEMid(e.Sub("mid_block"), top, g)
		m.encNorm = e.GroupNorm("conv_norm_out", g, top, 1e-6)
		m.encOut = e.Conv2D("conv_out", 2*L, top, 3, 1, 1)
		if cfg.UseQuantConv == nil || *cfg.UseQuantConv {
			q := b.Conv2D("quant_conv", 2*L, 2*L, 1, 1, 0)
			m.quant = &q
		}
	}
	if cfg.UsePostQuantConv == nil || *cfg.UsePostQuantConv {
		q := b.Conv2D("post_quant_conv", L, L, 1, 1, 0)
		m.postQuant = &q
	}
	d := b.Sub("decoder")
	m.decIn = d.Conv2D("conv_in", top, L, 3, 1, 1)
	m.decMid = bindVAEMid(d.Sub("mid_block"), top, g)
	out := top
	for i := 0; i < nb; i++ {
		in := out
		out = boc[nb-1-i]
		m.decBlocks = append(m.decBlocks, bindVAEBlock(d.Sub("up_blocks.%d", i), in, out, lpb+1, g, i < nb-1, false))
	}
	m.decNorm = d.GroupNorm("conv_norm_out", g, boc[0], 1e-6)
	m.decOut = d.Conv2D("conv_out", cfg.OutChannels, boc[0], 3, 1, 1)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load vae: %w", err)
	}
	// One image decodes in row bands (decodeBands): its convs' kernels are
	// laid out for them once here.
	errs := []error{m.decIn.StackForBands(), m.decOut.StackForBands(), m.decMid.r0.StackForBands(), m.decMid.r1.StackForBands()}
	for i := range m.decBlocks {
		for j := range m.decBlocks[i].resnets {
			errs = append(errs, m.decBlocks[i].resnets[j].StackForBands())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("load vae: %w", err)
	}
	return m, nil
}

// runResnets passes x through a block's resnets.
func runResnets(ar *tensor.Arena, rs []nn.ResnetBlock, x featureMap, n int) (featureMap, error) {
	for j := range rs {
		o := featureMap{ar.Scratch(n * rs[j].Out * x.h * x.w), rs[j].Out, x.h, x.w}
		if err := rs[j].Forward(o.x, x.x, n, x.h, x.w, nil, ar); err != nil {
			return o, fmt.Errorf("resnet %d: %w", j, err)
		}
		x = o
	}
	return x, nil
}

// Encode sets mean and logvar (n, L, h/f, w/f) of the latent Gaussian for
// images (n, InChannels, h, w) in [-1, 1]; logvar is clamped to [-30, 20].
func (m *VAE) Encode(mean, logvar, images []float32, n, h, w int) error {
	c := m.Cfg
	f, L := c.Downscale(), c.LatentChannels
	switch {
	case !m.HasEncoder:
		return fmt.Errorf("vae: this checkpoint has no encoder")
	case n <= 0 || h <= 0 || w <= 0 || h%f != 0 || w%f != 0:
		return fmt.Errorf("vae encode: batch %d of %dx%d (sides must be positive multiples of %d)", n, h, w, f)
	case len(images) != n*c.InChannels*h*w:
		return fmt.Errorf("vae encode: images have %d floats, want %d", len(images), n*c.InChannels*h*w)
	case len(mean) < n*L*(h/f)*(w/f) || len(logvar) < n*L*(h/f)*(w/f):
		return fmt.Errorf("vae encode: mean %d, logvar %d floats, want %d", len(mean), len(logvar), n*L*(h/f)*(w/f))
	}
	ar := m.arenas.Get()
	defer m.arenas.Put(ar)
	x := featureMap{ar.Scratch(n * m.encIn.Out * h * w), m.encIn.Out, h, w}
	if err := m.encIn.Forward(x.x, images, n, h, w); err != nil {
		return fmt.Errorf("vae encoder conv_in: %w", err)
	}
	var err error
	for i := range m.encBlocks {
		blk := &m.encBlocks[i]
		if x, err = runResnets(ar, blk.resnets, x, n); err != nil {
			return fmt.Errorf("vae encoder block %d: %w", i, err)
		}
		if blk.down != nil {
			// Pad one zero row and column at the bottom and right, then a
			// stride-2 conv without padding: (h+1-3)/2+1 = h/2.
			p := padBottomRight(ar, x.x, n*x.ch, x.h, x.w)
			d := featureMap{ar.Scratch(n * x.ch * (x.h / 2) * (x.w / 2)), x.ch, x.h / 2, x.w / 2}
			if err := blk.down.Forward(d.x, p, n, x.h+1, x.w+1); err != nil {
				return fmt.Errorf("vae encoder block %d downsampler: %w", i, err)
			}
			x = d
		}
	}
	if err := m.encMid.forward(ar, x.x, n, x.h, x.w); err != nil {
		return fmt.Errorf("vae encoder: %w", err)
	}
	hw := x.h * x.w
	moments := ar.Scratch(n * 2 * L * hw) // (n, 2L, hw): mean channels then logvar channels
	if err := m.encNorm.Forward(x.x, x.x, n, hw); err != nil {
		return fmt.Errorf("vae encoder out: %w", err)
	}
	if err := kernels.SiLU(x.x, x.x); err != nil {
		return err
	}
	if err := m.encOut.Forward(moments, x.x, n, x.h, x.w); err != nil {
		return fmt.Errorf("vae encoder conv_out: %w", err)
	}
	if m.quant != nil {
		q := ar.Scratch(len(moments))
		if err := m.quant.Forward(q, moments, n, x.h, x.w); err != nil {
			return fmt.Errorf("vae quant_conv: %w", err)
		}
		moments = q
	}
	for b := 0; b < n; b++ {
		mo := moments[b*2*L*hw:]
		copy(mean[b*L*hw:(b+1)*L*hw], mo[:L*hw])
		lv := logvar[b*L*hw : (b+1)*L*hw]
		for i := range lv {
			lv[i] = min(max(mo[L*hw+i], -30), 20)
		}
	}
	return nil
}

// SampleLatents sets z to (mean + exp(logvar/2)·noise − shift)·scaling, the
// latents a diffusion model works in; noise nil takes the mean (the mode).
func (m *VAE) SampleLatents(z, mean, logvar, noise []float32) error {
	if len(z) < len(mean) || len(logvar) != len(mean) || (noise != nil && len(noise) != len(mean)) {
		return fmt.Errorf("vae latents: z %d, mean %d, logvar %d, noise %d", len(z), len(mean), len(logvar), len(noise))
	}
	s, shift := m.Cfg.ScalingFactor, m.shift()
	for i, mu := range mean {
		v := mu
		if noise != nil {
			v += float32(math.Exp(0.5*float64(logvar[i]))) * noise[i]
		}
		z[i] = (v - shift) * s
	}
	return nil
}

func (m *VAE) shift() float32 {
	if m.Cfg.ShiftFactor != nil {
		return *m.Cfg.ShiftFactor
	}
	return 0
}

// DecodeLatents undoes SampleLatents' scaling and decodes: images (n,
// OutChannels, h·f, w·f) from latents (n, L, h, w) as a diffusion model
// produced them.
func (m *VAE) DecodeLatents(images, latents []float32, n, h, w int) error {
	return m.decodeItems(images, latents, n, h, w, true)
}

// Decode sets images (n, OutChannels, h·f, w·f), nominally in [-1, 1], from
// unscaled latents z (n, L, h, w).
func (m *VAE) Decode(images, z []float32, n, h, w int) error {
	return m.decodeItems(images, z, n, h, w, false)
}

// decodeItems decodes a batch with its images side by side, a share per
// thread with its kernels on that thread (kernels.ParallelItems, as the
// UNet runs its batch), each image in row bands (decodeBands); scaled
// latents are unscaled first.
func (m *VAE) decodeItems(images, z []float32, n, h, w int, scaled bool) error {
	c := m.Cfg
	f, L := c.Downscale(), c.LatentChannels
	switch {
	case n <= 0 || h <= 0 || w <= 0:
		return fmt.Errorf("vae decode: batch %d of %dx%d", n, h, w)
	case len(z) != n*L*h*w:
		return fmt.Errorf("vae decode: latents have %d floats, want %d", len(z), n*L*h*w)
	case len(images) < n*c.OutChannels*h*f*w*f:
		return fmt.Errorf("vae decode: images have %d floats, want %d", len(images), n*c.OutChannels*h*f*w*f)
	}
	in, out := L*h*w, c.OutChannels*h*f*w*f
	return itemsSideBySide(n, func(lo, hi int) error {
		// Image by image, each through decodeBands: how many images a
		// share holds depends on the thread count, and one image's bits
		// must not (workers of any size give the same bytes).
		for i := lo; i < hi; i++ {
			if err := m.decodeOne(images[i*out:(i+1)*out], z[i*in:(i+1)*in], h, w, scaled); err != nil {
				return err
			}
		}
		return nil
	})
}

// decodeOne decodes one image in an arena of its own.
func (m *VAE) decodeOne(image, z []float32, h, w int, scaled bool) error {
	ar := m.arenas.Get()
	defer m.arenas.Put(ar)
	if scaled {
		u := ar.Scratch(len(z))
		s, shift := m.Cfg.ScalingFactor, m.shift()
		for i, v := range z {
			u[i] = v/s + shift
		}
		z = u
	}
	return m.decode(ar, image, z, h, w)
}

// decode is Decode of one image on checked arguments.
func (m *VAE) decode(ar *tensor.Arena, image, z []float32, h, w int) error {
	if m.postQuant != nil {
		q := ar.Scratch(len(z))
		if err := m.postQuant.Forward(q, z, 1, h, w); err != nil {
			return fmt.Errorf("vae post_quant_conv: %w", err)
		}
		z = q
	}
	return m.decodeBands(ar, image, z, h, w)
}

// vaeBandMinRows is the fewest rows of the latent-sized maps per member for
// which one image's decoder runs in row bands (decodeBands).
const vaeBandMinRows = 8

// decodeBands decodes one image in row bands: Pool.Teams of a member per
// thread, each owning Band(h, 1, part, parts) of every map's rows through
// conv_in, the mid block's resnets, every up block's resnets and
// upsampler, the output norm and conv_out, on its own thread; GroupNorm
// statistics meet over the image, and a conv reads its neighbours' edge
// rows after a barrier. Only the mid block's attention, which mixes all
// pixels, runs between two teams, op by op. Split op by op, each op divided
// the maps its own way (GroupNorm by channel groups, a conv's padding by
// channel planes, its GEMM by pixel columns), so at two threads half of
// every map crossed cores twice per conv. The band convs sum their column
// taps in another order than Conv2D and GroupNorm's statistics add the
// bands' float64 sums, so images differ from an op-by-op decode by float32
// rounding; they do not depend on the thread count where the bands start
// on multiples of 8 floats (TestVAEBandsMatch), which is why every image,
// in a batch or alone, decodes here (decodeItems). With one thread (or maps
// under 2·vaeBandMinRows rows) one member owns every row: no barrier
// waits, and it keeps the fusions the bands brought (the ×2 upsampling read
// from the small map, GroupNorm and SiLU in one pass, the skip added in
// conv2's output pass).
func (m *VAE) decodeBands(ar *tensor.Arena, images, z []float32, h, w int) error {
	want := max(1, min(kernels.Default().Threads(), h/vaeBandMinRows))
	// Every map has at most the widest block's channels and the output's
	// sides.
	top, sides := m.decIn.Out, 1
	for i := range m.decBlocks {
		for _, r := range m.decBlocks[i].resnets {
			top = max(top, r.In, r.Out)
		}
		if m.decBlocks[i].up != nil {
			sides *= 2
		}
	}
	size := top * h * sides * w * sides
	maps := [4][]float32{ar.Scratch(size), ar.Scratch(size), ar.Scratch(size), ar.Scratch(size)}
	st := kernels.NewBandStats(want, m.Cfg.NormNumGroups)
	errs := make([]error, want)
	ch := m.decIn.Out
	in, mid := featureMap{maps[0][:ch*h*w], ch, h, w}, featureMap{maps[1][:ch*h*w], ch, h, w}
	kernels.Default().Team(want, func(part, parts int, bar *kernels.Barrier) {
		lo, hi := kernels.Band(h, 1, part, parts)
		err := m.decIn.ForwardBand(in.x, z, h, w, lo, hi, false)
		if err != nil {
			err = fmt.Errorf("vae decoder conv_in: %w", err)
		}
		// conv_in's rows are the member's own; resnet 0 reads its
		// neighbours' rows only after its norm's barriers.
		if e := m.decMid.r0.ForwardBand(mid.x, in.x, maps[2], maps[3], h, w, lo, hi, st, part, bar); e != nil && err == nil {
			err = fmt.Errorf("vae decoder mid block resnet 0: %w", e)
		}
		errs[part] = err
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := m.decMid.attn.forward(ar, mid.x, 1, h*w); err != nil {
		return fmt.Errorf("vae decoder mid block attention: %w", err)
	}
	// Partial sums of a team of its own: this team may get another number
	// of members than the first (Team gives what threads are free), and a
	// row the first team's member wrote would count in every norm here.
	st = kernels.NewBandStats(want, m.Cfg.NormNumGroups)
	kernels.Default().Team(want, func(part, parts int, bar *kernels.Barrier) {
		errs[part] = m.decodeUpBand(images, mid, maps, st, part, parts, bar)
	})
	return errors.Join(errs...)
}

// decodeUpBand is one member's part of decodeBands after the attention:
// the mid block's second resnet, the up blocks, the output norm and
// conv_out on x (in maps[1]). The block outputs alternate between maps[0]
// and maps[1]; maps[2] and maps[3] are each resnet's normed input and
// hidden map. A member writes a shared map only after a barrier that its
// neighbour passed once done reading it, and it meets every barrier
// whether or not it failed.
func (m *VAE) decodeUpBand(images []float32, x featureMap, maps [4][]float32, st *kernels.BandStats, part, parts int, bar *kernels.Barrier) error {
	var err error
	ok := func(e error) bool { // records the first error; false from then on
		if err == nil {
			err = e
		}
		return err == nil
	}
	lo, hi := kernels.Band(x.h, 1, part, parts)
	o := featureMap{maps[0][:m.decMid.r1.Out*x.h*x.w], m.decMid.r1.Out, x.h, x.w}
	if e := m.decMid.r1.ForwardBand(o.x, x.x, maps[2], maps[3], x.h, x.w, lo, hi, st, part, bar); e != nil {
		ok(fmt.Errorf("vae decoder mid block resnet 1: %w", e))
	}
	x, next := o, 1
	for i := range m.decBlocks {
		blk := &m.decBlocks[i]
		lo, hi := kernels.Band(x.h, 1, part, parts)
		for j := range blk.resnets {
			r := &blk.resnets[j]
			o := featureMap{maps[next][:r.Out*x.h*x.w], r.Out, x.h, x.w}
			if e := r.ForwardBand(o.x, x.x, maps[2], maps[3], x.h, x.w, lo, hi, st, part, bar); e != nil {
				ok(fmt.Errorf("vae decoder block %d resnet %d: %w", i, j, e))
			}
			x, next = o, 1-next
		}
		if blk.up != nil {
			bar.Wait() // the upsampler's conv reads the neighbours' edge rows
			o := featureMap{maps[next][:blk.up.Conv.Out*4*x.h*x.w], blk.up.Conv.Out, 2 * x.h, 2 * x.w}
			lo, hi := kernels.Band(o.h, 1, part, parts)
			_ = err == nil && ok(blk.up.ForwardBand(o.x, x.x, x.h, x.w, lo, hi))
			x, next = o, 1-next
		}
	}
	lo, hi = kernels.Band(x.h, 1, part, parts)
	t := maps[2][:x.ch*x.h*x.w]
	ok(m.decNorm.ForwardBand(t, x.x, x.h*x.w, true, lo*x.w, hi*x.w, st, part, bar))
	bar.Wait() // conv_out reads the neighbours' edge rows
	_ = err == nil && ok(m.decOut.ForwardBand(images, t, x.h, x.w, lo, hi, false))
	if err != nil {
		return fmt.Errorf("vae decoder, rows %d-%d: %w", lo, hi, err)
	}
	return nil
}

// padBottomRight returns planes (p, h+1, w+1): x (p, h, w) with a zero row
// below and a zero column to the right.
func padBottomRight(ar *tensor.Arena, x []float32, planes, h, w int) []float32 {
	out := ar.Floats(planes * (h + 1) * (w + 1))
	for p := 0; p < planes; p++ {
		for y := 0; y < h; y++ {
			copy(out[(p*(h+1)+y)*(w+1):], x[(p*h+y)*w:(p*h+y+1)*w])
		}
	}
	return out
}
