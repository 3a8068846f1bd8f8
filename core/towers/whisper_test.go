package towers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/media/sound"
	"github.com/loomhq/loom/core/nn"
)

// The tiny random Whisper (testdata/whisper_tiny, 3 s windows) against
// goldens computed by tools/asr/goldens.py with the plain-PyTorch reference
// on the same weights.
const (
	whisperDir    = "testdata/whisper_tiny"
	whisperGolden = "testdata/whisper_golden.safetensors"
	tolMelFilters = 1e-7 // max |Go − numpy librosa formula| (filter values ≤ 0.03)
	tolLogMel     = 2e-5 // max |Go − torch.stft path| over the log-mel (values O(1)); measured 3.4e-6
	tolWhisperEnc = 1e-5 // encoder last hidden state (values O(1)); measured 8.3e-7
	tolWhisperDec = 5e-5 // decoder logits (values O(1)); measured 5.7e-6
)

func loadTinyWhisper(t testing.TB) (*Whisper, formats.TensorSource) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(whisperDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg WhisperConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	src, err := formats.OpenSafetensors(filepath.Join(whisperDir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	m, err := LoadWhisper(nn.NewBinder(src), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, src
}

func TestWhisperMatchesPyTorch(t *testing.T) {
	m, src := loadTinyWhisper(t)
	g := openSafetensors(t, whisperGolden)
	c := m.Cfg

	filters, err := sound.MelFilters(16000, 400, c.NumMelBins)
	if err != nil {
		t.Fatal(err)
	}
	fWant, _ := goldenF32(t, g, "filters")
	if d := maxAbsDiff(filters, fWant); d > tolMelFilters {
		t.Errorf("mel filters differ from librosa's by %g (tolerance %g)", d, tolMelFilters)
	}

	audio, _ := goldenF32(t, g, "audio")
	lm, err := sound.NewLogMel(c.NumMelBins, c.Frames()*sound.WhisperHop)
	if err != nil {
		t.Fatal(err)
	}
	mel := lm.Compute(audio)
	melWant, _ := goldenF32(t, g, "log_mel")
	if d := maxAbsDiff(mel, melWant); d > tolLogMel {
		t.Errorf("log-mel differs from openai/whisper's by %g (tolerance %g)", d, tolLogMel)
	}

	stored, _ := goldenF32(t, src, "model.encoder.embed_positions.weight")
	if d := maxAbsDiff(WhisperSinusoids(c.MaxSourcePositions, c.DModel), stored); d > 1e-5 {
		t.Errorf("sinusoidal positions differ from openai's by %g", d)
	}

	enc, err := m.Encode(melWant)
	if err != nil {
		t.Fatal(err)
	}
	encWant, _ := goldenF32(t, g, "encoder")
	if d := maxAbsDiff(enc, encWant); d > tolWhisperEnc {
		t.Errorf("encoder differs from PyTorch by %g (tolerance %g)", d, tolWhisperEnc)
	}

	forced := goldenInts(t, g, "forced")
	logitsWant, _ := goldenF32(t, g, "forced_logits") // (len(forced), V)
	V := c.VocabSize
	// All positions at once, and one token at a time through the KV cache.
	st, err := m.NewState(encWant)
	if err != nil {
		t.Fatal(err)
	}
	all, err := m.Step(st, forced, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(all, logitsWant); d > tolWhisperDec {
		t.Errorf("decoder logits (whole sequence) differ from PyTorch by %g (tolerance %g)", d, tolWhisperDec)
	}
	st, _ = m.NewState(encWant)
	for i, tok := range forced {
		if _, err := m.Step(st, []int{tok}, false); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(st.Logits, logitsWant[i*V:(i+1)*V]); d > tolWhisperDec {
			t.Errorf("step %d: cached decoder logits differ from PyTorch by %g (tolerance %g)", i, d, tolWhisperDec)
		}
		if i == 6 { // a fork carries on exactly as its parent would
			f := st.Fork()
			if _, err := m.Step(f, forced[7:8], false); err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(f.Logits, logitsWant[7*V:8*V]); d > tolWhisperDec {
				t.Errorf("forked state's logits differ by %g", d)
			}
		}
	}

	greedy := goldenInts(t, g, "greedy")
	st, _ = m.NewState(enc)
	seq := append([]int(nil), greedy[:4]...)
	if _, err := m.Step(st, seq, false); err != nil {
		t.Fatal(err)
	}
	for len(seq) < len(greedy) {
		best := 0
		for j, v := range st.Logits {
			if v > st.Logits[best] {
				best = j
			}
		}
		seq = append(seq, best)
		if _, err := m.Step(st, []int{best}, false); err != nil {
			t.Fatal(err)
		}
	}
	if !equalInts(seq, greedy) {
		t.Errorf("greedy tokens %v, PyTorch %v", seq, greedy)
	}
}

func TestWhisperRejects(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	if _, err := m.Encode(make([]float32, 10)); err == nil {
		t.Error("a mel of the wrong size was accepted")
	}
	if _, err := m.NewState(make([]float32, 3)); err == nil {
		t.Error("encoder states of the wrong size were accepted")
	}
	st, err := m.NewState(make([]float32, m.Cfg.MaxSourcePositions*m.Cfg.DModel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Step(st, []int{m.Cfg.VocabSize}, false); err == nil {
		t.Error("a token outside the vocabulary was accepted")
	}
	if _, err := m.Step(st, make([]int, m.Cfg.MaxTargetPositions+1), false); err == nil {
		t.Error("more tokens than the decoder has positions were accepted")
	}
	bad := m.Cfg
	bad.DecoderHeads = 5
	if _, err := LoadWhisper(nil, bad); err == nil {
		t.Error("heads that do not divide d_model were accepted")
	}
}

func openWhisperGolden(t *testing.T) formats.InfoSource {
	t.Helper()
	g, err := formats.OpenSafetensors(whisperGolden)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}
