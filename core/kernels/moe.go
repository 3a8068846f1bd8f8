package kernels

// Mixture-of-Experts feed-forward (Mixtral, Qwen-MoE, DeepSeek style), fused
// the way ggml's mul_mat_id is: route every token (router GEMM, softmax or
// sigmoid, top-k, optional renormalisation), group token rows by expert, run
// one matrix product per expert over its gathered rows for gate, up and down
// (SwiGLU), and scatter the rows back with their routing weights. Shared
// experts, when present, run on every token with weight 1. The experts stay
// in their storage type (Experts): f32 through GEMM, the quantized types
// through MatMulQ, so a quantized model's experts are never widened.

import (
	"errors"
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
	// DeepSeek-V3's routing, all optional: Bias (Experts) is added to the
	// scores only to choose the experts (their weights stay unbiased); with
	// Groups > 1 the experts form Groups equal groups ranked by the sum of
	// their two best biased scores, and only the best GroupsUsed groups'
	// experts may be chosen; Scale multiplies the weights (0: 1).
	Bias               []float32
	Groups, GroupsUsed int
	Scale              float32
}

// Experts is one weight of every expert of a layer: matrices (rows, cols)
// stored [out][in] in one type of the dtype table, one slice per expert, so
// a decoder binds views into GGUF's 3-D ffn_{gate,up,down}_exps tensors
// (E, rows, cols) without copying.
type Experts struct {
	Type DType
	F32  [][]float32 // Type == F32: each rows·cols floats
	Q    [][]byte    // otherwise: each rows × Type.RowBytes(cols) bytes
}

// F32Experts wraps float32 expert matrices.
func F32Experts(m ...[]float32) Experts { return Experts{Type: F32, F32: m} }

// Len is the number of experts.
func (e *Experts) Len() int {
	if e.Type == F32 {
		return len(e.F32)
	}
	return len(e.Q)
}

// check reports whether every expert holds a (rows, cols) matrix.
func (e *Experts) check(what string, rows, cols int) error {
	if e.Type == F32 {
		for i, m := range e.F32 {
			if len(m) < rows*cols {
				return fmt.Errorf("moe: %s expert %d weights shorter than %d×%d", what, i, rows, cols)
			}
		}
		return nil
	}
	if !e.Type.Computable() {
		return fmt.Errorf("moe: %s experts stored as %v, which has no kernel", what, e.Type)
	}
	rb, err := e.Type.RowBytes(cols)
	if err != nil {
		return fmt.Errorf("moe: %s experts: %w", what, err)
	}
	for i, m := range e.Q {
		if len(m) != rows*rb {
			return fmt.Errorf("moe: %s expert %d has %d bytes, want %d×%d %v (%d)", what, i, len(m), rows, cols, e.Type, rows*rb)
		}
	}
	return nil
}

// mul sets y (m, rows) = x (m, cols) · expert iᵀ.
func (e *Experts) mul(i int, y, x []float32, m, rows, cols int) {
	if e.Type == F32 {
		GemmT(m, rows, cols, x, cols, e.F32[i], cols, 0, y, rows)
		return
	}
	// Shapes were checked by validate: MatMulQ cannot fail here.
	if err := MatMulQ(y[:m*rows], e.Q[i], e.Type, x[:m*cols], m, rows, cols); err != nil {
		panic("moe: " + err.Error())
	}
}

