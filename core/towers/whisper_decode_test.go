package towers

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/core/media/sound"
	"github.com/loomhq/loom/core/tokenizer"
)

func tinyWhisperVocab(t testing.TB, m *Whisper) (WhisperVocab, *tokenizer.ByteBPE) {
	t.Helper()
	tok, err := tokenizer.LoadHF(filepath.Join(whisperDir, "tokenizer.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(whisperDir, "generation_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gen WhisperGeneration
	if err := json.Unmarshal(raw, &gen); err != nil {
		t.Fatal(err)
	}
	v, err := NewWhisperVocab(gen, m.Cfg.VocabSize, tok.TokenID)
	if err != nil {
		t.Fatal(err)
	}
	return v, tok
}

func TestWhisperVocab(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	v, tok := tinyWhisperVocab(t, m)
	if v.Timestamps != 151 || tok.Decode(v.TimestampBegin) != "<|0.00|>" {
		t.Errorf("timestamps: %d from %d (%q), want 151 from <|0.00|>", v.Timestamps, v.TimestampBegin, tok.Decode(v.TimestampBegin))
	}
	if got := v.LanguageCodes(); len(got) != 3 || got[0] != "de" || got[1] != "en" || got[2] != "fr" {
		t.Errorf("languages %v", got)
	}
	if v.IsText(v.EOT) || v.IsText(v.SOT) || v.IsText(v.TimestampBegin) || !v.IsText(tok.Encode("the", false)[0]) {
		t.Error("text/special split is wrong")
	}
	pre := v.prefix([]int{1, 2, 3, 4}, 2)
	if len(pre) != 4 || pre[0] != v.StartOfPrev || pre[1] != 3 || pre[3] != v.SOT {
		t.Errorf("prefix with a prompt cut to 2 tokens: %v", pre)
	}
	post, err := v.taskTokens(WhisperOptions{Task: "translate"}, "de")
	if err != nil || len(post) != 3 || post[0] != v.Languages["de"] || post[1] != v.Translate || post[2] != v.NoTimestamps {
		t.Errorf("task tokens %v, %v", post, err)
	}
	if _, err := v.taskTokens(WhisperOptions{}, "xx"); err == nil {
		t.Error("an unknown language was accepted")
	}
	if _, err := v.taskTokens(WhisperOptions{Task: "summarize"}, "en"); err == nil {
		t.Error("an unknown task was accepted")
	}
	if _, err := NewWhisperVocab(WhisperGeneration{}, m.Cfg.VocabSize, func(string) (int, bool) { return 0, false }); err == nil {
		t.Error("a vocabulary without Whisper's special tokens was accepted")
	}
}

// allowed lists the ids with a finite log-probability.
func allowed(lp []float64) map[int]bool {
	out := map[int]bool{}
	for i, v := range lp {
		if !math.IsInf(v, -1) {
			out[i] = true
		}
	}
	return out
}

func TestWhisperTimestampRules(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	v, tok := tinyWhisperVocab(t, m)
	ts := func(sec float64) int { return v.TimestampBegin + int(math.Round(sec/0.02)) }
	word := tok.Encode(" fox", false)[0]
	// Flat logits except a strong text token, so the timestamp mass rule
	// (timestamps win when together likelier than any text token) stays out
	// of the way except where tested.
	logits := make([]float32, m.Cfg.VocabSize)
	logits[word] = 20
	countTS := func(a map[int]bool) (n, lo, hi int) {
		lo = math.MaxInt
		for i := range a {
			if v.IsTimestamp(i) {
				n++
				lo, hi = min(lo, i), max(hi, i)
			}
		}
		return
	}
	// First token: a timestamp no later than max_initial_timestamp_index.
	a := allowed(v.filtered(logits, nil, true))
	if n, lo, hi := countTS(a); a[word] || n != v.MaxInitialTimestamp+1 || lo != ts(0) || hi != ts(1.0) {
		t.Errorf("first step: text allowed %v, timestamps %d in [%d,%d]", a[word], n, lo, hi)
	}
	// After an opening timestamp: text (and the end) only.
	a = allowed(v.filtered(logits, []int{ts(0.5)}, true))
	if n, _, _ := countTS(a); n != 0 || !a[word] {
		t.Errorf("after an opening timestamp: %d timestamps allowed, text %v", n, a[word])
	}
	// Inside a segment: text, the end, or a timestamp not before the opening one.
	a = allowed(v.filtered(logits, []int{ts(0.5), word}, true))
	if _, lo, _ := countTS(a); lo != ts(0.52) || !a[word] || !a[v.EOT] {
		t.Errorf("inside a segment: first timestamp allowed %d, want %d; text %v", lo, ts(0.52), a[word])
	}
	// After a closing timestamp: another timestamp (not earlier) or the end
	// (which the timestamp mass rule then also takes away here, as openai's).
	a = allowed(v.filtered(logits, []int{ts(0.5), word, ts(1.5)}, true))
	if _, lo, _ := countTS(a); a[word] || lo != ts(1.5) {
		t.Errorf("after a closing timestamp: text %v, first timestamp %d want %d", a[word], lo, ts(1.5))
	}
	// After a pair: text only.
	a = allowed(v.filtered(logits, []int{ts(0.5), word, ts(1.5), ts(1.5)}, true))
	if n, _, _ := countTS(a); n != 0 || !a[word] {
		t.Errorf("after a timestamp pair: %d timestamps allowed", n)
	}
	// When the timestamps together outweigh every text token, a timestamp.
	flat := make([]float32, m.Cfg.VocabSize)
	a = allowed(v.filtered(flat, []int{ts(0.5), word}, true))
	if a[word] {
		t.Error("timestamps outweigh text but text was allowed")
	}
	// Without timestamps: no timestamp and no special token other than the end.
	a = allowed(v.filtered(flat, []int{word}, false))
	for i := range a {
		if i != v.EOT && !v.IsText(i) {
			t.Errorf("token %d (%q) allowed without timestamps", i, tok.Decode(i))
		}
	}
	// begin_suppress_tokens hold only for the first token.
	if a := allowed(v.filtered(flat, nil, false)); a[v.EOT] || a[v.BeginSuppress[0]] {
		t.Error("begin_suppress_tokens allowed first")
	}
}

func TestWhisperSegments(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	v, tok := tinyWhisperVocab(t, m)
	ts := func(sec float64) int { return v.TimestampBegin + int(math.Round(sec/0.02)) }
	a, b := tok.Encode(" one", false), tok.Encode(" two", false)
	seq := func(parts ...[]int) []int {
		var out []int
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	// Ends with a single timestamp: every segment complete, whole window.
	segs, adv := v.segments(seq([]int{ts(0)}, a, []int{ts(1), ts(1)}, b, []int{ts(2.5)}), 10, 3)
	if len(segs) != 2 || adv != 0 || segs[0].Start != 10 || segs[0].End != 11 || segs[1].Start != 11 || segs[1].End != 12.5 {
		t.Errorf("complete segments: %+v, advance %d", segs, adv)
	}
	if !equalInts(segs[1].Tokens, b) {
		t.Errorf("segment tokens %v, want %v", segs[1].Tokens, b)
	}
	// The window's edge cuts the last segment: stop after the last complete one.
	segs, adv = v.segments(seq([]int{ts(0)}, a, []int{ts(1.2), ts(1.4)}, b), 0, 3)
	if len(segs) != 1 || adv != int(1.2*sound.WhisperRate) {
		t.Errorf("cut segment: %+v, advance %d samples, want %d", segs, adv, int(1.2*sound.WhisperRate))
	}
	// No timestamps: the window is one segment.
	segs, adv = v.segments(seq(a, b), 3, 2)
	if len(segs) != 1 || segs[0].Start != 3 || segs[0].End != 5 || adv != 0 || len(segs[0].Tokens) != len(a)+len(b) {
		t.Errorf("untimed window: %+v", segs)
	}
}

// Transcribe over audio of several windows: every decoding mode keeps the
// protocol (segments in order, inside the audio, only text tokens), reports
// each window, and is deterministic.
func TestWhisperTranscribeWindows(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	v, _ := tinyWhisperVocab(t, m)
	lm, err := sound.NewLogMel(m.Cfg.NumMelBins, m.Cfg.Frames()*sound.WhisperHop)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	audio := make([]float32, 7*sound.WhisperRate+1234)
	for i := range audio {
		audio[i] = float32(0.3*math.Sin(float64(i)*0.03*(1+float64(i)/float64(len(audio)))) + 0.05*r.NormFloat64())
	}
	dur := float64(len(audio)) / sound.WhisperRate
	for _, o := range []WhisperOptions{
		{Language: "en"},
		{Language: "en", Timestamps: true},
		{Timestamps: true, Beam: 3, MaxTokens: 12},
		{Language: "de", Temperature: 0.7, Seed: 9, MaxTokens: 10},
		{Language: "en", Beam: 2, Prompt: []int{5, 6, 7}, MaxTokens: 8},
	} {
		var windows []WhisperWindow
		segs, lang, err := m.Transcribe(audio, lm, &v, o, func(w WhisperWindow) error {
			windows = append(windows, w)
			return nil
		})
		if err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
		if o.Language != "" && lang != o.Language || lang == "" {
			t.Errorf("%+v: language %q", o, lang)
		}
		if len(windows) < 3 || windows[len(windows)-1].Done != dur {
			t.Errorf("%+v: %d windows, last done at %v of %v", o, len(windows), windows[len(windows)-1].Done, dur)
		}
		for i := 1; i < len(windows); i++ {
			if windows[i].Start != windows[i-1].Done || windows[i].Done <= windows[i-1].Done {
				t.Errorf("%+v: window %d starts at %v after one done at %v", o, i, windows[i].Start, windows[i-1].Done)
			}
		}
		if len(segs) == 0 {
			t.Errorf("%+v: no segments", o)
		}
		prev := 0.0
		for _, s := range segs {
			if s.Start < prev-1e-9 || s.End < s.Start || s.End > dur+1e-9 || len(s.Tokens) == 0 {
				t.Errorf("%+v: segment %+v after %v", o, s, prev)
			}
			prev = s.Start
			for _, id := range s.Tokens {
				if !v.IsText(id) {
					t.Errorf("%+v: non-text token %d in a segment", o, id)
				}
			}
			if s.AvgLogprob > 0 || s.NoSpeechProb < 0 || s.NoSpeechProb > 1 {
				t.Errorf("%+v: scores %v %v", o, s.AvgLogprob, s.NoSpeechProb)
			}
		}
		again, _, err := m.Transcribe(audio, lm, &v, o, nil)
		if err != nil || len(again) != len(segs) {
			t.Errorf("%+v: second run gave %d segments (%v), first %d", o, len(again), err, len(segs))
		}
	}
	stop := os.ErrClosed
	if _, _, err := m.Transcribe(audio, lm, &v, WhisperOptions{Language: "en"}, func(WhisperWindow) error { return stop }); err != stop {
		t.Errorf("the callback's error was not returned: %v", err)
	}
	if _, _, err := m.Transcribe(audio, lm, &v, WhisperOptions{Language: "xx"}, nil); err == nil {
		t.Error("an unknown language was accepted")
	}
}

// A beam of one is greedy decoding.
func TestWhisperBeamOfOneIsGreedy(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	v, _ := tinyWhisperVocab(t, m)
	g, _ := goldenF32(t, openWhisperGolden(t), "encoder")
	greedy, err := m.decodeWindow(g, &v, WhisperOptions{Language: "en", MaxTokens: 12}, 0)
	if err != nil {
		t.Fatal(err)
	}
	beam1, err := m.decodeWindow(g, &v, WhisperOptions{Language: "en", Beam: 1, MaxTokens: 12}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !equalInts(greedy.tokens, beam1.tokens) || len(greedy.tokens) == 0 {
		t.Errorf("greedy %v, beam 1 %v", greedy.tokens, beam1.tokens)
	}
	beam4, err := m.decodeWindow(g, &v, WhisperOptions{Language: "en", Beam: 4, MaxTokens: 12}, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.decodeWindow(g, &v, WhisperOptions{Language: "en", Beam: 4, MaxTokens: 12}, 0)
	if err != nil || !equalInts(beam4.tokens, again.tokens) || beam4.sumLogprob != again.sumLogprob {
		t.Errorf("beam search is not deterministic: %v then %v (%v)", beam4.tokens, again.tokens, err)
	}
	for _, id := range beam4.tokens {
		if !v.IsText(id) {
			t.Errorf("beam search produced non-text token %d without timestamps", id)
		}
	}
}
