package towers

// Motion UNet: "AnimateDiff: Animate Your Personalized Text-to-Image
// Diffusion Models without Specific Tuning" (Guo et al. 2024), written to the
// configuration and tensor names of diffusers' UNetMotionModel and
// MotionAdapter. It is the image UNet (unet.go: the same spatial weights,
// bound by the same code) with a motion module (nn.TransformerTemporal:
// attention across the frames at each pixel, sinusoidal frame positions)
// after each resnet and its spatial attention and after the mid block's
// attention. A Loom extension (motion_cross_attention_dim in the config;
// diffusers' UNetMotionModel gives its motion modules no text) makes each
// motion module's attn2 attend to the prompt instead of across the frames, so
// the text steers the motion itself (models/shapes-video: "moving left"):
//
//	conv_in, time_embedding, down_blocks.i.{resnets.j, attentions.j, downsamplers.0.conv}, mid_block, up_blocks.i…,
//	down_blocks.i.motion_modules.j, mid_block.motion_modules.0, up_blocks.i.motion_modules.j
//	  .{norm, proj_in, transformer_blocks.k.{norm1, attn1, norm2, attn2, norm3, ff, pos_embed.pe}, proj_out}
//
// A pipeline folder holds it in either of AnimateDiff's layouts:
// unet/ as a UNetMotionModel (config.json with "_class_name":
// "UNetMotionModel", spatial and motion weights in one file), or unet/ as the
// image model's UNet2DConditionModel with motion_adapter/ (a MotionAdapter:
// config.json and the motion modules' weights) beside it.
//
// API, for the video plugin: LoadMotionUNetFolder(dir, bind) loads either
// layout; Forward predicts the model output (noise or v, as the scheduler
// says) for a batch of videos, laid out (videos, frames, C, h, w), at one
// timestep per video (or per frame), each video conditioned on its text
// encoder states (videos, L, D); ForwardFirstFrame is the same step for
// image-to-video.
//
// Image-to-video holds the given first frame fixed: frame 0's input is the
// picture's clean VAE latent at timestep 0 on every step, whatever the
// sampler's frame 0 holds, so the other frames attend (through the motion
// modules) to the object in the picture while they are denoised; a
// text-to-video checkpoint runs it so. A model with first_frame_channels in
// its config (Loom's; Stable Video Diffusion's image-latent concatenation)
// also reads the picture's latent at conv_in on every frame: conv_in has
// in_channels = latent channels + first_frame_channels, the second part the
// picture's latent in image-to-video and zero in text-to-video. Such a model
// starts as a text-to-video one with zero conv_in columns for those channels
// (tools/video/train.py --first-frame). The caller puts the latent itself in
// frame 0 of the final latents before decoding.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// MotionConfig is the motion modules' part of a UNetMotionModel config (or a
// MotionAdapter's).
type MotionConfig struct {
	Heads     perBlock `json:"motion_num_attention_heads"`
	MaxFrames int      `json:"motion_max_seq_length"`
	MidBlock  *bool    `json:"use_motion_mid_block"`
	Layers    perBlock `json:"temporal_transformer_layers_per_block"`
	// CtxDim, when set (Loom's extension: diffusers' UNetMotionModel has no
	// such key and gives its motion modules no text), makes each motion
	// module's attn2 attend to the prompt's text states instead of across the
	// frames; it must be the UNet's cross_attention_dim.
	CtxDim int `json:"motion_cross_attention_dim"`
	// FirstFrame, when set (Loom's extension), is how many of in_channels,
	// the last ones, carry the first frame's clean latent on every frame
	// (zero in text-to-video); the rest are the noisy latents, as many.
	FirstFrame int `json:"first_frame_channels"`
	// ImageToVideoText (Loom's extension; in unet/ in either layout) is what
	// reads the prompt in image-to-video: "" or "all", every cross-attention
	// as in text-to-video; "motion", the motion modules alone, the spatial
	// cross-attention reading the empty prompt (a model trained so:
	// tools/video/train.py --i2v-spatial-text 0), so that the picture says
	// what is drawn and the prompt how it moves.
	ImageToVideoText string `json:"image_to_video_text"`
	// Global (Loom's extension; in unet/config.json, or in the adapter's)
	// names the blocks
	// ("mid_block", "down_blocks.I", "up_blocks.I") whose motion modules each
	// get a global companion, BLOCK.global_motion_modules.J, run right after
	// it: attention across all frames and pixels of the video at once
	// (nn.BindGlobalMotion), so a block can see where the object stands in
	// every frame, not only at one pixel.
	Global []string `json:"motion_global_blocks"`
	// GlobalKVPool (Loom's extension; beside motion_global_blocks) maps some
	// of those blocks to a pooling factor p (2…16): their global modules'
	// self-attentions read keys and values averaged over p×p pixels of each
	// frame (nn.TransformerBlock.ForwardPooledKV), which makes the finest
	// level's attention across every frame and pixel affordable. The
	// weights are a plain global module's.
	GlobalKVPool map[string]int `json:"motion_global_kv_pool"`
	// FrameNoiseShare (Loom's extension; in unet/config.json in either
	// layout) is the share of the noise's variance common to all frames the
	// model was trained with (a mixed noise prior: tools/video/train.py
	// --frame-noise); samplers draw their noise the same way
	// (diffusion.Run.FrameShare). 0: independent frames, as diffusers'.
	FrameNoiseShare float64 `json:"frame_noise_share"`
}

