package towers

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
)

// randomWeights writes the tensors that fill declares, each normal with the
// given scale, to a GGUF file in dir and returns a binder over them:
// benchmarks need the real shapes, not trained values.
func randomWeights(b testing.TB, dir, arch string, fill func(add func(name string, scale float64, shape ...int))) *nn.Binder {
	r := rand.New(rand.NewSource(1))
	var ts []*formats.Info
	fill(func(name string, scale float64, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(r.NormFloat64()*scale)))
		}
		ts = append(ts, &formats.Info{Name: name, Type: kernels.F32, Shape: shape, Data: data})
	})
	path := filepath.Join(dir, arch+".gguf")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := formats.WriteGGUF(f, formats.Metadata{"general.architecture": arch}, ts); err != nil {
		b.Fatal(err)
	}
	f.Close()
	src, err := formats.OpenGGUF(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	return nn.NewBinder(src)
}

// randomHiFiGAN loads a random-weight generator of cfg's shape (plain
// weights, as after remove_weight_norm).
func randomHiFiGAN(b testing.TB, dir string, cfg HiFiGANConfig) *HiFiGAN {
	bind := randomWeights(b, dir, "hifigan", func(add func(string, float64, ...int)) {
		conv := func(name string, out, in, k int) {
			add(name+".weight", 1/math.Sqrt(float64(in*k)), out, in, k)
			add(name+".bias", 0.01, out)
		}
		c0 := cfg.UpsampleInitialChannel
		conv("conv_pre", c0, cfg.NumMels, 7)
		for i, k := range cfg.UpsampleKernelSizes {
			add(fmt.Sprintf("ups.%d.weight", i), 1/math.Sqrt(float64(c0>>i*k)), c0>>i, c0>>(i+1), k)
			add(fmt.Sprintf("ups.%d.bias", i), 0.01, c0>>(i+1))
		}
		rb := 0
		for i := range cfg.UpsampleRates {
			ch := c0 >> (i + 1)
			for j, k := range cfg.ResBlockKernelSizes {
				for n := range cfg.ResBlockDilationSizes[j] {
					if cfg.ResBlock == "1" {
						conv(fmt.Sprintf("resblocks.%d.convs1.%d", rb, n), ch, ch, k)
						conv(fmt.Sprintf("resblocks.%d.convs2.%d", rb, n), ch, ch, k)
					} else {
						conv(fmt.Sprintf("resblocks.%d.convs.%d", rb, n), ch, ch, k)
					}
				}
				rb++
			}
		}
		conv("conv_post", 1, c0>>len(cfg.UpsampleRates), 7)
	})
	m, err := LoadHiFiGAN(bind, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// randomVocos loads a random-weight Vocos of cfg's shape.
func randomVocos(b testing.TB, dir string, cfg VocosConfig) *Vocos {
	a, h := cfg.Backbone.InitArgs, cfg.Head.InitArgs
	bind := randomWeights(b, dir, "vocos", func(add func(string, float64, ...int)) {
		norm := func(name string) {
			add(name+".weight", 0.1, a.Dim)
			add(name+".bias", 0.1, a.Dim)
		}
		add("backbone.embed.weight", 1/math.Sqrt(float64(a.InputChannels*7)), a.Dim, a.InputChannels, 7)
		add("backbone.embed.bias", 0.01, a.Dim)
		norm("backbone.norm")
		for i := range a.NumLayers {
			p := fmt.Sprintf("backbone.convnext.%d.", i)
			add(p+"dwconv.weight", 0.3, a.Dim, 1, 7)
			add(p+"dwconv.bias", 0.01, a.Dim)
			norm(p + "norm")
			add(p+"pwconv1.weight", 1/math.Sqrt(float64(a.Dim)), a.IntermediateDim, a.Dim)
			add(p+"pwconv1.bias", 0.01, a.IntermediateDim)
			add(p+"pwconv2.weight", 1/math.Sqrt(float64(a.IntermediateDim)), a.Dim, a.IntermediateDim)
			add(p+"pwconv2.bias", 0.01, a.Dim)
			add(p+"gamma", 0.1, a.Dim)
		}
		norm("backbone.final_layer_norm")
		add("head.out.weight", 1/math.Sqrt(float64(a.Dim)), h.NFFT+2, a.Dim)
		add("head.out.bias", 0.01, h.NFFT+2)
	})
	m, err := LoadVocos(bind, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// vocosSmall is tools/tts/train_vocos.py's "small" size (~2.1M parameters).
func vocosSmall() VocosConfig {
	var c VocosConfig
	c.Backbone.InitArgs.InputChannels, c.Backbone.InitArgs.Dim = 80, 192
	c.Backbone.InitArgs.IntermediateDim, c.Backbone.InitArgs.NumLayers = 576, 8
	c.Head.InitArgs.Dim, c.Head.InitArgs.NFFT, c.Head.InitArgs.HopLength = 192, 1024, 256
	c.SamplingRate = 22050
	return c
}

// benchVocoder vocodes one second of audio (86 frames at hop 256); the
// reported rtf is seconds of compute per second of audio.
func benchVocoder(b *testing.B, m Vocoder) {
	T := 86
	mel := make([]float32, 80*T)
	for i := range mel {
		mel[i] = float32(math.Sin(float64(i))) - 4
	}
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward(mel, T); err != nil {
			b.Fatal(err)
		}
	}
	sec := float64(T*m.Hop()) / 22050
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/sec, "rtf")
}

// BenchmarkVocosSmall: the shipped vocoder's shape.
func BenchmarkVocosSmall(b *testing.B) { benchVocoder(b, randomVocos(b, b.TempDir(), vocosSmall())) }

// hifiganSmall is tools/tts/train_vocoder.py's "small" size (~0.85M parameters).
var hifiganSmall = HiFiGANConfig{ResBlock: "2", NumMels: 80, UpsampleRates: []int{8, 8, 4},
	UpsampleKernelSizes: []int{16, 16, 8}, UpsampleInitialChannel: 192, ResBlockKernelSizes: []int{3, 5, 7},
	ResBlockDilationSizes: [][]int{{1, 2}, {2, 6}, {3, 12}}, SamplingRate: 22050}

// BenchmarkHiFiGANSmall: the first shipped vocoder's shape.
func BenchmarkHiFiGANSmall(b *testing.B) {
	benchVocoder(b, randomHiFiGAN(b, b.TempDir(), hifiganSmall))
}

// A random small generator runs in Go and keeps its output in range: the
// shapes of the default training size bind and compose.
func TestHiFiGANSmallShapes(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	m := randomHiFiGAN(t, t.TempDir(), hifiganSmall)
	mel := make([]float32, 80*4)
	wav, err := m.Forward(mel, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(wav) != 4*256 {
		t.Fatalf("%d samples", len(wav))
	}
	for _, s := range wav {
		if !(s >= -1 && s <= 1) {
			t.Fatalf("sample %v", s)
		}
	}
}

// BenchmarkFastSpeech2Sentence runs the acoustic model on one 77-symbol
// sentence (the length of `bench speech`'s one-sentence jobs): the encoder
// with the variance adaptor, and the decoder on the predicted durations.
// The model is $LOOM_BENCH_TTS/acoustic (e.g. $PWD/models/loom-tts), else
// the golden test model.
func BenchmarkFastSpeech2Sentence(b *testing.B) {
	dir := ttsAcoustic
	if d := os.Getenv("LOOM_BENCH_TTS"); d != "" {
		dir = filepath.Join(d, "acoustic")
	}
	var cfg FastSpeech2Config
	m, err := LoadFastSpeech2(openTower(b, dir, &cfg), cfg)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int, 77)
	for i := range ids {
		ids[i] = 1 + (i*7)%(cfg.NSrcVocab-1)
	}
	e, err := m.Encode(ids, 0, TTSControls{})
	if err != nil {
		b.Fatal(err)
	}
	durs, err := Durations(e.LogDuration, 1)
	if err != nil {
		b.Fatal(err)
	}
	for i := range durs {
		durs[i] = min(max(durs[i], 1), 20) // a random test model's predictions may be anything
	}
	b.Run("encode", func(b *testing.B) {
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			if _, err := m.Encode(ids, 0, TTSControls{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		defer reportCPU(b)()
		for i := 0; i < b.N; i++ {
			if _, _, err := m.Decode(e, durs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
