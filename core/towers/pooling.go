package towers

// Sentence embeddings from a decoder: the final hidden states (after the
// output RMSNorm, the vectors the LM head reads) pooled over the input's
// positions, BOS included — averaged (PoolMean, and when the file names no
// pooling), the first (PoolCLS) or the last (PoolLast, as Qwen3-Embedding's
// files ask with qwen3.pooling_type 3) — then scaled to unit length. This
// is llama.cpp's `llama-embedding --pooling mean|cls|last --embd-normalize 2`
// for a decoder model.

import (
	"fmt"
	"math"
)

// Pooled runs tokens (from position 0, through a fresh cache of this
// state) and writes into out (dim) their final hidden states pooled as
// pooling says (PoolNone is taken as PoolMean), L2-normalised. It needs a
// state whose cache holds len(tokens) positions.
func (st *State) Pooled(out []float32, tokens []int, pooling int) error {
	c := st.d.Config
	switch {
	case len(tokens) == 0:
		return fmt.Errorf("decoder: no tokens to pool")
	case len(tokens) > st.Cache[0].Max:
		return fmt.Errorf("decoder: %d tokens exceed the context of %d", len(tokens), st.Cache[0].Max)
	case len(out) != c.Dim:
		return fmt.Errorf("decoder: pooled output of %d floats, want %d", len(out), c.Dim)
	case pooling < PoolNone || pooling > PoolLast:
		return fmt.Errorf("decoder: pooling type %d (none, mean, CLS and last are known)", pooling)
	}
	sum := make([]float64, c.Dim)
	last := len(tokens) - 1
	for pos := 0; pos < len(tokens); {
		n := min(len(tokens)-pos, prefillChunk)
		x, err := st.blocks(tokens[pos:pos+n], pos)
		if err != nil {
			return err
		}
		h := st.h[:n*c.Dim] // (n, dim) final-normed hidden states
		if err := st.d.Norm.Forward(h, x, n); err != nil {
			return err
		}
		for i, v := range h {
			p := pos + i/c.Dim
			if pooling == PoolCLS && p != 0 || pooling == PoolLast && p != last {
				continue
			}
			sum[i%c.Dim] += float64(v)
		}
		pos += n
		st.Len = pos
	}
	return normalize(out, sum)
}

// normalize writes v/‖v‖ into out; a zero vector is an error, not NaNs.
func normalize(out []float32, v []float64) error {
	var ss float64
	for _, x := range v {
		ss += x * x
	}
	if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
		return fmt.Errorf("pooled vector has norm %g", math.Sqrt(ss))
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		out[i] = float32(x * inv)
	}
	return nil
}

// Pooled is CLIP's sentence embedding (CLIPTextModel's pooler_output): the
// final-normed hidden state at the end-of-text token, L2-normalised. ids is
// [BOS, tokens…, EOS] without padding (attention is causal, so padding after
// EOS would not change it); out has HiddenSize floats.
func (m *CLIPText) Pooled(out []float32, ids []int) error {
	T, H := len(ids), m.Cfg.HiddenSize
	if len(out) != H {
		return fmt.Errorf("clip: pooled output of %d floats, want %d", len(out), H)
	}
	if T == 0 {
		return fmt.Errorf("clip: no tokens to pool")
	}
	hidden := make([]float32, T*H)
	if err := m.Forward(hidden, ids); err != nil {
		return err
	}
	last := make([]float64, H)
	for i, v := range hidden[(T-1)*H:] {
		last[i] = float64(v)
	}
	return normalize(out, last)
}