// MotionUNetConfig is a motion UNet's spatial and motion configuration, and
// which layout it came in.
type MotionUNetConfig struct {
	UNet    UNetConfig
	Motion  MotionConfig
	Adapter bool // motion modules in motion_adapter/, spatial weights in unet/
}

func (c *MotionConfig) fill() {
	if c.Heads == nil {
		c.Heads = perBlock{8}
	}
	if c.MaxFrames == 0 {
		c.MaxFrames = 32
	}
	if c.MidBlock == nil {
		t := true
		c.MidBlock = &t
	}
	if c.Layers == nil {
		c.Layers = perBlock{1}
	}
}

func (c *MotionUNetConfig) validate() error {
	if err := c.UNet.validate(); err != nil {
		return err
	}
	m, n := c.Motion, len(c.UNet.BlockOutChannels)
	switch {
	case m.MaxFrames < 1 || m.MaxFrames > 1024:
		return fmt.Errorf("motion unet: motion_max_seq_length %d (1…1024)", m.MaxFrames)
	case !m.Heads.fits(n) || !m.Layers.fits(n):
		return fmt.Errorf("motion unet: motion heads %v or layers %v do not match %d blocks", m.Heads, m.Layers, n)
	case m.CtxDim != 0 && m.CtxDim != c.UNet.CrossAttentionDim:
		return fmt.Errorf("motion unet: motion_cross_attention_dim %d, the text states are %d wide", m.CtxDim, c.UNet.CrossAttentionDim)
	case m.FirstFrame < 0 || (m.FirstFrame > 0 && c.UNet.InChannels != 2*m.FirstFrame):
		return fmt.Errorf("motion unet: first_frame_channels %d of in_channels %d (want half: a latent and the first frame's)", m.FirstFrame, c.UNet.InChannels)
	case !(m.FrameNoiseShare >= 0 && m.FrameNoiseShare < 1):
		return fmt.Errorf("motion unet: frame_noise_share %g (a share of the noise's variance: [0, 1))", m.FrameNoiseShare)
	case m.ImageToVideoText != "" && m.ImageToVideoText != "all" && (m.ImageToVideoText != "motion" || m.CtxDim == 0):
		return fmt.Errorf("motion unet: image_to_video_text %q (\"all\", or \"motion\" for motion modules that read the text)", m.ImageToVideoText)
	}
	seen := map[string]bool{}
	for _, g := range m.Global {
		part, i, ok := globalBlock(g)
		switch {
		case !ok || seen[g] || (part == partMid && !*m.MidBlock) || (part != partMid && (i < 0 || i >= n)):
			return fmt.Errorf("motion unet: motion_global_blocks names %q (mid_block with a motion mid block, down_blocks.I or up_blocks.I with I < %d, each once)", g, n)
		}
		seen[g] = true
	}
	for g, p := range m.GlobalKVPool {
		if !seen[g] || p < 1 || p > 16 {
			return fmt.Errorf("motion unet: motion_global_kv_pool %q: %d (a block of motion_global_blocks, pooled 1…16)", g, p)
		}
	}
	for i, ch := range c.UNet.BlockOutChannels {
		if h, l := m.Heads.at(i), m.Layers.at(i); h <= 0 || ch%h != 0 || l < 1 || l > 16 {
			return fmt.Errorf("motion unet: block %d has %d channels for %d motion heads and %d layers", i, ch, h, l)
		}
	}
	return nil
}

