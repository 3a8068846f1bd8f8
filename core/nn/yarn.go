package nn

// YaRN context extension (Peng et al. 2023, "YaRN: Efficient Context Window
// Extension of Large Language Models") as ggml's rope_yarn computes it: each
// rotary pair's angle blends the interpolated angle (θ/factor) and the
// original one by a ramp over the pair index between two "correction
// dims", and cos and sin are scaled by a magnitude 1 + 0.1·ln(factor). The
// blend is a fixed per-pair factor on the frequency, so it becomes the
// RoPE's inverse frequencies; the magnitude, a linear factor on the rotated
// vector, is returned for the caller to apply (with any attention factor
// the model adds).

import (
	"fmt"
	"math"
)

// YaRN holds the scaling settings (GGUF's rope.scaling.*).
type YaRN struct {
	Factor             float64 // how much longer the context is (> 1)
	OrigContext        int     // the context the model was trained at
	BetaFast, BetaSlow float64 // ggml's defaults: 32 and 1
}

// NewYaRNRoPE returns the rotary embedding of rotDim dims with base theta
// under YaRN scaling y, and the magnitude 1 + 0.1·ln(factor) ggml multiplies
// the rotated values by.
func NewYaRNRoPE(rotDim int, theta float64, neox bool, y YaRN) (RoPE, float64, error) {
	if !(y.Factor > 1) || y.OrigContext <= 0 || !(y.BetaFast > y.BetaSlow) || y.BetaSlow <= 0 {
		return RoPE{}, 0, fmt.Errorf("rope: yarn scaling %+v", y)
	}
	r, err := NewRoPE(rotDim, theta, neox, RoPEScaling{}, nil)
	if err != nil {
		return RoPE{}, 0, err
	}
	// ggml_rope_yarn_corr_dims, in float32 as ggml computes them.
	corr := func(beta float64) float64 {
		return float64(float32(rotDim) * float32(math.Log(float64(float32(y.OrigContext)/(float32(beta)*2*math.Pi)))) /
			(2 * float32(math.Log(theta))))
	}
	low := math.Max(0, math.Floor(corr(y.BetaFast)))
	high := math.Min(float64(rotDim-1), math.Ceil(corr(y.BetaSlow)))
	fs := 1 / y.Factor
	for i := range r.InvFreq {
		ramp := 1 - math.Min(1, math.Max(0, (float64(i)-low)/math.Max(0.001, high-low)))
		r.InvFreq[i] *= fs*(1-ramp) + ramp
	}
	return r, 1 + 0.1*math.Log(y.Factor), nil
}
