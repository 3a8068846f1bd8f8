package sched

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/sample"
)

// Noise is a seeded source of unit Gaussian float32s that gives the same
// values on every machine and Go version: a PCG-XSH-RR 64/32 generator
// (O'Neill 2014) feeding Box–Muller, with the logarithm and sine/cosine
// computed here from fixed polynomials in plain float64 arithmetic (each
// product rounded on its own, so no platform fuses a multiply-add), rather
// than by math.Log/Sincos, whose last bit may differ between assembly and
// pure-Go builds.
type Noise struct {
	pcg      *sample.PCG // the core's one PCG32, shared with text sampling
	spare    float64
	hasSpare bool
}

// NewNoise seeds a generator; stream selects one of 2⁶³ independent
// sequences for the same seed (e.g. one per image of a batch).
func NewNoise(seed, stream uint64) *Noise {
	return &Noise{pcg: sample.NewPCGStream(seed, stream)}
}

// Uint64 returns 64 random bits.
func (n *Noise) Uint64() uint64 { return uint64(n.pcg.Uint32())<<32 | uint64(n.pcg.Uint32()) }

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (n *Noise) Float64() float64 { return float64(n.Uint64()>>11) * (1.0 / (1 << 53)) }

// Normal returns one standard Gaussian value.
func (n *Noise) Normal() float64 {
	if n.hasSpare {
		n.hasSpare = false
		return n.spare
	}
	u1 := float64(n.Uint64()>>11+1) * (1.0 / (1 << 53)) // (0, 1]: log is finite
	u2 := n.Float64()
	r := math.Sqrt(float64(-2 * detLog(u1))) // IEEE sqrt is exact everywhere
	s, c := detSinCos2Pi(u2)
	n.spare, n.hasSpare = float64(r*s), true
	return float64(r * c)
}

// Fill sets dst to Gaussian values scaled by sigma.
func (n *Noise) Fill(dst []float32, sigma float64) {
	for i := range dst {
		dst[i] = float32(float64(n.Normal() * sigma))
	}
}

// Latents returns the starting latents of a generation (count values of
// unit noise times the sampler's initial sigma), or an error for a bad count.
func (n *Noise) Latents(count int, s Sampler) ([]float32, error) {
	if count <= 0 || count > 1<<28 {
		return nil, fmt.Errorf("sched: %d latent values", count)
	}
	x := make([]float32, count)
	n.Fill(x, s.InitNoiseSigma())
	return x, nil
}

const ln2 = 0.693147180559945309417232121458176568

// detLog is ln x for x > 0 from frexp (exact) and the atanh series of the
// mantissa m ∈ [√½, √2): ln m = 2·atanh(s), s = (m-1)/(m+1), |s| < 0.172;
// twelve terms leave an error below 1e-19.
func detLog(x float64) float64 {
	m, e := math.Frexp(x) // x = m·2^e, m ∈ [0.5, 1)
	if m < math.Sqrt2/2 {
		m *= 2
		e--
	}
	s := float64(m-1) / float64(m+1)
	s2 := float64(s * s)
	sum := 0.0
	for k := 23; k >= 1; k -= 2 {
		sum = float64(float64(sum*s2) + 1/float64(k))
	}
	return float64(float64(float64(2*s)*sum) + float64(float64(e)*ln2))
}

// detSinCos2Pi returns sin and cos of 2πu for u ∈ [0, 1): the quarter turn
// is taken exactly from u, and Taylor series of degree 25/24 on [0, π/2]
// leave errors below 1e-17.
func detSinCos2Pi(u float64) (float64, float64) {
	q := int(u * 4) // quadrant 0..3; u·4 is exact
	r := float64(u - float64(q)*0.25)
	a := float64(r * (2 * math.Pi)) // [0, π/2)
	a2 := float64(a * a)
	sn, cs := 0.0, 0.0
	// sin a = a·Σ (-a²)^k/(2k+1)!, cos a = Σ (-a²)^k/(2k)!, Horner from the top.
	for k := 12; k >= 0; k-- {
		sn = float64(float64(-a2*sn)/float64((2*k+2)*(2*k+3))) + 1
		cs = float64(float64(-a2*cs)/float64((2*k+1)*(2*k+2))) + 1
	}
	sn = float64(a * sn)
	switch q {
	case 1:
		return cs, -sn
	case 2:
		return -sn, -cs
	case 3:
		return -cs, sn
	}
	return sn, cs
}
