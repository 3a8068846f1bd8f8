package nn

import (
	"fmt"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/tensor"
)

// ForwardBand is Forward for tokens lo…hi of x (T, dim) as one member of a
// kernels.Pool.Team whose members own contiguous bands of the tokens
// through every layer. A member's norms, projections and MLP read and
// write its own rows only; its queries attend over every token's keys and
// values, which each member writes into its rows of kv (2, T, inner) and
// shares at one bar.Wait. That is the only crossing per layer, where
// splitting each op anew over the pool handed every op's output across the
// cores (a small ViT: a dozen pool rounds of a few µs each per layer).
//
// Every member passes the same kv, which must not be the kv of the layer
// before (a member may still be reading it): alternate two. ForwardBand
// calls bar.Wait exactly once, error or not. A band's rows equal Forward's
// rows: every kernel here computes a row from that row alone, or (attention)
// a query row from every key.
func (l *EncoderLayer) ForwardBand(x []float32, T, lo, hi int, kv []float32, bar *kernels.Barrier, ar *tensor.Arena) error {
	a := &l.Attn
	dim, inner, n := len(l.Norm1.W), a.Heads*a.HeadDim, hi-lo
	if lo < 0 || hi > T || n <= 0 || len(x) < T*dim || len(kv) < 2*T*inner {
		bar.Wait()
		return fmt.Errorf("encoder band %d…%d of %d tokens: x %d floats, kv %d (dim %d, inner %d)", lo, hi, T, len(x), len(kv), dim, inner)
	}
	xb := x[lo*dim : hi*dim]
	k, v := kv[:T*inner], kv[T*inner:2*T*inner]
	h, q := ar.Scratch(n*dim), ar.Scratch(n*inner)
	err := l.Norm1.Forward(h, xb, n)
	for _, p := range []struct {
		l *Linear
		y []float32
	}{{&a.Q, q}, {&a.K, k[lo*inner : hi*inner]}, {&a.V, v[lo*inner : hi*inner]}} {
		if err == nil {
			err = p.l.Forward(p.y, h, n)
		}
	}
	bar.Wait()
	if err != nil {
		return fmt.Errorf("self-attention: %w", err)
	}
	att, o := ar.Scratch(n*inner), ar.Scratch(n*dim)
	ap := kernels.AttnParams{Heads: a.Heads, KVHeads: a.Heads, HeadDim: a.HeadDim, SeqQ: n, SeqKV: T, Causal: a.Causal, QPos0: lo}
	if err := kernels.FlashAttention(att, q, k, v, ap); err != nil {
		return err
	}
	if err := a.O.Forward(o, att, n); err != nil {
		return fmt.Errorf("attention out: %w", err)
	}
	if err := kernels.Add(xb, xb, o); err != nil {
		return err
	}
	if err := l.Norm2.Forward(h, xb, n); err != nil {
		return err
	}
	if err := l.MLP.Forward(h, h, n, ar); err != nil {
		return err
	}
	return kernels.Add(xb, xb, h)
}

// OutBandable reports whether ForwardOut can run on this layer: its weight
// is a plain f32 matrix (not quantized, not repacked).
func (l *Linear) OutBandable() bool {
	return l.W.F32 != nil && l.W.Type != kernels.F32R32
}

// ForwardOut sets y (rows, hi-lo) to output features lo…hi of the layer on x
// (rows, in): the rows lo…hi of W (and of the bias) applied alone, as a
// team member that owns those features runs its share of a layer. Each
// value is Forward's (the same kernel on the same weight row). f32 weights
// only.
func (l *Linear) ForwardOut(y, x []float32, rows, lo, hi int) error {
	out, in := l.W.Rows, l.W.Cols
	n := hi - lo
	switch {
	case !l.OutBandable():
		return fmt.Errorf("linear %d→%d: features %d…%d of a %v matrix (f32 only)", in, out, lo, hi, l.W.Type)
	case lo < 0 || hi > out || n <= 0 || len(x) < rows*in || len(y) < rows*n:
		return fmt.Errorf("linear %d→%d: features %d…%d for %d rows, x %d floats, y %d", in, out, lo, hi, rows, len(x), len(y))
	}
	x, y = x[:rows*in], y[:rows*n]
	w := l.W.F32[lo*in : hi*in]
	if rows == 1 {
		kernels.MatVecT(y, w, x, n, in)
	} else {
		kernels.GemmT(rows, n, in, x, in, w, in, 0, y, n)
	}
	if l.Bias != nil {
		return kernels.AddBias(y, l.Bias[lo:hi], rows, n)
	}
	return nil
}