// MoEWeights are a layer's tensors, row-major [out][in] as checkpoints store
// them.
type MoEWeights struct {
	Router     []float32 // (Experts, Dim)
	Gate, Up   Experts   // Experts × (FF, Dim)
	Down       Experts   // Experts × (Dim, FF)
	SharedGate Experts   // nShared × (SharedFF, Dim); none = no shared expert
	SharedUp   Experts   // nShared × (SharedFF, Dim)
	SharedDown Experts   // nShared × (Dim, SharedFF)
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
	y2     []float32 // (tokens, Dim) a further shared expert's output
	parts  []MatVecPart
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
	case c.Bias != nil && len(c.Bias) != c.Experts:
		return fmt.Errorf("moe: %d selection biases for %d experts", len(c.Bias), c.Experts)
	case c.Groups > 1 && (c.Experts%c.Groups != 0 || c.GroupsUsed < 1 || c.GroupsUsed > c.Groups || c.TopK > c.GroupsUsed*(c.Experts/c.Groups)):
		return fmt.Errorf("moe: %d experts in %d groups, %d groups used, top-k %d", c.Experts, c.Groups, c.GroupsUsed, c.TopK)
	case tokens < 0:
		return fmt.Errorf("moe: negative token count %d", tokens)
	case w == nil:
		return fmt.Errorf("moe: nil weights")
	case len(x) < tokens*c.Dim || len(out) < tokens*c.Dim:
		return fmt.Errorf("moe: x has %d, out %d floats, need %d×%d", len(x), len(out), tokens, c.Dim)
	case len(w.Router) < c.Experts*c.Dim:
		return fmt.Errorf("moe: router has %d floats, need %d×%d", len(w.Router), c.Experts, c.Dim)
	case w.Gate.Len() != c.Experts || w.Up.Len() != c.Experts || w.Down.Len() != c.Experts:
		return fmt.Errorf("moe: %d/%d/%d gate/up/down experts, need %d", w.Gate.Len(), w.Up.Len(), w.Down.Len(), c.Experts)
	}
	if err := errors.Join(w.Gate.check("gate", c.FF, c.Dim), w.Up.check("up", c.FF, c.Dim), w.Down.check("down", c.Dim, c.FF)); err != nil {
		return err
	}
	ns := w.SharedGate.Len()
	if w.SharedUp.Len() != ns || w.SharedDown.Len() != ns {
		return fmt.Errorf("moe: %d/%d/%d shared gate/up/down", ns, w.SharedUp.Len(), w.SharedDown.Len())
	}
	if ns > 0 && c.SharedFF <= 0 {
		return fmt.Errorf("moe: %d shared experts but shared ff %d", ns, c.SharedFF)
	}
	if ns > 0 {
		return errors.Join(w.SharedGate.check("shared gate", c.SharedFF, c.Dim),
			w.SharedUp.check("shared up", c.SharedFF, c.Dim), w.SharedDown.check("shared down", c.Dim, c.SharedFF))
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
	sel := moeSelection(c, scores)
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
		for e, s := range sel {
			taken := false
			for _, t := range topE[:kk] {
				if int(t) == e {
					taken = true
					break
				}
			}
			if !taken && (best < 0 || rank(s) > rank(sel[best])) {
				best = e
			}
		}
		topE[kk] = int32(best)
		topW[kk] = scores[best]
		sum += scores[best]
	}
	if c.NormTopK && sum > 0 {
		// llama.cpp clamps the sum to f16's smallest normal number.
		sum = max(sum, 6.103515625e-5)
		for kk := range topW[:c.TopK] {
			topW[kk] /= sum
		}
	}
	if c.Scale != 0 && c.Scale != 1 {
		for kk := range topW[:c.TopK] {
			topW[kk] *= c.Scale
		}
	}
}

// moeSelection returns the scores experts are chosen by: scores itself, or
// with DeepSeek-V3's routing the scores plus Bias, −∞ outside the best
// GroupsUsed groups (a group ranks by the sum of its two best).
func moeSelection(c *MoEConfig, scores []float32) []float32 {
	if c.Bias == nil && c.Groups <= 1 {
		return scores
	}
	sel := make([]float32, len(scores))
	for e, s := range scores {
		if c.Bias != nil {
			s += c.Bias[e]
		}
		sel[e] = s
	}
	if c.Groups <= 1 {
		return sel
	}
	per := len(sel) / c.Groups
	group := make([]float32, c.Groups)
	for g := range group {
		a, b := float32(math.Inf(-1)), float32(math.Inf(-1)) // best two
		for _, s := range sel[g*per : (g+1)*per] {
			if s > a {
				a, b = s, a
			} else if s > b {
				b = s
			}
		}
		if per < 2 {
			b = 0
		}
		group[g] = a + b
	}
	keep := make([]bool, c.Groups)
	for range c.GroupsUsed {
		best := -1
		for g, v := range group {
			if !keep[g] && (best < 0 || v > group[best]) {
				best = g
			}
		}
		keep[best] = true
	}
	for g, k := range keep {
		if !k {
			for e := g * per; e < (g+1)*per; e++ {
				sel[e] = float32(math.Inf(-1))
			}
		}
	}
	return sel
}

