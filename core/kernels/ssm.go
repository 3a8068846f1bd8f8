package kernels

// Kernels of state-space models (Mamba, Gu & Dao 2023): the selective scan
// and the short causal depthwise convolution before it. Both carry a state
// from one call to the next, which is what a recurrent model keeps between
// tokens instead of a KV cache: a prompt goes through in one call (prefill),
// then each generated token is a call of one step (decode) that continues
// from the state the last call left.
//
// The numbers follow ggml's ssm_scan and ssm_conv (llama.cpp), which Loom's
// Mamba tower is checked against: softplus with ggml's threshold of 20,
// the state update h = h·exp(Δ·A) + Δ·x·B summed into y = h·C in state order.

import (
	"fmt"
	"math"
)

// SSMParams shapes a Mamba-1 selective scan.
type SSMParams struct {
	Seq      int // tokens, scanned in order
	Channels int // d_inner: independent channels, each with its own state row
	State    int // d_state: state size per channel
}

func (p SSMParams) check(y, h, x, dt, a, b, c []float32) error {
	if p.Seq <= 0 || p.Channels <= 0 || p.State <= 0 {
		return fmt.Errorf("ssm scan: shape %+v", p)
	}
	tc, cs, ts := p.Seq*p.Channels, p.Channels*p.State, p.Seq*p.State
	if len(y) < tc || len(x) < tc || len(dt) < tc || len(h) < cs || len(a) < cs || len(b) < ts || len(c) < ts {
		return fmt.Errorf("ssm scan %+v: y %d, h %d, x %d, dt %d, A %d, B %d, C %d floats", p,
			len(y), len(h), len(x), len(dt), len(a), len(b), len(c))
	}
	return nil
}

// Softplus is ggml's softplus, log(1+eˣ) or x itself above 20, in float32:
// max(x, 0) + log1p(e^−|x|), with log1p(z) = 2·atanh(s) for s = z/(2+z) ≤
// 1/3 by its odd series to s¹⁵ (truncation below 2e-9 relative), so small
// results keep their relative accuracy (softplus(−30) ≈ 9.36e-14, not 0).
// The SIMD scans compute the same steps in vector registers (SOFTPLUS_Z).
func Softplus(x float32) float32 {
	if x > 20 {
		return x
	}
	z := expf(math.Float32frombits(math.Float32bits(x) | 1<<31)) // e^−|x|
	s := z / (2 + z)
	w := s * s
	p := float32(2.0 / 15)
	p = p*w + 2.0/13
	p = p*w + 2.0/11
	p = p*w + 2.0/9
	p = p*w + 2.0/7
	p = p*w + 2.0/5
	p = p*w + 2.0/3
	p = p*w + 2
	return max(x, 0) + s*p
}

// SSMScan runs Mamba-1's selective scan over p.Seq tokens: for each token t
// and channel d, with Δ = softplus(dt[t,d]),
//
//	h[d,n] = h[d,n]·exp(Δ·A[d,n]) + Δ·x[t,d]·B[t,n]
//	y[t,d] = Σₙ h[d,n]·C[t,n]
//
// x, dt, y are (seq, channels); A and the state h are (channels, state);
// B and C are (seq, state), shared by every channel (one group). h holds the
// state before the first token on entry and after the last on return. The
// channels are independent, so they are split across threads; each thread
// walks its channels' whole sequence with their state rows in cache (the
// prefill path: one pass over the prompt per channel block, not one per
// token). SSMScanRef is the plain reference it is tested against.
func SSMScan(y, h, x, dt, a, b, c []float32, p SSMParams) error {
	if err := p.check(y, h, x, dt, a, b, c); err != nil {
		return err
	}
	// Blocks of 16 channels (the SIMD path's unit) per task: enough work to
	// amortise the hand-off (a decode step splits only wide layers).
	ParallelFor(p.Channels, 16*max(1, 16/p.Seq), func(lo, hi int) {
		ssmScanChannels(y, h, x, dt, a, b, c, p, lo, hi)
	})
	return nil
}

