package towers

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/tensor"
)

// Diffusion towers on the tiny golden models, or on the pipeline folder named
// by LOOM_BENCH_DIFFUSION (e.g. $PWD/models/shapes-diffusion): one UNet step
// (batch 2 as classifier-free guidance runs it) and one VAE decode, per shape.
var diffusionBenchShapes = []struct {
	name string
	side int // latent side
}{
	{"latent16", 16},
	{"latent32", 32},
}

func benchDiffusionDir() string {
	if d := os.Getenv("LOOM_BENCH_DIFFUSION"); d != "" {
		return d
	}
	return diffusionDir
}

func BenchmarkUNetStep(b *testing.B) {
	diffusionDir := benchDiffusionDir()
	cfg, err := ReadUNetConfig(filepath.Join(diffusionDir, "unet", "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	u, err := LoadUNet(binderFor(b, filepath.Join(diffusionDir, "unet", "diffusion_pytorch_model.safetensors")), cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range diffusionBenchShapes {
		b.Run(fmt.Sprintf("%s_batch2", s.name), func(b *testing.B) {
			n := 2 * cfg.InChannels * s.side * s.side
			x, out := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i] = float32(i%7) * 0.1
			}
			ctx := make([]float32, 2*16*cfg.CrossAttentionDim)
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				if err := u.Forward(out, x, 2, s.side, s.side, []float32{500}, ctx, 16); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVAEDecode(b *testing.B) {
	diffusionDir := benchDiffusionDir()
	cfg, err := ReadVAEConfig(filepath.Join(diffusionDir, "vae", "config.json"))
	if err != nil {
		b.Fatal(err)
	}
	v, err := LoadVAE(binderFor(b, filepath.Join(diffusionDir, "vae", "diffusion_pytorch_model.safetensors")), cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range diffusionBenchShapes {
		b.Run(s.name, func(b *testing.B) {
			// Latents of a unit Gaussian's scale, as a sampler ends on (all-zero
			// latents decode through near-constant maps and time differently).
			z := make([]float32, cfg.LatentChannels*s.side*s.side)
			r := rand.New(rand.NewSource(1))
			for i := range z {
				z[i] = float32(r.NormFloat64())
			}
			f := 1 << (len(cfg.BlockOutChannels) - 1)
			img := make([]float32, 3*s.side*f*s.side*f)
			defer reportCPU(b)()
			for i := 0; i < b.N; i++ {
				if err := v.Decode(img, z, 1, s.side, s.side); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU starts counting the process's CPU time; the function it returns
// reports cpu_ms/op (all threads: the figure that holds on a busy machine,
// and what a second thread costs). Call it as defer reportCPU(b)(). The
// timed loop runs without the tests' NaN poisoning of scratch buffers, as
// production does.
func reportCPU(b *testing.B) func() {
	poison := tensor.PoisonScratch
	tensor.PoisonScratch = false
	cpu0 := kernels.ProcessCPU()
	b.ResetTimer()
	return func() {
		b.ReportMetric(float64((kernels.ProcessCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu_ms/op")
		tensor.PoisonScratch = poison
	}
}
