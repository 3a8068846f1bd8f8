package kernels

// Inverse real FFT for Fourier-head vocoders (Vocos' ISTFTHead): each frame's
// half spectrum (n/2+1 complex bins) becomes n real samples.
//
// Power-of-two sizes run an iterative radix-2 transform (Cooley–Tukey,
// bit-reversed input, twiddles computed once per plan) in float64; other sizes
// run irfftRef, the direct O(n²) sum that is also the tests' reference. The
// plan is read-only after NewFFT, so one plan serves concurrent callers, each
// with its own scratch.

import (
	"fmt"
	"math"
	"math/bits"
)

// MaxFFT bounds a plan's size (real vocoders use 512–4096).
const MaxFFT = 1 << 16

// FFT is a plan for real inverse transforms of one size.
type FFT struct {
	n        int
	cos, sin []float64 // (n/2) twiddles exp(+2πik/n), power-of-two sizes only
	rev      []int32   // (n) bit reversal, power-of-two sizes only
}

// NewFFT plans transforms of n points.
func NewFFT(n int) (*FFT, error) {
	if n < 1 || n > MaxFFT {
		return nil, fmt.Errorf("fft: size %d outside 1…%d", n, MaxFFT)
	}
	f := &FFT{n: n}
	if n&(n-1) != 0 || n < 2 {
		return f, nil
	}
	f.cos, f.sin = make([]float64, n/2), make([]float64, n/2)
	for k := range f.cos {
		s, c := math.Sincos(2 * math.Pi * float64(k) / float64(n))
		f.cos[k], f.sin[k] = c, s
	}
	shift := 64 - bits.TrailingZeros(uint(n))
	f.rev = make([]int32, n)
	for i := range f.rev {
		f.rev[i] = int32(bits.Reverse64(uint64(i)) >> shift)
	}
	return f, nil
}

// N is the plan's size.
func (f *FFT) N() int { return f.n }

// Bins is the half spectrum's length, n/2+1.
func (f *FFT) Bins() int { return f.n/2 + 1 }

// ScratchLen is the float64 scratch IRFFT needs.
func (f *FFT) ScratchLen() int { return 2 * f.n }

// IRFFT sets out (n) to the inverse DFT of the Hermitian spectrum whose first
// n/2+1 bins are re + i·im, scaled by 1/n — numpy's and PyTorch's irfft with
// norm "backward". As theirs, it ignores the imaginary parts of the DC bin and
// (n even) of the Nyquist bin. scratch holds at least ScratchLen() values.
func (f *FFT) IRFFT(out, re, im []float32, scratch []float64) error {
	n, nb := f.n, f.Bins()
	if len(out) < n || len(re) < nb || len(im) < nb || len(scratch) < 2*n {
		return fmt.Errorf("fft: irfft of %d points needs out %d, re/im %d, scratch %d; got %d, %d/%d, %d",
			n, n, nb, 2*n, len(out), len(re), len(im), len(scratch))
	}
	if f.rev == nil {
		irfftRef(out[:n], re[:nb], im[:nb])
		return nil
	}
	xr, xi := scratch[:n], scratch[n:2*n]
	// Hermitian extension X[n-k] = conj(X[k]), written in bit-reversed order.
	for k := 0; k < n; k++ {
		var r, i float64
		switch {
		case k == 0 || k == n/2:
			r = float64(re[k])
		case k < n/2:
			r, i = float64(re[k]), float64(im[k])
		default:
			r, i = float64(re[n-k]), -float64(im[n-k])
		}
		j := f.rev[k]
		xr[j], xi[j] = r, i
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size/2, n/size
		for start := 0; start < n; start += size {
			for k := 0; k < half; k++ {
				wr, wi := f.cos[k*step], f.sin[k*step]
				a, b := start+k, start+k+half
				tr := xr[b]*wr - xi[b]*wi
				ti := xr[b]*wi + xi[b]*wr
				xr[b], xi[b] = xr[a]-tr, xi[a]-ti
				xr[a], xi[a] = xr[a]+tr, xi[a]+ti
			}
		}
	}
	inv := 1 / float64(n)
	for t := range n {
		out[t] = float32(xr[t] * inv)
	}
	return nil
}

// irfftRef is the direct sum: out[t] = (1/n)·(Re X₀ + Σ_{0<k<n/2} 2·Re(X_k·e^{2πikt/n})
// + [n even] Re X_{n/2}·(-1)^t), with len(re) = n/2+1 = len(out)/2+1.
func irfftRef(out, re, im []float32) {
	n := len(out)
	for t := range n {
		s := float64(re[0])
		for k := 1; k < len(re); k++ {
			if 2*k == n {
				s += float64(re[k]) * math.Cos(math.Pi*float64(t))
				continue
			}
			sn, c := math.Sincos(2 * math.Pi * float64((k*t)%n) / float64(n))
			s += 2 * (float64(re[k])*c - float64(im[k])*sn)
		}
		out[t] = float32(s / float64(n))
	}
}