// ssmScanChannels scans channels lo…hi-1 over the whole sequence: blocks
// of 16 channels with 16 states (Mamba-1's d_state) by ssmScan16AVX512,
// the rest by the generic loop.
func ssmScanChannels(y, h, x, dt, a, b, c []float32, p SSMParams, lo, hi int) {
	if useAVX512 && p.State == 16 {
		for ; lo+16 <= hi; lo += 16 {
			ssmScan16AVX512(&y[lo], &h[lo*16], &x[lo], &dt[lo], &a[lo*16], &b[0], &c[0], p.Seq, p.Channels)
		}
	}
	ssmScanChannelsGeneric(y, h, x, dt, a, b, c, p, lo, hi)
}

// ssmScanChannelsGeneric scans channels lo…hi-1 one at a time, each over
// the whole sequence with its state row in cache.
func ssmScanChannelsGeneric(y, h, x, dt, a, b, c []float32, p SSMParams, lo, hi int) {
	N, D := p.State, p.Channels
	for d := lo; d < hi; d++ {
		hd := h[d*N : (d+1)*N : (d+1)*N]
		ad := a[d*N : (d+1)*N : (d+1)*N]
		for t := 0; t < p.Seq; t++ {
			delta := Softplus(dt[t*D+d])
			xd := x[t*D+d] * delta
			bt := b[t*N : (t+1)*N : (t+1)*N]
			ct := c[t*N : (t+1)*N : (t+1)*N]
			var sum float32
			for n := range hd {
				s := hd[n]*expf(delta*ad[n]) + bt[n]*xd
				sum += s * ct[n]
				hd[n] = s
			}
			y[t*D+d] = sum
		}
	}
}

// SSMScanRef is the reference selective scan: token by token, channel by
// channel, state by state, on one thread.
func SSMScanRef(y, h, x, dt, a, b, c []float32, p SSMParams) error {
	if err := p.check(y, h, x, dt, a, b, c); err != nil {
		return err
	}
	N, D := p.State, p.Channels
	for t := 0; t < p.Seq; t++ {
		for d := 0; d < D; d++ {
			delta := Softplus(dt[t*D+d])
			var sum float32
			for n := 0; n < N; n++ {
				s := h[d*N+n]*expf(delta*a[d*N+n]) + b[t*N+n]*(x[t*D+d]*delta)
				sum += s * c[t*N+n]
				h[d*N+n] = s
			}
			y[t*D+d] = sum
		}
	}
	return nil
}

// CausalConv1DParams shapes a causal depthwise convolution with a carried
// state: each channel is convolved with its own kernel of K taps over the
// K-1 inputs the state holds followed by the Seq new ones.
type CausalConv1DParams struct {
	Seq      int
	Channels int
	K        int // taps (Mamba's d_conv, 4)
}

// CausalConv1D sets out (seq, channels) to the causal depthwise
// convolution of x (seq, channels) with w (channels, K) plus bias (channels,
// nil for none), continuing from state (channels, K-1): channel c's last K-1
// inputs, oldest first (zeros before the first token), which it then
// replaces with the last K-1 inputs seen. ggml's ssm_conv sums the taps in
// order and adds the bias after, as this does. out must not alias x.
//
// A prompt's carried inputs and new ones are laid out as one (K-1+seq,
// channels) sequence and the weight tap-major, so each output row is
// DepthwiseConv1DRows' sum of K shifted rows, the channels in vector lanes;
// a few tokens (a decode step) go channel by channel, which needs no copies.
func CausalConv1D(out, state, x, w, bias []float32, p CausalConv1DParams) error {
	S, C, K := p.Seq, p.Channels, p.K
	if S <= 0 || C <= 0 || K <= 0 {
		return fmt.Errorf("causal conv1d: shape %+v", p)
	}
	if len(out) < S*C || len(x) < S*C || len(w) < C*K || len(state) < C*(K-1) || bias != nil && len(bias) < C {
		return fmt.Errorf("causal conv1d %+v: out %d, x %d, w %d, state %d, bias %d floats", p,
			len(out), len(x), len(w), len(state), len(bias))
	}
	if S < 8 {
		causalConvChannels(out, state, x, w, bias, p)
		return nil
	}
	winBuf, wtBuf := getCol((K-1+S)*C), getCol(K*C)
	defer putCol(winBuf)
	defer putCol(wtBuf)
	win, wt := *winBuf, *wtBuf
	for c := 0; c < C; c++ {
		for j := 0; j < K-1; j++ {
			win[j*C+c] = state[c*(K-1)+j]
		}
		for j := 0; j < K; j++ {
			wt[j*C+c] = w[c*K+j]
		}
	}
	copy(win[(K-1)*C:], x[:S*C])
	if err := DepthwiseConv1DRows(out, win, wt, nil, K-1+S, C, K, 0); err != nil {
		return err
	}
	if bias != nil {
		if err := AddBias(out, bias, S, C); err != nil {
			return err
		}
	}
	for c := 0; c < C; c++ {
		for j := 0; j < K-1; j++ {
			state[c*(K-1)+j] = win[(S+j)*C+c]
		}
	}
	return nil
}

