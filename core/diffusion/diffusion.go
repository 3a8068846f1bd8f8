// Package diffusion is what Loom's latent diffusion pipelines share, composed
// from the core towers: a diffusers-style pipeline folder's text encoder,
// tokenizer, VAE, scheduler and sampling defaults (Open), prompt encoding
// for classifier-free guidance, encoding a picture to clean latents, and the
// sampler's loop (Sample) around whatever predicts the noise — the image
// UNet for image.generate, the motion UNet for video.generate. The plugins
// bind their denoiser and decode the latents Sample returns.
//
// A folder, as tools/diffusion and tools/video export them:
//
//	model_index.json                       (optional "loom": {"defaults": {…}}, see Defaults)
//	text_encoder/{config.json, model.safetensors}               CLIPTextModel
//	tokenizer/{vocab.json, merges.txt, …} or tokenizer.json     CLIP BPE
//	vae/{config.json, diffusion_pytorch_model.safetensors}      AutoencoderKL
//	scheduler/scheduler_config.json                             DDIM/Euler/… schedule
//	unet/ (and motion_adapter/)                                 the denoiser, bound by the plugin
package diffusion

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/imgproc"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/sched"
	"github.com/loomhq/loom/core/tokenizer"
	"github.com/loomhq/loom/core/towers"
)

// Schedulers are the samplers a job may ask for.
var Schedulers = []string{"ddim", "euler", "euler_a", "dpmpp_2m"}

// ValidScheduler reports whether s is one of Schedulers.
func ValidScheduler(s string) bool { return slices.Contains(Schedulers, s) }

// schedulerKinds maps diffusers scheduler class names to sched kinds.
var schedulerKinds = map[string]string{
	"DDIMScheduler":                   "ddim",
	"EulerDiscreteScheduler":          "euler",
	"EulerAncestralDiscreteScheduler": "euler_a",
	"DPMSolverMultistepScheduler":     "dpmpp_2m",
}

// Defaults are the sampling defaults a folder may set in model_index.json
// as "loom": {"defaults": {"steps", "guidance_scale", "scheduler"}}; the
// training tools keep their metadata beside them in "loom", so sampling
// defaults get a block of their own. Absent: 20 steps, guidance 5, the
// scheduler_config's class.
type Defaults struct {
	Steps         int     `json:"steps"`
	GuidanceScale float64 `json:"guidance_scale"`
	Scheduler     string  `json:"scheduler"`
}

// Pipeline is an opened folder's shared parts. The towers allocate their
// activations per call, so one pipeline serves concurrent jobs.
type Pipeline struct {
	Dir      string
	Tok      *tokenizer.CLIP
	Text     *towers.CLIPText
	VAE      *towers.VAE
	Sched    sched.Config
	Defaults Defaults
	CtxLen   int // prompt positions (the text encoder's max_position_embeddings)
	srcs     []formats.TensorSource
}

