package nn

import (
	"math"
	"testing"
)

// TestYaRNRoPE: 16 rotary dims, base 10000, factor 4 over an original
// context of 64 put ggml's correction dims at 0 and 3 (corr_dim(32) =
// 16·ln(64/(32·2π))/(2·ln 10000) = −0.99 → 0, corr_dim(1) = 2.02 → 3), so
// pair 0 keeps its frequency, pairs 3… are interpolated (÷4) and pairs 1, 2
// blend by the ramp 2/3, 1/3; the magnitude is 1 + 0.1·ln 4.
func TestYaRNRoPE(t *testing.T) {
	r, mag, err := NewYaRNRoPE(16, 10000, false, YaRN{Factor: 4, OrigContext: 64, BetaFast: 32, BetaSlow: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range r.InvFreq {
		base := math.Pow(10000, -float64(2*i)/16)
		ramp := math.Max(0, 1-float64(i)/3)
		want := base * (0.25*(1-ramp) + ramp)
		if math.Abs(f-want) > 1e-12*base {
			t.Errorf("pair %d: inverse frequency %g, want %g", i, f, want)
		}
	}
	if math.Abs(mag-(1+0.1*math.Log(4))) > 1e-12 {
		t.Errorf("magnitude %v", mag)
	}
	for _, y := range []YaRN{{Factor: 1, OrigContext: 64, BetaFast: 32, BetaSlow: 1}, {Factor: 4, BetaFast: 32, BetaSlow: 1}, {Factor: 4, OrigContext: 64, BetaFast: 1, BetaSlow: 32}} {
		if _, _, err := NewYaRNRoPE(16, 10000, false, y); err == nil {
			t.Errorf("%+v was accepted", y)
		}
	}
}
