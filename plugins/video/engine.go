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

// inputImage is the input blob of image-to-video; imageLimits bound it
// before it is decoded (imgproc reads the header first, so a decompression
// bomb is refused without being expanded).
const inputImage = "image"

var imageLimits = imgproc.Limits{MaxBytes: 16 << 20, MaxPixels: sdk.MaxImageSide * sdk.MaxImageSide, MaxDecoded: sdk.MaxImageBytes}

// videoEngine serves video.generate from the video pipeline folders found
// in the model directories, loading each once on first use; with none it
// answers model_unavailable naming the layout.
type videoEngine struct {
	folders *sdk.Folders[*pipeline]
	unready sdk.Engine
}

func newVideoEngine(dirs []string) *videoEngine { return newVideoEngineWith(dirs, loadMotionTower) }

// newVideoEngineWith binds each folder's denoiser with load (tests put a
// double in the motion UNet's place).
func newVideoEngineWith(dirs []string, load motionLoader) *videoEngine {
	return &videoEngine{
		folders: &sdk.Folders[*pipeline]{Task: taskGenerate, Dirs: dirs, Accept: isPipeline,
			Load: func(dir string) (*pipeline, error) { return loadPipeline(dir, load) }},
		unready: sdk.Unready("video", version, sdk.TaskNeed{Task: taskGenerate, Files: pipelineFiles}),
	}
}

func (e *videoEngine) Describe(ctx context.Context) (sdk.Manifest, error) {
	m, err := e.unready.Describe(ctx)
	if err != nil {
		return m, err
	}
	found := e.folders.Found()
	if len(found) == 0 {
		return m, nil
	}
	m.Models = nil
	for _, id := range e.folders.IDs() {
		m.Models = append(m.Models, sdk.ModelInfo{ID: id, Tasks: []string{taskGenerate}, Ready: true,
			Description: "video latent diffusion: CLIP text encoder + motion UNet + VAE (" + found[id] + ")",
			Specs:       tasks.Specs(taskGenerate)})
	}
	return m, nil
}

