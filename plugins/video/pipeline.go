package main

// A video pipeline folder is an AnimateDiff-style diffusers folder: the
// shared parts core/diffusion reads (model_index.json, text_encoder/,
// tokenizer/, vae/, scheduler/) and a motion UNet — unet/ as a diffusers
// UNetMotionModel, or a base UNet2DConditionModel in unet/ with the temporal
// modules in motion_adapter/. model_index.json's "loom": {"defaults": {…}}
// may add "frames" and "fps" to the sampling defaults, and
// "image_to_video_prompt" names a captioner that reads an image-to-video
// picture's object into the prompt (see pipeline.videoPrompt).
//
// The text encodes once; the sampler's loop (diffusion.Sample) runs the
// motion UNet over one video's frames as one batch, both guidance halves
// together; the VAE decodes every frame; core/media writes the files.

import (
	"fmt"
	"image"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loomhq/loom/core/diffusion"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/shapes"
)

// pipelineFiles is what a folder needs to be served as video.generate (the
// Unready message names them when none is installed).
var pipelineFiles = []string{"model_index.json", "text_encoder/", "tokenizer/", "vae/", "scheduler/scheduler_config.json",
	"unet/ (UNetMotionModel, or a UNet2DConditionModel with motion_adapter/)"}

// isPipeline reports whether dir is a video pipeline folder.
func isPipeline(dir string) bool { return diffusion.IsPipeline(dir) && diffusion.HasMotion(dir) }

// motionModel is the denoiser of a video pipeline: a UNet whose spatial
// layers see each frame and whose motion modules attend across the frames
// of a video at each position.
type motionModel interface {
	// Forward predicts the model output out (videos·frames, C, h, w) for
	// latents of the same shape at timestep t; video v's frames are rows
	// v·frames … (v+1)·frames−1, conditioned on ctx row v (videos, ctxLen,
	// D). first, when not nil, is the clean latents (C, h, w) of the first
	// frame every video must start from (image-to-video).
	Forward(out, latents []float32, videos, frames, h, w int, t float32, ctx []float32, ctxLen int, first []float32) error
	// ForwardNoPicture is an image-to-video step without the picture
	// (picture guidance's unconditional half): the latents as given, frame
	// 0 too, the prompt read as image-to-video reads it.
	ForwardNoPicture(out, latents []float32, videos, frames, h, w int, t float32, ctx []float32, ctxLen int) error
	// LatentChannels is C; SampleSize the native latent side; MaxFrames
	// the most frames the motion modules' positions cover; FrameNoiseShare
	// the share of the noise common to all frames it was trained with.
	LatentChannels() int
	SampleSize() int
	MaxFrames() int
	FrameNoiseShare() float64
}

// motionLoader binds a folder's motion UNet; the pipeline's text encoder and
// VAE are open already (their sizes are checked against it).
type motionLoader func(p *diffusion.Pipeline) (motionModel, error)

// loadMotionTower binds core/towers' AnimateDiff motion UNet in either of
// its layouts (unet/ UNetMotionModel, or unet/ + motion_adapter/).
func loadMotionTower(p *diffusion.Pipeline) (motionModel, error) {
	m, err := towers.LoadMotionUNetFolder(p.Dir, p.Bind)
	if err != nil {
		return nil, err
	}
	if u := m.Cfg.UNet; u.CrossAttentionDim != p.Text.Cfg.HiddenSize || u.OutChannels != m.LatentChannels() {
		return nil, fmt.Errorf("motion unet: cross_attention_dim %d (text encoder %d), channels %d (%d latent)→%d",
			u.CrossAttentionDim, p.Text.Cfg.HiddenSize, u.InChannels, m.LatentChannels(), u.OutChannels)
	}
	mt := motionTower{MotionUNet: m}
	if m.Cfg.Motion.ImageToVideoText == "motion" {
		// The spatial layers of image-to-video read the empty prompt.
		ctx2, err := p.EncodePrompts("", "")
		if err != nil {
			return nil, err
		}
		mt.empty = ctx2[:len(ctx2)/2]
	}
	return mt, nil
}

