package main

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loomhq/loom/core/media/sound"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

const taskSpeech = tasks.AudioSpeech

// pcmRate is the rate of format "pcm": OpenAI's documented 24 kHz.
const pcmRate = 24000

// mp3Kbps is format "mp3"'s constant bit rate: at 22.05 or 24 kHz mono,
// speech comes back from a decoder about 15 dB above the coding noise
// (core/media/sound's tests), at 8 kB a second.
const mp3Kbps = 64

// speechEngine serves audio.speech from the speech folders found in the
// model directories, loading each once on first use.
type speechEngine struct {
	folders *sdk.Folders[*speechModel]
}

func newSpeechEngine(dirs []string) *speechEngine {
	return &speechEngine{folders: &sdk.Folders[*speechModel]{Task: taskSpeech, Dirs: dirs, Accept: isSpeechFolder, Load: loadSpeechModel}}
}

func (e *speechEngine) ids() []string { return e.folders.IDs() }

func (e *speechEngine) modelInfos() []sdk.ModelInfo {
	ms := e.folders.Found()
	var out []sdk.ModelInfo
	for _, id := range e.ids() {
		var idx speechConfig
		idxErr := sdk.ReadJSON(filepath.Join(ms[id], speechIndex), &idx)
		desc := "text-to-speech: FastSpeech 2 + " + vocoderFamily(ms[id], idx.Vocoder)
		if idxErr == nil && len(idx.Voices) > 0 {
			var names []string
			for _, v := range idx.Voices {
				names = append(names, v.Name)
			}
			desc += "; voices " + strings.Join(names, ", ")
		}
		out = append(out, sdk.ModelInfo{ID: id, Tasks: []string{taskSpeech}, Ready: true,
			Description: desc, Specs: tasks.Specs(taskSpeech), Created: sdk.ModelCreated(ms[id]),
			MemoryBytes: sdk.DirBytes(ms[id]), Loaded: e.folders.Loaded(id)})
	}
	return out
}

// parseSpeechParams decodes and bounds the params (tasks.AudioSpeechParams
// and its schema); the voice is checked against the model later.
func parseSpeechParams(raw json.RawMessage) (tasks.AudioSpeechParams, error) {
	var p tasks.AudioSpeechParams
	if err := sdk.DecodeParams(raw, &p); err != nil {
		return p, err
	}
	switch {
	case strings.TrimSpace(p.Input) == "":
		return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: input is required").WithParam("input")
	case len(p.Input) > maxInputBytes:
		return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: input is %d bytes; the limit is %d (split long texts into several requests)", len(p.Input), maxInputBytes).WithParam("input")
	}
	if p.Format == "" {
		p.Format = "wav"
	}
	return p, nil
}

// Run speaks job's input: one progress event per sentence, then the audio
// artifact and the result. Synthesis has no randomness: the same input,
// voice and speed give the same bytes whatever the seed.
func (e *speechEngine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	p, err := parseSpeechParams(job.Params)
	if err != nil {
		return err
	}
	if len(job.Inputs) > 0 {
		return sdk.Errorf(sdk.CodeInvalidRequest, "audio.speech takes no input files (got %q)", job.Inputs[0].Name)
	}
	model := job.Model
	if model == "" {
		if ids := e.ids(); len(ids) > 0 {
			model = ids[0]
		}
	}
	m, err := e.folders.Get(model)
	if err != nil {
		return err
	}
	speaker, voiceName, ok := m.speaker(p.Voice)
	if !ok {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: voice %q is not one of %s", p.Voice, strings.Join(m.voiceNames(), ", ")).WithParam("voice")
	}
	sents, err := sentences(p.Input)
	if err != nil {
		return sdk.ParamsError(err).WithParam("input")
	}
	speed := float32(1)
	if p.Speed != nil {
		speed = float32(*p.Speed)
	}
	if err := emit(sdk.Event{Kind: sdk.EventProgress, Step: 0, Total: len(sents)}); err != nil {
		return err
	}
	samples, tm, err := m.synthesize(sents, speaker, speed, func(i int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return emit(sdk.Event{Kind: sdk.EventProgress, Step: i + 1, Total: len(sents)})
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return sdk.Errorf(sdk.CodeInternal, "synthesis: %v", err)
	}
	t0 := time.Now()
	rate := m.sampleRate
	// OpenAI documents pcm as 24 kHz: resample so clients that assume it
	// play at the right pitch. MP3 (MPEG-2) takes 16, 22.05 or 24 kHz: other
	// vocoder rates go to 24.
	if (p.Format == "pcm" && rate != pcmRate) || (p.Format == "mp3" && !slices.Contains(sound.MP3SampleRates, rate)) {
		if samples, err = sound.Resample(samples, rate, pcmRate); err != nil {
			return sdk.Errorf(sdk.CodeInternal, "%v", err)
		}
		rate = pcmRate
	}
	res := tasks.AudioSpeechResult{Model: model, Voice: voiceName, Format: p.Format, SampleRate: rate,
		Samples: len(samples), Sentences: len(sents),
		Seconds: math.Round(float64(len(samples))/float64(rate)*1000) / 1000}
	name, mime := "speech.wav", "audio/wav"
	var data []byte
	switch p.Format {
	case "pcm":
		name, mime = "speech.pcm", "audio/pcm"
		data = encodePCM(samples)
	case "flac":
		name, mime = "speech.flac", "audio/flac"
		if data, err = sound.FLAC(sound.PCM16(samples), rate); err != nil {
			return sdk.Errorf(sdk.CodeInternal, "flac: %v", err)
		}
	case "mp3":
		name, mime = "speech.mp3", "audio/mpeg"
		if data, err = sound.MP3(samples, rate, mp3Kbps); err != nil {
			return sdk.Errorf(sdk.CodeInternal, "mp3: %v", err)
		}
	default:
		if data, err = encodeWAV(samples, rate); err != nil {
			return sdk.Errorf(sdk.CodeInternal, "wav: %v", err)
		}
	}
	if p.Timings {
		res.Timings = map[string]float64{"first_audio": tm.FirstAudio, "acoustic": tm.Acoustic,
			"vocoder": tm.Vocoder, "encode": ms(time.Now().Sub(t0))}
	}
	if err := emit(sdk.Event{Kind: sdk.EventArtifact, Name: name, MIME: mime, Data: data}); err != nil {
		return err
	}
	out, _ := json.Marshal(res)
	return emit(sdk.Event{Kind: sdk.EventResult, Result: out})
}

// vocoderFamily names the vocoder of the speech folder dir ("vocoder" when
// its config cannot be read; loading reports why).
func vocoderFamily(dir, sub string) string {
	if sub == "" {
		sub = "vocoder"
	}
	if !filepath.IsLocal(sub) {
		return "vocoder"
	}
	raw, err := os.ReadFile(filepath.Join(dir, sub, "config.json"))
	if err != nil {
		return "vocoder"
	}
	f, err := towers.VocoderFamily(raw)
	if err != nil {
		return "vocoder"
	}
	return f
}
