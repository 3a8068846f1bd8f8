package kernels

// Mixture-of-Experts feed-forward (Mixtral, Qwen-MoE, DeepSeek style), fused
// the way ggml's mul_mat_id is: route every token (router GEMM, softmax or
// sigmoid, top-k, optional renormalisation), group token rows by expert, run
// one GEMM per expert over its gathered rows for gate, up and down (SwiGLU),
// and scatter the rows back with their routing weights. Shared experts, when
// present, run on every token with weight 1.

import (
	"fmt"
	"math"
)

// MoEGating says how router logits become expert scores.
type MoEGating int

const (
	MoESoftmax MoEGating = iota // softmax over all experts (Mixtral, Qwen)
	MoESigmoid                  // independent sigmoid per expert (DeepSeek-V3)
)

// MoEConfig holds the dimensions and routing options of one MoE layer.
type MoEConfig struct {
	Dim, FF  int // model width, hidden width of each routed expert
	Experts  int
	TopK     int // experts per token, 1..Experts
	Gating   MoEGating
	NormTopK bool // divide the k selected scores by their sum
	SharedFF int  // hidden width of each shared expert (0 if none)
}

// MoEWeights are a layer's tensors, one slice per expert so a decoder can
// bind views into GGUF's 3-D ffn_{gate,up,down}_exps tensors (E, FF, D)
// without copying. All are row-major [out][in] as checkpoints store them.
type MoEWeights struct {
	Router     []float32   // (Experts, Dim)
	Gate, Up   [][]float32 // Experts × (FF, Dim)
	Down       [][]float32 // Experts × (Dim, FF)
	SharedGate [][]float32 // nShared × (SharedFF, Dim); nil = no shared expert
	SharedUp   [][]float32 // nShared × (SharedFF, Dim)
	SharedDown [][]float32 // nShared × (Dim, SharedFF)
}

