// Package tasks is the one definition of Loom's built-in tasks: each task's
// name, the Go type of its params (with the bounds the plugin enforces, in
// schema tags), the inputs it takes and the shape of its result. The gateway
// builds params with these types, the CLI sends them, the plugins decode
// them with sdk.DecodeParams, and each plugin's manifest publishes the JSON
// Schema generated from them (Spec), which the gateway enforces.
//
// One file per modality: text.go, image.go, audio.go, video.go. A new task is a name
// below, a params type (and result type) in its modality's file and a line
// in specs.
package tasks

import (
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/schema"
)

// Task names.
const (
	TextComplete    = "text.complete"
	TextChat        = "text.chat"
	TextEmbed       = "text.embed"
	ImageGenerate   = "image.generate"
	ImageCaption    = "image.caption"
	AudioSpeech     = "audio.speech"
	AudioTranscribe = "audio.transcribe"
	VideoGenerate   = "video.generate"
)

// InputImage is the input blob of the image tasks.
const InputImage = "image"

// MaxEditImages is how many input images one image.generate job (an
// images.edit request) takes.
const MaxEditImages = 16

type spec struct {
	params any // the zero value of the params type
	inputs []sdk.InputSpec
}

var specs = map[string]spec{
	TextComplete: {params: TextCompleteParams{}},
	TextChat:     {params: TextChatParams{}},
	TextEmbed:    {params: TextEmbedParams{}},
	ImageGenerate: {params: ImageGenerateParams{}, inputs: []sdk.InputSpec{{Name: InputImage, MIME: "image/*", Max: MaxEditImages,
		Description: "image-to-image: the picture(s) to start from (PNG, JPEG or GIF); with it, strength applies; n outputs per picture"}}},
	ImageCaption: {params: ImageCaptionParams{}, inputs: []sdk.InputSpec{{Name: InputImage, MIME: "image/*", Required: true,
		Description: "the picture to caption (PNG, JPEG or GIF)"}}},
	AudioSpeech: {params: AudioSpeechParams{}},
	AudioTranscribe: {params: AudioTranscribeParams{}, inputs: []sdk.InputSpec{{Name: InputAudio, MIME: "audio/*", Required: true,
		Description: "the speech to transcribe (WAV, FLAC or MP3)"}}},
	VideoGenerate: {params: VideoGenerateParams{}, inputs: []sdk.InputSpec{{Name: InputImage, MIME: "image/*",
		Description: "image-to-video: the first frame (PNG, JPEG or GIF); the object in it is the one that moves"}}},
}

// Spec returns a built-in task's spec (params schema and inputs) for a
// plugin's manifest; ok is false for a task this package does not define.
func Spec(task string) (s sdk.TaskSpec, ok bool) {
	sp, ok := specs[task]
	if !ok {
		return sdk.TaskSpec{}, false
	}
	return sdk.TaskSpec{Task: task, Params: schema.For(sp.params), Inputs: sp.inputs}, true
}

// Specs returns the specs of the named built-in tasks, for a ModelInfo. It
// panics on a task this package does not define (a programming error).
func Specs(names ...string) []sdk.TaskSpec {
	out := make([]sdk.TaskSpec, 0, len(names))
	for _, n := range names {
		s, ok := Spec(n)
		if !ok {
			panic("tasks: no built-in task " + n)
		}
		out = append(out, s)
	}
	return out
}

// Names lists the tasks that have a spec here.
func Names() []string {
	out := make([]string, 0, len(specs))
	for n := range specs {
		out = append(out, n)
	}
	return out
}
