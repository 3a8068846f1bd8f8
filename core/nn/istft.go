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
	return &ISTFT{NFFT: nfft, Hop: hop, Window: w, fft: f}, nil
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
	size := (T-1)*hop + n
	// Frames in parallel: frames[t] = window · IRFFT(frame t), kept in float32
	// as the product the sequential overlap-add summed.
	frames := make([]float32, T*n)
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
	// Overlap-add gathered per output sample, frames in ascending order: the
	// same float64 sums in the same order as adding frame after frame, so
	// the samples do not depend on the threads; in parallel over blocks.
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
