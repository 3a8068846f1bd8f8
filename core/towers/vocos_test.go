package towers

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
)

// A tiny random Vocos (tools/tts/goldens.py, weights at a trained model's
// scale, some magnitudes clipped) against PyTorch: max |Go - PyTorch| over the
// waveform, whose peak is about 0.35.
const (
	ttsVocos = "testdata/tts_vocos"
	tolVocos = 5e-6
)

func TestVocosMatchesPyTorch(t *testing.T) {
	g := openSafetensors(t, ttsGolden)
	mel, shape := goldenF32(t, g, "voc_mel") // (80, T)
	raw, err := os.ReadFile(filepath.Join(ttsVocos, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg VocosConfig
	v, err := LoadVocoder(openTower(t, ttsVocos, &cfg), raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(*Vocos); !ok {
		t.Fatalf("LoadVocoder made a %T from a Vocos config", v)
	}
	wav, err := v.Forward(mel, shape[1])
	if err != nil {
		t.Fatal(err)
	}
	want, _ := goldenF32(t, g, "tts_vocos_wav")
	if len(wav) != shape[1]*v.Hop() || len(wav) != len(want) {
		t.Fatalf("%d samples, want %d", len(wav), len(want))
	}
	d := maxAbsDiff(wav, want)
	t.Logf("max abs diff %g over %d samples", d, len(wav))
	if d > tolVocos {
		t.Errorf("waveform differs from PyTorch by %g (tolerance %g)", d, tolVocos)
	}
	if _, err := v.Forward(mel[:len(mel)-1], shape[1]); err == nil {
		t.Error("short mel accepted")
	}
	if _, err := v.Forward(nil, 0); err == nil {
		t.Error("empty mel accepted")
	}
}

func TestLoadVocoderPicksHiFiGAN(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(ttsVocoderV2, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg HiFiGANConfig
	v, err := LoadVocoder(openTower(t, ttsVocoderV2, &cfg), raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(*HiFiGAN); !ok || v.Hop() != 16 || v.Mels() != 80 {
		t.Fatalf("LoadVocoder made %T (hop %d, mels %d) from a HiFi-GAN config", v, v.Hop(), v.Mels())
	}
}

func TestVocosConfigValidation(t *testing.T) {
	var cfg VocosConfig
	b := openTower(t, ttsVocos, &cfg)
	for name, mutate := range map[string]func(c *VocosConfig){
		"head dim":         func(c *VocosConfig) { c.Head.InitArgs.Dim = 7 },
		"center padding":   func(c *VocosConfig) { c.Head.InitArgs.Padding = "center" },
		"adanorm":          func(c *VocosConfig) { c.Backbone.InitArgs.AdanormEmbeddings = 4 },
		"zero layers":      func(c *VocosConfig) { c.Backbone.InitArgs.NumLayers = 0 },
		"hop over n_fft/2": func(c *VocosConfig) { c.Head.InitArgs.HopLength = 600 },
		"huge n_fft":       func(c *VocosConfig) { c.Head.InitArgs.NFFT = 1 << 20 },
	} {
		c := cfg
		mutate(&c)
		if _, err := LoadVocos(b, c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c := cfg
	c.Backbone.InitArgs.IntermediateDim = 95 // disagrees with the stored pwconv1
	if _, err := LoadVocos(openTower(t, ttsVocos, &VocosConfig{}), c); err == nil {
		t.Error("wrong intermediate_dim bound")
	}
}

func FuzzVocosConfig(f *testing.F) {
	raw, err := os.ReadFile(filepath.Join(ttsVocos, "config.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"backbone":{"init_args":{"input_channels":100,"dim":512,"intermediate_dim":1536,"num_layers":8}},"head":{"init_args":{"dim":512,"n_fft":1024,"hop_length":256,"padding":"same"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c VocosConfig
		if json.Unmarshal(data, &c) != nil || c.validate() != nil {
			return
		}
		if _, err := nn.NewISTFT(c.Head.InitArgs.NFFT, c.Head.InitArgs.HopLength); err != nil {
			return // LoadVocos reports it
		}
		b, h := c.Backbone.InitArgs, c.Head.InitArgs
		if b.Dim <= 0 || b.Dim != h.Dim || h.NFFT > 1<<16 || b.NumLayers <= 0 {
			t.Fatalf("valid config with bad sizes: %+v", c)
		}
	})
}

// TestVocosBandsMatch: the backbone in two time bands (two threads,
// Vocos.backboneBand) gives the waveform of one op after another on one
// thread bit for bit, for odd frame counts and channel counts that leave
// vector tails; so does three threads (still two bands) and an input too
// short to band.
func TestVocosBandsMatch(t *testing.T) {
	old := kernels.Default().Threads()
	defer kernels.SetThreads(old)
	small := vocosSmall()
	odd := vocosSmall()
	odd.Backbone.InitArgs.Dim, odd.Head.InitArgs.Dim = 36, 36
	odd.Backbone.InitArgs.IntermediateDim, odd.Backbone.InitArgs.NumLayers = 101, 3
	odd.Head.InitArgs.NFFT, odd.Head.InitArgs.HopLength = 64, 16
	for _, c := range []struct {
		name string
		cfg  VocosConfig
		T    []int
	}{{"small", small, []int{96, 211}}, {"odd", odd, []int{95, 97, 150, 301}}} {
		m := randomVocos(t, t.TempDir(), c.cfg)
		for _, T := range c.T {
			mel := make([]float32, m.Mels()*T)
			for i := range mel {
				mel[i] = float32(math.Sin(float64(i)*0.37)) - 4
			}
			kernels.SetThreads(1)
			want, err := m.Forward(mel, T)
			if err != nil {
				t.Fatal(err)
			}
			for _, threads := range []int{2, 3} {
				kernels.SetThreads(threads)
				got, err := m.Forward(mel, T)
				if err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s, %d frames, %d threads: sample %d is %g, one thread %g", c.name, T, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}
