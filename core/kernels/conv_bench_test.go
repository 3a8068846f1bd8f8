package kernels

import (
	"fmt"
	"math/rand"
	"os"
	"testing"
)

// BenchmarkConv2D runs the 3×3, pad-1 convolutions of the Shapes UNet (batch
// 2, 4×4…16×16 maps), the motion UNet (a guided step's 32 frames) and the VAE
// decoder (32×32 and 64×64), reporting GFLOP/s.
func BenchmarkConv2D(b *testing.B) {
	for _, s := range []struct{ n, c, k, side int }{
		{2, 64, 64, 4}, {2, 64, 64, 8}, {2, 128, 64, 16}, {2, 64, 64, 16}, {2, 32, 32, 16},
		{32, 64, 64, 4}, {32, 128, 64, 4}, {32, 64, 64, 8}, {32, 128, 64, 8}, {32, 32, 32, 16},
		{1, 64, 64, 32}, {1, 64, 64, 64}, {1, 32, 32, 64},
	} {
		p := Conv2DParams{N: s.n, C: s.c, H: s.side, W: s.side, K: s.k, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, Groups: 1}
		r := rand.New(rand.NewSource(1))
		x, w, bias := randSlice(r, s.n*s.c*s.side*s.side), randSlice(r, s.k*s.c*9), randSlice(r, s.k)
		out := make([]float32, s.n*s.k*s.side*s.side)
		flops := 2 * float64(s.n*s.k*s.c*9*s.side*s.side)
		b.Run(fmt.Sprintf("n%d_c%d_k%d_%dx%d", s.n, s.c, s.k, s.side, s.side), func(b *testing.B) {
			if os.Getenv("LOOM_CONV_WIDE") != "" { // A/B of the two stride-1 paths
				old := conv2dTapsMinPixels
				conv2dTapsMinPixels = 1 << 30
				defer func() { conv2dTapsMinPixels = old }()
			}
			cpu0 := ProcessCPU()
			for i := 0; i < b.N; i++ {
				if err := Conv2D(out, x, w, bias, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(flops*float64(b.N)/(ProcessCPU()-cpu0).Seconds()/1e9, "cpu_GFLOP/s")
		})
	}
}