// globalBlock parses a motion_global_blocks name: "mid_block",
// "down_blocks.I" or "up_blocks.I" (I written plainly).
func globalBlock(name string) (part unetPart, i int, ok bool) {
	if name == "mid_block" {
		return partMid, 0, true
	}
	for _, p := range []struct {
		prefix string
		part   unetPart
	}{{"down_blocks.", partDown}, {"up_blocks.", partUp}} {
		if rest, found := strings.CutPrefix(name, p.prefix); found {
			if i, err := strconv.Atoi(rest); err == nil && strconv.Itoa(i) == rest {
				return p.part, i, true
			}
		}
	}
	return 0, 0, false
}

// motionBlockTypes maps UNetMotionModel block types to the image UNet's.
var motionBlockTypes = map[string]string{
	"CrossAttnDownBlockMotion": "CrossAttnDownBlock2D", "DownBlockMotion": "DownBlock2D",
	"CrossAttnUpBlockMotion": "CrossAttnUpBlock2D", "UpBlockMotion": "UpBlock2D",
}

// ReadMotionUNetConfig reads a pipeline folder's unet/config.json and, for
// the adapter layout, motion_adapter/config.json, and fills defaults.
func ReadMotionUNetConfig(dir string) (MotionUNetConfig, error) {
	var c MotionUNetConfig
	path := filepath.Join(dir, "unet", "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	var head struct {
		Class string `json:"_class_name"`
		// Keys of features the tower does not implement, read to refuse them.
		MidBlockLayers     *int           `json:"mid_block_layers"`
		TemporalMidLayers  *int           `json:"temporal_transformer_layers_per_mid_block"`
		ReverseTemporal    any            `json:"reverse_temporal_transformer_layers_per_block"`
		ReverseMotionHeads any            `json:"reverse_motion_num_attention_heads"`
		FirstFrame         int            `json:"first_frame_channels"`  // in unet/ in either layout
		ImageToVideoText   string         `json:"image_to_video_text"`   // likewise
		Global             []string       `json:"motion_global_blocks"`  // here or in motion_adapter/
		GlobalKVPool       map[string]int `json:"motion_global_kv_pool"` // with motion_global_blocks
		FrameNoiseShare    float64        `json:"frame_noise_share"`     // in unet/ in either layout
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return c, fmt.Errorf("unet config %s: %w", path, err)
	}
	if err := json.Unmarshal(raw, &c.UNet); err != nil {
		return c, fmt.Errorf("unet config %s: %w", path, err)
	}
	switch head.Class {
	case "UNetMotionModel":
		if err := json.Unmarshal(raw, &c.Motion); err != nil {
			return c, fmt.Errorf("unet config %s: %w", path, err)
		}
		if (head.MidBlockLayers != nil && *head.MidBlockLayers != 1) || (head.TemporalMidLayers != nil && *head.TemporalMidLayers != 1) ||
			head.ReverseTemporal != nil || head.ReverseMotionHeads != nil {
			return c, fmt.Errorf("unet config %s: asymmetric or multi-layer mid motion blocks are not supported", path)
		}
		for _, types := range [][]string{c.UNet.DownBlockTypes, c.UNet.UpBlockTypes} {
			for i, t := range types {
				mapped, ok := motionBlockTypes[t]
				if !ok {
					return c, fmt.Errorf("unet config %s: block %q is not a motion block", path, t)
				}
				types[i] = mapped
			}
		}
	case "UNet2DConditionModel", "":
		c.Adapter = true
		if c.Motion, err = readMotionAdapterConfig(filepath.Join(dir, "motion_adapter", "config.json"), &c.UNet); err != nil {
			return c, err
		}
	default:
		return c, fmt.Errorf("unet config %s: class %q is not a motion UNet", path, head.Class)
	}
	c.Motion.FirstFrame, c.Motion.ImageToVideoText = head.FirstFrame, head.ImageToVideoText
	c.Motion.FrameNoiseShare = head.FrameNoiseShare
	if head.Global != nil { // else the adapter's, in that layout
		c.Motion.Global, c.Motion.GlobalKVPool = head.Global, head.GlobalKVPool
	}
	c.UNet.fill()
	c.Motion.fill()
	return c, c.validate()
}

