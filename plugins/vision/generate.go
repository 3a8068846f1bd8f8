package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"time"

	"github.com/disintegration/imaging"

	"github.com/loomhq/loom/core/diffusion"
	"github.com/loomhq/loom/core/imgproc"
	"github.com/loomhq/loom/core/media"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

const taskGenerate = tasks.ImageGenerate

// Bounds beyond tasks.ImageGenerateParams' schema.
const (
	maxEditImages = 16 // outputs of one image-to-image job: input images × n
)

// generateEngine serves image.generate from the pipeline folders found in
// the model directories, loading each once on first use.
type generateEngine struct {
	folders *sdk.Folders[*pipeline]
}

func newGenerateEngine(dirs []string) *generateEngine {
	return &generateEngine{folders: &sdk.Folders[*pipeline]{Task: taskGenerate, Dirs: dirs, Accept: isPipeline, Load: loadPipeline}}
}

// models maps model id (folder name) → folder, first directory wins.
func (e *generateEngine) models() map[string]string { return e.folders.Found() }

func (e *generateEngine) ids() []string { return e.folders.IDs() }

func (e *generateEngine) modelInfos() []sdk.ModelInfo {
	ms := e.models()
	var out []sdk.ModelInfo
	for _, id := range e.ids() {
		out = append(out, sdk.ModelInfo{ID: id, Tasks: []string{taskGenerate, tasks.TextEmbed}, Ready: true,
			Description: "latent diffusion: CLIP text encoder + UNet + VAE", Created: sdk.ModelCreated(ms[id]),
			MemoryBytes: sdk.DirBytes(ms[id]), Loaded: e.folders.Loaded(id),
			Specs: tasks.Specs(taskGenerate, tasks.TextEmbed)})
	}
	return out
}

func (e *generateEngine) get(id string) (*pipeline, error) { return e.folders.Get(id) }

// pipelineFor loads the job's model, or the first pipeline by id when the
// job names none, and says which it is.
func (e *generateEngine) pipelineFor(model string) (string, *pipeline, error) {
	if model == "" {
		if ids := e.ids(); len(ids) > 0 {
			model = ids[0]
		}
	}
	pl, err := e.get(model)
	return model, pl, err
}

// parseGenerateParams decodes and bounds the params (tasks.ImageGenerateParams
// and its schema); model-dependent checks (sizes) come later.
func parseGenerateParams(raw json.RawMessage) (tasks.ImageGenerateParams, error) {
	var p tasks.ImageGenerateParams
	if err := sdk.DecodeParams(raw, &p); err != nil {
		return p, err
	}
	if err := tasks.CheckPrompts(p.Prompt, p.NegativePrompt); err != nil {
		return p, err
	}
	if p.N == 0 {
		p.N = 1
	}
	return p, nil
}

// outputSide checks a requested side against the model (see
// diffusion.OutputSide).
func outputSide(name string, v, native int) (int, error) {
	side, err := diffusion.OutputSide(name, v, native)
	if err != nil {
		return 0, sdk.ParamsError(err).WithParam(name)
	}
	return side, nil
}

