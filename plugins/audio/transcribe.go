package main

// audio.transcribe: speech to text with a Whisper model folder in Hugging
// Face's layout (config.json with model_type "whisper", generation_config.json,
// preprocessor_config.json, tokenizer.json, model.safetensors), as
// transformers saves WhisperForConditionalGeneration — openai's converted
// checkpoints and ours (tools/asr) alike. The audio (WAV, FLAC or MP3) is
// decoded and resampled to 16 kHz by core/media/sound, then
// towers.Whisper.Transcribe decodes it window by window: one progress event
// and one text delta per window.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/lm"
	"github.com/loomhq/loom/core/media/sound"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tokenizer"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

const taskTranscribe = tasks.AudioTranscribe

// Bounds on one transcription: an hour of audio (about 120 windows), and
// the upload size the gateway also enforces (OpenAI's 25 MB).
const (
	maxAudioSeconds = 3600
	maxAudioBytes   = 25 << 20
)

// maxBeam bounds a beam width, a request's or a folder's num_beams.
const maxBeam = 8

// asrFiles are what a Whisper folder holds.
var asrFiles = []string{"config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json", "model.safetensors"}

// isWhisperFolder accepts a folder whose config.json says model_type whisper.
func isWhisperFolder(dir string) bool {
	var c struct {
		ModelType string `json:"model_type"`
	}
	return sdk.ReadJSON(filepath.Join(dir, "config.json"), &c) == nil && c.ModelType == "whisper"
}

// asrModel is a loaded Whisper folder. Transcription holds mu: the tower
// uses every kernel thread, so two requests gain nothing by running at once.
type asrModel struct {
	tower *towers.Whisper
	vocab towers.WhisperVocab
	tok   *tokenizer.ByteBPE
	front *sound.LogMel
	beam  int                   // generation_config.json num_beams, capped at maxBeam: a request's beam width when it gives none
	ctc   float64               // generation_config.json ctc_weight: beam search's weight of the folder's CTC head (0: none)
	lm    *lm.NGram             // the folder's lm.arpa(.gz), loaded when generation_config.json lm_weight > 0
	lmw   float64               // generation_config.json lm_weight: beam search's weight of lm (0: none)
	words *towers.WhisperWordLM // the folder's words.arpa(.gz), loaded when generation_config.json word_lm is true
	src   *formats.SafetensorsModel
	mu    sync.Mutex
}

// Close releases the weights (sdk.Folders.Unload calls it).
func (m *asrModel) Close() error { return m.src.Close() }

