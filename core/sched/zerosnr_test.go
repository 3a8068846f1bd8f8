package sched

import (
	"math"
	"testing"
)

// TestZeroTerminalSNR checks the rescaled schedule against values from the
// independent numpy implementation in tools/diffusion/sched.py (which
// builds the betas in float32, as diffusers does: hence the tolerance), and
// the rescale's properties: ᾱ_0 kept, √ᾱ an affine image of the original,
// the last step pure noise up to 2⁻²⁴.
func TestZeroTerminalSNR(t *testing.T) {
	c := Config{PredictionType: "v_prediction", RescaleBetasZeroSnr: true}
	ac := AlphasCumprod(c)
	for _, g := range []struct {
		t    int
		want float64
	}{{0, 0.9991500000469384}, {1, 0.9982334462472441}, {250, 0.6524570305167762}, {500, 0.24101879444044508},
		{900, 0.0029603938680785495}, {998, 1.9678882843319527e-07}, {999, 5.960464477539063e-08}} {
		if d := math.Abs(ac[g.t] - g.want); d > 2e-6*g.want+1e-11 {
			t.Errorf("ᾱ[%d] = %.10g, numpy %.10g", g.t, ac[g.t], g.want)
		}
	}
	orig := AlphasCumprod(Config{})
	// √ᾱ' = (√ᾱ − √ᾱ_T)·k: the ratio of differences is constant.
	k := (math.Sqrt(ac[0]) - math.Sqrt(ac[500])) / (math.Sqrt(orig[0]) - math.Sqrt(orig[500]))
	for i := 1; i < 999; i += 37 {
		got := (math.Sqrt(ac[0]) - math.Sqrt(ac[i])) / (math.Sqrt(orig[0]) - math.Sqrt(orig[i]))
		if math.Abs(got-k) > 1e-9 {
			t.Fatalf("step %d: √ᾱ not an affine image of the original (%v vs %v)", i, got, k)
		}
	}
	if ac[999] != 1.0/(1<<24) || ac[0] != orig[0] {
		t.Fatalf("ends: ᾱ_0 %v (original %v), ᾱ_999 %v", ac[0], orig[0], ac[999])
	}
	// Every sampler, started from pure noise at t = 999 and fed the perfect
	// v-prediction for a clean latent x₀, ends on x₀.
	x0 := []float64{0.7, -1.2, 0.05, 2.0}
	for _, kind := range Kinds {
		cfg := Config{PredictionType: "v_prediction", RescaleBetasZeroSnr: true, TimestepSpacing: "trailing"}
		s, err := New(kind, cfg, 10)
		if err != nil {
			t.Fatal(err)
		}
		ts := s.Timesteps()
		if ts[0] != 999 {
			t.Fatalf("%s: trailing spacing starts at %v", kind, ts[0])
		}
		noise := NewNoise(3, 0)
		x := make([]float32, len(x0))
		noise.Fill(x, s.InitNoiseSigma())
		in, out, z := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
		for i := range ts {
			s.ScaleInput(in, x, i)
			a := ac[int(math.Round(ts[i]))]
			al, sg := math.Sqrt(a), math.Sqrt(1-a)
			for j := range x {
				out[j] = float32(al/sg*(float64(in[j])-al*x0[j]) - sg*x0[j])
			}
			noise.Fill(z, 1)
			if err := s.Step(x, out, i, z); err != nil {
				t.Fatal(err)
			}
			for _, v := range x {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s step %d: %v", kind, i, x)
				}
			}
		}
		if d := maxAbs(x, x0); d > 2e-3 {
			t.Errorf("%s: ends %g from the clean latent (%v)", kind, d, x)
		}
	}
	if _, err := New("ddim", Config{RescaleBetasZeroSnr: true}, 10); err == nil {
		t.Fatal("zero-SNR schedule with ε-prediction accepted")
	}
}
