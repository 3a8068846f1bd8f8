package nn

import (
	"math"
	"math/rand"
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

// stftRef frames x (T·hop) as HiFi-GAN's mel does — reflect padding of
// (nfft-hop)/2 at each end, no centring — windows each frame with w and takes
// its direct DFT: re, im (T, nfft/2+1).
func stftRef(x []float32, nfft, hop int, w []float32) (re, im []float32, T int) {
	p := (nfft - hop) / 2
	n := len(x)
	at := func(i int) float64 { // reflect padding, as torch's "reflect"
		i -= p
		if i < 0 {
			i = -i
		}
		if i >= n {
			i = 2*(n-1) - i
		}
		return float64(x[i])
	}
	T = n / hop
	nb := nfft/2 + 1
	re, im = make([]float32, T*nb), make([]float32, T*nb)
	for t := range T {
		for k := range nb {
			var sr, si float64
			for j := range nfft {
				s, c := math.Sincos(-2 * math.Pi * float64(k*j%nfft) / float64(nfft))
				v := at(t*hop+j) * float64(w[j])
				sr += v * c
				si += v * s
			}
			re[t*nb+k], im[t*nb+k] = float32(sr), float32(si)
		}
	}
	return re, im, T
}

// The inverse of the framing it is written for: ISTFT(STFT(x)) = x at every
// sample, ends included, for power-of-two and other sizes.
func TestISTFTInvertsSTFT(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, c := range []struct{ nfft, hop, T int }{{16, 4, 9}, {64, 16, 5}, {24, 6, 7}, {64, 32, 4}} {
		s, err := NewISTFT(c.nfft, c.hop)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, c.T*c.hop)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		re, im, T := stftRef(x, c.nfft, c.hop, s.Window)
		y := make([]float32, T*c.hop)
		if err := s.Forward(y, re, im, T); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if math.Abs(float64(y[i]-x[i])) > 1e-4 {
				t.Fatalf("n_fft %d hop %d: sample %d is %g, want %g", c.nfft, c.hop, i, y[i], x[i])
			}
		}
	}
}

func TestISTFTRejectsBadShapes(t *testing.T) {
	for _, c := range []struct{ nfft, hop int }{{16, 0}, {16, 9}, {16, 5}, {0, 1}} {
		if _, err := NewISTFT(c.nfft, c.hop); err == nil {
			t.Errorf("NewISTFT(%d, %d) accepted", c.nfft, c.hop)
		}
	}
	s, _ := NewISTFT(16, 4)
	if err := s.Forward(make([]float32, 8), make([]float32, 18), make([]float32, 18), 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Forward(make([]float32, 8), make([]float32, 17), make([]float32, 18), 2); err == nil {
		t.Error("short spectrum accepted")
	}
	if err := s.Forward(make([]float32, 7), make([]float32, 18), make([]float32, 18), 2); err == nil {
		t.Error("short output accepted")
	}
	if err := s.Forward(nil, nil, nil, 0); err == nil {
		t.Error("zero frames accepted")
	}
}

// TestISTFTMatchesSequential: the threaded ISTFT (frames in parallel, the
// overlap-add gathered per sample) gives the same bits as adding frame after
// frame, at one and two threads.
func TestISTFTMatchesSequential(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, c := range []struct{ nfft, hop, T int }{{16, 4, 1}, {16, 4, 2}, {64, 16, 37}, {1024, 256, 50}, {30, 10, 9}} {
		s, err := NewISTFT(c.nfft, c.hop)
		if err != nil {
			t.Fatal(err)
		}
		nb := s.Bins()
		re, im := randSlice(r, c.T*nb), randSlice(r, c.T*nb)
		// The sequential overlap-add the threaded one replaces.
		n, hop := c.nfft, c.hop
		acc, env := make([]float64, (c.T-1)*hop+n), make([]float64, (c.T-1)*hop+n)
		frame, scratch := make([]float32, n), make([]float64, s.fft.ScratchLen())
		for f := range c.T {
			if err := s.fft.IRFFT(frame, re[f*nb:(f+1)*nb], im[f*nb:(f+1)*nb], scratch); err != nil {
				t.Fatal(err)
			}
			for i, w := range s.Window {
				acc[f*hop+i] += float64(frame[i] * w)
				env[f*hop+i] += float64(w * w)
			}
		}
		want := make([]float32, c.T*hop)
		for i := range want {
			want[i] = float32(acc[(n-hop)/2+i] / env[(n-hop)/2+i])
		}
		for _, threads := range []int{1, 2} {
			kernels.SetThreads(threads)
			got := make([]float32, c.T*hop)
			if err := s.Forward(got, re, im, c.T); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%+v, %d threads: sample %d = %v, sequential %v", c, threads, i, got[i], want[i])
				}
			}
		}
		kernels.SetThreads(0)
	}
}