// swiglu sets g[i] = silu(g[i])·u[i]: SiLU's vector routine in place
// (siluRange, as the dense feed-forward's SiLU), then the product. A scalar
// expf per element was 5–9 % of a MoE decode token (docs/BENCHMARKS.md).
func swiglu(g, u []float32) {
	u = u[:len(g)]
	siluRange(g, g)
	for i, v := range u {
		g[i] *= v
	}
}

// expertsOneToken is the expert loop of MoE for one token (decode): the
// gate and up rows of all its experts read the same x, so they run as one
// MatVecMany, then every expert's down projection (each of its own g) as
// another — two parallel loops instead of three per expert, x quantized
// once. Each value is the per-expert loop's bit for bit.
func (s *MoEScratch) expertsOneToken(w *MoEWeights, x []float32, d, ff int) {
	part := func(m *Experts, e int, y, x []float32, rows, cols int) MatVecPart {
		p := MatVecPart{Y: y, N: rows, X: x, Type: m.Type}
		if m.Type == F32 {
			p.F32 = m.F32[e][:rows*cols]
		} else {
			p.Data = m.Q[e]
		}
		return p
	}
	s.parts = s.parts[:0]
	for e, n := range s.load {
		if n == 0 {
			continue
		}
		r0 := s.offset[e] // n is 1: top-k experts are distinct
		s.parts = append(s.parts,
			part(&w.Gate, e, s.g[r0*ff:(r0+1)*ff], nil, ff, d),
			part(&w.Up, e, s.u[r0*ff:(r0+1)*ff], nil, ff, d))
	}
	// Shapes were checked by validate: MatVecMany cannot fail here.
	if err := MatVecMany(s.parts, x[:d], d); err != nil {
		panic("moe: " + err.Error())
	}
	s.parts = s.parts[:0]
	for e, n := range s.load {
		if n == 0 {
			continue
		}
		r0 := s.offset[e]
		ge := s.g[r0*ff : (r0+1)*ff]
		swiglu(ge, s.u[r0*ff:(r0+1)*ff])
		s.parts = append(s.parts, part(&w.Down, e, s.y[r0*d:(r0+1)*d], ge, d, ff))
	}
	if err := MatVecMany(s.parts, nil, ff); err != nil {
		panic("moe: " + err.Error())
	}
	clear(s.parts) // do not pin the weights
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
	if oneChunk(tokens, 16) {
		s.route(&c, 0, tokens)
	} else {
		cc := c // the closure takes c's address and escapes: copy it only here
		ParallelFor(tokens, 16, func(lo, hi int) { s.route(&cc, lo, hi) })
	}

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
	if oneChunk(rows, 32) {
		s.gather(x, d, 0, rows)
	} else {
		ParallelFor(rows, 32, func(lo, hi int) { s.gather(x, d, lo, hi) })
	}

	// One matrix product per expert over its rows (each parallelises inside);
	// a single token's experts as two MatVecMany loops.
	if tokens == 1 {
		s.expertsOneToken(w, x, d, ff)
	}
	for e := 0; e < ne && tokens > 1; e++ {
		r0, n := s.offset[e], s.load[e]
		if n == 0 {
			continue
		}
		xe := s.xg[r0*d : (r0+n)*d]
		ge, ue := s.g[r0*ff:(r0+n)*ff], s.u[r0*ff:(r0+n)*ff]
		w.Gate.mul(e, ge, xe, n, ff, d)
		w.Up.mul(e, ue, xe, n, ff, d)
		ParallelFor(n, 8, func(lo, hi int) { swiglu(ge[lo*ff:hi*ff], ue[lo*ff:hi*ff]) })
		w.Down.mul(e, s.y[r0*d:(r0+n)*d], ge, n, d, ff)
	}

	// Shared experts over all tokens, into sh (tokens, Dim).
	ns := w.SharedGate.Len()
	if ns > 0 {
		sff := c.SharedFF
		s.sh = grow(s.sh, tokens*d)
		s.g = grow(s.g, max(rows*ff, tokens*sff))
		s.u = grow(s.u, max(rows*ff, tokens*sff))
		g, u := s.g[:tokens*sff], s.u[:tokens*sff]
		s.y2 = grow(s.y2, tokens*d)
		for i := 0; i < ns; i++ {
			w.SharedGate.mul(i, g, x, tokens, sff, d)
			w.SharedUp.mul(i, u, x, tokens, sff, d)
			ParallelFor(tokens, 8, func(lo, hi int) { swiglu(g[lo*sff:hi*sff], u[lo*sff:hi*sff]) })
			if i == 0 {
				w.SharedDown.mul(i, s.sh, g, tokens, d, sff)
				continue
			}
			w.SharedDown.mul(i, s.y2, g, tokens, d, sff)
			Add(s.sh, s.sh, s.y2)
		}
	}

	// Scatter: each token sums its shared output and its k weighted rows.
	if oneChunk(tokens, 16) {
		s.scatter(out, d, k, ns > 0, 0, tokens)
	} else {
		ParallelFor(tokens, 16, func(lo, hi int) { s.scatter(out, d, k, ns > 0, lo, hi) })
	}
	return s.load, nil
}