// readMotionAdapterConfig reads a MotionAdapter config.json and checks that
// it fits the UNet it is to be loaded into.
func readMotionAdapterConfig(path string, u *UNetConfig) (MotionConfig, error) {
	var a struct {
		BlockOutChannels []int          `json:"block_out_channels"`
		LayersPerBlock   perBlock       `json:"motion_layers_per_block"`
		Layers           perBlock       `json:"motion_transformer_layers_per_block"`
		MidLayers        *int           `json:"motion_mid_block_layers_per_block"`
		MidTransformer   *int           `json:"motion_transformer_layers_per_mid_block"`
		Heads            perBlock       `json:"motion_num_attention_heads"`
		MaxFrames        int            `json:"motion_max_seq_length"`
		MidBlock         *bool          `json:"use_motion_mid_block"`
		ConvInChannels   *int           `json:"conv_in_channels"`
		CtxDim           int            `json:"motion_cross_attention_dim"`
		Global           []string       `json:"motion_global_blocks"`
		GlobalKVPool     map[string]int `json:"motion_global_kv_pool"`
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return MotionConfig{}, err
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return MotionConfig{}, fmt.Errorf("motion adapter config %s: %w", path, err)
	}
	lpb := u.LayersPerBlock
	if lpb == 0 {
		lpb = 2 // UNet2DConditionModel's default, as fill will set it
	}
	switch {
	case fmt.Sprint(a.BlockOutChannels) != fmt.Sprint(u.BlockOutChannels):
		return MotionConfig{}, fmt.Errorf("motion adapter %s: block_out_channels %v, the unet has %v", path, a.BlockOutChannels, u.BlockOutChannels)
	case a.LayersPerBlock != nil && !a.LayersPerBlock.uniform(lpb):
		return MotionConfig{}, fmt.Errorf("motion adapter %s: motion_layers_per_block %v, the unet has %d", path, a.LayersPerBlock, lpb)
	case (a.MidLayers != nil && *a.MidLayers != 1) || (a.MidTransformer != nil && *a.MidTransformer != 1):
		return MotionConfig{}, fmt.Errorf("motion adapter %s: multi-layer mid motion blocks are not supported", path)
	case a.ConvInChannels != nil:
		return MotionConfig{}, fmt.Errorf("motion adapter %s: conv_in_channels (PIA-style inputs) is not supported", path)
	}
	return MotionConfig{Heads: a.Heads, MaxFrames: a.MaxFrames, MidBlock: a.MidBlock, Layers: a.Layers, CtxDim: a.CtxDim, Global: a.Global, GlobalKVPool: a.GlobalKVPool}, nil
}

// uniform reports whether every block's value is v.
func (p perBlock) uniform(v int) bool {
	for _, x := range p {
		if x != v {
			return false
		}
	}
	return len(p) > 0
}

// MotionUNet is a loaded UNetMotionModel. Each Forward takes its activations
// from an arena of its own, so one MotionUNet may serve concurrent calls.
type MotionUNet struct {
	Cfg      MotionUNetConfig
	unet     *UNet
	down, up [][]nn.TransformerTemporal // [block][layer]
	mid      *nn.TransformerTemporal
	// global[part] holds the global companions of a block's motion modules
	// (motion_global_blocks), keyed by block index; absent: none.
	global map[unetPart]map[int][]nn.TransformerTemporal
	arenas tensor.ArenaPool
	// skip leaves modules out of Forward (a weakened view, WithoutMotion).
	skip MotionSkip
}

// MotionSkip names the motion modules a weakened view of a MotionUNet leaves
// out: its frames then see less of each other (spatiotemporal skip guidance
// steers away from such a view's prediction).
type MotionSkip uint8

