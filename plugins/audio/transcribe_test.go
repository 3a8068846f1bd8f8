package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// The tiny random Whisper of core/towers/testdata (testdata/tiny-asr links
// to it; 3 s windows): its words are noise, so these tests check the
// plumbing — events, result shape, bounds — not what it hears.

type transcribeOut struct {
	progress []sdk.Event
	deltas   []string
	result   tasks.AudioTranscribeResult
}

func runTranscribe(t *testing.T, e sdk.Engine, params string, inputs ...sdk.Blob) (transcribeOut, error) {
	t.Helper()
	return runTranscribeModel(t, e, "tiny-asr", params, inputs...)
}

func runTranscribeModel(t *testing.T, e sdk.Engine, model, params string, inputs ...sdk.Blob) (transcribeOut, error) {
	t.Helper()
	var o transcribeOut
	err := e.Run(context.Background(), sdk.Job{ID: "j", Task: taskTranscribe, Model: model, Params: json.RawMessage(params), Inputs: inputs, Seed: 3},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventProgress:
				o.progress = append(o.progress, ev)
			case sdk.EventDelta:
				o.deltas = append(o.deltas, ev.Text)
			case sdk.EventResult:
				if err := json.Unmarshal(ev.Result, &o.result); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
	return o, err
}

// toneWAV is seconds of a warbling tone at rate, as a WAV file.
func toneWAV(t *testing.T, seconds float64, rate int) sdk.Blob {
	t.Helper()
	s := make([]float32, int(seconds*float64(rate)))
	for i := range s {
		x := float64(i) / float64(rate)
		s[i] = float32(0.3 * math.Sin(2*math.Pi*(300+200*math.Sin(3*x))*x))
	}
	b, err := encodeWAV(s, rate)
	if err != nil {
		t.Fatal(err)
	}
	return sdk.Blob{Name: "file", MIME: "audio/wav", Data: b}
}

func TestTranscribeRun(t *testing.T) {
	e := newAudioEngine([]string{testModels})
	m, err := e.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, mi := range m.Models {
		found = found || mi.ID == "tiny-asr" && mi.Ready && len(mi.Tasks) == 1 && mi.Tasks[0] == taskTranscribe
	}
	if !found {
		t.Fatalf("tiny-asr not in the manifest: %+v", m.Models)
	}
	wav := toneWAV(t, 7.5, 22050)
	for _, params := range []string{`{"language":"en"}`, `{"language":"EN","timestamps":true}`, `{"beam_size":2,"prompt":"the fox"}`, `{"temperature":0.5,"task":"translate","language":"de"}`} {
		o, err := runTranscribe(t, e, params, wav)
		if err != nil {
			t.Fatalf("%s: %v", params, err)
		}
		r := o.result
		if r.Model != "tiny-asr" || r.Duration != 7.5 || r.Windows < 3 || r.Language == "" {
			t.Errorf("%s: result %+v", params, r)
		}
		if len(o.progress) < r.Windows+1 || o.progress[0].Step != 0 || o.progress[0].Total != 3 {
			t.Errorf("%s: progress %+v for %d windows", params, o.progress, r.Windows)
		}
		last := o.progress[len(o.progress)-1]
		if last.Step != last.Total || last.Step != r.Windows {
			t.Errorf("%s: last progress %d/%d, %d windows", params, last.Step, last.Total, r.Windows)
		}
		if joined := strings.Join(o.deltas, ""); joined != r.Text || r.Text == "" {
			t.Errorf("%s: deltas %q, text %q", params, joined, r.Text)
		}
		prev := -1.0
		for i, s := range r.Segments {
			if s.ID != i || s.Start < prev || s.End < s.Start || s.End > r.Duration || len(s.Tokens) == 0 || s.Text == "" {
				t.Errorf("%s: segment %+v", params, s)
			}
			prev = s.Start
		}
		again, err := runTranscribe(t, e, params, wav)
		if err != nil || again.result.Text != r.Text {
			t.Errorf("%s: not deterministic: %q then %q (%v)", params, r.Text, again.result.Text, err)
		}
	}
}

func TestTranscribeRejects(t *testing.T) {
	e := newAudioEngine([]string{testModels})
	wav := toneWAV(t, 1, 16000)
	empty := toneWAV(t, 0, 16000)
	for name, c := range map[string]struct {
		params string
		inputs []sdk.Blob
	}{
		"not audio":        {`{}`, []sdk.Blob{{Name: "file", Data: []byte("<html>hello</html>")}}},
		"zero-length wav":  {`{}`, []sdk.Blob{empty}},
		"truncated header": {`{}`, []sdk.Blob{{Name: "file", Data: wav.Data[:20]}}},
		"no input":         {`{}`, nil},
		"two inputs":       {`{}`, []sdk.Blob{wav, wav}},
		"unknown language": {`{"language":"xx"}`, []sdk.Blob{wav}},
		"temperature 2":    {`{"temperature":2}`, []sdk.Blob{wav}},
		"beam 99":          {`{"beam_size":99}`, []sdk.Blob{wav}},
		"task":             {`{"task":"summarize"}`, []sdk.Blob{wav}},
		"unknown param":    {`{"speed":2}`, []sdk.Blob{wav}},
	} {
		_, err := runTranscribe(t, e, c.params, c.inputs...)
		var pe *sdk.Error
		if !errors.As(err, &pe) || pe.Code != sdk.CodeInvalidRequest {
			t.Errorf("%s: got %v, want invalid_request", name, err)
		}
	}
}

// TestTranscribeDefaultAndAlias: a job naming no model, or OpenAI's
// whisper-1, runs the default folder (loom-asr when installed, else the first
// by name), and the manifest lists whisper-1 as its other name.
func TestTranscribeDefaultAndAlias(t *testing.T) {
	e := newAudioEngine([]string{testModels})
	m, err := e.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var alias bool
	for _, mi := range m.Models {
		alias = alias || mi.ID == openAIASR && mi.Ready && strings.Contains(mi.Description, "tiny-asr")
	}
	if !alias {
		t.Fatalf("whisper-1 is not listed as tiny-asr's other name: %+v", m.Models)
	}
	wav := toneWAV(t, 1, 16000)
	want, err := runTranscribe(t, e, `{"language":"en"}`, wav)
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"", openAIASR} {
		o, err := runTranscribeModel(t, e, model, `{"language":"en"}`, wav)
		if err != nil || o.result.Model != "tiny-asr" || o.result.Text != want.result.Text {
			t.Errorf("model %q: %+v %v", model, o.result, err)
		}
	}
	if err := e.Unload(context.Background(), openAIASR); err != nil || e.asr.folders.Loaded("tiny-asr") {
		t.Errorf("unloading whisper-1 leaves tiny-asr loaded (%v)", err)
	}
	if _, err := runTranscribeModel(t, e, "whisper-2", `{}`, wav); err == nil {
		t.Error("whisper-2 ran")
	}
}

