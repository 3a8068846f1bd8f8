// Package sample turns logits into tokens: penalties, temperature, top-k,
// top-p (nucleus, Holtzman et al. 2019), min-p, and a seeded draw from Loom's
// own PCG generator; and it turns token pieces into streamed text that never
// shows part of a stop string (stop.go).
//
// The chain, in order (llama.cpp's default order for the filters):
//
//	logits → repetition penalty (CTRL, Keskar et al. 2019; over prompt and output)
//	       → presence / frequency penalties (OpenAI; over output tokens so far)
//	       → temperature 0 ? argmax : softmax(logits / T)
//	       → top-k → top-p (on the renormalised top-k set) → min-p → draw
//
// min-p keeps tokens with p ≥ min_p·p_max; p_max and the ratios do not change
// when a set is renormalised, so min-p may be applied at any point of the
// chain and gives the same set.
package sample

import (
	"fmt"
	"math"
	"slices"
)

// Params are the sampling knobs of a text job. The zero value of each filter
// means "off"; Temperature 0 means greedy.
type Params struct {
	Temperature       float64 // 0: greedy (argmax after penalties)
	TopK              int     // keep the k most likely tokens; 0: off
	TopP              float64 // keep the smallest set with mass ≥ TopP; 0 or 1: off
	MinP              float64 // keep tokens with p ≥ MinP·p_max; 0: off
	RepetitionPenalty float64 // > 1 discourages seen tokens; 0 or 1: off
	PresencePenalty   float64 // subtracted once from a token already generated
	FrequencyPenalty  float64 // subtracted per time a token was generated
	Seed              int64
}

// Validate reports the first parameter outside its range, as a *ParamError
// naming it.
func (p Params) Validate() error {
	switch {
	case !finite(p.Temperature) || p.Temperature < 0:
		return paramErr("temperature", "must be ≥ 0, got %v", p.Temperature)
	case p.TopK < 0:
		return paramErr("top_k", "must be ≥ 0, got %d", p.TopK)
	case !finite(p.TopP) || p.TopP < 0 || p.TopP > 1:
		return paramErr("top_p", "must be in [0, 1], got %v", p.TopP)
	case !finite(p.MinP) || p.MinP < 0 || p.MinP > 1:
		return paramErr("min_p", "must be in [0, 1], got %v", p.MinP)
	case !finite(p.RepetitionPenalty) || p.RepetitionPenalty < 0:
		return paramErr("repetition_penalty", "must be ≥ 0, got %v", p.RepetitionPenalty)
	case !finite(p.PresencePenalty) || p.PresencePenalty < -2 || p.PresencePenalty > 2:
		return paramErr("presence_penalty", "must be in [-2, 2], got %v", p.PresencePenalty)
	case !finite(p.FrequencyPenalty) || p.FrequencyPenalty < -2 || p.FrequencyPenalty > 2:
		return paramErr("frequency_penalty", "must be in [-2, 2], got %v", p.FrequencyPenalty)
	}
	return nil
}

// ParamError is a sampling parameter outside its range; Name is its request
// key ("top_p"), which Field returns for the error's param.
type ParamError struct {
	Name string
	Msg  string
}

func paramErr(name, format string, args ...any) *ParamError {
	return &ParamError{Name: name, Msg: fmt.Sprintf(format, args...)}
}

func (e *ParamError) Error() string { return e.Name + " " + e.Msg }

// Field is the parameter at fault.
func (e *ParamError) Field() string { return e.Name }

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// candidate is one token still in the running with its unnormalised
// probability exp((logit − max)/T).
type candidate struct {
	id int
	p  float64
}