const (
	// SkipGlobal leaves out the global modules (motion_global_blocks).
	SkipGlobal MotionSkip = 1 << iota
	// SkipLocal leaves out the per-pixel motion modules.
	SkipLocal
)

// WithoutMotion is a view of m, sharing its weights, whose Forward leaves out
// the modules skip names (0: the whole model).
func (m *MotionUNet) WithoutMotion(skip MotionSkip) *MotionUNet {
	return &MotionUNet{Cfg: m.Cfg, unet: m.unet, down: m.down, up: m.up, mid: m.mid, global: m.global, skip: skip}
}

// LoadMotionUNet binds the spatial layers under spatial and the motion
// modules under motion (the same binder for a UNetMotionModel file).
func LoadMotionUNet(spatial, motion *nn.Binder, cfg MotionUNetConfig) (*MotionUNet, error) {
	cfg.UNet.fill()
	cfg.Motion.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	u, err := LoadUNet(spatial, cfg.UNet)
	if err != nil {
		return nil, err
	}
	m := &MotionUNet{Cfg: cfg, unet: u}
	mc, boc, g := cfg.Motion, cfg.UNet.BlockOutChannels, cfg.UNet.NormNumGroups
	nb := len(boc)
	module := func(b *nn.Binder, i int) nn.TransformerTemporal {
		return nn.BindTransformerTemporal(b, boc[i], mc.Heads.at(i), mc.Layers.at(i), g, mc.MaxFrames, mc.CtxDim)
	}
	for i := range u.down {
		var mods []nn.TransformerTemporal
		for j := range u.down[i].resnets {
			mods = append(mods, module(motion.Sub("down_blocks.%d.motion_modules.%d", i, j), i))
		}
		m.down = append(m.down, mods)
	}
	if *mc.MidBlock {
		mm := module(motion.Sub("mid_block.motion_modules.0"), nb-1)
		m.mid = &mm
	}
	for i := range u.up {
		var mods []nn.TransformerTemporal
		for j := range u.up[i].resnets {
			mods = append(mods, module(motion.Sub("up_blocks.%d.motion_modules.%d", i, j), nb-1-i))
		}
		m.up = append(m.up, mods)
	}
	for _, name := range mc.Global {
		part, i, _ := globalBlock(name)
		mods, level := m.mid, nb-1
		var list []nn.TransformerTemporal
		switch part {
		case partDown:
			list, level = m.down[i], i
		case partUp:
			list, level = m.up[i], nb-1-i
		default:
			list = []nn.TransformerTemporal{*mods}
		}
		if m.global == nil {
			m.global = map[unetPart]map[int][]nn.TransformerTemporal{}
		}
		if m.global[part] == nil {
			m.global[part] = map[int][]nn.TransformerTemporal{}
		}
		for j := range list {
			g := nn.BindGlobalMotion(motion.Sub("%s.global_motion_modules.%d", name, j), boc[level], mc.Heads.at(level), g, mc.CtxDim)
			g.KVPool = mc.GlobalKVPool[name]
			g.Pack()
			m.global[part][i] = append(m.global[part][i], g)
		}
	}
	if err := motion.Err(); err != nil {
		return nil, fmt.Errorf("load motion modules: %w", err)
	}
	// Every step of a video runs each transformer's projections over
	// thousands of short GEMMs' worth of rows: pack their weights once
	// rather than on every call.
	u.packTransformers()
	for _, mods := range append(m.down, m.up...) {
		for i := range mods {
			mods[i].Pack()
		}
	}
	if m.mid != nil {
		m.mid.Pack()
	}
	return m, nil
}

// packTransformers packs every spatial transformer's weights once
// (nn.Transformer2D.Pack).
func (u *UNet) packTransformers() {
	blocks := append(append([]unetBlock{}, u.down...), u.up...)
	for _, b := range append(blocks, u.mid) {
		for i := range b.attentions {
			b.attentions[i].Pack()
		}
	}
}

