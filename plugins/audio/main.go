// Command loom-plugin-audio serves Loom's audio tasks: audio.speech,
// text-to-speech with a FastSpeech 2 acoustic model and a Vocos or HiFi-GAN
// vocoder (core/towers) from the speech folders found in LOOM_MODELS (voice.go
// describes the layout), and audio.transcribe, speech-to-text with a Whisper
// folder (transcribe.go). With no folder installed a task answers
// model_unavailable naming what is missing.
package main

import (
	"context"
	"errors"

	"github.com/loomhq/loom/plugins/sdk"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() { sdk.Serve(newAudioEngine(sdk.ModelDirs())) }

// audioEngine routes audio.speech to the installed speech models, or to an
// Unready engine when there is none.
type audioEngine struct {
	speech  *speechEngine
	asr     *asrEngine
	unready sdk.Engine
}

func newAudioEngine(dirs []string) *audioEngine {
	return &audioEngine{speech: newSpeechEngine(dirs), asr: newASREngine(dirs),
		unready: sdk.Unready("audio", version, sdk.TaskNeed{Task: taskSpeech, Files: speechFiles},
			sdk.TaskNeed{Task: taskTranscribe, Files: asrFiles})}
}

func (e *audioEngine) Describe(ctx context.Context) (sdk.Manifest, error) {
	m, err := e.unready.Describe(ctx)
	if err != nil {
		return m, err
	}
	// Each task's installed models replace its not-ready placeholder.
	ready := map[string][]sdk.ModelInfo{taskSpeech: e.speech.modelInfos(), taskTranscribe: e.asr.modelInfos()}
	var models []sdk.ModelInfo
	for _, p := range m.Models {
		if len(p.Tasks) == 1 && len(ready[p.Tasks[0]]) > 0 {
			continue
		}
		models = append(models, p)
	}
	m.Models = append(append(models, ready[taskSpeech]...), ready[taskTranscribe]...)
	return m, nil
}

// Unload implements sdk.Unloader.
func (e *audioEngine) Unload(_ context.Context, model string) error {
	return errors.Join(e.speech.folders.Unload(model), e.asr.folders.Unload(e.asr.folderID(model)))
}

func (e *audioEngine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	if job.Task == taskSpeech && len(e.speech.ids()) > 0 {
		return e.speech.Run(ctx, job, emit)
	}
	if job.Task == taskTranscribe && len(e.asr.ids()) > 0 {
		return e.asr.Run(ctx, job, emit)
	}
	return e.unready.Run(ctx, job, emit)
}
