package sound

import (
	"math"
	"sync"
)

// The Layer III hybrid analysis filterbank (ISO/IEC 11172-3 §2.4.3.4 and
// Annex C): a 32-band polyphase (pseudo-QMF) filterbank, then per subband an
// 18-line MDCT over 36 subband samples (long blocks only: sine window, 50%
// overlap), then the alias-reduction butterflies — each step the inverse of
// what every decoder does, so decoding gives back the input.
//
// The polyphase window is ours. The standard's analysis window (Table C.1)
// is informative; only the decoder's synthesis window D is normative. Ours
// is a Kaiser-windowed sinc whose cutoff is tuned so the prototype is
// power-complementary at π/64, the condition for a pseudo-QMF bank to
// cancel the aliasing between adjacent bands, scaled so our own copy of the
// decoder's synthesis (with D = 32·C, the standard's relation) returns the
// input at unit gain (TestMP3FilterbankRoundTrip). A real decoder
// synthesises with the standard's D, not with 32·C, so how closely our
// prototype follows the standard's bounds the quality: β sets that. Through
// ffmpeg at 160 kbit/s, two tones come back at 20 dB with β 6, 30 dB with
// β 9, 48 dB at 10.6, 55.5 dB at 10.8, 50 dB at 11 and 41 dB at 11.4; we
// use 10.8.

const (
	mp3Beta      = 10.8 // Kaiser β of the prototype (see above)
	granuleLen   = 576  // samples per granule (one MPEG-2 frame)
	subbands     = 32
	subbandLines = 18 // MDCT lines per subband per granule
)

// mp3Consts holds the filterbank's tables, built once.
type mp3Consts struct {
	window [512]float64              // C[i]: prototype with the (−1)^⌊i/64⌋ folding signs
	cosM   [subbands][64]float64     // M[k][i] = cos((2k+1)(i−16)π/64)
	mdct   [subbandLines][36]float64 // sine window × MDCT kernel × 1/9
	cs, ca [8]float64                // alias-reduction butterflies
}

var (
	mp3Once sync.Once
	mp3K    *mp3Consts
)

// mp3Tables returns the filterbank tables, computing them on first use.
func mp3Tables() *mp3Consts {
	mp3Once.Do(func() {
		k := new(mp3Consts)
		p := mp3Prototype()
		for i := range k.window {
			s := 1.0
			if (i/64)%2 == 1 {
				s = -1
			}
			k.window[i] = s * p[i]
		}
		for sb := range k.cosM {
			for i := range k.cosM[sb] {
				k.cosM[sb][i] = math.Cos(float64((2*sb+1)*(i-16)) * math.Pi / 64)
			}
		}
		for m := range k.mdct {
			for i := range k.mdct[m] {
				w := math.Sin(math.Pi / 36 * (float64(i) + 0.5))
				k.mdct[m][i] = w * math.Cos(math.Pi/72*float64((2*i+1+18)*(2*m+1))) / 9
			}
		}
		// The standard's c_i (Table B.9, normative: the decoder uses them).
		c := [8]float64{-0.6, -0.535, -0.33, -0.185, -0.095, -0.041, -0.0142, -0.0037}
		for i, ci := range c {
			n := math.Sqrt(1 + ci*ci)
			k.cs[i], k.ca[i] = 1/n, ci/n
		}
		mp3K = k
	})
	return mp3K
}

// mp3Prototype designs the 512-tap lowpass prototype p (p[0] = 0, p
// symmetric about 256): a sinc with cutoff ωc times a Kaiser window, ωc
// bisected so |P(π/64)|² = ½·|P(0)|², then scaled to P(0) = mp3ProtoGain.
func mp3Prototype() [512]float64 {
	var p [512]float64
	build := func(wc float64) {
		i0 := besselI0(mp3Beta)
		for n := 1; n < 512; n++ {
			t := float64(n - 256)
			r := t / 256
			w := besselI0(mp3Beta*math.Sqrt(max(0, 1-r*r))) / i0
			s := wc / math.Pi
			if t != 0 {
				s = math.Sin(wc*t) / (math.Pi * t)
			}
			p[n] = s * w
		}
	}
	response := func(w float64) float64 {
		var s float64
		for n := 1; n < 512; n++ {
			s += p[n] * math.Cos(w*float64(n-256))
		}
		return s
	}
	lo, hi := 0.8*math.Pi/64, 1.2*math.Pi/64
	for range 60 {
		mid := (lo + hi) / 2
		build(mid)
		r := response(math.Pi/64) / response(0)
		if r*r < 0.5 {
			lo = mid
		} else {
			hi = mid
		}
	}
	build((lo + hi) / 2)
	g := mp3ProtoGain / response(0)
	for n := range p {
		p[n] *= g
	}
	return p
}

// mp3ProtoGain is the prototype's DC gain Σp that gives the analysis and
// the standard synthesis (window 32·C) unit gain together (2, found by
// TestMP3FilterbankRoundTrip: each of the two modulations halves the DC
// gain and the synthesis sums 16 of the 32 phases).
const mp3ProtoGain = 2.0

// mp3Analysis is the filterbank's state between granules.
type mp3Analysis struct {
	x    [512]float64                    // newest sample first
	prev [subbands][subbandLines]float64 // the previous granule's subband samples
}

// granule consumes 576 samples and writes the 576 frequency lines xr
// (subband sb's 18 lines at xr[18·sb:]).
func (a *mp3Analysis) granule(in []float32, xr *[granuleLen]float64) {
	k := mp3Tables()
	var cur [subbands][subbandLines]float64
	var y [64]float64
	for t := range subbandLines {
		copy(a.x[32:], a.x[:512-32])
		for j := range 32 {
			a.x[31-j] = float64(in[32*t+j])
		}
		for i := range y {
			var s float64
			for j := 0; j < 512; j += 64 {
				s += k.window[i+j] * a.x[i+j]
			}
			y[i] = s
		}
		for sb := range subbands {
			var s float64
			row := &k.cosM[sb]
			for i, v := range y {
				s += row[i] * v
			}
			// Frequency inversion: the decoder negates odd samples of odd subbands.
			if sb%2 == 1 && t%2 == 1 {
				s = -s
			}
			cur[sb][t] = s
		}
	}
	var z [36]float64
	for sb := range subbands {
		copy(z[:18], a.prev[sb][:])
		copy(z[18:], cur[sb][:])
		for m := range subbandLines {
			var s float64
			row := &k.mdct[m]
			for i, v := range z {
				s += row[i] * v
			}
			xr[18*sb+m] = s
		}
	}
	a.prev = cur
	// Alias reduction, the inverse of the decoder's butterflies.
	for sb := 1; sb < subbands; sb++ {
		for i := range 8 {
			bu, bd := xr[18*sb-1-i], xr[18*sb+i]
			xr[18*sb-1-i] = bu*k.cs[i] + bd*k.ca[i]
			xr[18*sb+i] = bd*k.cs[i] - bu*k.ca[i]
		}
	}
}