// motionTower adapts the tower to motionModel: one timestep for the whole
// batch, or image-to-video's held first frame (and, for a model with
// first-frame channels, the picture's latent in every frame's input; for a
// model with image_to_video_text "motion", the empty prompt's states for the
// spatial cross-attention).
type motionTower struct {
	*towers.MotionUNet
	empty []float32 // the empty prompt's states (L, D)
}

func (m motionTower) Forward(out, latents []float32, videos, frames, h, w int, t float32, ctx []float32, ctxLen int, first []float32) error {
	if first == nil {
		return m.MotionUNet.Forward(out, latents, videos, frames, h, w, []float32{t}, ctx, ctxLen)
	}
	return m.ForwardFirstFrameMotionText(out, latents, first, videos, frames, h, w, t, m.ImageToVideoContext(ctx, m.empty), ctx, ctxLen)
}

func (m motionTower) ForwardNoPicture(out, latents []float32, videos, frames, h, w int, t float32, ctx []float32, ctxLen int) error {
	return m.ForwardMotionText(out, latents, videos, frames, h, w, []float32{t}, m.ImageToVideoContext(ctx, m.empty), ctx, ctxLen)
}

// videoDefaults are the "loom" defaults a video folder adds.
type videoDefaults struct {
	Frames int `json:"frames"`
	FPS    int `json:"fps"`
	// ImageToVideoGuidance is what guidance scales when a picture is given:
	// "" or "prompt", the prompt against the negative prompt (both with the
	// picture); "picture", the picture against none (both with the prompt:
	// diffusion.PictureGuided), for a model whose prompt would otherwise
	// draw over the picture.
	ImageToVideoGuidance string `json:"image_to_video_guidance"`
	// Candidates is how many videos a request samples (noise items 0, 1,
	// … of its seed) before it keeps the one the model itself predicts
	// best: each finished candidate noised again to RerankTimestep and
	// scored by the conditional model's error there
	// (diffusion.DenoiseError). 0 or 1: one video, no scoring. A request's
	// candidates param chooses for itself. RerankTimestep 0: 70 % of the
	// schedule's training timesteps (700 of 1,000).
	Candidates     int `json:"candidates"`
	RerankTimestep int `json:"rerank_timestep"`
}

// maxCandidates bounds candidates (each is a whole sampling run).
const maxCandidates = tasks.MaxVideoCandidates

// pictureCaption is model_index.json's "loom": {"image_to_video_prompt":
// {…}}: image-to-video reads the picture's object with an image captioner
// and prompts the model with it. Captioner is the captioner's folder beside
// this one (a models directory's sibling, e.g. "shapes-captioner"); Grammar
// says how caption and prompt combine, and "shapes" (SHAPES.md) is the one
// there is: the caption's object moving the prompt's way.
type pictureCaption struct {
	Captioner string `json:"captioner"`
	Grammar   string `json:"grammar"`
}

// pipeline is one loaded folder.
type pipeline struct {
	*diffusion.Pipeline
	motion    motionModel
	defaults  videoDefaults
	side      int               // latent side
	native    int               // frame side: side × the VAE's downscale
	captioner *towers.Captioner // nil: the prompt is used as given
}

func loadPipeline(dir string, load motionLoader) (*pipeline, error) {
	d, err := diffusion.Open(dir, maxSteps, maxGuidance)
	if err != nil {
		return nil, err
	}
	p := &pipeline{Pipeline: d, defaults: videoDefaults{Frames: 16, FPS: 8}}
	if err := p.load(load); err != nil {
		if p.captioner != nil {
			p.captioner.Close()
		}
		d.Close()
		return nil, err
	}
	return p, nil
}