// Sampler draws tokens for one generation. It is not safe for concurrent use;
// its scratch buffers are reused across steps so a step does not allocate.
type Sampler struct {
	p     Params
	vocab int
	rng   *PCG

	// Each buffer is made only when the params need it: a greedy job
	// without penalties holds none (for a 32000-token vocabulary the four
	// came to 0.9 MiB per choice of every job).
	seen    []bool      // (vocab) token occurs in prompt or output: penalties only
	count   []int32     // (vocab) times the token was generated: penalties only
	touched []int       // ids with seen or count set, so penalties cost O(touched)
	adj     []float64   // (vocab) penalised logits, then weights: penalties or T > 0
	cand    []candidate // survivors of the filters: T > 0, made at the first draw
}

// New returns a sampler for a vocabulary of vocab tokens.
func New(p Params, vocab int) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if vocab <= 0 {
		return nil, fmt.Errorf("sample: vocabulary size %d", vocab)
	}
	s := &Sampler{p: p, vocab: vocab, rng: NewPCG(p.Seed)}
	if p.penalised() {
		s.seen, s.count = make([]bool, vocab), make([]int32, vocab)
	}
	if p.penalised() || p.Temperature != 0 {
		s.adj = make([]float64, vocab)
	}
	return s, nil
}

// penalised reports whether any of the repetition, presence and frequency
// penalties is on.
func (p Params) penalised() bool {
	rp := p.RepetitionPenalty
	return rp != 0 && rp != 1 || p.PresencePenalty != 0 || p.FrequencyPenalty != 0
}

// Prime records the prompt tokens, which the repetition penalty counts as seen.
func (s *Sampler) Prime(prompt []int) {
	for _, t := range prompt {
		s.mark(t)
	}
}

// Accept records a generated token (whether or not Sample chose it).
func (s *Sampler) Accept(tok int) {
	if s.mark(tok) {
		s.count[tok]++
	}
}

func (s *Sampler) mark(t int) bool {
	if t < 0 || t >= s.vocab || s.seen == nil {
		return false
	}
	if !s.seen[t] && s.count[t] == 0 {
		s.touched = append(s.touched, t)
	}
	s.seen[t] = true
	return true
}

// Sample returns the next token for logits (vocab values, left unchanged).
func (s *Sampler) Sample(logits []float32) int {
	n := min(len(logits), s.vocab)
	if s.adj == nil { // greedy without penalties: the logits as they are
		return argmax(logits[:n])
	}
	adj := s.adj[:n]
	for i, v := range logits[:n] {
		adj[i] = float64(v)
	}
	s.penalise(adj)
	if s.p.Temperature == 0 {
		return argmax(adj)
	}
	return s.draw(adj)
}

// penalise applies the repetition, presence and frequency penalties in place.
func (s *Sampler) penalise(adj []float64) {
	if !s.p.penalised() {
		return
	}
	rp, pp, fp := s.p.RepetitionPenalty, s.p.PresencePenalty, s.p.FrequencyPenalty
	for _, t := range s.touched {
		if t >= len(adj) {
			continue
		}
		v := adj[t]
		if rp != 0 && rp != 1 && s.seen[t] {
			// CTRL's rule as HF and llama.cpp apply it: shrink positive logits,
			// push negative ones further down.
			if v > 0 {
				v /= rp
			} else {
				v *= rp
			}
		}
		if c := s.count[t]; c > 0 {
			v -= float64(c)*fp + pp
		}
		adj[t] = v
	}
}

// argmax returns the index of the largest value; the lowest index wins ties
// (as llama2.c's argmax). NaN never wins.
func argmax[T float32 | float64](x []T) int {
	best, bv := 0, T(math.Inf(-1))
	for i, v := range x {
		if v > bv {
			best, bv = i, v
		}
	}
	return best
}

func (s *Sampler) draw(adj []float64) int {
	cand := s.filter(adj)
	if len(cand) == 0 {
		return argmax(adj)
	}
	var total float64
	for _, c := range cand {
		total += c.p
	}
	u := s.rng.Float64() * total
	var cum float64
	for _, c := range cand {
		cum += c.p
		if u < cum {
			return c.id
		}
	}
	return cand[len(cand)-1].id
}

