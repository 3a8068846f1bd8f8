package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/textnorm"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
)

// A speech model is a folder holding speech.json (the voice list and where
// the two towers live), an acoustic model (FastSpeech 2: config.json +
// model.safetensors) and a vocoder (Vocos or HiFi-GAN, told apart by its
// config.json: towers.VocoderFamily; config.json + model.safetensors):
//
//	loom-tts/speech.json
//	loom-tts/acoustic/{config.json,model.safetensors}
//	loom-tts/vocoder/{config.json,model.safetensors}
const speechIndex = "speech.json"

// speechFiles names what a speech folder needs (for model_unavailable).
var speechFiles = []string{speechIndex, "acoustic/config.json", "acoustic/model.safetensors",
	"vocoder/config.json", "vocoder/model.safetensors"}

// speechConfig is speech.json.
type speechConfig struct {
	Class        string  `json:"_class_name"` // "LoomSpeech"
	Acoustic     string  `json:"acoustic"`    // sub-folder, default "acoustic"
	Vocoder      string  `json:"vocoder"`     // sub-folder, default "vocoder"
	Voices       []voice `json:"voices"`
	DefaultVoice string  `json:"default_voice"` // "": the first voice
}

// voice is one speaker of the acoustic model under a name clients use.
type voice struct {
	Name        string `json:"name"`
	Speaker     int    `json:"speaker"`
	Description string `json:"description,omitempty"`
}

func isSpeechFolder(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, speechIndex))
	return err == nil
}

// Bounds on one request.
const (
	maxInputBytes = 4096  // OpenAI's limit on input is 4096 characters
	maxSpokenLen  = 16384 // normalised symbols: "1234567" spells out long
	// maxSentence bounds one acoustic forward: a longer sentence is cut at
	// its last comma or space before the bound (the training utterances are
	// single sentences of up to about 250 symbols).
	maxSentence = 300
)

// speechModel is a loaded speech folder. Requests synthesize side by side:
// the towers are safe for concurrent use, and the kernel pool gives each
// running request its own thread when several are in flight
// (kernels.Pool.For), which beats running them one at a time on all threads.
type speechModel struct {
	dir        string
	cfg        speechConfig
	acoustic   *towers.FastSpeech2
	vocoder    towers.Vocoder // HiFi-GAN or Vocos, as its config.json says
	sampleRate int
	sources    []*formats.SafetensorsModel
}

func loadSpeechModel(dir string) (m *speechModel, err error) {
	m = &speechModel{dir: dir}
	opened := m
	defer func() {
		if err != nil {
			opened.close()
		}
	}()
	if err := sdk.ReadJSON(filepath.Join(dir, speechIndex), &m.cfg); err != nil {
		return nil, err
	}
	if m.cfg.Acoustic == "" {
		m.cfg.Acoustic = "acoustic"
	}
	if m.cfg.Vocoder == "" {
		m.cfg.Vocoder = "vocoder"
	}
	for _, sub := range []string{m.cfg.Acoustic, m.cfg.Vocoder} {
		if !filepath.IsLocal(sub) {
			return nil, fmt.Errorf("%s: sub-folder %q is not inside the model folder", speechIndex, sub)
		}
	}
	var ac towers.FastSpeech2Config
	b, err := m.open(m.cfg.Acoustic, &ac)
	if err != nil {
		return nil, err
	}
	if m.acoustic, err = towers.LoadFastSpeech2(b, ac); err != nil {
		return nil, err
	}
	var vraw json.RawMessage
	if b, err = m.open(m.cfg.Vocoder, &vraw); err != nil {
		return nil, err
	}
	if m.vocoder, err = towers.LoadVocoder(b, vraw); err != nil {
		return nil, fmt.Errorf("%s: %w", m.cfg.Vocoder, err)
	}
	if ac.NMelChannels != m.vocoder.Mels() {
		return nil, fmt.Errorf("acoustic model makes %d mel bins, vocoder reads %d", ac.NMelChannels, m.vocoder.Mels())
	}
	if ac.NSrcVocab < len(textnorm.Symbols) {
		return nil, fmt.Errorf("acoustic model has %d symbols; the front end needs %d", ac.NSrcVocab, len(textnorm.Symbols))
	}
	m.sampleRate = m.vocoder.SampleRate()
	if m.sampleRate < 8000 || m.sampleRate > 96000 {
		return nil, fmt.Errorf("vocoder sampling_rate %d is outside 8000…96000", m.sampleRate)
	}
	if len(m.cfg.Voices) == 0 {
		return nil, fmt.Errorf("%s lists no voices", speechIndex)
	}
	seen := map[string]bool{}
	for _, v := range m.cfg.Voices {
		n := max(ac.NSpeaker, 1)
		switch {
		case v.Name == "" || seen[v.Name]:
			return nil, fmt.Errorf("%s: voice name %q is empty or repeated", speechIndex, v.Name)
		case v.Speaker < 0 || v.Speaker >= n:
			return nil, fmt.Errorf("%s: voice %q has speaker %d; the acoustic model has %d", speechIndex, v.Name, v.Speaker, n)
		}
		seen[v.Name] = true
	}
	if m.cfg.DefaultVoice == "" {
		m.cfg.DefaultVoice = m.cfg.Voices[0].Name
	} else if !seen[m.cfg.DefaultVoice] {
		return nil, fmt.Errorf("%s: default_voice %q is not a voice", speechIndex, m.cfg.DefaultVoice)
	}
	return m, nil
}