// LoadMotionUNetFolder reads a pipeline folder's motion UNet in either
// layout; bind opens a safetensors file (the caller keeps it open while the
// tower lives, as diffusion.Pipeline.Bind does).
func LoadMotionUNetFolder(dir string, bind func(path string) (*nn.Binder, error)) (*MotionUNet, error) {
	cfg, err := ReadMotionUNetConfig(dir)
	if err != nil {
		return nil, err
	}
	const weights = "diffusion_pytorch_model.safetensors"
	spatial, err := bind(filepath.Join(dir, "unet", weights))
	if err != nil {
		return nil, err
	}
	motion := spatial
	if cfg.Adapter {
		if motion, err = bind(filepath.Join(dir, "motion_adapter", weights)); err != nil {
			return nil, err
		}
	}
	return LoadMotionUNet(spatial, motion, cfg)
}

// Forward predicts out (videos, frames, OutChannels, h, w) for sample
// (videos, frames, LatentChannels(), h, w) at timesteps (1 for all, one per
// video, or one per frame: videos·frames), each video conditioned on its text
// encoder states ctx (videos, ctxLen, CrossAttentionDim). h and w must be
// multiples of the UNet's Downscale(); frames at most motion_max_seq_length.
// A model with first-frame channels sees them zero (text-to-video).
func (m *MotionUNet) Forward(out, sample []float32, videos, frames, h, w int, timesteps, ctx []float32, ctxLen int) error {
	return m.forward(out, sample, nil, videos, frames, h, w, timesteps, ctx, ctx, ctxLen)
}

// ForwardMotionText is Forward with the motion modules reading motionCtx
// (same shape as ctx) while the spatial cross-attention reads ctx.
func (m *MotionUNet) ForwardMotionText(out, sample []float32, videos, frames, h, w int, timesteps, ctx, motionCtx []float32, ctxLen int) error {
	return m.forward(out, sample, nil, videos, frames, h, w, timesteps, ctx, motionCtx, ctxLen)
}

// forward is Forward with first, for a model with first-frame channels: each
// video's first-frame latent (videos, LatentChannels(), h, w) for those
// channels of all its frames, or nil for zeros.
func (m *MotionUNet) forward(out, sample, first []float32, videos, frames, h, w int, timesteps, ctx, motionCtx []float32, ctxLen int) error {
	c := m.Cfg.UNet
	f, D, n, C := c.Downscale(), c.CrossAttentionDim, videos*frames, m.LatentChannels()
	switch {
	case videos <= 0 || frames <= 0 || frames > m.Cfg.Motion.MaxFrames:
		return fmt.Errorf("motion unet: %d videos of %d frames (1…%d frames)", videos, frames, m.Cfg.Motion.MaxFrames)
	case h <= 0 || w <= 0 || h%f != 0 || w%f != 0:
		return fmt.Errorf("motion unet: %dx%d latents (sides must be positive multiples of %d)", h, w, f)
	case len(sample) != n*C*h*w || len(out) < n*c.OutChannels*h*w:
		return fmt.Errorf("motion unet: sample has %d floats (want %d), out %d", len(sample), n*C*h*w, len(out))
	case first != nil && len(first) != videos*C*h*w:
		return fmt.Errorf("motion unet: first frames have %d floats, want %d", len(first), videos*C*h*w)
	case len(timesteps) != 1 && len(timesteps) != videos && len(timesteps) != n:
		return fmt.Errorf("motion unet: %d timesteps for %d videos of %d frames", len(timesteps), videos, frames)
	case ctxLen <= 0 || len(ctx) != videos*ctxLen*D || len(motionCtx) != len(ctx):
		return fmt.Errorf("motion unet: context has %d floats (motion modules' %d), want %d×%d×%d", len(ctx), len(motionCtx), videos, ctxLen, D)
	}
	if videos == 1 {
		return m.forwardVideos(out, sample, first, videos, frames, h, w, timesteps, ctx, motionCtx, ctxLen)
	}
	// The videos run side by side, as the image UNet's items do: a motion
	// module mixes frames within one video only, so classifier-free
	// guidance's two copies of a video are independent, and each share keeps
	// its maps on its own thread from op to op (splitting each op over the
	// threads left a 2-thread step no faster than one).
	in, o, fl, per := frames*C*h*w, frames*c.OutChannels*h*w, C*h*w, ctxLen*D
	return itemsSideBySide(videos, func(lo, hi int) error {
		ts := timesteps
		switch len(ts) {
		case 1:
		case videos:
			ts = ts[lo:hi]
		default:
			ts = ts[lo*frames : hi*frames]
		}
		var fs []float32
		if first != nil {
			fs = first[lo*fl : hi*fl]
		}
		return m.forwardVideos(out[lo*o:hi*o], sample[lo*in:hi*in], fs, hi-lo, frames, h, w, ts,
			ctx[lo*per:hi*per], motionCtx[lo*per:hi*per], ctxLen)
	})
}

