package sound

// The log-mel front end of Whisper (Radford et al. 2022), as openai/whisper's
// audio.log_mel_spectrogram computes it over one window that Hugging Face's
// WhisperFeatureExtractor has padded with zeros to n_samples: a centred STFT
// (reflect padding of n_fft/2, periodic Hann window of n_fft points, hop
// 160), the last frame dropped, power spectrum, librosa's Slaney mel
// filterbank, log10 clamped at 1e-10, floored at the window's maximum − 8,
// then (x + 4)/4.

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/kernels"
)

// Whisper's fixed STFT: 16 kHz audio, 25 ms windows, 10 ms hop.
const (
	WhisperRate = 16000
	WhisperNFFT = 400
	WhisperHop  = 160
)

// MelFilters returns librosa.filters.mel(sr=rate, n_fft=nfft, n_mels=nMels)
// with its defaults (fmin 0, fmax rate/2, Slaney mel scale, Slaney area
// normalisation): (nMels, nfft/2+1) triangular filters over the FFT bins.
func MelFilters(rate, nfft, nMels int) ([]float32, error) {
	if rate <= 0 || nfft < 2 || nMels <= 0 || nMels > 1024 || nfft > 1<<16 {
		return nil, fmt.Errorf("mel filters: rate %d, n_fft %d, %d mels", rate, nfft, nMels)
	}
	bins := nfft/2 + 1
	fft := make([]float64, bins) // centre frequency of each FFT bin
	for i := range fft {
		fft[i] = float64(rate) / 2 * float64(i) / float64(bins-1)
	}
	top := hzToMel(float64(rate) / 2)
	edges := make([]float64, nMels+2) // filter edges, evenly spaced in mel
	for i := range edges {
		edges[i] = melToHz(top * float64(i) / float64(nMels+1))
	}
	w := make([]float32, nMels*bins)
	for m := 0; m < nMels; m++ {
		lo, mid, hi := edges[m], edges[m+1], edges[m+2]
		norm := 2 / (hi - lo)
		for k, f := range fft {
			v := math.Max(0, math.Min((f-lo)/(mid-lo), (hi-f)/(hi-mid)))
			w[m*bins+k] = float32(v * norm)
		}
	}
	return w, nil
}

// Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz at
// 3 mels per 200 Hz, logarithmic above with 27 mels per factor 6.4.
const (
	melLinear  = 200.0 / 3
	melLogHz   = 1000.0
	melLogMels = melLogHz / melLinear
)

var melLogStep = math.Log(6.4) / 27

func hzToMel(f float64) float64 {
	if f >= melLogHz {
		return melLogMels + math.Log(f/melLogHz)/melLogStep
	}
	return f / melLinear
}

func melToHz(m float64) float64 {
	if m >= melLogMels {
		return melLogHz * math.Exp(melLogStep*(m-melLogMels))
	}
	return m * melLinear
}

// LogMel computes Whisper's input features for windows of a fixed length.
// The DFT of each 400-point frame runs as one GEMM against a (2·bins, 400)
// cosine/sine basis made once (400 is not a power of two, and one GEMM over a
// window's 3000 frames is faster than 3000 mixed-radix FFTs in Go); the
// direct float64 sum in the tests is its twin. Read-only after NewLogMel.
type LogMel struct {
	Mels, Samples, Frames int
	filters               []float32 // (Mels, bins)
	basis                 []float32 // (2·bins, NFFT): rows cos(2πkn/N), −sin(2πkn/N) per bin k
	window                []float32 // (NFFT) periodic Hann
}

// NewLogMel plans features of nMels bins over windows of samples samples at
// 16 kHz (480000 for Whisper's 30 s): samples/160 frames.
func NewLogMel(nMels, samples int) (*LogMel, error) {
	if samples < WhisperHop || samples%WhisperHop != 0 || samples > 1<<22 {
		return nil, fmt.Errorf("log-mel: window of %d samples (a multiple of %d, at most %d)", samples, WhisperHop, 1<<22)
	}
	f, err := MelFilters(WhisperRate, WhisperNFFT, nMels)
	if err != nil {
		return nil, err
	}
	const n = WhisperNFFT
	bins := n/2 + 1
	l := &LogMel{Mels: nMels, Samples: samples, Frames: samples / WhisperHop, filters: f,
		basis: make([]float32, 2*bins*n), window: make([]float32, n)}
	for i := range l.window {
		l.window[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/n))
	}
	for k := 0; k < bins; k++ {
		for t := 0; t < n; t++ {
			ph := 2 * math.Pi * float64((k*t)%n) / n
			l.basis[2*k*n+t] = float32(math.Cos(ph))
			l.basis[(2*k+1)*n+t] = float32(-math.Sin(ph))
		}
	}
	return l, nil
}

// Compute returns the features (Mels, Frames) of audio (16 kHz mono),
// zero-padded or cut to the window.
func (l *LogMel) Compute(audio []float32) []float32 {
	const n, hop, half = WhisperNFFT, WhisperHop, WhisperNFFT / 2
	bins := n/2 + 1
	padded := make([]float32, l.Samples+2*half) // centred framing: reflect padding of n/2
	copy(padded[half:], audio[:min(len(audio), l.Samples)])
	for i := 1; i <= half; i++ {
		padded[half-i] = padded[half+i]
		padded[half+l.Samples-1+i] = padded[half+l.Samples-1-i]
	}
	T := l.Frames // torch.stft makes Frames+1; Whisper drops the last
	frames := make([]float32, T*n)
	for t := 0; t < T; t++ {
		src, dst := padded[t*hop:t*hop+n], frames[t*n:(t+1)*n]
		for i, w := range l.window {
			dst[i] = src[i] * w
		}
	}
	spec := make([]float32, T*2*bins) // (T, bins) of (re, im)
	kernels.GemmT(T, 2*bins, n, frames, n, l.basis, n, 0, spec, 2*bins)
	power := frames[:T*bins] // reuse: (T, bins)
	for i := 0; i < T*bins; i++ {
		re, im := spec[2*i], spec[2*i+1]
		power[i] = re*re + im*im
	}
	mel := spec[:T*l.Mels] // (T, Mels)
	kernels.GemmT(T, l.Mels, bins, power, bins, l.filters, bins, 0, mel, l.Mels)
	out := make([]float32, l.Mels*T)
	top := float32(math.Inf(-1))
	for t := 0; t < T; t++ {
		for m := 0; m < l.Mels; m++ {
			v := float32(math.Log10(float64(max(mel[t*l.Mels+m], 1e-10))))
			out[m*T+t] = v
			top = max(top, v)
		}
	}
	for i, v := range out {
		out[i] = (max(v, top-8) + 4) / 4
	}
	return out
}