func loadASRModel(dir string) (*asrModel, error) {
	var cfg towers.WhisperConfig
	var gen towers.WhisperGeneration
	var pre struct {
		FeatureSize  int `json:"feature_size"`
		NSamples     int `json:"n_samples"`
		SamplingRate int `json:"sampling_rate"`
		HopLength    int `json:"hop_length"`
		NFFT         int `json:"n_fft"`
	}
	for name, v := range map[string]any{"config.json": &cfg, "generation_config.json": &gen, "preprocessor_config.json": &pre} {
		if err := sdk.ReadJSON(filepath.Join(dir, name), v); err != nil {
			return nil, err
		}
	}
	if pre.SamplingRate != sound.WhisperRate || pre.HopLength != sound.WhisperHop || pre.NFFT != sound.WhisperNFFT || pre.FeatureSize != cfg.NumMelBins {
		return nil, fmt.Errorf("preprocessor_config.json: %d Hz, hop %d, n_fft %d, %d features; Whisper's front end is 16000 Hz, hop 160, n_fft 400 and config.json's %d mel bins",
			pre.SamplingRate, pre.HopLength, pre.NFFT, pre.FeatureSize, cfg.NumMelBins)
	}
	if pre.NSamples != cfg.Frames()*sound.WhisperHop {
		return nil, fmt.Errorf("preprocessor_config.json: windows of %d samples, the encoder reads %d frames (%d samples)", pre.NSamples, cfg.Frames(), cfg.Frames()*sound.WhisperHop)
	}
	front, err := sound.NewLogMel(cfg.NumMelBins, pre.NSamples)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.LoadHF(filepath.Join(dir, "tokenizer.json"), nil)
	if err != nil {
		return nil, err
	}
	vocab, err := towers.NewWhisperVocab(gen, cfg.VocabSize, tok.TokenID)
	if err != nil {
		return nil, err
	}
	if !(gen.CTCWeight >= 0 && gen.CTCWeight < 1) || gen.CTCWeight > 0 && cfg.CTCVocabSize == 0 {
		return nil, fmt.Errorf("generation_config.json: ctc_weight %v needs 0 ≤ w < 1 and, above 0, a CTC head (config.json ctc_vocab_size)", gen.CTCWeight)
	}
	var ngram *lm.NGram
	if !(gen.LMWeight >= 0 && gen.LMWeight < 10) {
		return nil, fmt.Errorf("generation_config.json: lm_weight %v needs 0 ≤ w < 10", gen.LMWeight)
	}
	if gen.LMWeight > 0 {
		if ngram, err = loadLM(filepath.Join(dir, "lm.arpa"), tok); err != nil {
			return nil, fmt.Errorf("generation_config.json lm_weight %v: %w", gen.LMWeight, err)
		}
	}
	var words *towers.WhisperWordLM
	if gen.WordLM {
		if gen.LMWeight <= 0 {
			return nil, fmt.Errorf("generation_config.json: word_lm needs the character LM (lm_weight > 0): it replaces that LM's score of the words it knows")
		}
		if words, err = loadWordLM(filepath.Join(dir, "words.arpa"), tok, &vocab, cfg.VocabSize); err != nil {
			return nil, fmt.Errorf("generation_config.json word_lm: %w", err)
		}
	}
	src, err := formats.OpenSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	tower, err := towers.LoadWhisper(nn.NewBinder(src), cfg)
	if err != nil {
		src.Close()
		return nil, err
	}
	return &asrModel{tower: tower, vocab: vocab, tok: tok, front: front, src: src, beam: min(max(gen.NumBeams, 0), maxBeam), ctc: gen.CTCWeight,
		lm: ngram, lmw: gen.LMWeight, words: words}, nil
}