// route picks tokens [lo, hi)'s top-k experts and weights from s.logits.
func (s *MoEScratch) route(c *MoEConfig, lo, hi int) {
	ne, k := c.Experts, c.TopK
	for t := lo; t < hi; t++ {
		moeRoute(c, s.logits[t*ne:(t+1)*ne], s.topE[t*k:(t+1)*k], s.topW[t*k:(t+1)*k])
	}
}

// gather copies each grouped row r in [lo, hi) from its token's row of x.
func (s *MoEScratch) gather(x []float32, d, lo, hi int) {
	for r := lo; r < hi; r++ {
		t := int(s.rowTok[r])
		copy(s.xg[r*d:(r+1)*d], x[t*d:(t+1)*d])
	}
}

// scatter sets tokens [lo, hi) of out to their shared experts' output (if
// shared) plus their k expert rows, weighted.
func (s *MoEScratch) scatter(out []float32, d, k int, shared bool, lo, hi int) {
	for t := lo; t < hi; t++ {
		o := out[t*d : (t+1)*d]
		if shared {
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
}

// MoENaive is MoE's reference: a loop over tokens, each routed on its own
// and run through its k experts with matrix-vector products (the batch-1
// decode path: MatVecT for f32 experts, MatMulQ of one row for quantized
// ones). It allocates its buffers and returns a fresh load slice.
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
		for i := 0; i < w.SharedGate.Len(); i++ {
			sff := c.SharedFF
			w.SharedGate.mul(i, g[:sff], xt, 1, sff, d)
			w.SharedUp.mul(i, u[:sff], xt, 1, sff, d)
			swiglu(g[:sff], u[:sff])
			w.SharedDown.mul(i, y, g[:sff], 1, d, sff)
			for c := range o {
				o[c] += y[c]
			}
		}
		MatVecT(logits, w.Router, xt, ne, d)
		moeRoute(&c, logits, topE, topW)
		for kk, e := range topE {
			load[e]++
			w.Gate.mul(int(e), g[:ff], xt, 1, ff, d)
			w.Up.mul(int(e), u[:ff], xt, 1, ff, d)
			swiglu(g[:ff], u[:ff])
			w.Down.mul(int(e), y, g[:ff], 1, d, ff)
			for c := range o {
				o[c] += topW[kk] * y[c]
			}
		}
	}
	return load, nil
}
