package diffusion

import (
	"math"
	"slices"
	"testing"

	"github.com/loomhq/loom/core/sched"
)

// DenoiseError scores what the model should have predicted: a denoiser that
// is exact for clean latents of zero (the output a fixed multiple of its
// input: the noise is all there is) scores 0 on such an item and more on any
// other, for noise and v prediction alike; the draw is the seed's, and the
// items' draws differ.
func TestDenoiseError(t *testing.T) {
	const step, per = 700, 37
	for _, pred := range []string{"epsilon", "v_prediction"} {
		p := &Pipeline{Sched: schedConfig(t, pred)}
		a := sched.AlphasCumprod(p.Sched)[step]
		k := 1 / math.Sqrt(1-a) // x_t = √(1−ā)·ε: ε = k·x_t
		if pred == "v_prediction" {
			k *= math.Sqrt(a) // v = √ā·ε − √(1−ā)·0
		}
		var seen []float32
		den := func(out, in []float32, items int, ts float32, ctx []float32) error {
			if items != 3 || ts != step || len(ctx) != 3*2 {
				t.Fatalf("denoiser called with %d items at t %g, %d context floats", items, ts, len(ctx))
			}
			seen = append(seen[:0], in...)
			for q, v := range in {
				out[q] = float32(k * float64(v))
			}
			return nil
		}
		x := make([]float32, 3*per) // item 0 zero, item 1 a little off, item 2 more
		for q := 0; q < per; q++ {
			x[per+q], x[2*per+q] = 0.1, float32(q%5)-2
		}
		errs, err := p.DenoiseError(den, x, 3, step, make([]float32, 6), 42)
		if err != nil {
			t.Fatal(err)
		}
		if errs[0] > 1e-10 || !(errs[1] > 1e-4) || !(errs[2] > errs[1]) {
			t.Errorf("%s: errors %v: want ≈0, then growing", pred, errs)
		}
		if Pick(errs) != 0 {
			t.Errorf("%s: Pick(%v) = %d", pred, errs, Pick(errs))
		}
		first := append([]float32(nil), seen...)
		if maxDiff(first[:per], first[per:2*per]) < 0.05 {
			t.Errorf("%s: items 0 and 1 were noised alike", pred)
		}
		again, _ := p.DenoiseError(den, x, 3, step, make([]float32, 6), 42)
		if again[2] != errs[2] || maxDiff(seen, first) != 0 {
			t.Errorf("%s: the same seed scored %v then %v", pred, errs, again)
		}
		if p.DenoiseError(den, x, 3, step, make([]float32, 6), 43); maxDiff(seen, first) == 0 {
			t.Errorf("%s: another seed drew the same noise", pred)
		}
	}
	p := &Pipeline{Sched: schedConfig(t, "epsilon")}
	for _, c := range []struct{ n, items, t int }{{10, 3, 500}, {0, 1, 500}, {9, 3, -1}, {9, 3, 1000}, {9, 0, 500}} {
		if _, err := p.DenoiseError(nil, make([]float32, c.n), c.items, c.t, nil, 1); err == nil {
			t.Errorf("%d floats, %d items, t %d: no error", c.n, c.items, c.t)
		}
	}
}

func TestPick(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		s    []float64
		want int
	}{{[]float64{3}, 0}, {[]float64{2, 1, 1}, 1}, {[]float64{nan, 5, 4}, 2}, {[]float64{1, nan}, 0}} {
		if got := Pick(c.s); got != c.want {
			t.Errorf("Pick(%v) = %d, want %d", c.s, got, c.want)
		}
	}
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// PickCandidate conditions every candidate on the prompt (ctx2's second
// half) and returns DenoiseError's scores with Pick's choice.
func TestPickCandidate(t *testing.T) {
	p := &Pipeline{Sched: schedConfig(t, "v_prediction")}
	var seen []float32
	den := func(out, in []float32, items int, ts float32, ctx []float32) error {
		seen = append(seen[:0], ctx...)
		clear(out)
		return nil
	}
	x := make([]float32, 3*8) // candidate 2 is far from zero: it scores worst
	for q := 16; q < 24; q++ {
		x[q] = 5
	}
	best, errs, err := p.PickCandidate(den, x, 3, 700, []float32{0, 0, 1, 1}, 5)
	if err != nil || len(errs) != 3 || best != Pick(errs) || best == 2 || errs[2] < errs[0] {
		t.Fatalf("best %d of %v: %v", best, errs, err)
	}
	if !slices.Equal(seen, []float32{1, 1, 1, 1, 1, 1}) {
		t.Fatalf("context %v: want the prompt's half for each of 3 candidates", seen)
	}
}