// forwardVideos is forward on checked arguments for one share of the videos.
func (m *MotionUNet) forwardVideos(out, sample, first []float32, videos, frames, h, w int, timesteps, ctx, motionCtx []float32, ctxLen int) error {
	c := m.Cfg.UNet
	D, n, C := c.CrossAttentionDim, videos*frames, m.LatentChannels()
	ar := m.arenas.Get()
	defer m.arenas.Put(ar)
	if k := m.Cfg.Motion.FirstFrame; k > 0 {
		sample = withFirstFrame(ar.Floats(n*c.InChannels*h*w), sample, first, videos, frames, C*h*w, k*h*w)
	}
	ts := ar.Scratch(n) // one per frame
	per := ctxLen * D
	ctxN := ar.Scratch(n * per) // each video's context repeated for its frames
	for v := 0; v < videos; v++ {
		for fr := 0; fr < frames; fr++ {
			switch len(timesteps) {
			case 1:
				ts[v*frames+fr] = timesteps[0]
			case videos:
				ts[v*frames+fr] = timesteps[v]
			default:
				ts[v*frames+fr] = timesteps[v*frames+fr]
			}
			copy(ctxN[(v*frames+fr)*per:], ctx[v*per:(v+1)*per])
		}
	}
	hook := func(part unetPart, i, j int, x featureMap) error {
		var mm *nn.TransformerTemporal
		switch part {
		case partDown:
			mm = &m.down[i][j]
		case partMid:
			mm = m.mid
		case partUp:
			mm = &m.up[i][j]
		}
		if mm == nil {
			return nil
		}
		if m.skip&SkipLocal == 0 {
			if err := mm.Forward(x.x, videos, frames, x.h*x.w, motionCtx, ctxLen, ar); err != nil {
				return fmt.Errorf("motion module %d: %w", j, err)
			}
		}
		if gs := m.global[part][i]; j < len(gs) && m.skip&SkipGlobal == 0 {
			if err := gs[j].ForwardGlobal(x.x, videos, frames, x.h, x.w, motionCtx, ctxLen, ar); err != nil {
				return fmt.Errorf("global motion module %d: %w", j, err)
			}
		}
		return nil
	}
	return m.unet.forward(ar, out, sample, n, h, w, ts, ctxN, ctxLen, hook)
}

// withFirstFrame lays out a model input in (videos·frames, latent + first-
// frame channels, h, w): each frame's latents (fl floats of sample), then its
// video's first frame (ff floats of first; first nil: in is left zero there).
func withFirstFrame(in, sample, first []float32, videos, frames, fl, ff int) []float32 {
	for v := 0; v < videos; v++ {
		for fr := 0; fr < frames; fr++ {
			i := v*frames + fr
			row := in[i*(fl+ff) : (i+1)*(fl+ff)]
			copy(row, sample[i*fl:(i+1)*fl])
			if first != nil {
				copy(row[fl:], first[v*ff:(v+1)*ff])
			}
		}
	}
	return in
}

// ForwardFirstFrame is Forward for image-to-video: every video's frame 0 is
// first, the clean latent of the given picture (LatentChannels(), h, w)
// shared by all videos, or one per video (videos, LatentChannels(), h, w), at
// timestep 0, whatever sample holds there; the other frames are at t (and,
// with first-frame channels, read first there too). Frame 0 of out is the
// model's output for that clean frame, which a sampler should not use: the
// caller holds frame 0 of its latents at first (set it in the final latents,
// and in any preview, before decoding).
func (m *MotionUNet) ForwardFirstFrame(out, sample, first []float32, videos, frames, h, w int, t float32, ctx []float32, ctxLen int) error {
	return m.ForwardFirstFrameMotionText(out, sample, first, videos, frames, h, w, t, ctx, ctx, ctxLen)
}

