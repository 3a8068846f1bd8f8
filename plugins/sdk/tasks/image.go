package tasks

import (
	"strings"

	"github.com/loomhq/loom/plugins/sdk"
)

// ImageGenerateParams are image.generate's params. Zero (absent) fields take
// the model's defaults. With an input named "image" the job is
// image-to-image: the picture is encoded, noised to Strength and denoised
// towards the prompt.
type ImageGenerateParams struct {
	Prompt string `json:"prompt" schema:"required,minLength=1" doc:"what to draw"`
	Denoising
	Width        int      `json:"width,omitempty" schema:"minimum=0" doc:"0 or absent: the model's native size; larger sides are upscaled"`
	Height       int      `json:"height,omitempty" schema:"minimum=0"`
	N            int      `json:"n,omitempty" schema:"minimum=1,maximum=4,default=1" doc:"images; image i uses seed job.seed+i"`
	Strength     *float64 `json:"strength,omitempty" schema:"minimum=0,maximum=1,default=0.8" doc:"image-to-image only: how far from the input image"`
	PreviewEvery *int     `json:"preview_every,omitempty" schema:"minimum=0,maximum=150,default=5" doc:"steps between preview events; 0 = none"`
	Timings      bool     `json:"timings,omitempty" doc:"add per-stage timings (ms) to the result"`
}

// Denoising are the denoising knobs image.generate and video.generate share.
type Denoising struct {
	NegativePrompt string   `json:"negative_prompt,omitempty" doc:"what to steer away from"`
	Steps          int      `json:"steps,omitempty" schema:"minimum=1,maximum=150,default=20" doc:"denoising steps (absent: the model's default)"`
	GuidanceScale  *float64 `json:"guidance_scale,omitempty" schema:"minimum=0,maximum=30,default=5" doc:"classifier-free guidance (absent: the model's default)"`
	Scheduler      string   `json:"scheduler,omitempty" schema:"enum=ddim|euler|euler_a|dpmpp_2m" doc:"sampler (absent: the model's)"`
}

// MaxPromptBytes bounds prompt plus negative_prompt in bytes for the
// diffusion tasks (the schema's lengths count characters).
const MaxPromptBytes = 4096

// CheckPrompts refuses a blank prompt and a prompt plus negative prompt
// over MaxPromptBytes (invalid_request).
func CheckPrompts(prompt, negative string) error {
	if strings.TrimSpace(prompt) == "" {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: prompt is required").WithParam("prompt")
	}
	if n := len(prompt) + len(negative); n > MaxPromptBytes {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: prompt and negative_prompt are %d bytes; the limit is %d", n, MaxPromptBytes).WithParam("prompt")
	}
	return nil
}

// Bounds of ImageGenerateParams that code outside the schema also needs (a
// pipeline's default steps and guidance must be values a job may ask for);
// TestBoundsMatchTags keeps them equal to the tags.
const (
	MaxImageSteps    = 150
	MaxGuidanceScale = 30
	MaxImages        = 4
)

// ImageSchedulers are the values ImageGenerateParams.Scheduler takes.
var ImageSchedulers = []string{"ddim", "euler", "euler_a", "dpmpp_2m"}

// ImageGenerateResult is image.generate's result; image i is the artifact
// Images[i].Name (PNG).
type ImageGenerateResult struct {
	Images        []GeneratedImage   `json:"images"`
	Model         string             `json:"model"`
	Scheduler     string             `json:"scheduler"`
	Steps         int                `json:"steps"`
	GuidanceScale float64            `json:"guidance_scale"`
	UpscaledFrom  []int              `json:"upscaled_from,omitempty"` // the sampled size [w, h] when enlarged
	Timings       map[string]float64 `json:"timings,omitempty"`       // ms: text, unet_total, unet_per_step, vae_decode, …
}

// GeneratedImage is one image of an ImageGenerateResult.
type GeneratedImage struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Seed   int64  `json:"seed"` // regenerates this image alone with n = 1
}

// ImageCaptionParams are image.caption's params; the picture is the input
// named "image".
type ImageCaptionParams struct {
	Beam      int    `json:"beam,omitempty" schema:"minimum=1,maximum=8,default=1" doc:"beam width (1 = greedy)"`
	MaxTokens int    `json:"max_tokens,omitempty" schema:"minimum=1,maximum=512" doc:"most tokens (absent: the model's max_length)"`
	Prompt    string `json:"prompt,omitempty" schema:"maxLength=4096" doc:"caption prefix: when every word is in the model's vocabulary the caption starts with it and the model continues; any other text (a question, an instruction) is not a prefix the model can read, so it captions the image plainly and says prompt_used false"`
}

// ImageCaptionResult is image.caption's result.
type ImageCaptionResult struct {
	Caption string `json:"caption"`
	Model   string `json:"model"`
	// PromptUsed says whether a prompt was sent and conditioned the caption.
	PromptUsed bool `json:"prompt_used"`
}
