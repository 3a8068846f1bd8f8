package kernels

// Inverse real FFT for Fourier-head vocoders (Vocos' ISTFTHead): each frame's
// half spectrum (n/2+1 complex bins) becomes n real samples.
//
// Power-of-two sizes run an iterative radix-2 transform (Cooley–Tukey,
// bit-reversed input, twiddles computed once per plan) of half the size on
// the even and odd samples packed as one complex signal, in float64; other sizes
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
	rev      []int32   // (n/2) bit reversal of the half-size transform, power-of-two sizes only
	// Each radix-2 stage's twiddles in a row: the stage of half-size h
	// (transforms of 2h points) reads exp(2πik/2h), k < h, at wr/wi[h+k]
	// (n/2 entries, index 0 unused), so its butterflies walk them in step.
	wr, wi []float64
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
	f.wr, f.wi = make([]float64, n/2), make([]float64, n/2)
	for h := 1; h < n/2; h <<= 1 {
		for k := range h {
			f.wr[h+k], f.wi[h+k] = f.cos[k*(n/(2*h))], f.sin[k*(n/(2*h))]
		}
	}
	shift := 64 - bits.TrailingZeros(uint(n/2))
	f.rev = make([]int32, n/2)
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
	// A real signal of n points is the complex one z[m] = x[2m] + i·x[2m+1]
	// of N = n/2 points: its spectrum Z[k] = E[k] + i·O[k], where E and O,
	// the spectra of the even and odd samples, are E[k] = (X[k] + X*[N−k])/2
	// and O[k] = (X[k] − X*[N−k])·e^{2πik/n}/2 (X[k+N] = X*[N−k] by
	// symmetry) — one N-point inverse transform instead of an n-point one.
	N := n / 2
	zr, zi := scratch[:N], scratch[N:2*N]
	for k := 0; k < N; k++ {
		ar, ai := float64(re[k]), float64(im[k])
		br, bi := float64(re[N-k]), -float64(im[N-k])
		if k == 0 { // the DC and Nyquist bins' imaginary parts are ignored
			ai, bi = 0, 0
		}
		er, ei := 0.5*(ar+br), 0.5*(ai+bi)
		dr, di := 0.5*(ar-br), 0.5*(ai-bi)
		c, sn := f.cos[k], f.sin[k]
		or, oi := dr*c-di*sn, dr*sn+di*c
		j := f.rev[k]
		zr[j], zi[j] = er-oi, ei+or
	}
	// Radix-2 stages on z (bit-reversed): twiddles exp(2πik/size) are the
	// n-point table's entries k·n/size. The first two stages multiply by 1
	// and by 1, i only.
	if N >= 2 {
		for a := 0; a < N; a += 2 {
			xr0, xi0, xr1, xi1 := zr[a], zi[a], zr[a+1], zi[a+1]
			zr[a], zi[a], zr[a+1], zi[a+1] = xr0+xr1, xi0+xi1, xr0-xr1, xi0-xi1
		}
	}
	if N >= 4 {
		for a := 0; a < N; a += 4 {
			tr, ti := -zi[a+3], zr[a+3] // i·x
			zr[a+3], zi[a+3] = zr[a+1]-tr, zi[a+1]-ti
			zr[a+1], zi[a+1] = zr[a+1]+tr, zi[a+1]+ti
			tr, ti = zr[a+2], zi[a+2]
			zr[a+2], zi[a+2] = zr[a]-tr, zi[a]-ti
			zr[a], zi[a] = zr[a]+tr, zi[a]+ti
		}
	}
	for half := 4; half < N; half <<= 1 {
		if useAVX512 && half%8 == 0 {
			fftStageAVX512(&zr[0], &zi[0], &f.wr[0], &f.wi[0], N, half)
			continue
		}
		fftStageGeneric(zr, zi, f.wr, f.wi, half)
	}
	inv := 1 / float64(N)
	for m := range N {
		out[2*m], out[2*m+1] = float32(zr[m]*inv), float32(zi[m]*inv)
	}
	return nil
}

// fftStageGeneric runs one radix-2 stage of half-size half on z (len(zr) a
// multiple of 2·half): in every group of 2·half points, for k < half,
// t = z[a+half]·w[half+k], z[a+half] = z[a] − t, z[a] += t with a the
// group's start plus k; w is the stage's row of twiddles (FFT.wr, wi).
func fftStageGeneric(zr, zi, wr, wi []float64, half int) {
	twr, twi := wr[half:2*half], wi[half:2*half]
	for a0 := 0; a0+2*half <= len(zr); a0 += 2 * half {
		xr, xi := zr[a0:a0+half], zi[a0:a0+half]
		yr, yi := zr[a0+half:a0+2*half], zi[a0+half:a0+2*half]
		yr, yi, twr, twi := yr[:len(xr)], yi[:len(xr)], twr[:len(xr)], twi[:len(xr)]
		for k := range xr {
			tr := yr[k]*twr[k] - yi[k]*twi[k]
			ti := yr[k]*twi[k] + yi[k]*twr[k]
			yr[k], yi[k] = xr[k]-tr, xi[k]-ti
			xr[k], xi[k] = xr[k]+tr, xi[k]+ti
		}
	}
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
