package towers

// Joint CTC/attention decoding (Watanabe et al. 2017, "Hybrid CTC/attention
// architecture for end-to-end speech recognition"): a Whisper folder may
// carry a CTC head on its encoder (config.json ctc_vocab_size; Loom's own
// models train one, tools/asr/train.py). Beam search then ranks a prefix g by
// (1−λ)·log p_att(g) + λ·log p_ctc(g…), where p_ctc(g…) is the probability
// that the audio's CTC labelling starts with g (the CTC prefix score) and, at
// <|endoftext|>, that it is exactly g. The prefix score of g+c is computed
// from g's forward variables in one pass over the frames.

import (
	"fmt"
	"math"
)

// CTCLogprobs returns the CTC head's log-probabilities over its K labels for
// each of the window's encoder states enc (S, D): (S, K), blank last.
func (m *Whisper) CTCLogprobs(enc []float32) ([][]float64, error) {
	c := m.Cfg
	K, S := c.CTCVocabSize, c.MaxSourcePositions
	if K == 0 {
		return nil, fmt.Errorf("whisper: the model has no CTC head (config.json ctc_vocab_size)")
	}
	if len(enc) != S*c.DModel {
		return nil, fmt.Errorf("whisper: encoder states have %d values, want %d×%d", len(enc), S, c.DModel)
	}
	y := make([]float32, S*K)
	if err := m.ctc.Forward(y, enc, S); err != nil {
		return nil, fmt.Errorf("whisper CTC head: %w", err)
	}
	out := make([][]float64, S)
	for t := range out {
		out[t] = logSoftmax(y[t*K : (t+1)*K])
	}
	return out, nil
}

// ctcPrefix is a prefix's CTC forward variables: rn[t] and rb[t] are the log
// probabilities that frames 0…t emit exactly the prefix, ending in its last
// label (rn) or in a blank (rb); score is the prefix score; last is the last
// label (−1: the empty prefix).
type ctcPrefix struct {
	rn, rb []float64
	score  float64
	last   int
}

// newCTCPrefix is the empty prefix over lp (T, K).
func newCTCPrefix(lp [][]float64) *ctcPrefix {
	T, blank := len(lp), len(lp[0])-1
	p := &ctcPrefix{rn: make([]float64, T), rb: make([]float64, T), last: -1}
	acc := 0.0
	for t := range lp {
		acc += lp[t][blank]
		p.rb[t], p.rn[t] = acc, math.Inf(-1)
	}
	return p
}

// final is log p_ctc(prefix): the labelling is the prefix and nothing more.
func (p *ctcPrefix) final() float64 {
	T := len(p.rn)
	return logAdd(p.rn[T-1], p.rb[T-1])
}

// extend returns the prefix followed by label c (0 ≤ c < K−1) and its prefix
// score: the probability summed over the frame at which c is first emitted.
func (p *ctcPrefix) extend(lp [][]float64, c int) *ctcPrefix {
	T, blank := len(lp), len(lp[0])-1
	n := &ctcPrefix{rn: make([]float64, T), rb: make([]float64, T), last: c}
	// phi[t]: frames 0…t emitted the prefix and may be followed by a new c
	// (a repeated label needs a blank between)
	phi := func(t int) float64 {
		if c == p.last {
			return p.rb[t]
		}
		return logAdd(p.rb[t], p.rn[t])
	}
	n.rn[0], n.rb[0] = math.Inf(-1), math.Inf(-1)
	if p.last < 0 {
		n.rn[0] = lp[0][c]
	}
	score := n.rn[0]
	for t := 1; t < T; t++ {
		f := phi(t - 1)
		n.rn[t] = logAdd(n.rn[t-1], f) + lp[t][c]
		n.rb[t] = logAdd(n.rb[t-1], n.rn[t-1]) + lp[t][blank]
		score = logAdd(score, f+lp[t][c])
	}
	n.score = score
	return n
}
