package sched

import (
	"math"
	"testing"
)

// pinned are the first values of NewNoise(42, 0) as float32 bits. They are
// this generator's definition: a change here changes every seeded image.
var pinned = []uint32{0xbfdf5c82, 0xbf8098a2, 0xbdc8060d, 0xbeb0d972, 0x3f1b091f, 0x3fbe73b5, 0x3fa766f8, 0x3f42cb6b}

func TestNoisePinned(t *testing.T) {
	n := NewNoise(42, 0)
	got := make([]float32, len(pinned))
	n.Fill(got, 1)
	for i, b := range pinned {
		if math.Float32bits(got[i]) != b {
			t.Fatalf("value %d = %v (bits %#x), pinned %v (bits %#x)", i, got[i], math.Float32bits(got[i]), math.Float32frombits(b), b)
		}
	}
}

func TestNoiseSeedsAndStreams(t *testing.T) {
	a, b, c, d := make([]float32, 64), make([]float32, 64), make([]float32, 64), make([]float32, 64)
	NewNoise(1, 0).Fill(a, 1)
	NewNoise(1, 0).Fill(b, 1)
	NewNoise(2, 0).Fill(c, 1)
	NewNoise(1, 1).Fill(d, 1)
	same := func(x, y []float32) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("same seed gave different noise")
	}
	if same(a, c) || same(a, d) {
		t.Error("different seed or stream gave the same noise")
	}
}

func TestNoiseIsStandardGaussian(t *testing.T) {
	const n = 200000
	x := make([]float32, n)
	NewNoise(3, 0).Fill(x, 1)
	var m, v, tail float64
	for _, f := range x {
		m += float64(f)
	}
	m /= n
	for _, f := range x {
		d := float64(f) - m
		v += d * d
		if math.Abs(float64(f)) > 1.959964 {
			tail++
		}
	}
	v /= n
	tail /= n
	// Standard errors: mean 1/√n ≈ 0.0022, variance √(2/n) ≈ 0.0032, tail √(.05·.95/n) ≈ 0.0005.
	if math.Abs(m) > 0.01 || math.Abs(v-1) > 0.015 || math.Abs(tail-0.05) > 0.003 {
		t.Errorf("mean %g, variance %g, P(|z|>1.96) %g", m, v, tail)
	}
}

// detLog and detSinCos2Pi against the math package (their twin): equal to a
// few ulps over their whole domain.
func TestDeterministicMathMatchesLibm(t *testing.T) {
	n := NewNoise(9, 0)
	for i := 0; i < 100000; i++ {
		u := n.Float64()
		x := float64(n.Uint64()>>11+1) * (1.0 / (1 << 53))
		if d := math.Abs(detLog(x) - math.Log(x)); d > 4e-16*math.Max(1, math.Abs(math.Log(x))) {
			t.Fatalf("detLog(%g) = %.17g, math.Log %.17g", x, detLog(x), math.Log(x))
		}
		s, c := detSinCos2Pi(u)
		ws, wc := math.Sincos(2 * math.Pi * u)
		if math.Abs(s-ws) > 2e-15 || math.Abs(c-wc) > 2e-15 {
			t.Fatalf("sincos(2π·%g) = %.17g, %.17g; math %.17g, %.17g", u, s, c, ws, wc)
		}
	}
	for _, x := range []float64{1, 0.5, 1e-300, 1.0 / (1 << 53), math.Sqrt2 / 2} {
		if d := math.Abs(detLog(x) - math.Log(x)); d > 1e-15*math.Abs(math.Log(x))+1e-300 {
			t.Errorf("detLog(%g) = %.17g, want %.17g", x, detLog(x), math.Log(x))
		}
	}
}

func TestNoiseLatents(t *testing.T) {
	s, _ := New("euler", Config{}, 20)
	x, err := NewNoise(5, 0).Latents(1000, s)
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, f := range x {
		v += float64(f) * float64(f)
	}
	if sd := math.Sqrt(v / 1000); math.Abs(sd/s.InitNoiseSigma()-1) > 0.1 {
		t.Errorf("latents have sd %g, want about %g", sd, s.InitNoiseSigma())
	}
	if _, err := NewNoise(5, 0).Latents(0, s); err == nil {
		t.Error("zero latents accepted")
	}
}