// open reads sub/config.json into cfg and opens sub/model.safetensors.
func (m *speechModel) open(sub string, cfg any) (*nn.Binder, error) {
	dir := filepath.Join(m.dir, sub)
	if err := sdk.ReadJSON(filepath.Join(dir, "config.json"), cfg); err != nil {
		return nil, err
	}
	src, err := formats.OpenSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	m.sources = append(m.sources, src)
	return nn.NewBinder(src), nil
}

func (m *speechModel) close() {
	for _, s := range m.sources {
		s.Close()
	}
	m.sources = nil
}

// voiceNames lists the model's voices in order.
func (m *speechModel) voiceNames() []string {
	var out []string
	for _, v := range m.cfg.Voices {
		out = append(out, v.Name)
	}
	return out
}

// speaker resolves a voice name ("" is the default voice).
func (m *speechModel) speaker(name string) (int, string, bool) {
	if name == "" {
		name = m.cfg.DefaultVoice
	}
	for _, v := range m.cfg.Voices {
		if strings.EqualFold(v.Name, name) {
			return v.Speaker, v.Name, true
		}
	}
	return 0, "", false
}

// sentences normalises text and splits the spoken form into sentences the
// acoustic model reads one at a time. Splitting after normalisation means
// "Dr." or "3.50" can no longer end a sentence: the front end has spelled
// them out, and ".", "?" and "!" remain only where sentences end.
func sentences(text string) ([]string, error) {
	norm := textnorm.Normalize(text)
	if strings.TrimSpace(norm) == "" {
		return nil, errors.New("input has nothing to say once normalised (no letters or numbers)")
	}
	if len(norm) > maxSpokenLen {
		return nil, fmt.Errorf("input spells out to %d characters; the limit is %d (split it into several requests)", len(norm), maxSpokenLen)
	}
	var out []string
	start := 0
	for i := 0; i < len(norm); i++ {
		c := norm[i]
		if (c == '.' || c == '?' || c == '!') && (i+1 == len(norm) || norm[i+1] == ' ') {
			out = appendSentence(out, norm[start:i+1])
			start = i + 1
		}
	}
	out = appendSentence(out, norm[start:])
	if len(out) == 0 {
		return nil, errors.New("input has nothing to say once normalised")
	}
	return out, nil
}

// appendSentence adds s (trimmed, cut to maxSentence pieces) unless it has
// no letters. A piece cut at a comma or space gets no final mark: the model
// then reads it as a phrase that goes on.
func appendSentence(out []string, s string) []string {
	s = strings.TrimSpace(s)
	for len(s) > maxSentence {
		cut := strings.LastIndexByte(s[:maxSentence], ',')
		if cut < maxSentence/2 {
			cut = strings.LastIndexByte(s[:maxSentence], ' ')
		}
		if cut <= 0 {
			cut = maxSentence
		}
		out = appendSentence(out, s[:cut+1])
		s = strings.TrimSpace(s[cut+1:])
	}
	if strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' }) >= 0 {
		out = append(out, s)
	}
	return out
}

// speechTimings are the stages of one synthesis, in milliseconds.
type speechTimings struct {
	FirstAudio float64 // from start to the first sentence's samples
	Acoustic   float64
	Vocoder    float64
}

// synthesize speaks the sentences and returns the samples in order, in
// [-1, 1] at m.sampleRate. each is called after every sentence with its
// index, in order; an error from it stops synthesis. The sentences run side
// by side when the kernel pool has threads to spare (kernels.Pool.Each: a
// thread takes the next sentence, its kernels on that thread), since one
// sentence's ops are too small to gain from splitting over the cores; its
// timings then add up the threads' time.
func (m *speechModel) synthesize(sents []string, speaker int, speed float32, each func(i int) error) ([]float32, speechTimings, error) {
	var tm speechTimings
	t0 := time.Now()
	outs := make([][]float32, len(sents))
	done := make([]bool, len(sents))
	var mu sync.Mutex
	var stop error // the first error: later sentences are skipped
	reported := 0  // sentences passed to each, in order
	kernels.Default().Each(len(sents), func(i int) {
		mu.Lock()
		stopped := stop != nil
		mu.Unlock()
		if stopped {
			return
		}
		out, acoustic, vocoder, err := m.sentence(sents[i], speaker, speed)
		mu.Lock()
		defer mu.Unlock()
		tm.Acoustic += acoustic
		tm.Vocoder += vocoder
		if err != nil {
			if stop == nil {
				stop = fmt.Errorf("sentence %d: %w", i+1, err)
			}
			return
		}
		outs[i], done[i] = out, true
		for ; reported < len(sents) && done[reported] && stop == nil; reported++ {
			if reported == 0 {
				tm.FirstAudio = ms(time.Since(t0))
			}
			if each != nil {
				stop = each(reported)
			}
		}
	})
	if stop != nil {
		return nil, tm, stop
	}
	return slices.Concat(outs...), tm, nil
}

// sentence speaks one sentence: its samples and the acoustic model's and
// the vocoder's milliseconds.
func (m *speechModel) sentence(s string, speaker int, speed float32) (wav []float32, acoustic, vocoder float64, err error) {
	ids, err := textnorm.Encode(s)
	if err != nil {
		return nil, 0, 0, err
	}
	ta := time.Now()
	mel, durs, err := m.acoustic.Synthesize(ids, speaker, towers.TTSControls{Speed: speed})
	if err != nil {
		return nil, 0, 0, err
	}
	T := 0
	for _, d := range durs {
		T += d
	}
	tv := time.Now()
	cm, err := towers.MelToVocoder(mel, T, m.acoustic.Cfg.NMelChannels)
	if err != nil {
		return nil, 0, 0, err
	}
	out, err := m.vocoder.Forward(cm, T)
	if err != nil {
		return nil, 0, 0, err
	}
	return out, ms(tv.Sub(ta)), ms(time.Since(tv)), nil
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