// MoEScratch holds MoE's working buffers; reuse one per layer (or per
// goroutine) and steady-state calls allocate no buffers (only the few small
// closures handed to the pool). Not safe for concurrent use.
type MoEScratch struct {
	logits []float32 // (tokens, Experts)
	topE   []int32   // (tokens, TopK) chosen expert per slot
	topW   []float32 // (tokens, TopK) routing weight per slot
	slot   []int32   // (tokens, TopK) row of the slot in the grouped buffers
	load   []int     // (Experts) rows routed to each expert
	offset []int     // (Experts+1) first grouped row of each expert
	rowTok []int32   // (tokens·TopK) token of each grouped row
	xg     []float32 // (tokens·TopK, Dim) gathered inputs, grouped by expert
	g, u   []float32 // (tokens·TopK, FF) gate and up activations
	y      []float32 // (tokens·TopK, Dim) expert outputs
	sh     []float32 // (tokens, Dim) shared-expert output
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func (c *MoEConfig) validate(out, x []float32, tokens int, w *MoEWeights) error {
	switch {
	case c.Dim <= 0 || c.FF <= 0 || c.Experts <= 0:
		return fmt.Errorf("moe: dim %d, ff %d, experts %d must be positive", c.Dim, c.FF, c.Experts)
	case c.TopK < 1 || c.TopK > c.Experts:
		return fmt.Errorf("moe: top-k %d not in 1..%d", c.TopK, c.Experts)
	case c.Gating != MoESoftmax && c.Gating != MoESigmoid:
		return fmt.Errorf("moe: unknown gating %d", c.Gating)
	case tokens < 0:
		return fmt.Errorf("moe: negative token count %d", tokens)
	case w == nil:
		return fmt.Errorf("moe: nil weights")
	case len(x) < tokens*c.Dim || len(out) < tokens*c.Dim:
		return fmt.Errorf("moe: x has %d, out %d floats, need %d×%d", len(x), len(out), tokens, c.Dim)
	case len(w.Router) < c.Experts*c.Dim:
		return fmt.Errorf("moe: router has %d floats, need %d×%d", len(w.Router), c.Experts, c.Dim)
	case len(w.Gate) != c.Experts || len(w.Up) != c.Experts || len(w.Down) != c.Experts:
		return fmt.Errorf("moe: %d/%d/%d gate/up/down experts, need %d", len(w.Gate), len(w.Up), len(w.Down), c.Experts)
	}
	for e := 0; e < c.Experts; e++ {
		if len(w.Gate[e]) < c.FF*c.Dim || len(w.Up[e]) < c.FF*c.Dim || len(w.Down[e]) < c.Dim*c.FF {
			return fmt.Errorf("moe: expert %d weights shorter than %d×%d", e, c.FF, c.Dim)
		}
	}
	ns := len(w.SharedGate)
	if len(w.SharedUp) != ns || len(w.SharedDown) != ns {
		return fmt.Errorf("moe: %d/%d/%d shared gate/up/down", ns, len(w.SharedUp), len(w.SharedDown))
	}
	if ns > 0 && c.SharedFF <= 0 {
		return fmt.Errorf("moe: %d shared experts but shared ff %d", ns, c.SharedFF)
	}
	for i := 0; i < ns; i++ {
		n := c.SharedFF * c.Dim
		if len(w.SharedGate[i]) < n || len(w.SharedUp[i]) < n || len(w.SharedDown[i]) < n {
			return fmt.Errorf("moe: shared expert %d weights shorter than %d×%d", i, c.SharedFF, c.Dim)
		}
	}
	return nil
}

// moeRoute turns one token's router logits (Experts) into its top-k experts
// and weights. Ties go to the lower expert index; scores are computed in
// float64 so the ranking does not depend on expf's rounding.
func moeRoute(c *MoEConfig, logits []float32, topE []int32, topW []float32) {
	scores := logits // overwritten in place with the gating scores
	switch c.Gating {
	case MoESoftmax:
		mx := math.Inf(-1)
		for _, l := range logits {
			mx = math.Max(mx, float64(l))
		}
		var sum float64
		for _, l := range logits {
			sum += math.Exp(float64(l) - mx)
		}
		for e, l := range logits {
			scores[e] = float32(math.Exp(float64(l)-mx) / sum)
		}
	case MoESigmoid:
		for e, l := range logits {
			scores[e] = float32(1 / (1 + math.Exp(-float64(l))))
		}
	}
	// Selection by repeated scan: k and Experts are small (≤ 8 of ≤ 256).
	// A NaN score ranks last instead of poisoning the comparisons.
	rank := func(s float32) float32 {
		if s != s {
			return float32(math.Inf(-1))
		}
		return s
	}
	var sum float32
	for kk := 0; kk < c.TopK; kk++ {
		best := -1
		for e, s := range scores {
			taken := false
			for _, t := range topE[:kk] {
				if int(t) == e {
					taken = true
					break
				}
			}
			if !taken && (best < 0 || rank(s) > rank(scores[best])) {
				best = e
			}
		}
		topE[kk] = int32(best)
		topW[kk] = scores[best]
		sum += scores[best]
	}
	if c.NormTopK && sum > 0 {
		for kk := range topW[:c.TopK] {
			topW[kk] /= sum
		}
	}
}

// swiglu sets g[i] = silu(g[i])·u[i].
func swiglu(g, u []float32) {
	u = u[:len(g)]
	for i, x := range g {
		g[i] = x / (1 + expf(-x)) * u[i]
	}
}

// MoE computes out (tokens, Dim) = Σ_k w_k·expert_k(x) + Σ shared(x) for x
// (tokens, Dim), where expert(x) = Down·(silu(Gate·x) ⊙ Up·x). out is
// overwritten (the caller adds the residual). It returns the number of rows
// routed to each expert (Experts), valid until s is next used. s may be nil
// (a fresh scratch is made: fine for tests, not for a decode loop).
func MoE(out, x []float32, tokens int, w *MoEWeights, c MoEConfig, s *MoEScratch) ([]int, error) {
	if err := c.validate(out, x, tokens, w); err != nil {
		return nil, err
	}
	if s == nil {
		s = new(MoEScratch)
	}
	d, ff, ne, k := c.Dim, c.FF, c.Experts, c.TopK
	rows := tokens * k
	s.logits = grow(s.logits, tokens*ne)
	s.topE = grow(s.topE, rows)
	s.topW = grow(s.topW, rows)
	s.slot = grow(s.slot, rows)
	s.load = grow(s.load, ne)
	s.offset = grow(s.offset, ne+1)
	s.rowTok = grow(s.rowTok, rows)
	s.xg = grow(s.xg, rows*d)
	s.g = grow(s.g, rows*ff)
	s.u = grow(s.u, rows*ff)
	s.y = grow(s.y, rows*d)
	clear(s.load)
	if tokens == 0 {
		return s.load, nil
	}

	// Route: logits (tokens, Experts) = x · Routerᵀ, then top-k per token.
	GemmT(tokens, ne, d, x, d, w.Router, d, 0, s.logits, ne)
	ParallelFor(tokens, 16, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			moeRoute(&c, s.logits[t*ne:(t+1)*ne], s.topE[t*k:(t+1)*k], s.topW[t*k:(t+1)*k])
		}
	})

	// Group: counting sort of the (token, slot) pairs by expert, in token
	// order within an expert so the result does not depend on threads.
	for _, e := range s.topE[:rows] {
		s.load[e]++
	}
	s.offset[0] = 0
	for e := 0; e < ne; e++ {
		s.offset[e+1] = s.offset[e] + s.load[e]
	}
	fill := s.offset[:ne] // advanced in place, then rebuilt below
	for i, e := range s.topE[:rows] {
		r := fill[e]
		fill[e]++
		s.slot[i] = int32(r)
		s.rowTok[r] = int32(i / k)
	}
	for e := ne; e > 0; e-- {
		s.offset[e] = s.offset[e-1]
	}
	s.offset[0] = 0
	ParallelFor(rows, 32, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := int(s.rowTok[r])
			copy(s.xg[r*d:(r+1)*d], x[t*d:(t+1)*d])
		}
	})

	// One GEMM per expert over its rows (GemmT parallelises inside).
	for e := 0; e < ne; e++ {
		r0, n := s.offset[e], s.load[e]
		if n == 0 {
			continue
		}
		xe := s.xg[r0*d : (r0+n)*d]
		ge, ue := s.g[r0*ff:(r0+n)*ff], s.u[r0*ff:(r0+n)*ff]
		GemmT(n, ff, d, xe, d, w.Gate[e], d, 0, ge, ff)
		GemmT(n, ff, d, xe, d, w.Up[e], d, 0, ue, ff)
		ParallelFor(n, 8, func(lo, hi int) { swiglu(ge[lo*ff:hi*ff], ue[lo*ff:hi*ff]) })
		GemmT(n, d, ff, ge, ff, w.Down[e], ff, 0, s.y[r0*d:(r0+n)*d], d)
	}

	// Shared experts over all tokens, into sh (tokens, Dim).
	ns := len(w.SharedGate)
	if ns > 0 {
		sff := c.SharedFF
		s.sh = grow(s.sh, tokens*d)
		s.g = grow(s.g, max(rows*ff, tokens*sff))
		s.u = grow(s.u, max(rows*ff, tokens*sff))
		g, u := s.g[:tokens*sff], s.u[:tokens*sff]
		for i := 0; i < ns; i++ {
			GemmT(tokens, sff, d, x, d, w.SharedGate[i], d, 0, g, sff)
			GemmT(tokens, sff, d, x, d, w.SharedUp[i], d, 0, u, sff)
			ParallelFor(tokens, 8, func(lo, hi int) { swiglu(g[lo*sff:hi*sff], u[lo*sff:hi*sff]) })
			beta := float32(1)
			if i == 0 {
				beta = 0
			}
			GemmT(tokens, d, sff, g, sff, w.SharedDown[i], sff, beta, s.sh, d)
		}
	}

	// Scatter: each token sums its shared output and its k weighted rows.
	ParallelFor(tokens, 16, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			o := out[t*d : (t+1)*d]
			if ns > 0 {
				copy(o, s.sh[t*d:(t+1)*d])
			} else {
				clear(o)
			}
			for kk := 0; kk < k; kk++ {
				r := int(s.slot[t*k+kk])
				wt := s.topW[t*k+kk]
				for c, yv := range s.y[r*d : (r+1)*d] {
					o[c] += wt * yv
				}
			}
		}
	})
	return s.load, nil
}

