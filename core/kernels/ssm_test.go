package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

// ssmInputs makes a scan's inputs: A negative as in a trained Mamba
// (-exp(A_log)), dt around softplus's knee, and one dt above the threshold.
func ssmInputs(r *rand.Rand, p SSMParams) (x, dt, a, b, c, h []float32) {
	x, dt = randSlice(r, p.Seq*p.Channels), randSlice(r, p.Seq*p.Channels)
	for i := range dt {
		dt[i] *= 3
	}
	dt[0] = 25
	dt[len(dt)-1] = -30 // softplus ≈ 1e-13: Δ·x tiny, the decay 1
	a = randSlice(r, p.Channels*p.State)
	for i := range a {
		a[i] = -expf(a[i])
	}
	return x, dt, a, randSlice(r, p.Seq*p.State), randSlice(r, p.Seq*p.State), randSlice(r, p.Channels*p.State)
}

// TestSSMScanMatchesReference checks the threaded scan against the
// reference on odd shapes, with guard bands around the outputs, and that a
// sequence scanned in two calls (prefill, then decode steps) ends in the
// same state with the same outputs as one call.
func TestSSMScanMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	// State 16 takes the SIMD path in blocks of 16 channels (37, 53, 130:
	// blocks and a tail; 5: only a tail); other states the generic loop.
	for _, p := range []SSMParams{{1, 1, 1}, {1, 37, 16}, {7, 33, 5}, {19, 130, 16}, {64, 96, 17}, {3, 2048, 16},
		{5, 5, 16}, {70, 53, 16}, {1, 1536, 16}} {
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				x, dt, a, b, c, h0 := ssmInputs(r, p)
				y, yFull := guarded(p.Seq * p.Channels)
				h, hFull := guarded(p.Channels * p.State)
				copy(h, h0)
				if err := SSMScan(y, h, x, dt, a, b, c, p); err != nil {
					t.Fatal(err)
				}
				checkGuards(t, yFull, p.Seq*p.Channels)
				checkGuards(t, hFull, p.Channels*p.State)
				yr, hr := make([]float32, len(y)), append([]float32(nil), h0...)
				if err := SSMScanRef(yr, hr, x, dt, a, b, c, p); err != nil {
					t.Fatal(err)
				}
				assertNMSE(t, "ssm scan y", y, yr, 1e-12)
				assertNMSE(t, "ssm scan state", h, hr, 1e-12)

				// The same sequence as a prefill of the first half and then
				// one step per token.
				half := p.Seq / 2
				hs, ys := append([]float32(nil), h0...), make([]float32, len(y))
				D, N := p.Channels, p.State
				if half > 0 {
					q := SSMParams{half, D, N}
					if err := SSMScan(ys[:half*D], hs, x[:half*D], dt[:half*D], a, b[:half*N], c[:half*N], q); err != nil {
						t.Fatal(err)
					}
				}
				for s := half; s < p.Seq; s++ {
					q := SSMParams{1, D, N}
					if err := SSMScan(ys[s*D:(s+1)*D], hs, x[s*D:], dt[s*D:], a, b[s*N:], c[s*N:], q); err != nil {
						t.Fatal(err)
					}
				}
				assertNMSE(t, "ssm scan stepwise y", ys, yr, 1e-12)
				assertNMSE(t, "ssm scan stepwise state", hs, hr, 1e-12)
			})
		}
	}
}

func TestSSMScanRejectsShortBuffers(t *testing.T) {
	p := SSMParams{Seq: 4, Channels: 8, State: 4}
	x, dt, a, b, c, h := ssmInputs(rand.New(rand.NewSource(1)), p)
	if err := SSMScan(make([]float32, 31), h, x, dt, a, b, c, p); err == nil {
		t.Fatal("a short y was accepted")
	}
	if err := SSMScan(make([]float32, 32), h, x, dt, a, b[:15], c, p); err == nil {
		t.Fatal("a short B was accepted")
	}
	if err := SSMScan(nil, nil, nil, nil, nil, nil, nil, SSMParams{}); err == nil {
		t.Fatal("an empty shape was accepted")
	}
}

