package towers

import (
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

// BenchmarkCaptioner times one caption of the shipped captioner's golden
// images at a time, in process, split into its two towers (LOOM_THREADS
// sizes the pool):
//
//	LOOM_THREADS=2 go test ./core/towers -run '^$' -bench Captioner -benchtime 400x
//
// vit: the encoder over one image; decode: greedy decoding from its states
// (cross keys/values, then one step per token); caption: both, as
// Captioner.Caption runs them. cpu_ms/op is process CPU time.
func BenchmarkCaptioner(b *testing.B) {
	vit, dec, cfg := loadCaptioner(b, captionerDir)
	pixels, n, per := goldenPixels(b)
	T, H := cfg.Encoder.Tokens(), cfg.Encoder.HiddenSize
	encs := make([][]float32, n)
	for i := range encs {
		encs[i] = make([]float32, T*H)
		if err := vit.Forward(encs[i], pixels[i*per:(i+1)*per]); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, withViT, withDecode bool) {
		enc := make([]float32, T*H)
		cpu0 := kernels.ProcessCPU()
		for i := 0; i < b.N; i++ {
			k := i % n
			if withViT {
				if err := vit.Forward(enc, pixels[k*per:(k+1)*per]); err != nil {
					b.Fatal(err)
				}
			} else {
				copy(enc, encs[k])
			}
			if withDecode {
				if _, err := dec.Generate(enc, T, cfg.Start, 1, cfg.MaxLength); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64((kernels.ProcessCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu_ms/op")
	}
	b.Run("vit", func(b *testing.B) { run(b, true, false) })
	b.Run("decode", func(b *testing.B) { run(b, false, true) })
	b.Run("caption", func(b *testing.B) { run(b, true, true) })
}
