package nn

import (
	"fmt"
	"math"
	"sync"

	"github.com/loomhq/loom/core/kernels"
)

// ISTFT is the inverse short-time Fourier transform of Vocos' ISTFTHead with
// "same" padding (Siuzdak 2023, gemelo-ai/vocos spectral_ops.ISTFT): every
// frame's half spectrum goes through an inverse real FFT of NFFT points, is
// multiplied by a periodic Hann window of NFFT points and overlap-added at
// multiples of Hop; (NFFT - Hop)/2 samples are trimmed at each end and the sum
// is divided by the overlap-added squared window, so T frames become exactly
// T·Hop samples — the framing of HiFi-GAN's mel (reflect padding of
// (NFFT-Hop)/2, no centring), which this inverts exactly.
type ISTFT struct {
	NFFT, Hop int
	Window    []float32 // (NFFT) periodic Hann
	fft       *kernels.FFT
	// envMid[r] is the overlap-added squared window at a sample r past a
	// multiple of Hop that every frame reaching it covers (NFFT a multiple
	// of Hop), summed as Forward's edge samples are: frames in ascending
	// order, float64 of each float32 square.
	envMid []float64 // (Hop), nil when Hop does not divide NFFT
	frames sync.Pool // *[]float32: Forward's windowed frames, kept between calls
}

// NewISTFT plans the transform. Hop must leave every output sample under at
// least two windows (Hop ≤ NFFT/2) and an even trim.
func NewISTFT(nfft, hop int) (*ISTFT, error) {
	if hop <= 0 || hop > nfft/2 || (nfft-hop)%2 != 0 {
		return nil, fmt.Errorf("istft: n_fft %d with hop %d (want 0 < hop ≤ n_fft/2, n_fft - hop even)", nfft, hop)
	}
	f, err := kernels.NewFFT(nfft)
	if err != nil {
		return nil, fmt.Errorf("istft: %w", err)
	}
	w := make([]float32, nfft)
	for i := range w {
		w[i] = float32(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(nfft)))
	}
	s := &ISTFT{NFFT: nfft, Hop: hop, Window: w, fft: f}
	if nfft%hop == 0 {
		s.envMid = make([]float64, hop)
		for r := range hop {
			for j := nfft/hop - 1; j >= 0; j-- {
				v := w[j*hop+r]
				s.envMid[r] += float64(v * v)
			}
		}
	}
	return s, nil
}

// Bins is the number of frequency bins a frame holds, NFFT/2 + 1.
func (s *ISTFT) Bins() int { return s.NFFT/2 + 1 }

// Forward sets out (T·Hop) from frames whose spectra are re + i·im, each
// (T, Bins()) row-major.
func (s *ISTFT) Forward(out, re, im []float32, T int) error {
	nb, n, hop := s.Bins(), s.NFFT, s.Hop
	if T <= 0 || len(re) < T*nb || len(im) < T*nb || len(out) < T*hop {
		return fmt.Errorf("istft: %d frames need re/im %d and out %d; got %d/%d and %d", T, T*nb, T*hop, len(re), len(im), len(out))
	}
	pad := (n - hop) / 2
	// Frames in parallel: frames[t] = window · IRFFT(frame t), kept in float32
	// as the product the sequential overlap-add summed.
	fb, _ := s.frames.Get().(*[]float32)
	if fb == nil || cap(*fb) < T*n {
		fb = &[]float32{}
		*fb = make([]float32, T*n)
	}
	defer s.frames.Put(fb)
	frames := (*fb)[:T*n]
	var errMu sync.Mutex
	var ferr error
	kernels.ParallelFor(T, 4, func(lo, hi int) {
		scratch := make([]float64, s.fft.ScratchLen())
		for t := lo; t < hi; t++ {
			f := frames[t*n : (t+1)*n]
			if err := s.fft.IRFFT(f, re[t*nb:(t+1)*nb], im[t*nb:(t+1)*nb], scratch); err != nil {
				errMu.Lock()
				ferr = err
				errMu.Unlock()
				return
			}
			for i, w := range s.Window {
				f[i] *= w
			}
		}
	})
	if ferr != nil {
		return ferr
	}
	if s.envMid == nil {
		return s.overlapAddAny(out, frames, T)
	}
	// Overlap-add by hop-long segments of the padded signal: segment g
	// (samples g·hop + r, r < hop) is covered by frames max(0, g−q+1) …
	// min(T−1, g), q = n/hop, the same frames for every r, so a segment adds
	// whole frame slices in ascending frame order into float64 sums — the
	// sums, and the order, of adding frame after frame — with no division
	// per sample. The squared-window envelope is envMid[r] where all q
	// frames exist, summed the same way at the ends. Only the kept samples
	// [pad, pad + T·hop) are computed; in parallel over segments.
	q := n / hop
	bad := -1                            // the first sample whose envelope is ~0
	g0, g1 := pad/hop, (pad+T*hop-1)/hop // the segments holding kept samples
	kernels.ParallelFor(g1-g0+1, 16, func(lo, hi int) {
		acc := make([]float64, hop)
		for g := g0 + lo; g < g0+hi; g++ {
			t0, t1 := max(0, g-q+1), min(T-1, g)
			clear(acc)
			for t := t0; t <= t1; t++ {
				f := frames[t*n+(g-t)*hop : t*n+(g-t)*hop+hop]
				for r, v := range f {
					acc[r] += float64(v)
				}
			}
			for r, a := range acc {
				i := g*hop + r - pad // output sample
				if i < 0 || i >= T*hop {
					continue
				}
				e := s.envMid[r]
				if t0 != g-q+1 || t1 != g { // an end: fewer frames
					e = 0
					for t := t0; t <= t1; t++ {
						w := s.Window[(g-t)*hop+r]
						e += float64(w * w)
					}
				}
				if e <= 1e-11 {
					errMu.Lock()
					if bad < 0 || i < bad {
						bad = i
					}
					errMu.Unlock()
					continue
				}
				out[i] = float32(a / e)
			}
		}
	})
	if bad >= 0 {
		return fmt.Errorf("istft: window envelope ~0 at sample %d", bad)
	}
	return nil
}

// overlapAddAny is Forward's overlap-add when Hop does not divide NFFT:
// gathered per output sample, frames in ascending order (the same float64
// sums in the same order as adding frame after frame), in parallel over
// blocks of samples.
func (s *ISTFT) overlapAddAny(out, frames []float32, T int) error {
	n, hop := s.NFFT, s.Hop
	pad := (n - hop) / 2
	size := (T-1)*hop + n
	acc := make([]float64, size) // overlap-added windowed frames
	env := make([]float64, size) // overlap-added squared window
	kernels.ParallelFor(size, 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			// Frames t with t·hop ≤ i < t·hop + n: from ⌈(i−n+1)/hop⌉, which
			// (i−n+hop)/hop is when not negative (Go's division truncates a
			// negative one towards 0, and max clamps it), to ⌊i/hop⌋.
			t0, t1 := max(0, (i-n+hop)/hop), min(T-1, i/hop)
			var a, e float64
			for t := t0; t <= t1; t++ {
				k := i - t*hop // < n by t0
				w := s.Window[k]
				a += float64(frames[t*n+k])
				e += float64(w * w)
			}
			acc[i], env[i] = a, e
		}
	})
	for i := range T * hop {
		e := env[pad+i]
		if e <= 1e-11 {
			return fmt.Errorf("istft: window envelope %g at sample %d", e, i)
		}
		out[i] = float32(acc[pad+i] / e)
	}
	return nil
}
