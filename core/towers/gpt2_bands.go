package towers

import (
	"fmt"
	"sync/atomic"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// Greedy decoding in bands: a member of a kernels.Pool.Team per thread owns
// a contiguous band of the heads (and so of the model's width), of the MLP's
// inner features and of the vocabulary, through the whole decoding. One
// token's ops are matrix-vector products of a few hundred rows, far too
// small to hand to the pool one by one (a 128-wide decoder ran slower on two
// threads than on one); as a member, a thread multiplies its band of each
// weight matrix (the same band every step, so it stays in that core's
// cache), attends with its own heads over the keys and values it computed
// itself, and meets the others where a product needs the whole vector: after
// the self-attention, its projection, the cross-attention, its projection,
// the MLP's first layer and its second, and the logits (seven barriers per
// layer and token, none for the cached keys and values). Every member then
// picks the same next token from the same logits. The values are
// GPT2.Step's: each is computed by the same kernel on the same row.

// gpt2BandMinWidth is the narrowest slice of the model's width a decoding
// member owns: below it the barriers cost more than the rows they share.
const gpt2BandMinWidth = 32

// greedyBands decodes greedily as GenerateFrom with beam 1 does (the highest
// logit, the lowest id among equal ones; EOS ends it), in bands. trace, when
// not nil, is called with each step's logits (tests).
func (m *GPT2) greedyBands(enc []float32, S int, prefix []int, maxLen int, trace func(logits []float32)) ([]int, error) {
	c := m.Cfg
	D, H, F, V, L := c.NEmbd, c.NHead, c.NInner, c.VocabSize, len(m.blocks)
	hd := D / H
	if len(enc) < S*m.blocks[0].xkv.W.Cols {
		return nil, fmt.Errorf("gpt2: encoder states %d floats, want %d×%d", len(enc), S, m.blocks[0].xkv.W.Cols)
	}
	// Shared between the members, each writing only its own band of each:
	k, v := make([][]float32, L), make([][]float32, L)   // (NPositions, D) self keys/values per layer
	xk, xv := make([][]float32, L), make([][]float32, L) // (S, D) cross keys/values per layer
	for i := range k {
		k[i], v[i] = make([]float32, c.NPositions*D), make([]float32, c.NPositions*D)
		xk[i], xv[i] = make([]float32, S*D), make([]float32, S*D)
	}
	x := make([]float32, D) // the residual stream
	var failed atomic.Bool
	att, f, logits := make([]float32, D), make([]float32, F), make([]float32, V)
	want := max(1, min(H, D/gpt2BandMinWidth))
	var toks []int
	errs := make([]error, want)
	kernels.Default().Team(want, func(part, parts int, bar *kernels.Barrier) {
		mb := &gpt2Member{m: m, S: S, failed: &failed, k: k, v: v, xk: xk, xv: xv, att: att, f: f, logits: logits, bar: bar}
		h0, h1 := kernels.Band(H, 1, part, parts)
		mb.dlo, mb.dhi = h0*hd, h1*hd
		mb.flo, mb.fhi = kernels.Band(F, 16, part, parts)
		mb.vlo, mb.vhi = kernels.Band(V, 1, part, parts)
		mb.h = make([]float32, D)
		out, err := mb.decode(enc, x, prefix, maxLen, trace, part == 0)
		errs[part] = err
		if part == 0 {
			toks = out
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return toks, nil
}

// bandable reports whether greedyBands can run the model: f32 embeddings
// and every projection a plain f32 matrix (nn.Linear.ForwardOut); a
// checkpoint in another format decodes step by step.
func (m *GPT2) bandable() bool {
	if m.wte.F32 == nil || !m.lmHead.OutBandable() {
		return false
	}
	for i := range m.blocks {
		b := &m.blocks[i]
		for _, l := range []*nn.Linear{&b.qkv, &b.proj, &b.xq, &b.xkv, &b.xo, &b.mlp.FC1, &b.mlp.FC2} {
			if !l.OutBandable() {
				return false
			}
		}
	}
	return true
}

// gpt2Member is one member's view of a banded decoding: its bands (model
// width dlo…dhi: its heads; MLP features flo…fhi; vocabulary vlo…vhi), the
// shared buffers and its private normalised vector h.
type gpt2Member struct {
	m                  *GPT2
	S                  int
	dlo, dhi, flo, fhi int
	vlo, vhi           int
	k, v, xk, xv       [][]float32
	att, f, logits, h  []float32
	bar                *kernels.Barrier
	failed             *atomic.Bool // some member failed: all stop after the step
	scratch            tensor.Arena
	err                error
}

// wait meets the other members; after a failure a member keeps meeting them
// (doing nothing else) until the decoding ends.
func (mb *gpt2Member) wait() { mb.bar.Wait() }

// do runs fn unless an earlier step failed.
func (mb *gpt2Member) do(fn func() error) {
	if mb.err == nil {
		mb.err = fn()
	}
}

// decode runs the prefix and then greedy steps, returning the tokens after
// the prefix (first member; every member computes the same ones).
func (mb *gpt2Member) decode(enc, x []float32, prefix []int, maxLen int, trace func([]float32), first bool) ([]int, error) {
	m := mb.m
	c := m.Cfg
	D := c.NEmbd
	maxLen = min(maxLen, c.NPositions-len(prefix))
	// Cross keys and values of this member's heads: its rows of the K half
	// and of the V half of c_attn over every encoder state.
	kv := mb.scratch.Scratch(mb.S * (mb.dhi - mb.dlo))
	for i := range m.blocks {
		for half, dst := range [][]float32{mb.xk[i], mb.xv[i]} {
			mb.do(func() error {
				w := mb.dhi - mb.dlo
				if err := m.blocks[i].xkv.ForwardOut(kv, enc, mb.S, half*D+mb.dlo, half*D+mb.dhi); err != nil {
					return fmt.Errorf("gpt2 layer %d cross k/v: %w", i, err)
				}
				for s := 0; s < mb.S; s++ {
					copy(dst[s*D+mb.dlo:s*D+mb.dhi], kv[s*w:(s+1)*w])
				}
				return nil
			})
		}
	}
	var out []int
	for pos, tok := 0, prefix[0]; ; pos++ {
		mb.step(x, tok, pos)
		if mb.failed.Load() { // set before the step's last barrier by any member that failed
			if mb.err == nil {
				mb.err = fmt.Errorf("gpt2: another decoding member failed")
			}
			return nil, mb.err
		}
		if trace != nil && first {
			trace(mb.logits)
		}
		if pos+1 < len(prefix) {
			tok = prefix[pos+1]
			continue
		}
		if len(out) >= maxLen {
			return out, nil
		}
		tok = 0
		for t, l := range mb.logits {
			if l > mb.logits[tok] {
				tok = t
			}
		}
		if tok == c.EOS {
			return out, nil
		}
		if out = append(out, tok); len(out) >= maxLen {
			return out, nil // its logits would not be read
		}
	}
}

// step feeds token at pos through every layer with x (D) as the residual
// stream, and leaves the logits in mb.logits; mb.err says if it failed.
func (mb *gpt2Member) step(x []float32, token, pos int) {
	m := mb.m
	c := m.Cfg
	D, hd := c.NEmbd, c.NEmbd/c.NHead
	lo, hi := mb.dlo, mb.dhi
	heads := (hi - lo) / hd
	mb.do(func() error {
		if token < 0 || token >= c.VocabSize {
			return fmt.Errorf("gpt2: token %d outside vocabulary of %d", token, c.VocabSize)
		}
		if m.wte.F32 == nil {
			return fmt.Errorf("gpt2: banded decoding needs f32 embeddings")
		}
		row := m.wte.F32[token*D : (token+1)*D]
		return kernels.Add(x[lo:hi], row[lo:hi], m.wpe[pos*D+lo:pos*D+hi])
	})
	self := kernels.AttnParams{Heads: heads, KVHeads: heads, HeadDim: hd, SeqQ: 1, SeqKV: pos + 1, Causal: true, QPos0: pos,
		QStride: D, KStride: D, VStride: D, OStride: D}
	cross := kernels.AttnParams{Heads: heads, KVHeads: heads, HeadDim: hd, SeqQ: 1, SeqKV: mb.S,
		QStride: D, KStride: D, VStride: D, OStride: D}
	q := mb.scratch.Scratch(D)
	defer mb.scratch.Reset()
	h := mb.h
	mb.wait() // the others' embedding bands (every member read the stream for the last logits before the last barrier)
	for i := range m.blocks {
		b := &m.blocks[i]
		k, v := mb.k[i], mb.v[i]
		mb.do(func() error { // self-attention of this member's heads
			if err := b.ln1.Forward(h, x, 1); err != nil {
				return err
			}
			for part, dst := range [][]float32{q, k[pos*D : (pos+1)*D], v[pos*D : (pos+1)*D]} {
				if err := b.qkv.ForwardOut(dst[lo:hi], h, 1, part*D+lo, part*D+hi); err != nil {
					return err
				}
			}
			self.SeqKV = pos + 1
			return kernels.FlashAttention(mb.att[lo:], q[lo:], k[lo:(pos+1)*D], v[lo:(pos+1)*D], self)
		})
		mb.wait()
		mb.do(func() error { return mb.residual(x, &b.proj, mb.att) })
		mb.wait()
		mb.do(func() error { // cross-attention of this member's heads
			if err := b.lnx.Forward(h, x, 1); err != nil {
				return err
			}
			if err := b.xq.ForwardOut(q[lo:hi], h, 1, lo, hi); err != nil {
				return err
			}
			return kernels.FlashAttention(mb.att[lo:], q[lo:], mb.xk[i][lo:], mb.xv[i][lo:], cross)
		})
		mb.wait()
		mb.do(func() error { return mb.residual(x, &b.xo, mb.att) })
		mb.wait()
		mb.do(func() error { // this member's MLP features
			if err := b.ln2.Forward(h, x, 1); err != nil {
				return err
			}
			f := mb.f[mb.flo:mb.fhi]
			if err := b.mlp.FC1.ForwardOut(f, h, 1, mb.flo, mb.fhi); err != nil {
				return err
			}
			return b.mlp.Act(f, f)
		})
		mb.wait()
		mb.do(func() error { return mb.residual(x, &b.mlp.FC2, mb.f) })
		mb.wait()
	}
	mb.do(func() error {
		if err := m.lnf.Forward(h, x, 1); err != nil {
			return err
		}
		return m.lmHead.ForwardOut(mb.logits[mb.vlo:mb.vhi], h, 1, mb.vlo, mb.vhi)
	})
	if mb.err != nil {
		mb.failed.Store(true)
	}
	mb.wait()
}

// residual adds this member's band of l(in) (in: the whole vector the
// others finished) to the stream x.
func (mb *gpt2Member) residual(x []float32, l interface {
	ForwardOut(y, x []float32, rows, lo, hi int) error
}, in []float32) error {
	lo, hi := mb.dlo, mb.dhi
	o := mb.scratch.Scratch(hi - lo)
	if err := l.ForwardOut(o, in, 1, lo, hi); err != nil {
		return err
	}
	return kernels.Add(x[lo:hi], x[lo:hi], o)
}
