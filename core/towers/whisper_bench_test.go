package towers

import (
	"math"
	"strconv"
	"testing"
)

// whisperShapes are the benchmark's models: openai/whisper's tiny and base
// dimensions (random weights: speed depends on shapes, not values).
var whisperShapes = []struct {
	name string
	cfg  WhisperConfig
}{
	{"tiny", WhisperConfig{DModel: 384, EncoderLayers: 4, EncoderHeads: 6, EncoderFFN: 1536, DecoderLayers: 4, DecoderHeads: 6, DecoderFFN: 1536,
		NumMelBins: 80, MaxSourcePositions: 1500, MaxTargetPositions: 448, VocabSize: 51865}},
	{"base", WhisperConfig{DModel: 512, EncoderLayers: 6, EncoderHeads: 8, EncoderFFN: 2048, DecoderLayers: 6, DecoderHeads: 8, DecoderFFN: 2048,
		NumMelBins: 80, MaxSourcePositions: 1500, MaxTargetPositions: 448, VocabSize: 51865}},
}

// randomWhisper is a Whisper of cfg's shape with random weights.
func randomWhisper(b testing.TB, cfg WhisperConfig) *Whisper {
	D := cfg.DModel
	bind := randomWeights(b, b.TempDir(), "whisper", func(add func(string, float64, ...int)) {
		lin := func(name string, out, in int, bias bool) {
			add(name+".weight", 1/math.Sqrt(float64(in)), out, in)
			if bias {
				add(name+".bias", 0.01, out)
			}
		}
		ln := func(name string) { add(name+".weight", 0.1, D); add(name+".bias", 0.01, D) }
		layer := func(p string, ff int, cross bool) {
			for _, a := range []string{"self_attn", "encoder_attn"} {
				if a == "encoder_attn" && !cross {
					continue
				}
				lin(p+a+".q_proj", D, D, true)
				lin(p+a+".k_proj", D, D, false)
				lin(p+a+".v_proj", D, D, true)
				lin(p+a+".out_proj", D, D, true)
				ln(p + a + "_layer_norm")
			}
			lin(p+"fc1", ff, D, true)
			lin(p+"fc2", D, ff, true)
			ln(p + "final_layer_norm")
		}
		add("model.encoder.conv1.weight", 0.05, D, cfg.NumMelBins, 3)
		add("model.encoder.conv1.bias", 0.01, D)
		add("model.encoder.conv2.weight", 0.02, D, D, 3)
		add("model.encoder.conv2.bias", 0.01, D)
		for i := 0; i < cfg.EncoderLayers; i++ {
			layer("model.encoder.layers."+strconv.Itoa(i)+".", cfg.EncoderFFN, false)
		}
		ln("model.encoder.layer_norm")
		add("model.decoder.embed_tokens.weight", 0.02, cfg.VocabSize, D)
		add("model.decoder.embed_positions.weight", 0.02, cfg.MaxTargetPositions, D)
		for i := 0; i < cfg.DecoderLayers; i++ {
			layer("model.decoder.layers."+strconv.Itoa(i)+".", cfg.DecoderFFN, true)
		}
		ln("model.decoder.layer_norm")
	})
	m, err := LoadWhisper(bind, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkWhisperWindow: one 30 s window — the encoder, then 4 prompt
// tokens and 60 decoded tokens through the KV cache (fixed tokens, so every
// run does the same work). ns/op ÷ 30e9 is the real-time factor of a window
// of speech at about two tokens a second; tools/asr/bench_torch.py times
// the same work in PyTorch.
func BenchmarkWhisperWindow(b *testing.B) {
	for _, s := range whisperShapes {
		b.Run(s.name, func(b *testing.B) {
			m := randomWhisper(b, s.cfg)
			mel := make([]float32, s.cfg.NumMelBins*s.cfg.Frames())
			for i := range mel {
				mel[i] = float32(math.Sin(float64(i) * 0.001))
			}
			b.ResetTimer()
			for range b.N {
				enc, err := m.Encode(mel)
				if err != nil {
					b.Fatal(err)
				}
				st, err := m.NewState(enc)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.Step(st, []int{50258, 50259, 50359, 50363}, false); err != nil {
					b.Fatal(err)
				}
				for t := 0; t < 60; t++ {
					if _, err := m.Step(st, []int{1000 + t}, false); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