// MoENaive is MoE's reference: a loop over tokens, each routed on its own
// and run through its k experts with matrix-vector products (the batch-1
// decode path). It allocates its buffers and returns a fresh load slice.
func MoENaive(out, x []float32, tokens int, w *MoEWeights, c MoEConfig) ([]int, error) {
	if err := c.validate(out, x, tokens, w); err != nil {
		return nil, err
	}
	d, ff, ne, k := c.Dim, c.FF, c.Experts, c.TopK
	load := make([]int, ne)
	logits := make([]float32, ne)
	topE, topW := make([]int32, k), make([]float32, k)
	hid := max(ff, c.SharedFF)
	g, u, y := make([]float32, hid), make([]float32, hid), make([]float32, d)
	for t := 0; t < tokens; t++ {
		xt, o := x[t*d:(t+1)*d], out[t*d:(t+1)*d]
		clear(o)
		for i := range w.SharedGate {
			sff := c.SharedFF
			MatVecT(g[:sff], w.SharedGate[i], xt, sff, d)
			MatVecT(u[:sff], w.SharedUp[i], xt, sff, d)
			swiglu(g[:sff], u[:sff])
			MatVecT(y, w.SharedDown[i], g[:sff], d, sff)
			for c := range o {
				o[c] += y[c]
			}
		}
		MatVecT(logits, w.Router, xt, ne, d)
		moeRoute(&c, logits, topE, topW)
		for kk, e := range topE {
			load[e]++
			MatVecT(g[:ff], w.Gate[e], xt, ff, d)
			MatVecT(u[:ff], w.Up[e], xt, ff, d)
			swiglu(g[:ff], u[:ff])
			MatVecT(y, w.Down[e], g[:ff], d, ff)
			for c := range o {
				o[c] += topW[kk] * y[c]
			}
		}
	}
	return load, nil
}