// causalConvChannels is CausalConv1D one channel at a time, its window of
// K-1 carried and S new inputs gathered from the rows.
func causalConvChannels(out, state, x, w, bias []float32, p CausalConv1DParams) {
	S, C, K := p.Seq, p.Channels, p.K
	ParallelFor(C, max(1, 4096/(S*K+1)), func(lo, hi int) {
		if S == 1 && K > 1 { // a decode step: the state, then x, no window
			for c := lo; c < hi; c++ {
				st := state[c*(K-1) : (c+1)*(K-1) : (c+1)*(K-1)]
				wc := w[c*K : (c+1)*K : (c+1)*K]
				xc := x[c]
				var sum float32
				for j, v := range st {
					sum += v * wc[j]
				}
				sum += xc * wc[K-1]
				if bias != nil {
					sum += bias[c]
				}
				out[c] = sum
				for j := 1; j < len(st); j++ {
					st[j-1] = st[j]
				}
				st[len(st)-1] = xc
			}
			return
		}
		win := make([]float32, K-1+S)
		for c := lo; c < hi; c++ {
			st := state[c*(K-1) : (c+1)*(K-1)]
			copy(win, st)
			for t := 0; t < S; t++ {
				win[K-1+t] = x[t*C+c]
			}
			wc := w[c*K : (c+1)*K]
			for t := 0; t < S; t++ {
				var sum float32
				for j, wj := range wc {
					sum += win[t+j] * wj
				}
				if bias != nil {
					sum += bias[c]
				}
				out[t*C+c] = sum
			}
			copy(st, win[S:])
		}
	})
}

// SSM2Params shapes a Mamba-2 selective scan: Heads heads of HeadDim
// channels, each head with one scalar decay, its channels sharing B and C
// with the other heads of its group (Heads/Groups heads a group).
type SSM2Params struct {
	Seq, Heads, HeadDim, State, Groups int
}

func (p SSM2Params) check(y, h, x, dt, a, b, c []float32) error {
	if p.Seq <= 0 || p.Heads <= 0 || p.HeadDim <= 0 || p.State <= 0 || p.Groups <= 0 || p.Heads%p.Groups != 0 {
		return fmt.Errorf("ssm2 scan: shape %+v", p)
	}
	D := p.Heads * p.HeadDim
	tc, gs := p.Seq*D, p.Seq*p.Groups*p.State
	if len(y) < tc || len(x) < tc || len(dt) < p.Seq*p.Heads || len(a) < p.Heads || len(h) < D*p.State || len(b) < gs || len(c) < gs {
		return fmt.Errorf("ssm2 scan %+v: y %d, h %d, x %d, dt %d, A %d, B %d, C %d floats", p,
			len(y), len(h), len(x), len(dt), len(a), len(b), len(c))
	}
	return nil
}