func (e *videoEngine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	if job.Task != taskGenerate || len(e.folders.Found()) == 0 {
		return e.unready.Run(ctx, job, emit)
	}
	p, err := parseParams(job.Params)
	if err != nil {
		return err
	}
	var img image.Image
	for _, in := range job.Inputs {
		if in.Name != inputImage {
			return sdk.Errorf(sdk.CodeInvalidRequest, "video.generate takes one optional input named %q (the first frame), not %q", inputImage, in.Name)
		}
		if img, _, err = imgproc.DecodeContext(ctx, in.Data, imageLimits); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return sdk.Errorf(sdk.CodeInvalidRequest, "image: %v", err)
		}
		defer imgproc.ReturnMemory(imgproc.ImageBytes(img))
	}
	model := job.Model
	if model == "" {
		if ids := e.folders.IDs(); len(ids) > 0 {
			model = ids[0]
		}
	}
	pl, err := e.folders.Get(model)
	if err != nil {
		return err
	}
	w, h, err := outputSize(p.Width, p.Height, pl.native)
	if err != nil {
		return err
	}
	r := run{Defaults: pl.Defaults.Choose(p.Scheduler, p.Steps, p.GuidanceScale), frames: pl.defaults.Frames, seed: job.Seed, previewEvery: 5}
	fps := pl.defaults.FPS
	if p.Frames != 0 {
		r.frames = p.Frames
	}
	if mf := pl.motion.MaxFrames(); r.frames > mf {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: frames %d: this model's motion modules cover %d frames", r.frames, mf).WithParam("frames")
	}
	if r.frames*w*h > maxVideoPixels {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: frames %d at %dx%d: a video holds at most %d pixels (16 frames at 512x512)", r.frames, w, h, maxVideoPixels).WithParam("frames")
	}
	if p.FPS != 0 {
		fps = p.FPS
	}
	if p.PreviewEvery != nil {
		r.previewEvery = *p.PreviewEvery
	}
	r.candidates = pl.defaults.Candidates
	if p.Candidates != 0 {
		r.candidates = p.Candidates
	}

	var timings diffusion.Timings
	t0 := time.Now()
	if img != nil {
		t := time.Now()
		if r.first, err = pl.encodeFirst(img); err != nil {
			return sdk.Errorf(sdk.CodeInvalidRequest, "image: %v", err)
		}
		timings.Add("vae_encode", time.Since(t))
	}
	t := time.Now()
	prompt, caption, err := pl.videoPrompt(p.Prompt, img)
	if err != nil {
		return sdk.Errorf(sdk.CodeInternal, "captioner: %v", err)
	}
	if caption != "" {
		timings.Add("caption", time.Since(t))
		t = time.Now()
	}
	ctx2, err := pl.EncodePrompts(prompt, p.NegativePrompt)
	if err != nil {
		return sdk.Errorf(sdk.CodeInternal, "text encoder: %v", err)
	}
	timings.Add("text", time.Since(t))

	// An emit that fails (the caller went away) ends the run with its own error.
	var emitErr error
	send := func(ev sdk.Event) error {
		if err := emit(ev); err != nil {
			emitErr = err
			return err
		}
		return nil
	}
	x, chosen, err := pl.generate(r, ctx2, diffusion.Hooks{
		Stopped: ctx.Err,
		Timings: timings.Add,
		Progress: func(step, total int) error {
			return send(sdk.Event{Kind: sdk.EventProgress, Step: step, Total: total})
		},
		Preview: func(step int, x0 []float32) error {
			frames, err := pl.decode(x0, r.frames)
			if err != nil {
				return err
			}
			data, err := media.GIF(frames, fps)
			if err != nil {
				return err
			}
			return send(sdk.Event{Kind: sdk.EventPreview, MIME: "image/gif", Data: data})
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if emitErr != nil {
			return emitErr
		}
		return sdk.Errorf(sdk.CodeInternal, "generate: %v", err)
	}
	t = time.Now()
	frames, err := pl.decode(x, r.frames)
	if err != nil {
		return sdk.Errorf(sdk.CodeInternal, "vae: %v", err)
	}
	timings.Add("vae_decode", time.Since(t))

	t = time.Now()
	res := tasks.VideoGenerateResult{Model: model, Frames: r.frames, FPS: fps, Seconds: float64(r.frames) / float64(fps), Width: w, Height: h,
		Scheduler: r.Scheduler, Steps: r.Steps, GuidanceScale: r.GuidanceScale, Seed: job.Seed, ImageToVideo: img != nil,
		ImageCaption: caption, Candidates: max(r.candidates, 1), Candidate: chosen}
	if caption != "" {
		res.ModelPrompt = prompt
	}
	if w != pl.native || h != pl.native {
		res.UpscaledFrom = []int{pl.native, pl.native}
		for i, f := range frames {
			frames[i] = imaging.Resize(f, w, h, imaging.Lanczos)
		}
	}
	files, err := encodeFiles(frames, fps, p.Format)
	if err != nil {
		return sdk.Errorf(sdk.CodeInternal, "encode: %v", err)
	}
	timings.Add("encode", time.Since(t))
	for _, f := range files {
		if err := emit(sdk.Event{Kind: sdk.EventArtifact, Name: f.Name, MIME: f.MIME, Data: f.Data}); err != nil {
			return err
		}
		res.Files = append(res.Files, tasks.VideoFile{Name: f.Name, MIME: f.MIME, Bytes: len(f.Data)})
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

// outputSize checks the requested frame size against the model's native
// side (see diffusion.OutputSide).
func outputSize(w, h, native int) (int, int, error) {
	w, err := diffusion.OutputSide("width", w, native)
	if err != nil {
		return 0, 0, sdk.ParamsError(err).WithParam("width")
	}
	h, err = diffusion.OutputSide("height", h, native)
	if err != nil {
		return 0, 0, sdk.ParamsError(err).WithParam("height")
	}
	return w, h, nil
}

// file is one artifact.
type file struct {
	Name, MIME string
	Data       []byte
}

// encodeFiles writes a clip's files: video.mp4 and/or video.gif (format
// mp4, gif or both), thumbnail.png (the first frame) and spritesheet.png
// (the frames left to right).
func encodeFiles(frames []image.Image, fps int, format string) ([]file, error) {
	var out []file
	if format == "mp4" || format == "both" {
		b, err := media.MP4(frames, fps)
		if err != nil {
			return nil, fmt.Errorf("mp4: %w", err)
		}
		out = append(out, file{"video.mp4", "video/mp4", b})
	}
	if format == "gif" || format == "both" {
		b, err := media.GIF(frames, fps)
		if err != nil {
			return nil, fmt.Errorf("gif: %w", err)
		}
		out = append(out, file{"video.gif", "image/gif", b})
	}
	thumb, err := media.PNG(frames[0])
	if err != nil {
		return nil, fmt.Errorf("thumbnail: %w", err)
	}
	sheet, err := media.Spritesheet(frames)
	if err != nil {
		return nil, err
	}
	sheetPNG, err := media.PNG(sheet)
	if err != nil {
		return nil, fmt.Errorf("spritesheet: %w", err)
	}
	return append(out, file{"thumbnail.png", "image/png", thumb}, file{"spritesheet.png", "image/png", sheetPNG}), nil
}