// Open reads a folder's index, scheduler, text encoder, tokenizer and VAE.
// maxSteps and maxGuidance bound the folder's defaults as a job's params are
// bounded.
func Open(dir string, maxSteps int, maxGuidance float64) (p *Pipeline, err error) {
	p = &Pipeline{Dir: dir, Defaults: Defaults{Steps: 20, GuidanceScale: 5, Scheduler: "ddim"}}
	opened := p // the error returns below set p to nil
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	var index struct {
		Loom struct {
			Defaults *Defaults `json:"defaults"`
		} `json:"loom"`
	}
	if err := readJSON(filepath.Join(dir, "model_index.json"), &index); err != nil {
		return nil, err
	}
	scfgPath := filepath.Join(dir, "scheduler", "scheduler_config.json")
	var cls struct {
		Class string `json:"_class_name"`
	}
	if err := readJSON(scfgPath, &cls); err != nil {
		return nil, err
	}
	if k, ok := schedulerKinds[cls.Class]; ok {
		p.Defaults.Scheduler = k
	}
	if p.Sched, err = sched.ReadConfig(scfgPath); err != nil {
		return nil, err
	}
	if l := index.Loom.Defaults; l != nil {
		if l.Steps != 0 {
			p.Defaults.Steps = l.Steps
		}
		if l.GuidanceScale != 0 {
			p.Defaults.GuidanceScale = l.GuidanceScale
		}
		if l.Scheduler != "" {
			p.Defaults.Scheduler = l.Scheduler
		}
	}
	d := p.Defaults
	if d.Steps < 1 || d.Steps > maxSteps || d.GuidanceScale < 0 || d.GuidanceScale > maxGuidance || !ValidScheduler(d.Scheduler) {
		return nil, fmt.Errorf("model_index.json: bad loom defaults %+v", d)
	}
	// Refuse a schedule the sampler would refuse, now rather than per job.
	if _, err := sched.New(d.Scheduler, p.Sched, d.Steps); err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}

	ccfg, err := towers.ReadCLIPTextConfig(filepath.Join(dir, "text_encoder", "config.json"))
	if err != nil {
		return nil, err
	}
	b, err := p.Bind(filepath.Join(dir, "text_encoder", "model.safetensors"))
	if err != nil {
		return nil, err
	}
	if p.Text, err = towers.LoadCLIPText(b.Sub("text_model"), ccfg); err != nil {
		return nil, err
	}
	if p.Tok, err = tokenizer.LoadCLIP(filepath.Join(dir, "tokenizer")); err != nil {
		return nil, err
	}
	if p.Tok.VocabSize() > ccfg.VocabSize {
		return nil, fmt.Errorf("tokenizer ids reach %d, the text encoder has %d embeddings", p.Tok.VocabSize(), ccfg.VocabSize)
	}
	p.CtxLen = ccfg.MaxPositionEmbeddings

	vcfg, err := towers.ReadVAEConfig(filepath.Join(dir, "vae", "config.json"))
	if err != nil {
		return nil, err
	}
	if b, err = p.Bind(filepath.Join(dir, "vae", "diffusion_pytorch_model.safetensors")); err != nil {
		return nil, err
	}
	if p.VAE, err = towers.LoadVAE(b, vcfg); err != nil {
		return nil, err
	}
	if p.VAE.Cfg.OutChannels != 3 {
		return nil, fmt.Errorf("vae writes %d channels, want RGB", p.VAE.Cfg.OutChannels)
	}
	return p, nil
}