func (p *pipeline) load(loadMotion motionLoader) error {
	var index struct {
		Loom struct {
			Defaults           *videoDefaults  `json:"defaults"`
			ImageToVideoPrompt *pictureCaption `json:"image_to_video_prompt"`
		} `json:"loom"`
	}
	if err := sdk.ReadJSON(filepath.Join(p.Dir, "model_index.json"), &index); err != nil {
		return err
	}
	var err error
	if p.motion, err = loadMotion(p.Pipeline); err != nil {
		return err
	}
	if c := index.Loom.ImageToVideoPrompt; c != nil {
		dir := filepath.Join(filepath.Dir(filepath.Clean(p.Dir)), c.Captioner)
		switch {
		case c.Grammar != "shapes":
			return fmt.Errorf("model_index.json: image_to_video_prompt grammar %q (\"shapes\" is the one known)", c.Grammar)
		case c.Captioner == "" || strings.ContainsAny(c.Captioner, `/\`) || !towers.IsCaptionerFolder(dir):
			return fmt.Errorf("model_index.json: image_to_video_prompt captioner %q is not a captioner folder beside this one", c.Captioner)
		}
		if p.captioner, err = towers.LoadCaptionerFolder(dir); err != nil {
			return fmt.Errorf("image_to_video_prompt captioner %s: %w", c.Captioner, err)
		}
	}
	if d := index.Loom.Defaults; d != nil {
		if d.Frames != 0 {
			p.defaults.Frames = d.Frames
		}
		if d.FPS != 0 {
			p.defaults.FPS = d.FPS
		}
		p.defaults.ImageToVideoGuidance = d.ImageToVideoGuidance
		p.defaults.Candidates, p.defaults.RerankTimestep = d.Candidates, d.RerankTimestep
	}
	if p.defaults.Candidates == 0 {
		p.defaults.Candidates = 1
	}
	if p.defaults.RerankTimestep == 0 {
		p.defaults.RerankTimestep = p.Sched.NumTrainTimesteps * 7 / 10
	}
	m, v := p.motion, p.VAE.Cfg
	switch {
	case p.defaults.Frames < 1 || p.defaults.Frames > min(maxFrames, m.MaxFrames()) || p.defaults.FPS < 1 || p.defaults.FPS > maxFPS:
		return fmt.Errorf("model_index.json: bad loom defaults %+v (the motion modules cover %d frames)", p.defaults, m.MaxFrames())
	case p.defaults.Candidates < 1 || p.defaults.Candidates > maxCandidates || p.defaults.RerankTimestep < 1 || p.defaults.RerankTimestep > p.Sched.NumTrainTimesteps-1:
		return fmt.Errorf("model_index.json: candidates %d (1…%d) with rerank_timestep %d (1…%d)", p.defaults.Candidates, maxCandidates, p.defaults.RerankTimestep, p.Sched.NumTrainTimesteps-1)
	case !slices.Contains([]string{"", "prompt", "picture"}, p.defaults.ImageToVideoGuidance):
		return fmt.Errorf("model_index.json: image_to_video_guidance %q (\"prompt\" or \"picture\")", p.defaults.ImageToVideoGuidance)
	case m.LatentChannels() != v.LatentChannels:
		return fmt.Errorf("motion unet has %d latent channels, the vae %d", m.LatentChannels(), v.LatentChannels)
	case m.SampleSize() <= 0:
		return fmt.Errorf("motion unet sample_size %d", m.SampleSize())
	}
	p.side = m.SampleSize()
	p.native = p.side * v.Downscale()
	return nil
}

// videoPrompt is the prompt the model is given for prompt and, in
// image-to-video, the picture img. Without a captioner it is prompt. With
// one (image_to_video_prompt) the captioner describes img with its subject
// moved to the middle (towers.Captioner.CaptionCentred), and when the
// caption is one object of the Shapes grammar and prompt a Shapes video
// prompt the model is prompted with the picture's object moving the
// prompt's way (shapes.PictureVideoPrompt): the picture says what moves,
// the prompt how. Otherwise — a picture of two objects, one the captioner
// cannot read, a prompt outside the grammar — the prompt is used as given.
// caption is what the captioner read ("" without one).
func (p *pipeline) videoPrompt(prompt string, img image.Image) (used, caption string, err error) {
	if img == nil || p.captioner == nil {
		return prompt, "", nil
	}
	if caption, err = p.captioner.CaptionCentred(img); err != nil {
		return "", "", err
	}
	if used, err := shapes.PictureVideoPrompt(caption, prompt); err == nil {
		return used, caption, nil
	}
	return prompt, caption, nil
}

// run is one generation's settings, already validated.
type run struct {
	diffusion.Defaults // scheduler, steps, guidance
	frames             int
	seed               int64
	first              []float32 // clean latents (C, side, side) of the first frame; nil: text-to-video
	candidates         int       // videos sampled, the best kept (0: 1)
	previewEvery       int
}

// generate samples one video and returns its latents (frames, C, side,
// side) and which candidate it is; h.Preview receives the same shape (the
// frames' x̂₀, of candidate 0). With r.candidates > 1 it samples that many
// side by side (one batch, noise items 0, 1, … of the seed) and returns
// the one the model scores best (videoDefaults.Candidates); candidate 0 is
// the video one candidate makes from the same seed. In an
// image-to-video run frame 0 is the given picture: its latents replace
// whatever the sampler holds there, in the previews and at the end (the
// motion UNet sees them as frame 0's clean input at every step). A folder
// with image_to_video_guidance "picture" guides image-to-video by the
// picture (the negative prompt is then not used).
func (p *pipeline) generate(r run, ctx2 []float32, h diffusion.Hooks) ([]float32, int, error) {
	side, F := p.side, r.frames
	L := p.CtxLen
	items := max(r.candidates, 1)
	den := func(out, in []float32, rows int, t float32, ctx []float32) error {
		return p.motion.Forward(out, in, rows, F, side, side, t, ctx, L, r.first)
	}
	if r.first != nil && p.defaults.ImageToVideoGuidance == "picture" {
		plain := func(out, in []float32, rows int, t float32, ctx []float32) error {
			return p.motion.ForwardNoPicture(out, in, rows, F, side, side, t, ctx, L)
		}
		den = p.PictureGuided(plain, den, r.first, items, r.seed)
		half := len(ctx2) / 2 // both halves the prompt: guidance scales the picture
		ctx2 = append(append([]float32(nil), ctx2[half:]...), ctx2[half:]...)
	}
	if r.first != nil && h.Preview != nil {
		preview := h.Preview
		h.Preview = func(step int, x0 []float32) error {
			copy(x0, r.first)
			return preview(step, x0)
		}
	}
	per := F * p.motion.LatentChannels() * side * side
	x, err := p.Sample(diffusion.Run{Scheduler: r.Scheduler, Steps: r.Steps, Guidance: float32(r.GuidanceScale), Items: items,
		Per: per, Seed: r.seed, PreviewEvery: r.previewEvery,
		Frames: F, FrameShare: p.motion.FrameNoiseShare()}, ctx2, den, h)
	if err != nil {
		return nil, 0, err
	}
	if r.first != nil {
		for i := 0; i < items; i++ {
			copy(x[i*per:], r.first)
		}
	}
	if items == 1 {
		return x, 0, nil
	}
	// Keep the candidate the model predicts best for the prompt: each
	// noised again to the folder's timestep, scored text-to-video.
	if err := h.Stopped(); err != nil {
		return nil, 0, err
	}
	t0 := time.Now()
	score := func(out, in []float32, rows int, t float32, ctx []float32) error {
		return p.motion.Forward(out, in, rows, F, side, side, t, ctx, L, nil)
	}
	best, _, err := p.PickCandidate(score, x, items, p.defaults.RerankTimestep, ctx2, r.seed)
	if err != nil {
		return nil, 0, err
	}
	if h.Timings != nil {
		h.Timings("rerank", time.Since(t0))
	}
	return x[best*per : (best+1)*per], best, nil
}

// decode turns a video's latents (frames, C, side, side) into 8-bit frames
// at the native size.
func (p *pipeline) decode(x []float32, frames int) ([]image.Image, error) {
	n := p.native
	rgb := make([]float32, frames*3*n*n)
	if err := p.VAE.DecodeLatents(rgb, x, frames, p.side, p.side); err != nil {
		return nil, err
	}
	out := make([]image.Image, frames)
	for i := range out {
		out[i] = diffusion.ToNRGBA(rgb[i*3*n*n:(i+1)*3*n*n], n, n)
	}
	return out, nil
}

// encodeFirst turns the input picture into the first frame's clean latents.
func (p *pipeline) encodeFirst(img image.Image) ([]float32, error) {
	return p.EncodeImage(img, p.native)
}
