// Package sound turns a vocoder's float samples into the audio formats the
// speech endpoint serves: a band-limited resampler (to OpenAI's 24 kHz pcm),
// a FLAC encoder and an MP3 (MPEG-2 Layer III) encoder, all plain Go.
package sound

import (
	"fmt"
	"math"
)

// resampleTaps is the half-width, in input samples at the lower of the two
// rates, of the windowed-sinc kernel: 32 zero crossings each side.
const resampleTaps = 32

// Resample converts mono samples from rate `from` to rate `to` by windowed-sinc
// interpolation (Kaiser window, β 8.6: stopband below −80 dB), with the
// cutoff at the lower rate's Nyquist frequency so downsampling does not
// alias. Output sample n is the band-limited signal at time n/to; there are
// ceil(len·to/from) of them. Equal rates return a copy.
func Resample(in []float32, from, to int) ([]float32, error) {
	if from <= 0 || to <= 0 || from > 1<<20 || to > 1<<20 {
		return nil, fmt.Errorf("resample: rates %d → %d", from, to)
	}
	if from == to {
		return append([]float32(nil), in...), nil
	}
	n := int((int64(len(in))*int64(to) + int64(from) - 1) / int64(from))
	out := make([]float32, n)
	cut := math.Min(1, float64(to)/float64(from)) // cutoff as a fraction of the input Nyquist
	half := float64(resampleTaps) / cut           // kernel half-width in input samples
	// The kernel cut·sinc(cut·t)·kaiser(t/half), tabulated at 1/kernelSteps of
	// an input sample and read with linear interpolation (error < 1e-6).
	table := make([]float64, int(half*kernelSteps)+2)
	i0 := besselI0(kaiserBeta)
	for i := range table {
		t := float64(i) / kernelSteps
		w := t / half
		table[i] = cut * sinc(cut*t) * besselI0(kaiserBeta*math.Sqrt(max(0, 1-w*w))) / i0
	}
	kernel := func(t float64) float64 {
		f := math.Abs(t) * kernelSteps
		i := int(f)
		if i+1 >= len(table) {
			return 0
		}
		return table[i] + (f-float64(i))*(table[i+1]-table[i])
	}
	for j := range out {
		x := float64(j) * float64(from) / float64(to) // position in input samples
		lo, hi := int(math.Ceil(x-half)), int(math.Floor(x+half))
		var sum float64
		for k := max(lo, 0); k <= min(hi, len(in)-1); k++ {
			sum += float64(in[k]) * kernel(x-float64(k))
		}
		out[j] = float32(sum)
	}
	return out, nil
}

// kernelSteps is the resolution of the tabulated kernel, per input sample.
const kernelSteps = 512

const kaiserBeta = 8.6

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the modified Bessel function of the first kind, order 0 (power series).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / 2) / float64(k)
		sum += term * term
		if term*term < 1e-12*sum {
			break
		}
	}
	return sum
}

// PCM16 turns samples in [-1, 1] into 16-bit values (clamped, rounded half
// away from zero, NaN as 0), so the same samples always give the same bytes.
func PCM16(samples []float32) []int16 {
	out := make([]int16, len(samples))
	for i, s := range samples {
		out[i] = PCM16Sample(s)
	}
	return out
}

// PCM16Sample is one sample of PCM16.
func PCM16Sample(s float32) int16 {
	v := float64(s)
	if math.IsNaN(v) {
		v = 0
	}
	return int16(math.Round(max(-1, min(1, v)) * 32767))
}
