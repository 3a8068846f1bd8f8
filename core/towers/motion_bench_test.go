package towers

import (
	"math/rand"
	"os"
	"testing"
)

// One guided motion-UNet step (the unconditional and conditional copy of one
// video: two videos in one batch) on the tiny golden model, or on the
// pipeline folder named by LOOM_BENCH_VIDEO (e.g. $PWD/models/shapes-video),
// at its sample size and 16 frames. One untimed step first grows the
// arena, as a served video's first step does; cpu_ms/op is the figure that
// holds on a busy machine.
func BenchmarkMotionUNetStep(b *testing.B) {
	dir := os.Getenv("LOOM_BENCH_VIDEO")
	if dir == "" {
		dir = motionDir
	}
	m := loadMotionFolder(b, dir)
	c := m.Cfg.UNet
	side, frames := c.SampleSize, min(16, m.MaxFrames())
	n := 2 * frames * m.LatentChannels() * side * side
	r := rand.New(rand.NewSource(1))
	x, out := make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	ctx := make([]float32, 2*16*c.CrossAttentionDim)
	step := func() error { return m.Forward(out, x, 2, frames, side, side, []float32{500}, ctx, 16) }
	if err := step(); err != nil {
		b.Fatal(err)
	}
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		if err := step(); err != nil {
			b.Fatal(err)
		}
	}
}
