package diffusion

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/sched"
)

// rerankStream is the noise stream DenoiseError draws from (Sample's noise
// is stream 0, PictureGuided's 1), so scoring never reuses a sampling draw.
const rerankStream = 0x5c0e

// DenoiseError is the model's own error on finished latents x (items, per):
// each item noised again to timestep t with noise of its own (seed + i, a
// stream no sampler uses), the denoiser run once on all items conditioned on
// ctx (items, L, D), and the mean squared difference between its output and
// what it should have predicted (the noise, or v for a v-prediction model).
// A sample the model finds unlikely for its prompt scores high: generating
// several candidates and keeping the lowest (Pick) drops most of those.
func (p *Pipeline) DenoiseError(den Denoiser, x []float32, items, t int, ctx []float32, seed int64) ([]float64, error) {
	ac := sched.AlphasCumprod(p.Sched)
	switch {
	case items < 1 || len(x) == 0 || len(x)%items != 0:
		return nil, fmt.Errorf("diffusion: %d floats of latents for %d items", len(x), items)
	case t < 0 || t >= len(ac):
		return nil, fmt.Errorf("diffusion: rerank timestep %d (0…%d)", t, len(ac)-1)
	}
	per := len(x) / items
	a := ac[t]
	sa, sb := math.Sqrt(a), math.Sqrt(1-a)
	v := p.Sched.PredictionType == "v_prediction"
	eps, in, out := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
	for i := 0; i < items; i++ {
		sched.NewNoise(uint64(seed)+uint64(i), rerankStream).Fill(eps[i*per:(i+1)*per], 1)
	}
	for q := range x {
		in[q] = float32(sa*float64(x[q]) + sb*float64(eps[q]))
	}
	if err := den(out, in, items, float32(t), ctx); err != nil {
		return nil, err
	}
	errs := make([]float64, items)
	for i := range errs {
		s := 0.0
		for q := i * per; q < (i+1)*per; q++ {
			want := float64(eps[q])
			if v {
				want = sa*float64(eps[q]) - sb*float64(x[q])
			}
			d := float64(out[q]) - want
			s += d * d
		}
		errs[i] = s / float64(per)
	}
	return errs, nil
}

// PickCandidate scores items finished candidates x (items, per) with
// DenoiseError at timestep t, each conditioned on the prompt (ctx2's second
// half, as EncodePrompts gives it), and returns the lowest one's index and
// every score.
func (p *Pipeline) PickCandidate(den Denoiser, x []float32, items, t int, ctx2 []float32, seed int64) (int, []float64, error) {
	half := len(ctx2) / 2
	ctx := make([]float32, 0, items*half)
	for i := 0; i < items; i++ {
		ctx = append(ctx, ctx2[half:]...)
	}
	errs, err := p.DenoiseError(den, x, items, t, ctx, seed)
	if err != nil {
		return 0, nil, err
	}
	return Pick(errs), errs, nil
}

// Pick is the index of the lowest score (the first of equals; NaN never
// wins over a number).
func Pick(scores []float64) int {
	best := 0
	for i, s := range scores {
		if s < scores[best] || (math.IsNaN(scores[best]) && !math.IsNaN(s)) {
			best = i
		}
	}
	return best
}
