package kernels

import (
	"math"
	"math/rand"
	"testing"
)

// tolFFT is the normalised MSE of the radix-2 path against the direct sum.
const tolFFT = 1e-12

func TestIRFFTMatchesDirectSum(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, n := range []int{1, 2, 3, 4, 7, 8, 16, 30, 64, 128, 256, 1024, 2048} {
		f, err := NewFFT(n)
		if err != nil {
			t.Fatal(err)
		}
		nb := f.Bins()
		re, im := randSlice(r, nb), randSlice(r, nb)
		want := make([]float32, n)
		irfftRef(want, re, im)
		for _, impl := range impls() { // the stages of half-size ≥ 8 have an AVX-512 routine
			withImpl(t, impl, func() {
				got, full := guarded(n)
				if err := f.IRFFT(got, re, im, make([]float64, f.ScratchLen())); err != nil {
					t.Fatal(err)
				}
				checkGuards(t, full, n)
				assertNMSE(t, impl+" irfft", got, want, tolFFT)
			})
		}
	}
}

// TestFFTStage: the AVX-512 stage against the generic one on every
// half-size it takes, several groups, values within float64 rounding
// (fused multiply-adds round once where the loop rounds twice).
func TestFFTStage(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	f, _ := NewFFT(4096)
	for _, half := range []int{8, 16, 64, 512, 1024} {
		for _, groups := range []int{1, 3} {
			n := 2 * half * groups
			zr, zi := make([]float64, n), make([]float64, n)
			for i := range zr {
				zr[i], zi[i] = r.NormFloat64(), r.NormFloat64()
			}
			wantR, wantI := append([]float64(nil), zr...), append([]float64(nil), zi...)
			fftStageGeneric(wantR, wantI, f.wr, f.wi, half)
			for _, impl := range impls() {
				withImpl(t, impl, func() {
					gr, gi := append([]float64(nil), zr...), append([]float64(nil), zi...)
					if useAVX512 {
						fftStageAVX512(&gr[0], &gi[0], &f.wr[0], &f.wi[0], n, half)
					} else {
						fftStageGeneric(gr, gi, f.wr, f.wi, half)
					}
					for i := range gr {
						if math.Abs(gr[i]-wantR[i]) > 1e-14 || math.Abs(gi[i]-wantI[i]) > 1e-14 {
							t.Fatalf("%s half %d × %d: z[%d] = %v%+vi, want %v%+vi", impl, half, groups, i, gr[i], gi[i], wantR[i], wantI[i])
						}
					}
				})
			}
		}
	}
}

// A pure tone must come back as a cosine: bin k with value n/2 is cos(2πkt/n).
func TestIRFFTTone(t *testing.T) {
	const n, k = 64, 5
	f, _ := NewFFT(n)
	re, im := make([]float32, f.Bins()), make([]float32, f.Bins())
	re[k] = n / 2
	im[0], im[n/2] = 9, -9 // ignored, as numpy's irfft ignores them
	out := make([]float32, n)
	if err := f.IRFFT(out, re, im, make([]float64, f.ScratchLen())); err != nil {
		t.Fatal(err)
	}
	for i, v := range out {
		if w := math.Cos(2 * math.Pi * k * float64(i) / n); math.Abs(float64(v)-w) > 1e-6 {
			t.Fatalf("out[%d] = %g, want %g", i, v, w)
		}
	}
}

func TestIRFFTRejectsBadSizes(t *testing.T) {
	for _, n := range []int{0, -4, MaxFFT + 1} {
		if _, err := NewFFT(n); err == nil {
			t.Errorf("NewFFT(%d) accepted", n)
		}
	}
	f, _ := NewFFT(16)
	if err := f.IRFFT(make([]float32, 16), make([]float32, 8), make([]float32, 9), make([]float64, 32)); err == nil {
		t.Error("short spectrum accepted")
	}
	if err := f.IRFFT(make([]float32, 16), make([]float32, 9), make([]float32, 9), make([]float64, 31)); err == nil {
		t.Error("short scratch accepted")
	}
}

func BenchmarkIRFFT1024(b *testing.B) {
	f, _ := NewFFT(1024)
	r := rand.New(rand.NewSource(1))
	re, im := randSlice(r, f.Bins()), randSlice(r, f.Bins())
	out, s := make([]float32, 1024), make([]float64, f.ScratchLen())
	for b.Loop() {
		if err := f.IRFFT(out, re, im, s); err != nil {
			b.Fatal(err)
		}
	}
}
