package main

// A diffusers-style Stable Diffusion pipeline folder, as
// tools/diffusion/train_unet.py exports it:
//
//	model_index.json                       (optional "loom": {"defaults": {…}}, see pipelineDefaults)
//	text_encoder/{config.json, model.safetensors}               CLIPTextModel
//	tokenizer/{vocab.json, merges.txt, …} or tokenizer.json     CLIP BPE
//	unet/{config.json, diffusion_pytorch_model.safetensors}     UNet2DConditionModel
//	vae/{config.json, diffusion_pytorch_model.safetensors}      AutoencoderKL
//	scheduler/scheduler_config.json                             DDIM/Euler/… schedule
//
// composed here from the core towers into text-to-image and image-to-image
// runs: CLIP on the prompt and the negative prompt, the sampler's loop with
// classifier-free guidance (both halves as one UNet batch), the VAE decode,
// and 8-bit RGB out.

import (
	"errors"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"time"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/imgproc"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/sched"
	"github.com/loomhq/loom/core/tokenizer"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
)

// pipelineFiles is what a folder needs to be served as image.generate (the
// Unready message names them when none is installed).
var pipelineFiles = []string{"model_index.json", "text_encoder/", "tokenizer/", "unet/", "vae/", "scheduler/scheduler_config.json"}

// isPipeline reports whether dir looks like a pipeline folder (the load
// itself checks the rest).
func isPipeline(dir string) bool {
	for _, f := range []string{"model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json", "tokenizer"} {
		if !fileExists(filepath.Join(dir, f)) {
			return false
		}
	}
	return true
}

// pipelineDefaults are the per-model defaults a folder may set in
// model_index.json as "loom": {"defaults": {"steps", "guidance_scale",
// "scheduler"}}; train_unet.py keeps its training metadata beside them in
// "loom", so sampling defaults get a block of their own.
type pipelineDefaults struct {
	Steps         int     `json:"steps"`
	GuidanceScale float64 `json:"guidance_scale"`
	Scheduler     string  `json:"scheduler"`
}

// schedulerKinds maps diffusers scheduler class names to sched kinds.
var schedulerKinds = map[string]string{
	"DDIMScheduler":                   "ddim",
	"EulerDiscreteScheduler":          "euler",
	"EulerAncestralDiscreteScheduler": "euler_a",
	"DPMSolverMultistepScheduler":     "dpmpp_2m",
}

// pipeline is one loaded folder. The towers allocate their activations per
// call, so one pipeline serves concurrent jobs.
type pipeline struct {
	dir      string
	srcs     []formats.TensorSource // kept open: the towers view their bytes
	tok      *tokenizer.CLIP
	text     *towers.CLIPText
	unet     *towers.UNet
	vae      *towers.VAE
	sched    sched.Config
	defaults pipelineDefaults
	ctxLen   int // prompt positions (the text encoder's max_position_embeddings)
	side     int // latent side (unet sample_size)
	native   int // image side: side × the VAE's downscale
}

