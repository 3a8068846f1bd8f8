package tasks

// VideoGenerateParams are video.generate's params. Zero (absent) fields take
// the model's defaults. With an input named "image" the job is
// image-to-video: the picture is the first frame, and the object in it is the
// one that moves.
type VideoGenerateParams struct {
	Prompt string `json:"prompt" schema:"required,minLength=1" doc:"what moves, and how"`
	Denoising
	Frames       int    `json:"frames,omitempty" schema:"minimum=1,maximum=64,default=16" doc:"frames (absent: the model's, 16 for shapes-video)"`
	FPS          int    `json:"fps,omitempty" schema:"minimum=1,maximum=60,default=8" doc:"frames per second of the files"`
	Width        int    `json:"width,omitempty" schema:"minimum=0" doc:"0 or absent: the model's native size; 128, 256, 512 are upscaled"`
	Height       int    `json:"height,omitempty" schema:"minimum=0"`
	Format       string `json:"format,omitempty" schema:"enum=mp4|gif|both,default=both" doc:"the video files to write: video.mp4, video.gif or both"`
	PreviewEvery *int   `json:"preview_every,omitempty" schema:"minimum=0,maximum=150,default=5" doc:"steps between preview events (an animated GIF of the frames' x̂₀); 0 = none"`
	Candidates   int    `json:"candidates,omitempty" schema:"minimum=1,maximum=4" doc:"videos sampled side by side from the seed, the one the model itself scores best kept (absent: the model's, 2 for shapes-video); 1 is fastest"`
	Timings      bool   `json:"timings,omitempty" doc:"add per-stage timings (ms) to the result"`
}

// Bounds of VideoGenerateParams that code outside the schema also needs;
// TestBoundsMatchTags keeps them equal to the tags. The motion modules'
// position table may allow fewer frames than MaxVideoFrames.
const (
	MaxVideoFrames = 64
	MaxVideoFPS    = 60
	// MaxVideoCandidates bounds candidates, each a whole sampling run.
	MaxVideoCandidates = 4
	// DefaultVideoFPS is the files' rate when a job gives none.
	DefaultVideoFPS = 8
)

// VideoFormats are the values VideoGenerateParams.Format takes; the
// thumbnail and the spritesheet are always written.
var VideoFormats = []string{"mp4", "gif", "both"}

// VideoGenerateResult is video.generate's result. The files are the
// artifacts video.mp4 (video/mp4: H.264), video.gif (image/gif),
// thumbnail.png (the first frame) and spritesheet.png (every frame in a row).
type VideoGenerateResult struct {
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
	ImageCaption  string             `json:"image_caption,omitempty"` // what the model's captioner read in the picture (a folder with image_to_video_prompt)
	ModelPrompt   string             `json:"model_prompt,omitempty"`  // the prompt the model was given, beside image_caption: the picture's object moving the prompt's way, or the prompt as given
	Candidates    int                `json:"candidates"`              // videos sampled
	Candidate     int                `json:"candidate"`               // the one kept (0 … candidates-1): the lowest score
	Files         []VideoFile        `json:"files"`
	UpscaledFrom  []int              `json:"upscaled_from,omitempty"` // the sampled size [w, h] when enlarged
	Timings       map[string]float64 `json:"timings,omitempty"`       // ms: text, caption, vae_encode, unet_total, unet_per_step, rerank, vae_decode, encode
}

// VideoFile is one artifact of a VideoGenerateResult.
type VideoFile struct {
	Name  string `json:"name"`
	MIME  string `json:"mime"`
	Bytes int    `json:"bytes"`
}