// ForwardFirstFrameMotionText is ForwardFirstFrame with the motion modules
// reading motionCtx (same shape as ctx) while the spatial cross-attention
// reads ctx: with ImageToVideoContext's spatial context, the step a model
// with image_to_video_text "motion" was trained on.
func (m *MotionUNet) ForwardFirstFrameMotionText(out, sample, first []float32, videos, frames, h, w int, t float32, ctx, motionCtx []float32, ctxLen int) error {
	fl := m.LatentChannels() * h * w // one frame's latents
	if videos <= 0 || frames <= 0 || (len(first) != fl && len(first) != videos*fl) || len(sample) != videos*frames*fl {
		return fmt.Errorf("motion unet: first frame has %d floats (want %d or %d), sample %d, for %d videos of %d frames",
			len(first), fl, videos*fl, len(sample), videos, frames)
	}
	in := append([]float32(nil), sample...)
	ts := make([]float32, videos*frames)
	firsts := first // one per video
	if len(first) == fl && videos > 1 {
		firsts = make([]float32, 0, videos*fl)
		for v := 0; v < videos; v++ {
			firsts = append(firsts, first...)
		}
	}
	for v := 0; v < videos; v++ {
		copy(in[v*frames*fl:], firsts[v*fl:(v+1)*fl])
		for fr := 1; fr < frames; fr++ {
			ts[v*frames+fr] = t
		}
	}
	return m.forward(out, in, firsts, videos, frames, h, w, ts, ctx, motionCtx, ctxLen)
}

// ImageToVideoContext is the spatial cross-attention's context for an
// image-to-video step conditioned on ctx (rows, ctxLen, D): ctx itself, or
// for a model with image_to_video_text "motion" the empty prompt's states
// empty (ctxLen, D) in every row.
func (m *MotionUNet) ImageToVideoContext(ctx, empty []float32) []float32 {
	if m.Cfg.Motion.ImageToVideoText != "motion" || len(empty) == 0 {
		return ctx
	}
	out := make([]float32, len(ctx))
	for i := 0; i < len(out); i += len(empty) {
		copy(out[i:], empty)
	}
	return out
}

// LatentChannels is the latent channels a frame has: in_channels, less the
// first-frame channels of a model that has them.
func (m *MotionUNet) LatentChannels() int { return m.Cfg.UNet.InChannels - m.Cfg.Motion.FirstFrame }

// FirstFrameChannels reports whether conv_in reads the first frame's latent
// (first_frame_channels): then image-to-video gives every frame the picture.
func (m *MotionUNet) FirstFrameChannels() bool { return m.Cfg.Motion.FirstFrame > 0 }

// SampleSize is the latent side the model was trained at (sample_size).
func (m *MotionUNet) SampleSize() int { return m.Cfg.UNet.SampleSize }

// MaxFrames is the most frames a video may have: the motion modules'
// position table (motion_max_seq_length).
func (m *MotionUNet) MaxFrames() int { return m.Cfg.Motion.MaxFrames }

// FrameNoiseShare is the share of the noise's variance common to all frames
// the model was trained with (frame_noise_share; 0: independent frames).
func (m *MotionUNet) FrameNoiseShare() float64 { return m.Cfg.Motion.FrameNoiseShare }

// String names the checkpoint layout, for logs.
func (c MotionUNetConfig) String() string {
	layout := "UNetMotionModel"
	if c.Adapter {
		layout = "UNet2DConditionModel + MotionAdapter"
	}
	text := ""
	if c.Motion.CtxDim > 0 {
		text = ", motion modules read the text"
	}
	if c.Motion.FirstFrame > 0 {
		text += ", conv_in reads the first frame"
	}
	if c.Motion.ImageToVideoText == "motion" {
		text += ", image-to-video prompts the motion modules alone"
	}
	if len(c.Motion.Global) > 0 {
		text += fmt.Sprintf(", global motion modules in %v", c.Motion.Global)
		if len(c.Motion.GlobalKVPool) > 0 {
			text += fmt.Sprintf(" (keys and values pooled %v)", c.Motion.GlobalKVPool)
		}
	}
	return fmt.Sprintf("%s: blocks %v, motion heads %v, up to %d frames%s", layout, c.UNet.BlockOutChannels, c.Motion.Heads, c.Motion.MaxFrames, text)
}