func loadPipeline(dir string) (p *pipeline, err error) {
	p = &pipeline{dir: dir, defaults: pipelineDefaults{Steps: 20, GuidanceScale: 5, Scheduler: "ddim"}}
	opened := p // the error returns below set p to nil
	defer func() {
		if err != nil {
			opened.close()
		}
	}()
	var index struct {
		Loom struct {
			Defaults *pipelineDefaults `json:"defaults"`
		} `json:"loom"`
	}
	if err := sdk.ReadJSON(filepath.Join(dir, "model_index.json"), &index); err != nil {
		return nil, err
	}
	scfgPath := filepath.Join(dir, "scheduler", "scheduler_config.json")
	var cls struct {
		Class string `json:"_class_name"`
	}
	if err := sdk.ReadJSON(scfgPath, &cls); err != nil {
		return nil, err
	}
	if k, ok := schedulerKinds[cls.Class]; ok {
		p.defaults.Scheduler = k
	}
	if p.sched, err = sched.ReadConfig(scfgPath); err != nil {
		return nil, err
	}
	if l := index.Loom.Defaults; l != nil {
		if l.Steps != 0 {
			p.defaults.Steps = l.Steps
		}
		if l.GuidanceScale != 0 {
			p.defaults.GuidanceScale = l.GuidanceScale
		}
		if l.Scheduler != "" {
			p.defaults.Scheduler = l.Scheduler
		}
	}
	d := p.defaults
	if d.Steps < 1 || d.Steps > maxSteps || d.GuidanceScale < 0 || d.GuidanceScale > maxGuidance || !validScheduler(d.Scheduler) {
		return nil, fmt.Errorf("model_index.json: bad loom defaults %+v", d)
	}
	// Refuse a schedule the sampler would refuse, now rather than per job.
	if _, err := sched.New(d.Scheduler, p.sched, d.Steps); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}

	ccfg, err := towers.ReadCLIPTextConfig(filepath.Join(dir, "text_encoder", "config.json"))
	if err != nil {
		return nil, err
	}
	b, err := p.open(filepath.Join(dir, "text_encoder", "model.safetensors"))
	if err != nil {
		return nil, err
	}
	if p.text, err = towers.LoadCLIPText(b.Sub("text_model"), ccfg); err != nil {
		return nil, err
	}
	if p.tok, err = tokenizer.LoadCLIP(filepath.Join(dir, "tokenizer")); err != nil {
		return nil, err
	}
	if p.tok.VocabSize() > ccfg.VocabSize {
		return nil, fmt.Errorf("tokenizer ids reach %d, the text encoder has %d embeddings", p.tok.VocabSize(), ccfg.VocabSize)
	}
	p.ctxLen = ccfg.MaxPositionEmbeddings

	ucfg, err := towers.ReadUNetConfig(filepath.Join(dir, "unet", "config.json"))
	if err != nil {
		return nil, err
	}
	if b, err = p.open(filepath.Join(dir, "unet", "diffusion_pytorch_model.safetensors")); err != nil {
		return nil, err
	}
	if p.unet, err = towers.LoadUNet(b, ucfg); err != nil {
		return nil, err
	}
	vcfg, err := towers.ReadVAEConfig(filepath.Join(dir, "vae", "config.json"))
	if err != nil {
		return nil, err
	}
	if b, err = p.open(filepath.Join(dir, "vae", "diffusion_pytorch_model.safetensors")); err != nil {
		return nil, err
	}
	if p.vae, err = towers.LoadVAE(b, vcfg); err != nil {
		return nil, err
	}
	u, v := p.unet.Cfg, p.vae.Cfg
	switch {
	case u.CrossAttentionDim != ccfg.HiddenSize:
		return nil, fmt.Errorf("unet cross_attention_dim %d ≠ text encoder hidden size %d", u.CrossAttentionDim, ccfg.HiddenSize)
	case u.InChannels != v.LatentChannels || u.OutChannels != v.LatentChannels:
		return nil, fmt.Errorf("unet channels %d→%d, vae latents %d", u.InChannels, u.OutChannels, v.LatentChannels)
	case v.OutChannels != 3:
		return nil, fmt.Errorf("vae writes %d channels, want RGB", v.OutChannels)
	case u.SampleSize <= 0 || u.SampleSize%u.Downscale() != 0:
		return nil, fmt.Errorf("unet sample_size %d is not a multiple of %d", u.SampleSize, u.Downscale())
	}
	p.side = u.SampleSize
	p.native = p.side * v.Downscale()
	return p, nil
}

func (p *pipeline) open(path string) (*nn.Binder, error) {
	src, err := formats.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	p.srcs = append(p.srcs, src)
	return nn.NewBinder(src), nil
}

func (p *pipeline) close() {
	for _, s := range p.srcs {
		s.Close()
	}
	p.srcs = nil
}

