package towers

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
)

// Tiny random-initialised FastSpeech 2 and HiFi-GAN generators against the
// PyTorch reference (tools/tts/model.py) on the goldens tools/tts/goldens.py
// wrote. Values are O(1); tolerances are max |Go - PyTorch|.
const (
	ttsGolden    = "testdata/tts_golden.safetensors"
	tolTTSEnc    = 2e-5 // encoder output and predictor outputs
	tolTTSMel    = 5e-5 // mel after 2 decoder layers, and postnet
	tolVocoder   = 2e-5 // waveform samples in [-1, 1]
	ttsAcoustic  = "testdata/tts_acoustic"
	ttsVocoderV1 = "testdata/tts_vocoder1"
	ttsVocoderV2 = "testdata/tts_vocoder2"
)

func openTower(t testing.TB, dir string, cfg any) *nn.Binder {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, cfg); err != nil {
		t.Fatal(err)
	}
	src, err := formats.OpenSafetensors(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return nn.NewBinder(src)
}

func goldenInts(t *testing.T, src formats.InfoSource, name string) []int {
	t.Helper()
	in, err := src.Info(name)
	if err != nil {
		t.Fatal(err)
	}
	if in.Type != kernels.I32 {
		t.Fatalf("%s: type %v", name, in.Type)
	}
	v := unsafe.Slice((*int32)(unsafe.Pointer(&in.Data[0])), len(in.Data)/4)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func loadAcoustic(t *testing.T) *FastSpeech2 {
	var cfg FastSpeech2Config
	b := openTower(t, ttsAcoustic, &cfg)
	m, err := LoadFastSpeech2(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFastSpeech2MatchesPyTorch(t *testing.T) {
	m := loadAcoustic(t)
	g := openSafetensors(t, ttsGolden)
	ids := goldenInts(t, g, "ids")
	spk := goldenInts(t, g, "speaker")[0]
	e, err := m.Encode(ids, spk, TTSControls{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []float32
	}{{"encoder", e.Hidden}, {"log_duration", e.LogDuration}, {"pitch", e.Pitch}, {"energy", e.Energy}} {
		want, _ := goldenF32(t, g, c.name)
		d := maxAbsDiff(c.got, want)
		t.Logf("%s: max abs diff %g", c.name, d)
		if d > tolTTSEnc {
			t.Errorf("%s differs from PyTorch by %g (tolerance %g)", c.name, d, tolTTSEnc)
		}
	}
	// Teacher-forced durations (zeros included), 63 frames: the decoder runs
	// past max_seq_len (50), so the computed position table is used too.
	mel, post, err := m.Decode(e, goldenInts(t, g, "durations"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  []float32
	}{{"mel", mel}, {"mel_postnet", post}} {
		want, _ := goldenF32(t, g, c.name)
		d := maxAbsDiff(c.got, want)
		t.Logf("%s: max abs diff %g", c.name, d)
		if d > tolTTSMel {
			t.Errorf("%s differs from PyTorch by %g (tolerance %g)", c.name, d, tolTTSMel)
		}
	}
	// Free-running synthesis with all three controls (d_control 0.8 = speed 1.25).
	smel, durs, err := m.Synthesize(ids, spk, TTSControls{Speed: 1.25, Pitch: 1.2, Energy: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	if want := goldenInts(t, g, "synth_durations"); !equalInts(durs, want) {
		t.Fatalf("durations %v, PyTorch %v", durs, want)
	}
	want, _ := goldenF32(t, g, "synth_mel")
	if d := maxAbsDiff(smel, want); d > tolTTSMel {
		t.Errorf("synthesised mel differs from PyTorch by %g (tolerance %g)", d, tolTTSMel)
	}
}

func TestFastSpeech2Controls(t *testing.T) {
	m := loadAcoustic(t)
	ids := []int{5, 16, 4, 21, 16, 19, 1, 20, 14, 10, 21, 9, 30}
	_, d1, err := m.Synthesize(ids, 0, TTSControls{})
	if err != nil {
		t.Fatal(err)
	}
	_, d2, err := m.Synthesize(ids, 0, TTSControls{Speed: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	sum := func(d []int) (s int) {
		for _, v := range d {
			s += v
		}
		return
	}
	// Half speed doubles every (rounded) duration exactly: int(r·2) = 2r.
	for i := range d1 {
		if d2[i] != 2*d1[i] {
			t.Fatalf("speed 0.5 durations %v, normal %v", d2, d1)
		}
	}
	if sum(d1) == 0 {
		t.Fatal("no frames")
	}
	// Speakers change the output.
	a, _, _ := m.Synthesize(ids, 0, TTSControls{})
	b, _, _ := m.Synthesize(ids, 1, TTSControls{})
	if len(a) == len(b) && maxAbsDiff(a, b) == 0 {
		t.Error("speakers 0 and 1 give the same mel")
	}
	for _, bad := range []struct {
		ids []int
		spk int
		ctl TTSControls
	}{{nil, 0, TTSControls{}}, {[]int{99}, 0, TTSControls{}}, {[]int{-1}, 0, TTSControls{}}, {ids, 3, TTSControls{}},
		{ids, -1, TTSControls{}}, {ids, 0, TTSControls{Speed: -1}}, {ids, 0, TTSControls{Speed: float32(math.Inf(1))}},
		{ids, 0, TTSControls{Speed: float32(math.NaN())}}} {
		if _, _, err := m.Synthesize(bad.ids, bad.spk, bad.ctl); err == nil {
			t.Errorf("Synthesize(%v, %d, %+v) did not fail", bad.ids, bad.spk, bad.ctl)
		}
	}
	e, _ := m.Encode(ids, 0, TTSControls{})
	if _, _, err := m.Decode(e, make([]int, len(ids))); err == nil {
		t.Error("all-zero durations accepted")
	}
	if _, _, err := m.Decode(e, []int{1}); err == nil {
		t.Error("wrong number of durations accepted")
	}
}

func TestHiFiGANMatchesPyTorch(t *testing.T) {
	g := openSafetensors(t, ttsGolden)
	mel, shape := goldenF32(t, g, "voc_mel") // (80, T)
	for _, dir := range []string{ttsVocoderV1, ttsVocoderV2} {
		var cfg HiFiGANConfig
		b := openTower(t, dir, &cfg)
		v, err := LoadHiFiGAN(b, cfg)
		if err != nil {
			t.Fatal(err)
		}
		wav, err := v.Forward(mel, shape[1])
		if err != nil {
			t.Fatal(err)
		}
		want, _ := goldenF32(t, g, filepath.Base(dir)+"_wav")
		if len(wav) != shape[1]*cfg.Hop() {
			t.Fatalf("%s: %d samples, want %d", dir, len(wav), shape[1]*cfg.Hop())
		}
		d := maxAbsDiff(wav, want)
		t.Logf("%s: max abs diff %g", dir, d)
		if d > tolVocoder {
			t.Errorf("%s: waveform differs from PyTorch by %g (tolerance %g)", dir, d, tolVocoder)
		}
		if _, err := v.Forward(mel[:len(mel)-1], shape[1]); err == nil {
			t.Errorf("%s: short mel accepted", dir)
		}
	}
}

func TestTTSConfigValidation(t *testing.T) {
	var cfg FastSpeech2Config
	openTower(t, ttsAcoustic, &cfg)
	bad := cfg
	bad.Transformer.ConvKernelSize = []int{9}
	if bad.validate() == nil {
		t.Error("one conv kernel size accepted")
	}
	bad = cfg
	bad.Transformer.EncoderHead = 5
	if bad.validate() == nil {
		t.Error("hidden not divisible by heads accepted")
	}
	var h HiFiGANConfig
	openTower(t, ttsVocoderV1, &h)
	hb := h
	hb.ResBlock = "3"
	if hb.validate() == nil {
		t.Error("resblock 3 accepted")
	}
	hb = h
	hb.UpsampleKernelSizes = []int{8}
	if hb.validate() == nil {
		t.Error("mismatched upsample lists accepted")
	}
	hb = h
	hb.HopSize = 256
	if hb.validate() == nil {
		t.Error("hop_size disagreeing with upsample rates accepted")
	}
}

func TestBucketize(t *testing.T) {
	edges := []float32{-1, 0, 1}
	for _, c := range []struct {
		v    float32
		want int
	}{{-2, 0}, {-1, 0}, {-0.5, 1}, {0, 1}, {0.5, 2}, {1, 2}, {3, 3}} {
		if got := bucketize(c.v, edges); got != c.want {
			t.Errorf("bucketize(%v) = %d, want %d", c.v, got, c.want)
		}
	}
}

// The trained models (tools/tts/train_*.py exports) end to end, when present:
// text ids → mel → waveform, finite and audible, as long as the durations say.
// LOOM_TTS_ACOUSTIC / LOOM_TTS_VOCODER point at other export folders.
func TestTTSTrainedModels(t *testing.T) {
	dirOr := func(env, def string) string {
		if v := os.Getenv(env); v != "" {
			return v
		}
		return def
	}
	ad, vd := dirOr("LOOM_TTS_ACOUSTIC", "../../models/loom-tts/acoustic"), dirOr("LOOM_TTS_VOCODER", "../../models/loom-tts/vocoder")
	if _, err := os.Stat(filepath.Join(ad, "model.safetensors")); err != nil {
		t.Skipf("no trained acoustic model in %s (tools/tts/README.md)", ad)
	}
	if _, err := os.Stat(filepath.Join(vd, "model.safetensors")); err != nil {
		t.Skipf("no trained vocoder in %s (tools/tts/README.md)", vd)
	}
	var ac FastSpeech2Config
	a, err := LoadFastSpeech2(openTower(t, ad, &ac), ac)
	if err != nil {
		t.Fatal(err)
	}
	var vraw json.RawMessage
	v, err := LoadVocoder(openTower(t, vd, &vraw), vraw)
	if err != nil {
		t.Fatal(err)
	}
	// "hello world." in textnorm's symbols.
	ids := []int{9, 6, 13, 13, 16, 1, 24, 16, 19, 13, 5, 30}
	mel, durs, err := a.Synthesize(ids, 0, TTSControls{})
	if err != nil {
		t.Fatal(err)
	}
	T := len(mel) / ac.NMelChannels
	sum := 0
	for _, d := range durs {
		sum += d
	}
	if T != sum || T == 0 {
		t.Fatalf("%d mel frames, durations sum to %d", T, sum)
	}
	cm, err := MelToVocoder(mel, T, ac.NMelChannels)
	if err != nil {
		t.Fatal(err)
	}
	wav, err := v.Forward(cm, T)
	if err != nil {
		t.Fatal(err)
	}
	var ss float64
	for _, s := range wav {
		if math.IsNaN(float64(s)) || s < -1 || s > 1 {
			t.Fatalf("sample %v", s)
		}
		ss += float64(s) * float64(s)
	}
	rms := math.Sqrt(ss / float64(len(wav)))
	t.Logf("%d frames, %d samples, rms %.4f", T, len(wav), rms)
	if len(wav) != T*v.Hop() || rms < 1e-4 {
		t.Fatalf("%d samples (want %d), rms %g", len(wav), T*v.Hop(), rms)
	}
}

func FuzzHiFiGANConfig(f *testing.F) {
	raw, err := os.ReadFile(filepath.Join(ttsVocoderV2, "config.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"resblock":"1","upsample_rates":[8,8,2,2],"upsample_kernel_sizes":[16,16,4,4],"upsample_initial_channel":512,"resblock_kernel_sizes":[3,7,11],"resblock_dilation_sizes":[[1,3,5],[1,3,5],[1,3,5]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c HiFiGANConfig
		if json.Unmarshal(data, &c) != nil || c.validate() != nil {
			return
		}
		// A valid config has a positive channel count at every stage and
		// a hop that divides evenly into its rates.
		if c.UpsampleInitialChannel>>len(c.UpsampleRates) <= 0 || c.Hop() <= 0 || c.Hop() > maxHop {
			t.Fatalf("valid config with bad sizes: %+v", c)
		}
	})
}

func FuzzDurations(f *testing.F) {
	f.Add(float32(1.3), float32(-2), float32(1))
	f.Add(float32(100), float32(0), float32(0.001))
	f.Fuzz(func(t *testing.T, a, b, speed float32) {
		d, err := Durations([]float32{a, b}, speed)
		if err != nil {
			return
		}
		for _, v := range d {
			if v < 0 || v > 1e6 {
				t.Fatalf("Durations(%v, %v, speed %v) = %v", a, b, speed, d)
			}
		}
	})
}

// TestFastSpeech2BandsMatch: the decoder in two time bands (two or three
// threads, FastSpeech2.decodeBand) gives the one-thread mel and postnet bit
// for bit, on the golden model's encoding with durations stretched to 64-190
// frames (odd counts, zeros included), and a sentence too short to band
// still splits each op.
func TestFastSpeech2BandsMatch(t *testing.T) {
	m := loadAcoustic(t)
	g := openSafetensors(t, ttsGolden)
	e, err := m.Encode(goldenInts(t, g, "ids"), goldenInts(t, g, "speaker")[0], TTSControls{})
	if err != nil {
		t.Fatal(err)
	}
	old := kernels.Default().Threads()
	defer kernels.SetThreads(old)
	base := goldenInts(t, g, "durations") // 63 frames
	for _, stretch := range []func(i, d int) int{
		func(i, d int) int { return d },         // 63: one band
		func(i, d int) int { return d + i%2 },   // odd
		func(i, d int) int { return 2*d + i%3 }, // ~130
		func(i, d int) int { return 3 * d },     // 189
	} {
		durs := make([]int, len(base))
		T := 0
		for i, d := range base {
			durs[i] = stretch(i, d)
			T += durs[i]
		}
		kernels.SetThreads(1)
		wantMel, wantPost, err := m.Decode(e, durs)
		if err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{2, 3} {
			kernels.SetThreads(threads)
			mel, post, err := m.Decode(e, durs)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name      string
				got, want []float32
			}{{"mel", mel, wantMel}, {"postnet", post, wantPost}} {
				if len(c.got) != len(c.want) {
					t.Fatalf("%d frames, %d threads: %s has %d values, want %d", T, threads, c.name, len(c.got), len(c.want))
				}
				for i := range c.want {
					if c.got[i] != c.want[i] {
						t.Fatalf("%d frames, %d threads: %s[%d] = %g, one thread %g", T, threads, c.name, i, c.got[i], c.want[i])
					}
				}
			}
		}
	}
}