// loadWordLM reads a folder's word n-gram (tools/asr/ngram.py --words) for a
// character vocabulary: every text token must be one byte, its letter (a–z,
// A–Z, ' in lower case) or a word's end for any other byte.
func loadWordLM(path string, tok *tokenizer.ByteBPE, v *towers.WhisperVocab, size int) (*towers.WhisperWordLM, error) {
	letters := make([]byte, size)
	for id := range letters {
		if !v.IsText(id) {
			continue
		}
		s := tok.Decode(id)
		if len(s) != 1 {
			return nil, fmt.Errorf("token %d is %q: a word LM needs a vocabulary of single characters", id, s)
		}
		switch b := s[0]; {
		case b >= 'a' && b <= 'z', b == '\'':
			letters[id] = b
		case b >= 'A' && b <= 'Z':
			letters[id] = b - 'A' + 'a'
		}
	}
	f, err := lm.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, ids, err := lm.LoadWords(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &towers.WhisperWordLM{LM: m, IDs: ids, Letters: letters}, nil
}

// loadLM reads a folder's n-gram model, whose words are the tokenizer's
// tokens as tokenizer.json spells them (tools/asr/ngram.py).
func loadLM(path string, tok *tokenizer.ByteBPE) (*lm.NGram, error) {
	f, err := lm.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := lm.Load(f, tok.TokenID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// asrEngine serves audio.transcribe from the Whisper folders found.
type asrEngine struct {
	folders *sdk.Folders[*asrModel]
}

func newASREngine(dirs []string) *asrEngine {
	return &asrEngine{folders: &sdk.Folders[*asrModel]{Task: taskTranscribe, Dirs: dirs, Accept: isWhisperFolder, Load: loadASRModel}}
}

func (e *asrEngine) ids() []string { return e.folders.IDs() }

// defaultASR is the model a job that names none runs when it is installed:
// models/loom-asr, the small Whisper trained here (tools/asr). openAIASR,
// OpenAI's model name, is served as another name for the default, so
// clients that send model "whisper-1" work unchanged — unless a folder has
// that name, which then wins.
const (
	defaultASR = "loom-asr"
	openAIASR  = "whisper-1"
)

// defaultID is loom-asr when installed, else the first folder by name.
func (e *asrEngine) defaultID() string {
	ids := e.ids()
	if slices.Contains(ids, defaultASR) || len(ids) == 0 {
		return defaultASR
	}
	return ids[0]
}

// aliased says whether whisper-1 is served as the default model's other name.
func (e *asrEngine) aliased() bool {
	ids := e.ids()
	return len(ids) > 0 && !slices.Contains(ids, openAIASR)
}

// folderID is the folder a job's model name runs: "" and whisper-1 (when
// aliased) are the default.
func (e *asrEngine) folderID(model string) string {
	if model == "" || (model == openAIASR && e.aliased()) {
		return e.defaultID()
	}
	return model
}

func (e *asrEngine) modelInfos() []sdk.ModelInfo {
	ms := e.folders.Found()
	var out []sdk.ModelInfo
	info := func(id, folder, desc string) sdk.ModelInfo {
		return sdk.ModelInfo{ID: id, Tasks: []string{taskTranscribe}, Ready: true, Description: desc, Specs: tasks.Specs(taskTranscribe),
			Created: sdk.ModelCreated(ms[folder]), MemoryBytes: sdk.DirBytes(ms[folder]), Loaded: e.folders.Loaded(folder)}
	}
	for _, id := range e.ids() {
		out = append(out, info(id, id, "speech-to-text: Whisper (WAV, FLAC or MP3 in)"))
	}
	if e.aliased() {
		def := e.defaultID()
		out = append(out, info(openAIASR, def, "speech-to-text: OpenAI's model name for "+def))
	}
	return out
}

func parseTranscribeParams(raw json.RawMessage) (tasks.AudioTranscribeParams, error) {
	var p tasks.AudioTranscribeParams
	if err := sdk.DecodeParams(raw, &p); err != nil {
		return p, err
	}
	if p.Temperature != nil && !(*p.Temperature >= 0 && *p.Temperature <= 1) {
		return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: temperature %v is outside 0…1", *p.Temperature).WithParam("temperature")
	}
	if p.BeamSize < 0 || p.BeamSize > maxBeam {
		return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: beam_size %d is outside 0…%d", p.BeamSize, maxBeam).WithParam("beam_size")
	}
	switch p.Task {
	case "", "transcribe", "translate":
	default:
		return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: task %q is not transcribe or translate", p.Task).WithParam("task")
	}
	p.Language = strings.ToLower(strings.TrimSpace(p.Language))
	return p, nil
}

// Run transcribes the job's one audio input.
func (e *asrEngine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	p, err := parseTranscribeParams(job.Params)
	if err != nil {
		return err
	}
	if len(job.Inputs) != 1 {
		return sdk.Errorf(sdk.CodeInvalidRequest, "audio.transcribe takes one audio file (got %d inputs)", len(job.Inputs))
	}
	data := job.Inputs[0].Data
	if len(data) > maxAudioBytes {
		return sdk.Errorf(sdk.CodeInvalidRequest, "the audio file is %d bytes; the limit is %d", len(data), maxAudioBytes)
	}
	clip, err := sound.DecodeAudio(data, maxAudioSeconds)
	if err != nil {
		var ae *sound.AudioError
		if errors.As(err, &ae) {
			return sdk.Errorf(sdk.CodeInvalidRequest, "file: %v", err)
		}
		return sdk.Errorf(sdk.CodeInternal, "file: %v", err)
	}
	samples, err := clip.ToRate(sound.WhisperRate)
	if err != nil {
		return sdk.Errorf(sdk.CodeInvalidRequest, "file: %v", err)
	}
	model := e.folderID(job.Model)
	m, err := e.folders.Get(model)
	if err != nil {
		return err
	}
	o := towers.WhisperOptions{Language: p.Language, Task: p.Task, Timestamps: p.Timestamps, Beam: p.BeamSize, Seed: job.Seed, CTCWeight: m.ctc,
		LM: m.lm, LMWeight: m.lmw, WordLM: m.words}
	if o.Beam == 0 {
		o.Beam = m.beam
	}
	if p.Temperature != nil {
		o.Temperature = *p.Temperature
	}
	if len(m.vocab.Languages) > 0 && o.Language != "" {
		if _, ok := m.vocab.Languages[o.Language]; !ok {
			return sdk.Errorf(sdk.CodeInvalidRequest, "params: language %q is not one the model knows (%s)", p.Language, strings.Join(m.vocab.LanguageCodes(), ", ")).WithParam("language")
		}
	}
	if o.Task == "translate" && m.vocab.Translate < 0 {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: model %s cannot translate", model).WithParam("model")
	}
	if p.Timestamps && m.vocab.Timestamps == 0 {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: model %s has no timestamp tokens", model).WithParam("model")
	}
	if p.Prompt != "" {
		for _, id := range m.tok.Encode(" "+strings.TrimSpace(p.Prompt), false) {
			if m.vocab.IsText(id) {
				o.Prompt = append(o.Prompt, id)
			}
		}
	}
	window := float64(m.front.Samples) / sound.WhisperRate
	duration := float64(len(samples)) / sound.WhisperRate
	total := max(1, int(math.Ceil(duration/window)))
	if err := emit(sdk.Event{Kind: sdk.EventProgress, Step: 0, Total: total}); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	res := tasks.AudioTranscribeResult{Model: model, Duration: math.Round(duration*1000) / 1000, Segments: []tasks.TranscriptSegment{}}
	var text strings.Builder
	_, lang, err := m.tower.Transcribe(samples, m.front, &m.vocab, o, func(w towers.WhisperWindow) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var delta strings.Builder
		for _, s := range w.Segments {
			// A segment's tokens decode to whole UTF-8 sequences when the
			// model is sane; bytes that are not become U+FFFD here, so the
			// deltas and the result say the same.
			t := strings.ToValidUTF8(m.tok.DecodeAll(s.Tokens), "\uFFFD")
			res.Segments = append(res.Segments, tasks.TranscriptSegment{ID: len(res.Segments), Seek: int(math.Round(w.Start * 100)),
				Start: round3(s.Start), End: round3(s.End), Text: t, Tokens: s.Tokens, Temperature: o.Temperature,
				AvgLogprob: s.AvgLogprob, NoSpeechProb: s.NoSpeechProb})
			delta.WriteString(t)
		}
		res.Windows = w.Index + 1
		if d := delta.String(); d != "" {
			d = joinWindowText(text.String(), d)
			text.WriteString(d)
			if err := emit(sdk.Event{Kind: sdk.EventDelta, Text: d}); err != nil {
				return err
			}
		}
		// Windows advance by less than a whole window when a segment is
		// cut, so the count is re-estimated from what is left.
		left := int(math.Ceil((duration - w.Done) / window))
		return emit(sdk.Event{Kind: sdk.EventProgress, Step: w.Index + 1, Total: w.Index + 1 + max(left, 0)})
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *sdk.Error
		if errors.As(err, &se) {
			return err
		}
		return sdk.Errorf(sdk.CodeInternal, "transcribe: %v", err)
	}
	res.Language, res.Text = lang, text.String()
	out, _ := json.Marshal(res)
	return emit(sdk.Event{Kind: sdk.EventResult, Result: out})
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// joinWindowText is the text a window adds after what came before: without
// its leading spaces at the start, and with one space put in front when
// neither side has one at the seam (a window that starts with "ve?" after
// one that ended "He?" reads "He? ve?", not "He?ve?"), since a window's first
// token need not start a word with its space the way Whisper's byte-level
// tokens mostly do.
func joinWindowText(before, d string) string {
	if before == "" {
		return strings.TrimLeft(d, " ")
	}
	if d == "" {
		return d
	}
	last, _ := utf8.DecodeLastRuneInString(before)
	first, _ := utf8.DecodeRuneInString(d)
	if !unicode.IsSpace(last) && !unicode.IsSpace(first) {
		return " " + d
	}
	return d
}
