package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/loomhq/loom/core/diffusion"
	"github.com/loomhq/loom/plugins/sdk"
)

const taskGenerate = "video.generate"

// Bounds on video.generate's params.
const (
	maxSteps       = 150
	maxGuidance    = 30
	maxFrames      = 64 // the motion modules' position table may allow fewer (see motionModel.MaxFrames)
	maxFPS         = 60
	maxPromptBytes = 4096
	// maxVideoPixels bounds frames × width × height so a job's files stay
	// well inside the queue's 64 MiB of results: the MP4 (I_PCM) is at most
	// 1.5 bytes a pixel, the GIF about 1, the spritesheet PNG at most 3.
	maxVideoPixels = 16 * 512 * 512
)

// Formats are the values of videoParams.Format: which video files a job
// writes (the thumbnail and the spritesheet are always written).
var formats = []string{"mp4", "gif", "both"}

// videoParams are video.generate's params. Zero (absent) fields take the
// model's defaults. With an input named "image" the job is image-to-video:
// the picture is the first frame, and the object in it is the one that moves.
type videoParams struct {
	Prompt         string   `json:"prompt" schema:"required,minLength=1" doc:"what moves, and how"`
	NegativePrompt string   `json:"negative_prompt,omitempty" doc:"what to steer away from"`
	Steps          int      `json:"steps,omitempty" schema:"minimum=1,maximum=150,default=20" doc:"denoising steps (absent: the model's default)"`
	GuidanceScale  *float64 `json:"guidance_scale,omitempty" schema:"minimum=0,maximum=30,default=5" doc:"classifier-free guidance (absent: the model's default)"`
	Scheduler      string   `json:"scheduler,omitempty" schema:"enum=ddim|euler|euler_a|dpmpp_2m" doc:"sampler (absent: the model's)"`
	Frames         int      `json:"frames,omitempty" schema:"minimum=1,maximum=64,default=16" doc:"frames (absent: the model's, 16 for shapes-video)"`
	FPS            int      `json:"fps,omitempty" schema:"minimum=1,maximum=60,default=8" doc:"frames per second of the files"`
	Width          int      `json:"width,omitempty" schema:"minimum=0" doc:"0 or absent: the model's native size; 128, 256, 512 are upscaled"`
	Height         int      `json:"height,omitempty" schema:"minimum=0"`
	Format         string   `json:"format,omitempty" schema:"enum=mp4|gif|both,default=both" doc:"the video files to write: video.mp4, video.gif or both"`
	PreviewEvery   *int     `json:"preview_every,omitempty" schema:"minimum=0,maximum=150,default=5" doc:"steps between preview events (an animated GIF of the frames' x̂₀); 0 = none"`
	Timings        bool     `json:"timings,omitempty" doc:"add per-stage timings (ms) to the result"`
}

// videoResult is video.generate's result. The files are the artifacts
// video.mp4 (video/mp4: H.264), video.gif (image/gif), thumbnail.png (the
// first frame) and spritesheet.png (every frame in a row).
type videoResult struct {
	Model         string             `json:"model"`
	Frames        int                `json:"frames"`
	FPS           int                `json:"fps"`
	Seconds       float64            `json:"seconds"`
	Width         int                `json:"width"`
	Height        int                `json:"height"`
	Scheduler     string             `json:"scheduler"`
	Steps         int                `json:"steps"`
	GuidanceScale float64            `json:"guidance_scale"`
	Seed          int64              `json:"seed"`
	ImageToVideo  bool               `json:"image_to_video,omitempty"`
	Files         []videoFile        `json:"files"`
	UpscaledFrom  []int              `json:"upscaled_from,omitempty"` // the sampled size [w, h] when enlarged
	Timings       map[string]float64 `json:"timings,omitempty"`       // ms: text, vae_encode, unet_total, unet_per_step, vae_decode, encode
}

type videoFile struct {
	Name  string `json:"name"`
	MIME  string `json:"mime"`
	Bytes int    `json:"bytes"`
}

// parseParams decodes and bounds the params; model-dependent checks
// (frames, sizes) come later.
func parseParams(raw json.RawMessage) (videoParams, error) {
	var p videoParams
	if len(raw) > 0 && string(raw) != "null" {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: %v", err)
		}
	}
	bad := func(format string, args ...any) (videoParams, error) {
		return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: "+format, args...)
	}
	switch {
	case strings.TrimSpace(p.Prompt) == "":
		return bad("prompt is required")
	case len(p.Prompt)+len(p.NegativePrompt) > maxPromptBytes:
		return bad("prompt and negative_prompt are %d bytes; the limit is %d", len(p.Prompt)+len(p.NegativePrompt), maxPromptBytes)
	case p.Steps < 0 || p.Steps > maxSteps:
		return bad("steps %d is outside 1…%d", p.Steps, maxSteps)
	case p.GuidanceScale != nil && !(*p.GuidanceScale >= 0 && *p.GuidanceScale <= maxGuidance):
		return bad("guidance_scale %g is outside 0…%d", *p.GuidanceScale, maxGuidance)
	case p.Scheduler != "" && !diffusion.ValidScheduler(p.Scheduler):
		return bad("scheduler %q is not one of %s", p.Scheduler, strings.Join(diffusion.Schedulers, ", "))
	case p.Frames < 0 || p.Frames > maxFrames:
		return bad("frames %d is outside 1…%d", p.Frames, maxFrames)
	case p.FPS < 0 || p.FPS > maxFPS:
		return bad("fps %d is outside 1…%d", p.FPS, maxFPS)
	case p.Width < 0 || p.Height < 0:
		return bad("width and height must be positive")
	case p.Format != "" && !slices.Contains(formats, p.Format):
		return bad("format %q is not one of %s", p.Format, strings.Join(formats, ", "))
	case p.PreviewEvery != nil && (*p.PreviewEvery < 0 || *p.PreviewEvery > maxSteps):
		return bad("preview_every %d is outside 0…%d", *p.PreviewEvery, maxSteps)
	}
	if p.Format == "" {
		p.Format = "both"
	}
	return p, nil
}