// encodePrompts runs the text encoder on the negative prompt and the prompt:
// ctx (2, L, D), unconditional first, as classifier-free guidance batches them.
func (p *pipeline) encodePrompts(prompt, negative string) ([]float32, error) {
	L, D := p.ctxLen, p.text.Cfg.HiddenSize
	ctx := make([]float32, 2*L*D)
	for i, s := range []string{negative, prompt} {
		ids, err := p.tok.EncodePrompt(s, L)
		if err != nil {
			return nil, err
		}
		if err := p.text.Forward(ctx[i*L*D:(i+1)*L*D], ids); err != nil {
			return nil, err
		}
	}
	return ctx, nil
}

// run is one generation's settings, already validated.
type run struct {
	scheduler    string
	steps        int
	guidance     float32
	n            int
	seed         int64
	init         []float32 // clean latents (L, side, side) of the input image; nil: text-to-image
	strength     float64
	previewEvery int
}

// stepHooks are what a run reports while it samples.
type stepHooks struct {
	progress func(step, total int) error         // after each denoising step; an error stops the run
	preview  func(step int, rgb []float32) error // (3, native, native) in [-1, 1]; image 0's x̂₀
	timings  func(stage string, d time.Duration) // "text", "unet_step", "vae_decode", "vae_encode"
	stopped  func() error                        // checked before every step: the job's context
}

// imageNoise is image i's noise source: seed + i, so every image of a batch
// has a seed of its own that regenerates it alone.
func imageNoise(seed int64, i int) *sched.Noise { return sched.NewNoise(uint64(seed)+uint64(i), 0) }

