// Command loom-plugin-audio serves Loom's audio task audio.speech:
// text-to-speech with a FastSpeech 2 acoustic model and a Vocos or HiFi-GAN
// vocoder (core/towers) from the speech folders found in LOOM_MODELS (voice.go
// describes the layout), WAV or raw PCM out. With no folder installed it
// answers model_unavailable naming what is missing.
package main

import (
	"context"

	"github.com/loomhq/loom/plugins/sdk"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() { sdk.Serve(newAudioEngine(sdk.ModelDirs())) }

// audioEngine routes audio.speech to the installed speech models, or to an
// Unready engine when there is none.
type audioEngine struct {
	speech  *speechEngine
	unready sdk.Engine
}

func newAudioEngine(dirs []string) *audioEngine {
	return &audioEngine{speech: newSpeechEngine(dirs),
		unready: sdk.Unready("audio", version, sdk.TaskNeed{Task: taskSpeech, Files: speechFiles})}
}

func (e *audioEngine) Describe(ctx context.Context) (sdk.Manifest, error) {
	m, err := e.unready.Describe(ctx)
	if err != nil {
		return m, err
	}
	if ms := e.speech.modelInfos(); len(ms) > 0 {
		m.Models = ms
	}
	return m, nil
}

// Unload implements sdk.Unloader.
func (e *audioEngine) Unload(_ context.Context, model string) error {
	return e.speech.folders.Unload(model)
}

func (e *audioEngine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	if job.Task == taskSpeech && len(e.speech.ids()) > 0 {
		return e.speech.Run(ctx, job, emit)
	}
	return e.unready.Run(ctx, job, emit)
}