// filter returns the candidates that survive top-k, top-p and min-p, with
// their unnormalised probabilities; nil when the logits have no finite max.
// adj is overwritten with the weights.
func (s *Sampler) filter(adj []float64) []candidate {
	invT := 1 / s.p.Temperature
	mx := math.Inf(-1)
	for _, v := range adj {
		if v > mx {
			mx = v
		}
	}
	if math.IsInf(mx, -1) || math.IsNaN(mx) {
		return nil
	}
	// Softmax numerators exp((l − max)/T); the max token has weight 1, so a
	// min-p cut is the weight threshold MinP (ratios are renormalisation-free).
	w := adj // reused in place: adj[i] becomes token i's weight
	var sum float64
	for i, v := range adj {
		e := math.Exp((v - mx) * invT)
		if e != e { // a NaN logit is never drawn
			e = 0
		}
		w[i] = e
		sum += e
	}
	k := s.p.TopK
	if k >= len(w) {
		k = 0
	}
	topP := s.p.TopP
	if topP == 1 {
		topP = 0
	}
	// With top-k the min-p cut waits until after top-p, which measures the
	// renormalised top-k set; without it min-p commutes with top-p.
	minW := 0.0
	if k == 0 {
		minW = s.p.MinP
	}
	if topP > 0 && k == 0 {
		// Tokens with p < (1−P)/n are never in the nucleus: together they
		// hold less than 1−P, so the tokens above them already reach P.
		minW = max(minW, (1-topP)*sum/float64(len(w)))
	}
	if s.cand == nil {
		s.cand = make([]candidate, 0, len(w))
	}
	cand := s.cand[:0]
	for i, p := range w {
		if p > 0 && p >= minW {
			if k > 0 {
				cand = pushTopK(cand, candidate{id: i, p: p}, k)
			} else {
				cand = append(cand, candidate{id: i, p: p})
			}
		}
	}
	s.cand = cand
	if k > 0 || topP > 0 {
		slices.SortFunc(cand, byLikelihood)
		if topP > 0 {
			var total float64
			for _, c := range cand {
				total += c.p
			}
			if k == 0 {
				total = sum // the nucleus is measured on the whole distribution
			}
			var cum float64
			for i, c := range cand {
				cum += c.p
				if cum >= topP*total {
					cand = cand[:i+1]
					break
				}
			}
		}
		if k > 0 {
			for len(cand) > 1 && cand[len(cand)-1].p < s.p.MinP {
				cand = cand[:len(cand)-1]
			}
		}
	}
	return cand
}

// byLikelihood orders most likely first and the lower id first among equals,
// so the set kept at a boundary does not depend on the sort's internals.
func byLikelihood(a, b candidate) int {
	switch {
	case a.p > b.p:
		return -1
	case a.p < b.p:
		return 1
	}
	return a.id - b.id
}

// pushTopK adds c to h, a min-heap (least likely at the root) holding at most
// k candidates: O(log k) per token instead of sorting the vocabulary.
func pushTopK(h []candidate, c candidate, k int) []candidate {
	if len(h) < k {
		h = append(h, c)
		for i := len(h) - 1; i > 0; {
			parent := (i - 1) / 2
			if byLikelihood(h[i], h[parent]) <= 0 {
				break
			}
			h[i], h[parent] = h[parent], h[i]
			i = parent
		}
		return h
	}
	if byLikelihood(c, h[0]) >= 0 {
		return h // no more likely than the least likely kept
	}
	h[0] = c
	for i := 0; ; {
		l, r, least := 2*i+1, 2*i+2, i
		if l < len(h) && byLikelihood(h[l], h[least]) > 0 {
			least = l
		}
		if r < len(h) && byLikelihood(h[r], h[least]) > 0 {
			least = r
		}
		if least == i {
			return h
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
}
