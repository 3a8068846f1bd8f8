package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"

	"github.com/loomhq/loom/core/media/sound"
	"github.com/loomhq/loom/core/textnorm"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// testModels holds tiny-tts, a speech folder whose acoustic/ and vocoder/
// link to the random tiny towers of core/towers/testdata (the PyTorch
// goldens' models), with three voices ada, bo (default) and cy.
var testModels, _ = filepath.Abs("testdata")

// tinySpeechDir copies testdata/tiny-tts into a temporary models directory
// (links kept) for tests that rewrite its speech.json.
func tinySpeechDir(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "tiny-tts")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"acoustic", "vocoder"} {
		target, err := filepath.EvalSymlinks(filepath.Join(testModels, "tiny-tts", sub))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, sub)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

type runOut struct {
	events   []sdk.Event
	progress []int
	artifact *sdk.Event
	result   tasks.AudioSpeechResult
}

func runSpeech(t *testing.T, e sdk.Engine, model string, params string) (runOut, error) {
	t.Helper()
	var o runOut
	err := e.Run(context.Background(), sdk.Job{ID: "j", Task: taskSpeech, Model: model, Params: json.RawMessage(params), Seed: 1},
		func(ev sdk.Event) error {
			o.events = append(o.events, ev)
			switch ev.Kind {
			case sdk.EventProgress:
				o.progress = append(o.progress, ev.Step)
			case sdk.EventArtifact:
				ev := ev
				o.artifact = &ev
			case sdk.EventResult:
				if err := json.Unmarshal(ev.Result, &o.result); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
	return o, err
}

func TestSentences(t *testing.T) {
	got, err := sentences("Dr. Smith paid $3.50 today. Is it 5 p.m. yet? Yes!  ")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"doctor smith paid three dollars and fifty cents today.", "is it five pee em yet?", "yes!"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("sentences = %q\nwant        %q", got, want)
	}
	// A run-on text is cut at commas or spaces into pieces the model can read.
	long := strings.Repeat("the cat sat on the mat, and then ", 40)
	got, err = sentences(long)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 4 {
		t.Fatalf("%d pieces for %d bytes", len(got), len(long))
	}
	total := 0
	for _, s := range got {
		if len(s) > maxSentence || s != strings.TrimSpace(s) || s == "" {
			t.Fatalf("piece %q (%d bytes)", s, len(s))
		}
		total += len(strings.Fields(s))
	}
	if w := len(strings.Fields(long)); total != w {
		t.Fatalf("pieces hold %d words, the text %d", total, w)
	}
	for _, bad := range []string{"", "   ", "!!! ???", "\x00\x01"} {
		if _, err := sentences(bad); err == nil {
			t.Errorf("sentences(%q): no error", bad)
		}
	}
	if _, err := sentences(strings.Repeat("1234567 ", 500)); err == nil || !strings.Contains(err.Error(), "spells out") {
		t.Errorf("spelled-out limit: %v", err)
	}
}

func FuzzSentences(f *testing.F) {
	for _, s := range []string{"Hello. World!", "Dr. No paid $5.", strings.Repeat("a,", 400), "...", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := sentences(s)
		if err != nil {
			return
		}
		for _, p := range got {
			if len(p) == 0 || len(p) > maxSentence {
				t.Fatalf("piece of %d bytes", len(p))
			}
			if _, err := textnorm.Encode(p); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestSpeechParams(t *testing.T) {
	e := newAudioEngine([]string{testModels})
	for _, c := range []struct{ name, params, want string }{
		{"no input", `{}`, `"input" is required`},
		{"blank input", `{"input":"  "}`, "input is required"},
		{"unknown field", `{"input":"hi","pitch":2}`, "pitch: unknown key"},
		{"long input", `{"input":"` + strings.Repeat("a", maxInputBytes+1) + `"}`, "input: takes at most 4096 characters"},
		{"long input in bytes", `{"input":"` + strings.Repeat("é", maxInputBytes/2+1) + `"}`, "limit is 4096"},
		{"speed low", `{"input":"hi","speed":0.1}`, "speed"},
		{"speed high", `{"input":"hi","speed":9}`, "speed"},
		{"format", `{"input":"hi","format":"ogg"}`, "format"},
		{"voice", `{"input":"hi","voice":"nobody"}`, "ada, bo, cy"},
		{"unspeakable", `{"input":"!!! ... ???"}`, "nothing to say"},
		{"not json", `[1,2]`, "params"},
	} {
		_, err := runSpeech(t, e, "tiny-tts", c.params)
		var pe *sdk.Error
		if !errors.As(err, &pe) || pe.Code != sdk.CodeInvalidRequest || !strings.Contains(pe.Message, c.want) {
			t.Errorf("%s: %v (want invalid_request containing %q)", c.name, err, c.want)
		}
	}
	_, err := runSpeech(t, e, "nope", `{"input":"hi"}`)
	var pe *sdk.Error
	if !errors.As(err, &pe) || pe.Code != sdk.CodeModelNotFound {
		t.Errorf("unknown model: %v", err)
	}
}

func TestSpeechRun(t *testing.T) {
	e := newAudioEngine([]string{testModels})
	m, err := e.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// testdata also holds tiny-asr, the Whisper folder transcribe_test.go
	// uses, served as whisper-1 too.
	if len(m.Models) != 3 || m.Models[0].ID != "tiny-tts" || !m.Models[0].Ready || m.Models[1].ID != "tiny-asr" || m.Models[2].ID != openAIASR {
		t.Fatalf("manifest models %+v", m.Models)
	}
	text := "Hello there. How are you today? Fine, thanks!"
	a, err := runSpeech(t, e, "tiny-tts", `{"input":"`+text+`","timings":true}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 2, 3}; !slices.Equal(a.progress, want) {
		t.Fatalf("progress steps %v, want %v", a.progress, want)
	}
	r := a.result
	if r.Voice != "bo" || r.Sentences != 3 || r.SampleRate != 22050 || r.Format != "wav" || r.Samples == 0 {
		t.Fatalf("result %+v", r)
	}
	if r.Timings["first_audio"] <= 0 || r.Timings["vocoder"] <= 0 {
		t.Fatalf("timings %v", r.Timings)
	}
	if a.artifact == nil || a.artifact.MIME != "audio/wav" || a.artifact.Name != "speech.wav" {
		t.Fatalf("artifact %+v", a.artifact)
	}
	// The WAV reads back with go-audio/wav: mono, 16-bit, the model's rate,
	// as many samples as the result says.
	dec := wav.NewDecoder(bytes.NewReader(a.artifact.Data))
	buf, err := dec.FullPCMBuffer()
	if err != nil {
		t.Fatal(err)
	}
	if dec.NumChans != 1 || dec.BitDepth != 16 || int(dec.SampleRate) != r.SampleRate || len(buf.Data) != r.Samples {
		t.Fatalf("wav: %d ch, %d bit, %d Hz, %d samples; result %+v", dec.NumChans, dec.BitDepth, dec.SampleRate, len(buf.Data), r)
	}
	nonzero := 0
	for _, v := range buf.Data {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero < len(buf.Data)/2 {
		t.Fatalf("%d of %d samples are non-zero", nonzero, len(buf.Data))
	}

	// Same input → same bytes, whatever the seed; pcm is the WAV's samples
	// resampled to 24 kHz; flac holds exactly the WAV's samples (its MD5).
	b, err := runSpeech(t, e, "tiny-tts", `{"input":"`+text+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.artifact.Data, b.artifact.Data) {
		t.Fatal("two runs gave different WAV bytes")
	}
	p, err := runSpeech(t, e, "tiny-tts", `{"input":"`+text+`","format":"pcm"}`)
	if err != nil {
		t.Fatal(err)
	}
	wavData := a.artifact.Data[44:]
	native := make([]float32, len(wavData)/2)
	for i := range native {
		native[i] = float32(int16(binary.LittleEndian.Uint16(wavData[2*i:]))) / 32767
	}
	want, _ := sound.Resample(native, r.SampleRate, 24000)
	if p.artifact.MIME != "audio/pcm" || p.result.SampleRate != 24000 || len(p.artifact.Data) != 2*len(want) {
		t.Fatalf("pcm: %s at %d Hz, %d bytes; want %d at 24000", p.artifact.MIME, p.result.SampleRate, len(p.artifact.Data), 2*len(want))
	}
	for i, w := range want {
		if got := int16(binary.LittleEndian.Uint16(p.artifact.Data[2*i:])); math.Abs(float64(got)-float64(w)*32767) > 4 {
			t.Fatalf("pcm sample %d: %d, want %.1f (the WAV resampled)", i, got, float64(w)*32767)
		}
	}
	fl, err := runSpeech(t, e, "tiny-tts", `{"input":"`+text+`","format":"flac"}`)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(wavData)
	if fl.artifact.MIME != "audio/flac" || string(fl.artifact.Data[:4]) != "fLaC" || !bytes.Equal(fl.artifact.Data[26:42], sum[:]) ||
		fl.result.SampleRate != r.SampleRate || len(fl.artifact.Data) >= len(wavData) {
		t.Fatalf("flac: %s, %d bytes (wav data %d), rate %d; STREAMINFO MD5 must be the WAV samples'", fl.artifact.MIME, len(fl.artifact.Data), len(wavData), fl.result.SampleRate)
	}
	// mp3 at the vocoder's 22.05 kHz (an MPEG-2 rate): 64 kbit/s CBR frames
	// of 576 samples, enough for the samples plus the codec's delay.
	m3, err := runSpeech(t, e, "tiny-tts", `{"input":"`+text+`","format":"mp3"}`)
	if err != nil {
		t.Fatal(err)
	}
	frames := (r.Samples + 1057 + 575) / 576
	if m3.artifact.MIME != "audio/mpeg" || m3.artifact.Data[0] != 0xff || m3.artifact.Data[1] != 0xf3 ||
		m3.result.SampleRate != 22050 || m3.result.Format != "mp3" ||
		len(m3.artifact.Data) != 72*64000*frames/22050 && len(m3.artifact.Data) != 72*64000*frames/22050+1 {
		t.Fatalf("mp3: %s % x…, %d bytes for %d frames, rate %d", m3.artifact.MIME, m3.artifact.Data[:4], len(m3.artifact.Data), frames, m3.result.SampleRate)
	}
	// Another voice is another speaker embedding: other samples.
	c, err := runSpeech(t, e, "tiny-tts", `{"input":"`+text+`","voice":"ADA"}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.result.Voice != "ada" || bytes.Equal(c.artifact.Data, a.artifact.Data) {
		t.Fatalf("voice ada: %+v, same bytes %v", c.result, bytes.Equal(c.artifact.Data, a.artifact.Data))
	}
	// Speed divides the durations: twice as fast is about half as long.
	f, err := runSpeech(t, e, "tiny-tts", `{"input":"`+text+`","speed":2}`)
	if err != nil {
		t.Fatal(err)
	}
	if ratio := float64(f.result.Samples) / float64(r.Samples); ratio < 0.35 || ratio > 0.65 {
		t.Fatalf("speed 2 gives %d samples against %d (ratio %.2f)", f.result.Samples, r.Samples, ratio)
	}
}

func TestSpeechCancel(t *testing.T) {
	e := newAudioEngine([]string{testModels})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := e.Run(ctx, sdk.Job{Task: taskSpeech, Model: "tiny-tts", Params: json.RawMessage(`{"input":"One. Two. Three. Four."}`)},
		func(ev sdk.Event) error {
			if ev.Kind == sdk.EventProgress && ev.Step == 1 {
				cancel()
			}
			n++
			return nil
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v after %d events", err, n)
	}
}

func TestSpeechUnready(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(sdk.ModelsEnv, empty) // the not-ready entries name what LOOM_MODELS lacks
	e := newAudioEngine([]string{empty})
	m, err := e.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Models) != 2 || m.Models[0].Ready || !strings.Contains(m.Models[0].Missing, speechIndex) ||
		m.Models[1].Ready || m.Models[1].ID != taskTranscribe || !strings.Contains(m.Models[1].Missing, "tokenizer.json") {
		t.Fatalf("models %+v", m.Models)
	}
	_, err = runSpeech(t, e, "", `{"input":"hi"}`)
	var pe *sdk.Error
	if !errors.As(err, &pe) || pe.Code != sdk.CodeModelUnavailable {
		t.Fatalf("run without a model: %v", err)
	}
}

func TestLoadSpeechModelErrors(t *testing.T) {
	root := tinySpeechDir(t)
	dir := filepath.Join(root, "tiny-tts")
	for _, c := range []struct{ idx, want string }{
		{`{"voices":[]}`, "no voices"},
		{`{"voices":[{"name":"a","speaker":7}]}`, "speaker 7"},
		{`{"voices":[{"name":"a","speaker":0},{"name":"a","speaker":1}]}`, "repeated"},
		{`{"voices":[{"name":"a","speaker":0}],"default_voice":"z"}`, "default_voice"},
		{`{"acoustic":"../x","voices":[{"name":"a","speaker":0}]}`, "not inside"},
		{`{"voices":`, "unexpected end"},
	} {
		if err := os.WriteFile(filepath.Join(dir, speechIndex), []byte(c.idx), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := loadSpeechModel(dir); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (want %q)", c.idx, err, c.want)
		}
	}
}

// TestEncodeWAVMatchesGoAudio: encodeWAV writes the bytes go-audio/wav's
// encoder (what it used before) writes, for odd lengths, clipping and NaN.
func TestEncodeWAVMatchesGoAudio(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 7, 1000, 22051} {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
		if n > 2 {
			s[1] = float32(math.NaN())
		}
		for _, rate := range []int{16000, 22050, 24000} {
			got, err := encodeWAV(s, rate)
			if err != nil {
				t.Fatal(err)
			}
			var buf wavSeekBuffer
			enc := wav.NewEncoder(&buf, rate, 16, 1, 1)
			ints := make([]int, n)
			for i, v := range sound.PCM16(s) {
				ints[i] = int(v)
			}
			if err := enc.Write(&audio.IntBuffer{Format: &audio.Format{NumChannels: 1, SampleRate: rate}, Data: ints, SourceBitDepth: 16}); err != nil {
				t.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, buf.b) {
				t.Fatalf("%d samples at %d Hz: %d bytes, go-audio %d; headers %x / %x", n, rate, len(got), len(buf.b), got[:min(44, len(got))], buf.b[:min(44, len(buf.b))])
			}
		}
	}
}

// wavSeekBuffer is the in-memory io.WriteSeeker go-audio/wav's encoder needs.
type wavSeekBuffer struct {
	b   []byte
	pos int
}

func (s *wavSeekBuffer) Write(p []byte) (int, error) {
	if end := s.pos + len(p); end > len(s.b) {
		s.b = append(s.b, make([]byte, end-len(s.b))...)
	}
	s.pos += copy(s.b[s.pos:], p)
	return len(p), nil
}

func (s *wavSeekBuffer) Seek(off int64, whence int) (int64, error) {
	base := map[int]int64{io.SeekStart: 0, io.SeekCurrent: int64(s.pos), io.SeekEnd: int64(len(s.b))}[whence]
	s.pos = int(base + off)
	return int64(s.pos), nil
}

func TestEncodeWAV(t *testing.T) {
	data, err := encodeWAV([]float32{0, 0.5, -0.5, 1, -1, 2, -2}, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 44+14 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		t.Fatalf("header %q, %d bytes", data[:12], len(data))
	}
	dec := wav.NewDecoder(bytes.NewReader(data))
	buf, err := dec.FullPCMBuffer()
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 16384, -16384, 32767, -32767, 32767, -32767}; !slices.Equal(buf.Data, want) || dec.SampleRate != 16000 {
		t.Fatalf("samples %v at %d Hz, want %v", buf.Data, dec.SampleRate, want)
	}
}