// The segment overlap-add (Hop divides NFFT) gives the per-sample gather's
// samples bit for bit, at 1 and 3 threads, on short and long inputs; hops
// that do not divide NFFT take the gather itself and still invert the STFT.
func TestISTFTSegmentsMatchGather(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, c := range []struct{ nfft, hop, T int }{{16, 4, 1}, {16, 4, 2}, {16, 4, 9}, {64, 16, 37}, {24, 6, 7}, {64, 32, 4}, {1024, 256, 1}, {1024, 256, 3}, {1024, 256, 140}} {
		s, err := NewISTFT(c.nfft, c.hop)
		if err != nil {
			t.Fatal(err)
		}
		nb := s.Bins()
		re, im := make([]float32, c.T*nb), make([]float32, c.T*nb)
		for i := range re {
			re[i], im[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		// The gather's input: the windowed frames Forward makes.
		frames := make([]float32, c.T*c.nfft)
		scratch := make([]float64, 2*c.nfft)
		for tt := range c.T {
			f := frames[tt*c.nfft : (tt+1)*c.nfft]
			if err := s.fft.IRFFT(f, re[tt*nb:(tt+1)*nb], im[tt*nb:(tt+1)*nb], scratch); err != nil {
				t.Fatal(err)
			}
			for i, w := range s.Window {
				f[i] *= w
			}
		}
		want := make([]float32, c.T*c.hop)
		if err := s.overlapAddAny(want, frames, c.T); err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{1, 3} {
			kernels.SetThreads(threads)
			got := make([]float32, c.T*c.hop+1)
			got[len(got)-1] = float32(math.NaN()) // guard
			if err := s.Forward(got[:c.T*c.hop], re, im, c.T); err != nil {
				t.Fatal(err)
			}
			for i, v := range want {
				if math.Float32bits(got[i]) != math.Float32bits(v) {
					t.Fatalf("n_fft %d hop %d T %d, %d threads: sample %d = %v, gather %v", c.nfft, c.hop, c.T, threads, i, got[i], v)
				}
			}
			if g := got[len(got)-1]; g == g {
				t.Fatalf("n_fft %d hop %d T %d: wrote past the end", c.nfft, c.hop, c.T)
			}
		}
		kernels.SetThreads(0)
	}
	s, _ := NewISTFT(20, 8) // 8 does not divide 20: the gather
	if s.envMid != nil {
		t.Fatal("envMid for a hop that does not divide n_fft")
	}
}

// BenchmarkISTFT: Vocos' head on one second of frames (86 at n_fft 1024,
// hop 256).
func BenchmarkISTFT(b *testing.B) {
	s, _ := NewISTFT(1024, 256)
	const T = 86
	r := rand.New(rand.NewSource(1))
	re, im := make([]float32, T*s.Bins()), make([]float32, T*s.Bins())
	for i := range re {
		re[i], im[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	out := make([]float32, T*s.Hop)
	for b.Loop() {
		if err := s.Forward(out, re, im, T); err != nil {
			b.Fatal(err)
		}
	}
}