// A folder's generation_config.json num_beams is the beam width of a job
// that gives none (Hugging Face generate()'s default); beam_size 1 is still
// greedy there.
// tinyASRWithGen makes a models directory holding tiny-asr as name, its
// generation_config.json changed by edit.
func tinyASRWithGen(t *testing.T, name string, edit func(map[string]any)) string {
	t.Helper()
	src, err := filepath.EvalSymlinks(filepath.Join(testModels, "tiny-asr"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range asrFiles {
		dst := filepath.Join(dir, name, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if f != "generation_config.json" {
			if err := os.Symlink(filepath.Join(src, f), dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var gen map[string]any
		raw, err := os.ReadFile(filepath.Join(src, f))
		if err == nil {
			err = json.Unmarshal(raw, &gen)
		}
		if err != nil {
			t.Fatal(err)
		}
		edit(gen)
		raw, _ = json.Marshal(gen)
		if err := os.WriteFile(dst, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A ctc_weight in generation_config.json needs a CTC head (config.json
// ctc_vocab_size): a folder without one is refused, not decoded as if the
// weight were 0.
func TestTranscribeCTCWeightNeedsHead(t *testing.T) {
	e := newAudioEngine([]string{tinyASRWithGen(t, "ctcless", func(gen map[string]any) { gen["ctc_weight"] = 0.3 })})
	_, err := runTranscribeModel(t, e, "ctcless", `{"language":"en","beam_size":2}`, toneWAV(t, 1, 16000))
	if err == nil || !strings.Contains(err.Error(), "ctc_weight") {
		t.Fatalf("ctc_weight 0.3 without a CTC head: %v", err)
	}
}

// An lm_weight in generation_config.json needs the folder's lm.arpa: a
// folder without one is refused; with one, beam search fuses it.
func TestTranscribeLMWeight(t *testing.T) {
	dir := tinyASRWithGen(t, "lmless", func(gen map[string]any) { gen["lm_weight"] = 0.3 })
	_, err := runTranscribeModel(t, newAudioEngine([]string{dir}), "lmless", `{"language":"en","beam_size":2}`, toneWAV(t, 1, 16000))
	if err == nil || !strings.Contains(err.Error(), "lm_weight") {
		t.Fatalf("lm_weight 0.3 without lm.arpa: %v", err)
	}
	arpa := "\\data\\\nngram 1=4\n\n\\1-grams:\n-99\t<s>\n-0.1\tĠ\n-1\ta\n-2\t</s>\n\\end\\\n"
	if err := os.WriteFile(filepath.Join(dir, "lmless", "lm.arpa"), []byte(arpa), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runTranscribeModel(t, newAudioEngine([]string{dir}), "lmless", `{"language":"en","beam_size":2}`, toneWAV(t, 1, 16000)); err != nil {
		t.Fatalf("lm_weight 0.3 with lm.arpa: %v", err)
	}
}

func TestTranscribeFolderBeam(t *testing.T) {
	dir := tinyASRWithGen(t, "beamy", func(gen map[string]any) { gen["num_beams"] = 3 })
	plain, beamy := newAudioEngine([]string{testModels}), newAudioEngine([]string{dir})
	wav := toneWAV(t, 2.5, 16000)
	text := func(e sdk.Engine, model, params string) string {
		t.Helper()
		o, err := runTranscribeModel(t, e, model, params, wav)
		if err != nil {
			t.Fatalf("%s %s: %v", model, params, err)
		}
		return o.result.Text
	}
	greedy, beam3 := text(plain, "tiny-asr", `{"language":"en"}`), text(plain, "tiny-asr", `{"language":"en","beam_size":3}`)
	if greedy == beam3 {
		t.Fatalf("greedy and beam 3 agree (%q): the test cannot tell them apart", greedy)
	}
	if got := text(beamy, "beamy", `{"language":"en"}`); got != beam3 {
		t.Errorf("num_beams 3, no beam_size: %q; beam 3 gives %q", got, beam3)
	}
	if got := text(beamy, "beamy", `{"language":"en","beam_size":1}`); got != greedy {
		t.Errorf("num_beams 3, beam_size 1: %q; greedy gives %q", got, greedy)
	}
}

// word_lm in generation_config.json fuses the folder's words.arpa beside
// lm.arpa: it needs the character LM, the file, and a vocabulary of single
// characters (tiny-asr's has merges and is refused); on the shipped model's
// vocabulary letters are read in lower case, other characters end a word, and
// a transcription runs with it.
func TestTranscribeWordLM(t *testing.T) {
	wav := toneWAV(t, 1, 16000)
	params := `{"language":"en","beam_size":2}`
	dir := tinyASRWithGen(t, "nochars", func(gen map[string]any) { gen["word_lm"] = true })
	if _, err := runTranscribeModel(t, newAudioEngine([]string{dir}), "nochars", params, wav); err == nil || !strings.Contains(err.Error(), "word_lm needs the character LM") {
		t.Fatalf("word_lm without lm_weight: %v", err)
	}
	words := "\\data\\\nngram 1=5\nngram 2=1\n\n\\1-grams:\n-99\t<s>\t-0.3\n-1\tthe\t-0.2\n-1.5\troom\n-2\tit's\n-1\t</s>\n\n\\2-grams:\n-0.2\tthe room\n\n\\end\\\n"
	dir = tinyASRWithGen(t, "merges", func(gen map[string]any) { gen["word_lm"] = true; gen["lm_weight"] = 0.3 })
	arpa := "\\data\\\nngram 1=4\n\n\\1-grams:\n-99\t<s>\n-0.1\tĠ\n-1\ta\n-2\t</s>\n\\end\\\n"
	for name, text := range map[string]string{"lm.arpa": arpa, "words.arpa": words} {
		if err := os.WriteFile(filepath.Join(dir, "merges", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runTranscribeModel(t, newAudioEngine([]string{dir}), "merges", params, wav); err == nil || !strings.Contains(err.Error(), "single characters") {
		t.Fatalf("word_lm on a vocabulary with merges: %v", err)
	}
	if testing.Short() {
		t.Skip("-short: skips loading the shipped model")
	}
	src, _ := filepath.Abs("../../models/loom-asr")
	shipped := filepath.Join(t.TempDir(), "loom-asr")
	if err := os.MkdirAll(shipped, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "preprocessor_config.json", "tokenizer.json", "model.safetensors", "lm.arpa.gz"} {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(shipped, f)); err != nil {
			t.Fatal(err)
		}
	}
	var gen map[string]any
	if err := sdk.ReadJSON(filepath.Join(src, "generation_config.json"), &gen); err != nil {
		t.Fatal(err)
	}
	gen["word_lm"], gen["lm_weight"] = true, 0.2
	raw, _ := json.Marshal(gen)
	if err := os.WriteFile(filepath.Join(shipped, "generation_config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadASRModel(shipped); err == nil || !strings.Contains(err.Error(), "words.arpa") {
		t.Fatalf("word_lm without words.arpa: %v", err)
	}
	if err := os.WriteFile(filepath.Join(shipped, "words.arpa"), []byte(words), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := loadASRModel(shipped)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.words == nil || len(m.words.IDs) != 3 {
		t.Fatalf("word LM %+v, want the 3 words of words.arpa", m.words)
	}
	for text, want := range map[string]byte{"a": 'a', "R": 'r', "'": '\'', " ": 0, ".": 0, "7": 0} {
		id, ok := m.tok.TokenID(strings.ReplaceAll(text, " ", "Ġ"))
		if !ok {
			t.Fatalf("no token %q", text)
		}
		if got := m.words.Letters[id]; got != want {
			t.Errorf("token %q: letter %q, want %q", text, got, want)
		}
	}
	clip, err := os.ReadFile("testdata/asr-heldout/00.wav")
	if err != nil {
		t.Fatal(err)
	}
	o, err := runTranscribeModel(t, newAudioEngine([]string{filepath.Dir(shipped)}), "loom-asr", `{"language":"en"}`, sdk.Blob{Name: "file", MIME: "audio/wav", Data: clip})
	if err != nil || len(strings.Fields(o.result.Text)) < 5 {
		t.Fatalf("transcription with the word LM: %q, %v", o.result.Text, err)
	}
	t.Logf("%q", o.result.Text)
}