// generate samples r.n images and returns their RGB planes (n, 3, native,
// native), nominally in [-1, 1].
func (p *pipeline) generate(r run, ctx2 []float32, h stepHooks) ([]float32, error) {
	s, err := sched.New(r.scheduler, p.sched, r.steps)
	if err != nil {
		return nil, err
	}
	side, C := p.side, p.unet.Cfg.InChannels
	per := C * side * side // one image's latents
	n := r.n
	noises := make([]*sched.Noise, n)
	x := make([]float32, n*per) // (n, C, side, side)
	start := 0
	for i := range noises {
		noises[i] = imageNoise(r.seed, i)
	}
	if r.init == nil {
		for i, nz := range noises {
			nz.Fill(x[i*per:(i+1)*per], s.InitNoiseSigma())
		}
	} else {
		if start, err = sched.Img2ImgStart(r.steps, r.strength); err != nil {
			return nil, err
		}
		eps := make([]float32, per)
		for i, nz := range noises {
			if start == r.steps {
				copy(x[i*per:], r.init) // strength 0: the image itself, re-decoded
				continue
			}
			nz.Fill(eps, 1)
			s.AddNoise(x[i*per:(i+1)*per], r.init, eps, start)
		}
	}

	// The UNet batch: n unconditional rows then n conditional ones; with
	// guidance 1 the unconditional half would cancel out, so it is skipped.
	L, D := p.ctxLen, p.text.Cfg.HiddenSize
	guided := r.guidance != 1
	rows := n
	if guided {
		rows = 2 * n
	}
	ctx := make([]float32, rows*L*D) // (rows, L, D)
	for i := 0; i < rows; i++ {
		half := 1 // conditional
		if guided && i < n {
			half = 0
		}
		copy(ctx[i*L*D:(i+1)*L*D], ctx2[half*L*D:(half+1)*L*D])
	}
	in, out := make([]float32, rows*per), make([]float32, rows*per)
	var stepNoise []float32
	if s.Stochastic() {
		stepNoise = make([]float32, n*per)
	}
	total := r.steps - start
	for i := start; i < r.steps; i++ {
		if err := h.stopped(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		ts := float32(s.Timesteps()[i])
		s.ScaleInput(in[:n*per], x, i)
		if guided {
			copy(in[n*per:], in[:n*per])
		}
		if err := p.unet.Forward(out, in, rows, side, side, []float32{ts}, ctx, L); err != nil {
			return nil, err
		}
		eps := out[:n*per]
		if guided {
			if err := sched.Guide(eps, out[:n*per], out[n*per:], r.guidance); err != nil {
				return nil, err
			}
		}
		var x0 []float32
		if r.previewEvery > 0 && h.preview != nil && (i-start+1)%r.previewEvery == 0 && i < r.steps-1 {
			x0 = p.estimateX0(s, r.scheduler, x[:per], eps[:per], i)
		}
		if stepNoise != nil {
			for k, nz := range noises {
				nz.Fill(stepNoise[k*per:(k+1)*per], 1)
			}
		}
		if err := s.Step(x, eps, i, stepNoise); err != nil {
			return nil, err
		}
		h.timings("unet_step", time.Since(t0))
		if err := h.progress(i-start+1, total); err != nil {
			return nil, err
		}
		if x0 != nil {
			rgb := make([]float32, 3*p.native*p.native)
			if err := p.vae.DecodeLatents(rgb, x0, 1, side, side); err != nil {
				return nil, err
			}
			if err := h.preview(i-start+1, rgb); err != nil {
				return nil, err
			}
		}
	}
	if err := h.stopped(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	rgb := make([]float32, n*3*p.native*p.native)
	if err := p.vae.DecodeLatents(rgb, x, n, side, side); err != nil {
		return nil, err
	}
	h.timings("vae_decode", time.Since(t0))
	return rgb, nil
}

// estimateX0 is the clean latent the model predicts at step i from latents
// x and its (guided) output: the sampler's own x̂₀, recomputed here because
// samplers keep it private. Euler works in σ-space (x = x₀ + σε); DDIM and
// DPM-Solver in the variance-preserving space (x = αx₀ + σ_vp ε, α = 1/√(σ²+1)).
func (p *pipeline) estimateX0(s sched.Sampler, kind string, x, out []float32, i int) []float32 {
	var sg float64
	if sig := sched.Sigmas(s); sig != nil {
		sg = sig[i]
	} else {
		ac := sched.AlphasCumprod(p.sched)
		a := ac[int(s.Timesteps()[i])]
		sg = math.Sqrt((1 - a) / a)
	}
	a := 1 / math.Sqrt(sg*sg+1)
	ve := kind == "euler" || kind == "euler_a"
	v := p.sched.PredictionType == "v_prediction"
	x0 := make([]float32, len(x))
	for j := range x {
		xv, ov := float64(x[j]), float64(out[j])
		if ve {
			xv *= a // to the VP space the model saw
		}
		var e float64
		if v {
			e = a*xv - sg*a*ov
		} else {
			e = (xv - sg*a*ov) / a
		}
		x0[j] = float32(e)
	}
	return x0
}

// encodeImage turns an input image into the clean latents (L, side, side)
// an image-to-image run starts from: resized to the native size (Lanczos
// down, bilinear up), scaled to [-1, 1], VAE-encoded, the latent Gaussian's
// mean taken (its mode, so the start does not depend on a draw).
func (p *pipeline) encodeImage(img image.Image) ([]float32, error) {
	if !p.vae.HasEncoder {
		return nil, errors.New("this model's VAE has no encoder, so it cannot start from an image")
	}
	S := p.native
	px := make([]float32, 3*S*S)
	norm := imgproc.Normalize{Width: S, Height: S, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}}
	if err := imgproc.ToCHW(px, img, norm); err != nil {
		return nil, err
	}
	L := p.vae.Cfg.LatentChannels
	mean, logvar := make([]float32, L*p.side*p.side), make([]float32, L*p.side*p.side)
	if err := p.vae.Encode(mean, logvar, px, 1, S, S); err != nil {
		return nil, err
	}
	z := make([]float32, len(mean))
	if err := p.vae.SampleLatents(z, mean, logvar, nil); err != nil {
		return nil, err
	}
	return z, nil
}
