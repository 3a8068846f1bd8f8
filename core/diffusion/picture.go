package diffusion

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/sched"
)

// PictureGuided is image-to-video's denoiser under picture guidance
// (InstructPix2Pix's image guidance, with the prompt on both sides): Sample
// batches its items twice when guidance ≠ 1, and here the first copy, the one
// guidance subtracts, runs without the picture (plain) and the second with it
// (held). The caller gives Sample a ctx2 whose two rows are both the prompt,
// so guidance scales what the picture adds to the video rather than what the
// prompt adds; a model whose prompt and picture disagree (shapes-video: the
// spatial layers draw the prompt's object) keeps the picture's object more
// often so. With guidance 1 (one copy) held runs alone.
//
// Without the picture, frame 0 (the first len(picture) floats of each item)
// is the picture noised to the step's timestep, as text-to-video training
// sees a clip, with noise drawn once from seed; the denoiser's input is in
// the variance-preserving space (Sample scales it), so that is
// √ᾱ_t·picture + √(1−ᾱ_t)·ε whatever the scheduler.
func (p *Pipeline) PictureGuided(plain, held Denoiser, picture []float32, items int, seed int64) Denoiser {
	ac := sched.AlphasCumprod(p.Sched)
	eps := make([]float32, len(picture))
	sched.NewNoise(uint64(seed), 1).Fill(eps, 1)
	return func(out, in []float32, rows int, t float32, ctx []float32) error {
		if rows == items {
			return held(out, in, rows, t, ctx)
		}
		if rows != 2*items || len(in)%rows != 0 || len(ctx)%rows != 0 {
			return fmt.Errorf("diffusion: picture guidance over %d rows of %d items", rows, items)
		}
		half, ch := len(in)/2, len(ctx)/2
		x := append([]float32(nil), in[:half]...)
		a := ac[min(max(int(math.Round(float64(t))), 0), len(ac)-1)]
		ca, cn := math.Sqrt(a), math.Sqrt(1-a)
		per := half / items
		for i := 0; i < items; i++ {
			f0 := x[i*per : i*per+len(picture)]
			for q := range f0 {
				f0[q] = float32(ca*float64(picture[q]) + cn*float64(eps[q]))
			}
		}
		if err := plain(out[:half], x, items, t, ctx[:ch]); err != nil {
			return err
		}
		return held(out[half:], in[half:], items, t, ctx[ch:])
	}
}