// SSM2Scan runs Mamba-2's selective scan (Dao & Gu 2024) over p.Seq
// tokens: for token t, head hd of group g and channel i of the head, with
// Δ = softplus(dt[t,hd]) and one decay exp(Δ·A[hd]) for the whole head,
//
//	h[hd,i,n] = h[hd,i,n]·exp(Δ·A[hd]) + Δ·x[t,hd,i]·B[t,g,n]
//	y[t,hd,i] = Σₙ h[hd,i,n]·C[t,g,n]
//
// x and y are (seq, heads·head_dim), dt (seq, heads), A (heads), B and C
// (seq, groups·state), the state h (heads·head_dim, state). Heads run on
// separate threads, each over the whole sequence; SSM2ScanRef is its twin.
func SSM2Scan(y, h, x, dt, a, b, c []float32, p SSM2Params) error {
	if err := p.check(y, h, x, dt, a, b, c); err != nil {
		return err
	}
	ParallelFor(p.Heads, max(1, 4096/(p.Seq*p.HeadDim*p.State+1)), func(lo, hi int) {
		for hd := lo; hd < hi; hd++ {
			ssm2Head(y, h, x, dt, a, b, c, p, hd)
		}
	})
	return nil
}

// ssm2Head runs head hd over the whole sequence, tokens in chunks whose Δ
// and decay exp(Δ·A) are computed first; the state rows then go by
// ssm2HeadAVX512 (state a multiple of 16) or ssm2Rows.
func ssm2Head(y, h, x, dt, a, b, c []float32, p SSM2Params, hd int) {
	N, P, D := p.State, p.HeadDim, p.Heads*p.HeadDim
	g := hd / (p.Heads / p.Groups)
	GN := p.Groups * N
	var delta, decay [64]float32
	for t0 := 0; t0 < p.Seq; t0 += len(delta) {
		n := min(len(delta), p.Seq-t0)
		for t := range n {
			delta[t] = Softplus(dt[(t0+t)*p.Heads+hd])
			decay[t] = expf(delta[t] * a[hd])
		}
		y0, x0, bc0 := t0*D+hd*P, t0*D+hd*P, t0*GN+g*N
		hs := h[hd*P*N : (hd+1)*P*N]
		if useAVX512 && N%16 == 0 {
			ssm2HeadAVX512(&y[y0], &hs[0], &x[x0], &b[bc0], &c[bc0], &delta[0], &decay[0], n, D, GN, P, N)
			continue
		}
		span, bspan := (n-1)*D+P, (n-1)*GN+N
		ssm2Rows(y[y0:y0+span], hs, x[x0:x0+span], b[bc0:bc0+bspan], c[bc0:bc0+bspan], delta[:n], decay[:n], D, GN, P, N)
	}
}

// ssm2Rows updates one head's p state rows of n floats over len(delta)
// tokens, token t decaying them by decay[t] and adding B·(x·delta[t]);
// y[t·ld+i] is row i's sum of h·C (rows of B and C ldbc apart).
func ssm2Rows(y, h, x, b, c, delta, decay []float32, ld, ldbc, p, n int) {
	for t, dA := range decay {
		bt := b[t*ldbc : t*ldbc+n : t*ldbc+n]
		ct := c[t*ldbc : t*ldbc+n : t*ldbc+n]
		for i := 0; i < p; i++ {
			xd := x[t*ld+i] * delta[t]
			hs := h[i*n : (i+1)*n : (i+1)*n]
			var sum float32
			for j := range hs {
				s := hs[j]*dA + bt[j]*xd
				sum += s * ct[j]
				hs[j] = s
			}
			y[t*ld+i] = sum
		}
	}
}

// SSM2ScanRef is the reference Mamba-2 scan: token by token, head by head,
// on one thread.
func SSM2ScanRef(y, h, x, dt, a, b, c []float32, p SSM2Params) error {
	if err := p.check(y, h, x, dt, a, b, c); err != nil {
		return err
	}
	N, P, D, GN := p.State, p.HeadDim, p.Heads*p.HeadDim, p.Groups*p.State
	for t := 0; t < p.Seq; t++ {
		for hd := 0; hd < p.Heads; hd++ {
			g := hd / (p.Heads / p.Groups)
			delta := Softplus(dt[t*p.Heads+hd])
			for i := 0; i < P; i++ {
				ch := hd*P + i
				var sum float32
				for n := 0; n < N; n++ {
					s := h[ch*N+n]*expf(delta*a[hd]) + b[t*GN+g*N+n]*(x[t*D+ch]*delta)
					sum += s * c[t*GN+g*N+n]
					h[ch*N+n] = s
				}
				y[t*D+ch] = sum
			}
		}
	}
	return nil
}