// TestSoftplus checks ggml's softplus: the threshold at 20 and log1p(e^x),
// against float64 over the range a model's dt takes, small results to
// relative accuracy.
func TestSoftplus(t *testing.T) {
	for _, c := range []struct{ x, want float32 }{{0, 0.6931472}, {21, 21}, {-30, 9.357623e-14}, {2, 2.126928}} {
		if got := Softplus(c.x); got != c.want && math.Abs(float64((got-c.want)/c.want)) > 1e-6 {
			t.Errorf("softplus(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	worst := 0.0
	for x := float32(-80); x <= 20; x += 0.00731 {
		want := math.Log1p(math.Exp(float64(x)))
		if e := math.Abs(float64(Softplus(x))-want) / want; e > worst {
			worst = e
		}
	}
	if worst > 5e-7 {
		t.Errorf("softplus: worst relative error %.3g on [-80, 20]", worst)
	}
	if v := Softplus(float32(math.NaN())); v == v {
		t.Errorf("softplus(NaN) = %v", v)
	}
}

// TestCausalConv1DMatchesZeroPadded checks the carried-state convolution,
// run over a sequence in uneven chunks (a prompt's first, decode-sized
// steps after), against the plain zero-padded causal convolution of the
// whole sequence.
func TestCausalConv1DMatchesZeroPadded(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, p := range []CausalConv1DParams{{1, 1, 1}, {9, 5, 4}, {33, 130, 4}, {17, 64, 3}, {40, 37, 4}, {20, 9, 1}} {
		S, C, K := p.Seq, p.Channels, p.K
		x, w, bias := randSlice(r, S*C), randSlice(r, C*K), randSlice(r, C)
		want := make([]float32, S*C)
		for c := 0; c < C; c++ {
			for t0 := 0; t0 < S; t0++ {
				var sum float32
				for j := 0; j < K; j++ {
					if i := t0 - (K - 1) + j; i >= 0 {
						sum += x[i*C+c] * w[c*K+j]
					}
				}
				want[t0*C+c] = sum + bias[c]
			}
		}
		got, full := guarded(S * C)
		state := make([]float32, C*(K-1))
		for lo := 0; lo < S; {
			n := min(S-lo, 1+lo%4)
			if lo == 0 && S >= 16 {
				n = S/2 + 1 // the prompt path
			}
			q := CausalConv1DParams{Seq: n, Channels: C, K: K}
			if err := CausalConv1D(got[lo*C:(lo+n)*C], state, x[lo*C:(lo+n)*C], w, bias, q); err != nil {
				t.Fatal(err)
			}
			lo += n
		}
		checkGuards(t, full, S*C)
		assertNMSE(t, "causal conv1d", got, want, 1e-12)
		for c := 0; c < C; c++ {
			for j := 0; j < K-1; j++ {
				if i := S - (K - 1) + j; i >= 0 && state[c*(K-1)+j] != x[i*C+c] {
					t.Fatalf("%+v: state of channel %d tap %d is %v, want input %d", p, c, j, state[c*(K-1)+j], i)
				}
			}
		}
	}
	if err := CausalConv1D(make([]float32, 3), make([]float32, 6), make([]float32, 4), make([]float32, 8), nil, CausalConv1DParams{2, 2, 4}); err == nil {
		t.Fatal("a short out was accepted")
	}
}

// BenchmarkSSMScan times a Mamba-130M-sized scan (inner 1536, state 16):
// a 128-token prefill and a one-token decode step.
func BenchmarkSSMScan(b *testing.B) {
	for _, seq := range []int{1, 128} {
		p := SSMParams{Seq: seq, Channels: 1536, State: 16}
		x, dt, a, bb, c, h := ssmInputs(rand.New(rand.NewSource(1)), p)
		y := make([]float32, seq*p.Channels)
		b.Run(fmt.Sprintf("seq%d", seq), func(b *testing.B) {
			for range b.N {
				if err := SSMScan(y, h, x, dt, a, bb, c, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSSM2ScanMatchesReference checks the Mamba-2 scan against its
// reference on odd shapes with guard bands, and a prefill followed by
// single steps against one call.
func TestSSM2ScanMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	// States that are multiples of 16 take the SIMD path; 70 and 130 tokens
	// cross ssm2Head's chunks of 64.
	for _, p := range []SSM2Params{{1, 1, 1, 1, 1}, {5, 4, 3, 7, 2}, {17, 8, 16, 16, 1}, {9, 6, 5, 3, 3},
		{70, 3, 5, 32, 1}, {130, 4, 7, 16, 2}, {3, 2, 64, 128, 1}, {1, 6, 3, 48, 3}, {40, 3, 5, 128, 3}} {
		for _, impl := range impls() {
			withImpl(t, impl, func() { checkSSM2(t, r, p) })
		}
	}
	if err := SSM2Scan(make([]float32, 8), make([]float32, 8), make([]float32, 8), make([]float32, 2), make([]float32, 2), make([]float32, 4), make([]float32, 4), SSM2Params{1, 3, 2, 2, 2}); err == nil {
		t.Fatal("3 heads in 2 groups were accepted")
	}
}

func checkSSM2(t *testing.T, r *rand.Rand, p SSM2Params) {
	D, H := p.Heads*p.HeadDim, p.Heads
	GN := p.Groups * p.State
	x, dt := randSlice(r, p.Seq*D), randSlice(r, p.Seq*H)
	a := randSlice(r, H)
	for i := range a {
		a[i] = -expf(a[i])
	}
	b, c, h0 := randSlice(r, p.Seq*GN), randSlice(r, p.Seq*GN), randSlice(r, D*p.State)
	y, yFull := guarded(p.Seq * D)
	h, hFull := guarded(D * p.State)
	copy(h, h0)
	if err := SSM2Scan(y, h, x, dt, a, b, c, p); err != nil {
		t.Fatal(err)
	}
	checkGuards(t, yFull, p.Seq*D)
	checkGuards(t, hFull, D*p.State)
	yr, hr := make([]float32, len(y)), append([]float32(nil), h0...)
	if err := SSM2ScanRef(yr, hr, x, dt, a, b, c, p); err != nil {
		t.Fatal(err)
	}
	assertNMSE(t, "ssm2 y", y, yr, 1e-12)
	assertNMSE(t, "ssm2 state", h, hr, 1e-12)
	hs, ys := append([]float32(nil), h0...), make([]float32, len(y))
	for s := 0; s < p.Seq; s++ {
		q := p
		q.Seq = 1
		if err := SSM2Scan(ys[s*D:(s+1)*D], hs, x[s*D:], dt[s*H:], a, b[s*GN:], c[s*GN:], q); err != nil {
			t.Fatal(err)
		}
	}
	assertNMSE(t, "ssm2 stepwise y", ys, yr, 1e-12)
	assertNMSE(t, "ssm2 stepwise state", hs, hr, 1e-12)
}

// BenchmarkSSM2Scan times the bench file's Mamba-2 scan (24 heads of 64,
// state 128, one group): a 128-token prefill and a decode step.
func BenchmarkSSM2Scan(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, seq := range []int{1, 128} {
		p := SSM2Params{Seq: seq, Heads: 24, HeadDim: 64, State: 128, Groups: 1}
		D, GN := p.Heads*p.HeadDim, p.Groups*p.State
		x, dt, a := randSlice(r, seq*D), randSlice(r, seq*p.Heads), randSlice(r, p.Heads)
		for i := range a {
			a[i] = -expf(a[i])
		}
		bb, c, h, y := randSlice(r, seq*GN), randSlice(r, seq*GN), randSlice(r, D*p.State), make([]float32, seq*D)
		b.Run(fmt.Sprintf("seq%d", seq), func(b *testing.B) {
			for range b.N {
				if err := SSM2Scan(y, h, x, dt, a, bb, c, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCausalConv1D times Mamba's conv (inner 1536, 4 taps): a
// 128-token prefill and a decode step.
func BenchmarkCausalConv1D(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, seq := range []int{1, 128} {
		p := CausalConv1DParams{Seq: seq, Channels: 1536, K: 4}
		x, w, bias := randSlice(r, seq*p.Channels), randSlice(r, p.Channels*p.K), randSlice(r, p.Channels)
		state, out := make([]float32, p.Channels*(p.K-1)), make([]float32, seq*p.Channels)
		b.Run(fmt.Sprintf("seq%d", seq), func(b *testing.B) {
			for range b.N {
				if err := CausalConv1D(out, state, x, w, bias, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