func readJSON(path string, v any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Bind opens a safetensors file the pipeline keeps open (the towers view
// its bytes) until Close.
func (p *Pipeline) Bind(path string) (*nn.Binder, error) {
	src, err := formats.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	p.srcs = append(p.srcs, src)
	return nn.NewBinder(src), nil
}

// Close releases the weight files.
func (p *Pipeline) Close() {
	for _, s := range p.srcs {
		s.Close()
	}
	p.srcs = nil
}

// EncodePrompts runs the text encoder on the negative prompt and the prompt:
// ctx (2, L, D), unconditional first, as classifier-free guidance batches them.
func (p *Pipeline) EncodePrompts(prompt, negative string) ([]float32, error) {
	L, D := p.CtxLen, p.Text.Cfg.HiddenSize
	ctx := make([]float32, 2*L*D)
	for i, s := range []string{negative, prompt} {
		ids, err := p.Tok.EncodePrompt(s, L)
		if err != nil {
			return nil, err
		}
		if err := p.Text.Forward(ctx[i*L*D:(i+1)*L*D], ids); err != nil {
			return nil, err
		}
	}
	return ctx, nil
}

// EncodeImage turns a picture into the clean latents (L, side/f, side/f) of
// the VAE (f its downscale) at an image side of side: resized (Lanczos
// down, bilinear up), scaled to [-1, 1], encoded, the latent Gaussian's
// mean taken (its mode, so the result does not depend on a draw).
func (p *Pipeline) EncodeImage(img image.Image, side int) ([]float32, error) {
	if !p.VAE.HasEncoder {
		return nil, errors.New("this model's VAE has no encoder, so it cannot start from an image")
	}
	px := make([]float32, 3*side*side)
	norm := imgproc.Normalize{Width: side, Height: side, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}}
	if err := imgproc.ToCHW(px, img, norm); err != nil {
		return nil, err
	}
	ls := side / p.VAE.Cfg.Downscale()
	L := p.VAE.Cfg.LatentChannels
	mean, logvar := make([]float32, L*ls*ls), make([]float32, L*ls*ls)
	if err := p.VAE.Encode(mean, logvar, px, 1, side, side); err != nil {
		return nil, err
	}
	z := make([]float32, len(mean))
	if err := p.VAE.SampleLatents(z, mean, logvar, nil); err != nil {
		return nil, err
	}
	return z, nil
}

// Denoiser predicts the model output (noise or v) out for latents in of
// items items at timestep t, item i conditioned on ctx row i (items, L, D).
type Denoiser func(out, in []float32, items int, t float32, ctx []float32) error

// Run is one sampling run's settings, already validated.
type Run struct {
	Scheduler string
	Steps     int
	Guidance  float32
	Items     int   // images, or videos
	Per       int   // latent floats per item
	Seed      int64 // item i draws its noise from Noise(Seed, i)
	// Init is the clean latents (Per floats) every item starts from, noised
	// to Strength (image-to-image); nil starts from pure noise.
	Init         []float32
	Strength     float64
	PreviewEvery int // steps between previews of item 0; 0: none
	// FrameShare, for a video model trained on a mixed noise prior
	// (tools/video/train.py --frame-noise), is the share of every noise
	// draw's variance common to an item's Frames frames: each frame's noise
	// is √(1-s)·own + √s·common. 0 keeps frames independent.
	Frames     int
	FrameShare float64
}

// fill draws unit noise into dst (one item) from nz; with r.FrameShare > 0
// the item's r.Frames frames share that part of the variance, the common
// part drawn after the frames' own (as tools/video/train.py draws it).
func (r Run) fill(nz *sched.Noise, dst []float32, sigma float64) {
	nz.Fill(dst, sigma)
	if r.FrameShare <= 0 {
		return
	}
	per := len(dst) / r.Frames
	common := make([]float32, per)
	nz.Fill(common, sigma)
	a, b := float32(math.Sqrt(1-r.FrameShare)), float32(math.Sqrt(r.FrameShare))
	for f := 0; f < r.Frames; f++ {
		fr := dst[f*per : (f+1)*per]
		for k := range fr {
			fr[k] = a*fr[k] + b*common[k]
		}
	}
}

// Hooks are what a run reports while it samples.
type Hooks struct {
	Progress func(step, total int) error         // after each denoising step; an error stops the run
	Preview  func(step int, x0 []float32) error  // item 0's estimate of its clean latents
	Timings  func(stage string, d time.Duration) // "unet_step"
	Stopped  func() error                        // checked before every step: the job's context
}

// Noise is item i's noise source: seed + i, so every item of a batch has a
// seed of its own that regenerates it alone.
func Noise(seed int64, i int) *sched.Noise { return sched.NewNoise(uint64(seed)+uint64(i), 0) }

// Sample runs the sampler's loop and returns the final latents (Items, Per);
// ctx2 is EncodePrompts' (2, L, D). With guidance ≠ 1 the denoiser sees the items twice in one batch,
// unconditional (ctx2's row 0) then conditional (row 1), and the outputs
// are combined by classifier-free guidance; with guidance 1 the
// unconditional half would cancel out, so it is skipped.
func (p *Pipeline) Sample(r Run, ctx2 []float32, den Denoiser, h Hooks) ([]float32, error) {
	s, err := sched.New(r.Scheduler, p.Sched, r.Steps)
	if err != nil {
		return nil, err
	}
	n, per := r.Items, r.Per
	if r.FrameShare < 0 || r.FrameShare >= 1 || (r.FrameShare > 0 && (r.Frames < 1 || per%r.Frames != 0)) {
		return nil, fmt.Errorf("diffusion: frame noise share %g over %d frames of %d floats", r.FrameShare, r.Frames, per)
	}
	noises := make([]*sched.Noise, n)
	x := make([]float32, n*per) // (n, per)
	start := 0
	for i := range noises {
		noises[i] = Noise(r.Seed, i)
	}
	if r.Init == nil {
		for i, nz := range noises {
			r.fill(nz, x[i*per:(i+1)*per], s.InitNoiseSigma())
		}
	} else {
		if len(r.Init) != per {
			return nil, fmt.Errorf("diffusion: init latents of %d floats, items of %d", len(r.Init), per)
		}
		if start, err = sched.Img2ImgStart(r.Steps, r.Strength); err != nil {
			return nil, err
		}
		eps := make([]float32, per)
		for i, nz := range noises {
			if start == r.Steps {
				copy(x[i*per:], r.Init) // strength 0: the image itself, re-decoded
				continue
			}
			r.fill(nz, eps, 1)
			s.AddNoise(x[i*per:(i+1)*per], r.Init, eps, start)
		}
	}

	LD := len(ctx2) / 2 // one prompt's (L, D)
	guided := r.Guidance != 1
	rows := n
	if guided {
		rows = 2 * n
	}
	ctx := make([]float32, rows*LD) // (rows, L, D)
	for i := 0; i < rows; i++ {
		half := 1 // conditional
		if guided && i < n {
			half = 0
		}
		copy(ctx[i*LD:(i+1)*LD], ctx2[half*LD:(half+1)*LD])
	}
	in, out := make([]float32, rows*per), make([]float32, rows*per)
	var stepNoise []float32
	if s.Stochastic() {
		stepNoise = make([]float32, n*per)
	}
	total := r.Steps - start
	for i := start; i < r.Steps; i++ {
		if err := h.Stopped(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		ts := float32(s.Timesteps()[i])
		s.ScaleInput(in[:n*per], x, i)
		if guided {
			copy(in[n*per:], in[:n*per])
		}
		if err := den(out, in, rows, ts, ctx); err != nil {
			return nil, err
		}
		eps := out[:n*per]
		if guided {
			if err := sched.Guide(eps, out[:n*per], out[n*per:], r.Guidance); err != nil {
				return nil, err
			}
		}
		var x0 []float32
		if r.PreviewEvery > 0 && h.Preview != nil && (i-start+1)%r.PreviewEvery == 0 && i < r.Steps-1 {
			x0 = p.EstimateX0(s, r.Scheduler, x[:per], eps[:per], i)
		}
		if stepNoise != nil {
			for k, nz := range noises {
				r.fill(nz, stepNoise[k*per:(k+1)*per], 1)
			}
		}
		if err := s.Step(x, eps, i, stepNoise); err != nil {
			return nil, err
		}
		h.Timings("unet_step", time.Since(t0))
		if err := h.Progress(i-start+1, total); err != nil {
			return nil, err
		}
		if x0 != nil {
			if err := h.Preview(i-start+1, x0); err != nil {
				return nil, err
			}
		}
	}
	if err := h.Stopped(); err != nil {
		return nil, err
	}
	return x, nil
}

// EstimateX0 is the clean latent the model predicts at step i from latents
// x and its (guided) output: the sampler's own x̂₀, recomputed here because
// samplers keep it private. Euler works in σ-space (x = x₀ + σε); DDIM and
// DPM-Solver in the variance-preserving space (x = αx₀ + σ_vp ε, α = 1/√(σ²+1)).
func (p *Pipeline) EstimateX0(s sched.Sampler, kind string, x, out []float32, i int) []float32 {
	var sg float64
	if sig := sched.Sigmas(s); sig != nil {
		sg = sig[i]
	} else {
		ac := sched.AlphasCumprod(p.Sched)
		a := ac[int(s.Timesteps()[i])]
		sg = math.Sqrt((1 - a) / a)
	}
	a := 1 / math.Sqrt(sg*sg+1)
	ve := kind == "euler" || kind == "euler_a"
	v := p.Sched.PredictionType == "v_prediction"
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

// ToNRGBA maps planes (3, h, w) in [-1, 1], as the VAE decodes, to 8-bit
// opaque pixels, rounding to nearest (NaN → 0).
func ToNRGBA(rgb []float32, w, h int) *image.NRGBA {
	im := image.NewNRGBA(image.Rect(0, 0, w, h))
	hw := w * h
	for y := 0; y < h; y++ {
		row := im.Pix[y*im.Stride:]
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				v := (rgb[c*hw+y*w+x] + 1) * 127.5
				if !(v > 0) { // also NaN
					v = 0
				}
				row[4*x+c] = uint8(min(v+0.5, 255))
			}
			row[4*x+3] = 255
		}
	}
	return im
}

// IsPipeline reports whether dir looks like a pipeline folder (Open checks
// the rest).
func IsPipeline(dir string) bool {
	for _, f := range []string{"model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json", "tokenizer"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// HasMotion reports whether a pipeline folder is a video one: its UNet a
// diffusers UNetMotionModel, or a base UNet with a motion_adapter/ beside it
// (AnimateDiff's two layouts).
func HasMotion(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "motion_adapter", "config.json")); err == nil {
		return true
	}
	var cls struct {
		Class string `json:"_class_name"`
	}
	return readJSON(filepath.Join(dir, "unet", "config.json"), &cls) == nil && cls.Class == "UNetMotionModel"
}

// UpscaleSides are the output sides a model can be asked for besides its
// native one: the picture is sampled at the native size and enlarged.
var UpscaleSides = []int{128, 256, 512}

// OutputSide checks a requested side against a model's native one: 0 (the
// native side), the native side, or an upscale side at least as large.
func OutputSide(name string, v, native int) (int, error) {
	if v == 0 || v == native || (v > native && slices.Contains(UpscaleSides, v)) {
		return max(v, native), nil
	}
	var ok []string
	for _, s := range UpscaleSides {
		if s > native {
			ok = append(ok, fmt.Sprint(s))
		}
	}
	return 0, fmt.Errorf("%s %d: this model makes %d×%d pictures (or upscales to %s)", name, v, native, native, strings.Join(ok, ", "))
}

// Choose resolves a job's sampling settings against the folder's defaults:
// an empty scheduler, zero steps or nil guidance takes the default.
func (d Defaults) Choose(scheduler string, steps int, guidance *float64) Defaults {
	if scheduler != "" {
		d.Scheduler = scheduler
	}
	if steps != 0 {
		d.Steps = steps
	}
	if guidance != nil {
		d.GuidanceScale = *guidance
	}
	return d
}

// Timings adds up a run's stage durations (Hooks.Timings and the plugin's
// own stages) for a result's "timings".
type Timings struct {
	stages    map[string]time.Duration
	unetSteps int
}

// Add counts d against stage; "unet_step" also counts a step.
func (t *Timings) Add(stage string, d time.Duration) {
	if t.stages == nil {
		t.stages = map[string]time.Duration{}
	}
	t.stages[stage] += d
	if stage == "unet_step" {
		t.unetSteps++
	}
}

// Report is every stage in milliseconds, with "total", and the UNet's steps
// as "unet_total" and "unet_per_step".
func (t *Timings) Report(total time.Duration) map[string]float64 {
	ms := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
	out := map[string]float64{"total": ms(total)}
	for k, d := range t.stages {
		out[k] = ms(d)
	}
	if t.unetSteps > 0 {
		out["unet_per_step"] = out["unet_step"] / float64(t.unetSteps)
	}
	out["unet_total"] = out["unet_step"]
	delete(out, "unet_step")
	return out
}