func (e *generateEngine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	p, err := parseGenerateParams(job.Params)
	if err != nil {
		return err
	}
	// Image-to-image: every input named "image" is edited n times, in order
	// (OpenAI's edits with several image[] parts).
	var imgs []image.Image
	var decoded int64 // what the job's images take, bounded together
	defer func() { imgproc.ReturnMemory(decoded) }()
	for i, in := range job.Inputs {
		if in.Name != "image" {
			return sdk.Errorf(sdk.CodeInvalidRequest, "image.generate takes optional inputs named \"image\", not %q", in.Name)
		}
		lim := imageLimits
		lim.MaxDecoded -= decoded
		img, _, err := imgproc.DecodeContext(ctx, in.Data, lim)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			return sdk.Errorf(sdk.CodeInvalidRequest, "image %d: %v", i, err)
		}
		decoded += imgproc.ImageBytes(img)
		imgs = append(imgs, img)
	}
	if p.Strength != nil && len(imgs) == 0 {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: strength needs an input image named \"image\"").WithParam("strength")
	}
	if len(imgs)*p.N > maxEditImages {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: %d images × n %d is over %d outputs per job", len(imgs), p.N, maxEditImages)
	}
	runs := max(1, len(imgs))
	model, pl, err := e.pipelineFor(job.Model)
	if err != nil {
		return err
	}
	w, err := outputSide("width", p.Width, pl.native)
	if err != nil {
		return err
	}
	h, err := outputSide("height", p.Height, pl.native)
	if err != nil {
		return err
	}
	d := pl.Defaults.Choose(p.Scheduler, p.Steps, p.GuidanceScale)
	r := run{scheduler: d.Scheduler, steps: d.Steps, guidance: float32(d.GuidanceScale), n: p.N, seed: job.Seed, previewEvery: 5}
	guidance := d.GuidanceScale
	if p.PreviewEvery != nil {
		r.previewEvery = *p.PreviewEvery
	}

	var timings diffusion.Timings
	t0 := time.Now()
	t := time.Now()
	ctx2, err := pl.EncodePrompts(p.Prompt, p.NegativePrompt)
	if err != nil {
		return sdk.Errorf(sdk.CodeInternal, "text encoder: %v", err)
	}
	timings.Add("text", time.Since(t))
	res := tasks.ImageGenerateResult{Model: model, Scheduler: r.scheduler, Steps: r.steps, GuidanceScale: guidance}
	if w != pl.native || h != pl.native {
		res.UpscaledFrom = []int{pl.native, pl.native}
	}
	// An emit that fails (the caller went away) ends the run with its own error.
	var emitErr error
	send := func(ev sdk.Event) error {
		if err := emit(ev); err != nil {
			emitErr = err
			return err
		}
		return nil
	}
	// Run k (input image k, or the one text-to-image run) makes images
	// k·n … k·n+n-1 with noise seeds seed+k·n+i; progress counts over all runs.
	for k := 0; k < runs; k++ {
		r.seed = job.Seed + int64(k*r.n)
		if len(imgs) > 0 {
			r.strength = 0.8
			if p.Strength != nil {
				r.strength = *p.Strength
			}
			t := time.Now()
			if r.init, err = pl.encodeImage(imgs[k]); err != nil {
				return sdk.Errorf(sdk.CodeInvalidRequest, "image %d: %v", k, err)
			}
			timings.Add("vae_encode", time.Since(t))
		}
		hooks := stepHooks{
			stopped: ctx.Err,
			progress: func(step, total int) error {
				return send(sdk.Event{Kind: sdk.EventProgress, Step: k*total + step, Total: runs * total})
			},
			preview: func(step int, rgb []float32) error {
				data, err := media.PNG(diffusion.ToNRGBA(rgb, pl.native, pl.native))
				if err != nil {
					return err
				}
				return send(sdk.Event{Kind: sdk.EventPreview, MIME: "image/png", Data: data})
			},
			timings: timings.Add,
		}
		rgb, err := pl.generate(r, ctx2, hooks)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if emitErr != nil {
				return emitErr
			}
			return sdk.Errorf(sdk.CodeInternal, "generate: %v", err)
		}
		per := 3 * pl.native * pl.native
		for i := 0; i < r.n; i++ {
			t := time.Now()
			im := diffusion.ToNRGBA(rgb[i*per:(i+1)*per], pl.native, pl.native)
			if res.UpscaledFrom != nil {
				im = imaging.Resize(im, w, h, imaging.Lanczos)
			}
			timings.Add("upscale", time.Since(t))
			t = time.Now()
			data, err := media.PNG(im)
			if err != nil {
				return sdk.Errorf(sdk.CodeInternal, "png: %v", err)
			}
			timings.Add("png", time.Since(t))
			name := fmt.Sprintf("image-%03d.png", len(res.Images))
			if err := emit(sdk.Event{Kind: sdk.EventArtifact, Name: name, MIME: "image/png", Data: data}); err != nil {
				return err
			}
			res.Images = append(res.Images, tasks.GeneratedImage{Name: name, Width: w, Height: h, Seed: r.seed + int64(i)})
		}
	}
	if p.Timings {
		res.Timings = timings.Report(time.Since(t0))
	}
	out, err := json.Marshal(res)
	if err != nil {
		return sdk.Errorf(sdk.CodeInternal, "result: %v", err)
	}
	return emit(sdk.Event{Kind: sdk.EventResult, Result: out})
}
