package kernels

// The small ops the towers need between GEMMs: softmax, norms, activations,
// rotary embeddings, elementwise arithmetic and embedding lookup. All work on
// plain row-major slices; each checks its lengths and returns an error rather
// than panicking. Row-wise ops run rows in parallel on the shared pool once
// there is enough work to pay for it.

import (
	"fmt"
	"math"
	"sync"
)

// rowGrain is how many rows of width dim make one parallel chunk: about 16K
// floats, so tiny inputs run inline on the caller.
func rowGrain(dim int) int { return max(1, 16384/max(dim, 1)) }

func checkRows(op string, rows, dim int, bufs ...[]float32) error {
	if rows < 0 || dim <= 0 {
		return fmt.Errorf("%s: rows %d, dim %d", op, rows, dim)
	}
	for i, b := range bufs {
		if b != nil && len(b) < rows*dim {
			return fmt.Errorf("%s: argument %d has %d floats, need %d×%d", op, i, len(b), rows, dim)
		}
	}
	return nil
}

// Softmax replaces each row of x (rows, dim) by its softmax, subtracting the
// row max first so large logits do not overflow. A row that is all -Inf
// becomes all zeros.
func Softmax(x []float32, rows, dim int) error {
	if err := checkRows("softmax", rows, dim, x); err != nil {
		return err
	}
	ParallelFor(rows, rowGrain(dim), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*dim : (r+1)*dim]
			mx := float32(math.Inf(-1))
			for _, v := range row {
				mx = max(mx, v)
			}
			if math.IsInf(float64(mx), -1) {
				clear(row)
				continue
			}
			inv := 1 / vecExpSub(row, mx)
			for i := range row {
				row[i] *= inv
			}
		}
	})
	return nil
}

// RMSNorm sets out = x / sqrt(mean(x²) + eps) ⊙ weight per row of x (rows,
// dim); weight (dim) may be nil for none. out may alias x.
func RMSNorm(out, x, weight []float32, rows, dim int, eps float32) error {
	if err := checkRows("rmsnorm", rows, dim, out, x); err != nil {
		return err
	}
	if weight != nil && len(weight) < dim {
		return fmt.Errorf("rmsnorm: weight has %d floats, need %d", len(weight), dim)
	}
	if grain := rowGrain(dim); oneChunk(rows, grain) {
		rmsNormRows(out, x, weight, dim, eps, 0, rows)
	} else {
		ParallelFor(rows, grain, func(lo, hi int) { rmsNormRows(out, x, weight, dim, eps, lo, hi) })
	}
	return nil
}

// rmsNormRows is RMSNorm over rows [lo, hi).
func rmsNormRows(out, x, weight []float32, dim int, eps float32, lo, hi int) {
	for r := lo; r < hi; r++ {
		xr, or := x[r*dim:(r+1)*dim], out[r*dim:(r+1)*dim]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(ss/float64(dim)+float64(eps)))
		if weight == nil {
			for i, v := range xr {
				or[i] = v * inv
			}
			continue
		}
		for i, v := range xr {
			or[i] = v * inv * weight[i]
		}
	}
}

// LayerNorm sets out = (x - mean) / sqrt(var + eps) ⊙ weight + bias per row of
// x (rows, dim); weight and bias (dim) may be nil. out may alias x.
func LayerNorm(out, x, weight, bias []float32, rows, dim int, eps float32) error {
	if err := checkRows("layernorm", rows, dim, out, x); err != nil {
		return err
	}
	if (weight != nil && len(weight) < dim) || (bias != nil && len(bias) < dim) {
		return fmt.Errorf("layernorm: weight/bias shorter than dim %d", dim)
	}
	ParallelFor(rows, rowGrain(dim), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			normAffine(out[r*dim:(r+1)*dim], x[r*dim:(r+1)*dim], eps, weight, bias, 1)
		}
	})
	return nil
}

// normAffine normalises x into out (two-pass mean and variance in float64)
// and applies weight[i/per] and bias[i/per] to element i (nil: 1 and 0).
func normAffine(out, x []float32, eps float32, weight, bias []float32, per int) {
	mean := vecSumF64(x) / float64(len(x))
	variance := vecSqDevF64(x, mean) / float64(len(x))
	inv := 1 / math.Sqrt(variance+float64(eps))
	if per == 1 { // LayerNorm: an affine pair per element
		m, iv := float32(mean), float32(inv)
		if weight != nil && bias != nil {
			vecNormAffine(out, x, weight, bias, m, iv)
			return
		}
		for i, v := range x {
			w, b := float32(1), float32(0)
			if weight != nil {
				w = weight[i]
			}
			if bias != nil {
				b = bias[i]
			}
			out[i] = (v-m)*iv*w + b
		}
		return
	}
	for c0 := 0; c0 < len(x); c0 += per {
		w, b := 1.0, 0.0
		if weight != nil {
			w = float64(weight[c0/per])
		}
		if bias != nil {
			b = float64(bias[c0/per])
		}
		// (x − mean)·inv·w + b as one multiply-add per element.
		vecAffine(out[c0:c0+per], x[c0:c0+per], float32(inv*w), float32(b-mean*inv*w))
	}
}

// GroupNorm normalises x (n, c, hw) — NCHW with the spatial dims flattened —
// over each group of c/groups channels × hw, then applies the per-channel
// weight and bias (c; nil for none). out may alias x.
func GroupNorm(out, x, weight, bias []float32, n, c, hw, groups int, eps float32) error {
	switch {
	case n < 0 || c <= 0 || hw <= 0 || groups <= 0 || c%groups != 0:
		return fmt.Errorf("groupnorm: n %d, c %d, hw %d, groups %d (c must divide into groups)", n, c, hw, groups)
	case len(x) < n*c*hw || len(out) < n*c*hw:
		return fmt.Errorf("groupnorm: x has %d, out %d floats, need %d×%d×%d", len(x), len(out), n, c, hw)
	case (weight != nil && len(weight) < c) || (bias != nil && len(bias) < c):
		return fmt.Errorf("groupnorm: weight/bias shorter than %d channels", c)
	}
	cg := c / groups
	size := cg * hw // one group: cg channels × hw
	ParallelFor(n*groups, max(1, 16384/size), func(lo, hi int) {
		for gi := lo; gi < hi; gi++ {
			c0 := (gi % groups) * cg
			var w, b []float32
			if weight != nil {
				w = weight[c0 : c0+cg]
			}
			if bias != nil {
				b = bias[c0 : c0+cg]
			}
			normAffine(out[gi*size:(gi+1)*size], x[gi*size:(gi+1)*size], eps, w, b, hw)
		}
	})
	return nil
}

func checkUnary(op string, out, x []float32) error {
	if len(out) < len(x) {
		return fmt.Errorf("%s: out has %d floats, x %d", op, len(out), len(x))
	}
	return nil
}

// unary applies f elementwise in parallel chunks.
func unary(out, x []float32, f func(float32) float32) {
	ParallelFor(len(x), 16384, func(lo, hi int) {
		for i, v := range x[lo:hi] {
			out[lo+i] = f(v)
		}
	})
}

// SiLU sets out[i] = x[i]·sigmoid(x[i]) (Swish). out may alias x.
func SiLU(out, x []float32) error {
	if err := checkUnary("silu", out, x); err != nil {
		return err
	}
	if oneChunk(len(x), 16384) {
		siluRange(out, x)
	} else {
		ParallelFor(len(x), 16384, func(lo, hi int) { siluRange(out[lo:hi], x[lo:hi]) })
	}
	return nil
}

// siluRange is SiLU over one range: the SIMD routine, the reference for the tail.
func siluRange(o, xs []float32) {
	if n8 := len(xs) &^ 7; useAVX2 && n8 > 0 {
		vecSiLUAVX2(&o[0], &xs[0], n8)
		o, xs = o[n8:], xs[n8:]
	}
	siluGeneric(o, xs)
}

// siluGeneric is SiLU's reference loop: exp(-v) a block at a time through
// the vectorised exp (vecExpSub), then v / (1 + exp(-v)); saturates to v for
// large v and to -0 for very negative v.
func siluGeneric(out, x []float32) {
	var buf [256]float32
	for b := 0; b < len(x); b += len(buf) {
		xs := x[b:min(b+len(buf), len(x))]
		e := buf[:len(xs)]
		for i, v := range xs {
			e[i] = -v
		}
		vecExpSub(e, 0)
		for i, v := range xs {
			out[b+i] = v / (1 + e[i])
		}
	}
}

// GELU sets out to the tanh approximation of GELU (GPT-2, ggml's default):
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). out may alias x.
func GELU(out, x []float32) error {
	if err := checkUnary("gelu", out, x); err != nil {
		return err
	}
	const k = 0.7978845608028654 // √(2/π)
	unary(out, x, func(v float32) float32 {
		// tanh(u) = 1 - 2/(e^{2u}+1), via expf; saturates cleanly at ±Inf.
		u := k * (v + 0.044715*v*v*v)
		t := 1 - 2/(expf(2*u)+1)
		return 0.5 * v * (1 + t)
	})
	return nil
}

// GELUF16 sets out to GELU as ggml's CPU backend computes it by default
// (GGML_GELU_FP16): x rounded to half precision indexes a table of the tanh
// approximation rounded to half, and |x| ≥ 10 gives 0 or x. llama.cpp's
// Gemma feed-forward (GeGLU) runs through it, so a decoder that must agree
// with llama.cpp to 1e-4 does too (the exact tanh form differs by up to half
// a half-precision ulp, ~5e-4 relative). out may alias x.
func GELUF16(out, x []float32) error {
	if err := checkUnary("gelu_f16", out, x); err != nil {
		return err
	}
	geluF16Once.Do(func() {
		for h := range geluF16Table {
			geluF16Table[h] = geluF16Ref(F16ToF32(uint16(h)))
		}
	})
	unary(out, x, func(v float32) float32 {
		switch {
		case v <= -10:
			return 0
		case v >= 10:
			return v
		}
		return geluF16Table[F32ToF16(v)]
	})
	return nil
}

var (
	geluF16Once  sync.Once
	geluF16Table [1 << 16]float32
)

// geluF16Ref is GELUF16 of one value without the table: ggml's gelu_f32
// (0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))) in float32) of x rounded to
// half, rounded to half.
func geluF16Ref(v float32) float32 {
	switch {
	case v <= -10:
		return 0
	case v >= 10:
		return v
	}
	x := F16ToF32(F32ToF16(v))
	const k = float32(0.79788456080286535587989211986876) // √(2/π)
	t := float32(math.Tanh(float64(k * x * (1 + 0.044715*x*x))))
	return F16ToF32(F32ToF16(0.5 * x * (1 + t)))
}

// GELUErf sets out to exact GELU, 0.5·x·(1 + erf(x/√2)) (BERT, ViT,
// PyTorch's default). out may alias x.
func GELUErf(out, x []float32) error {
	if err := checkUnary("gelu_erf", out, x); err != nil {
		return err
	}
	ParallelFor(len(x), 16384, func(lo, hi int) {
		o, xs := out[lo:hi], x[lo:hi]
		if n16 := len(xs) &^ 15; useAVX512 && n16 > 0 {
			vecGELUErfAVX512(&o[0], &xs[0], n16)
			o, xs = o[n16:], xs[n16:]
		}
		if n8 := len(xs) &^ 7; useAVX2 && n8 > 0 {
			vecGELUErfAVX2(&o[0], &xs[0], n8)
			o, xs = o[n8:], xs[n8:]
		}
		geluErfGeneric(o, xs)
	})
	return nil
}

// geluErfGeneric is GELUErf's reference loop. erf(u), u = x/√2, by
// Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7, the size of float32
// rounding): erf(|u|) = 1 − t·P(t)·e^{−u²}, t = 1/(1+p|u|), with e^{−u²} for
// a block at a time through the vectorised exp. math.Erf works in float64
// one value at a time and was a tenth of a UNet step.
func geluErfGeneric(out, x []float32) {
	const (
		p  = 0.3275911
		a1 = 0.254829592
		a2 = -0.284496736
		a3 = 1.421413741
		a4 = -1.453152027
		a5 = 1.061405429
	)
	var buf [256]float32
	for b := 0; b < len(x); b += len(buf) {
		xs := x[b:min(b+len(buf), len(x))]
		e := buf[:len(xs)]
		for i, v := range xs {
			e[i] = -0.5 * v * v
		}
		vecExpSub(e, 0)
		o := out[b : b+len(xs)]
		for i, v := range xs {
			u := float32(math.Abs(float64(v))) * (1 / math.Sqrt2)
			k := 1 / (1 + p*u)
			q := k * (a1 + k*(a2+k*(a3+k*(a4+k*a5)))) * e[i] // 1 − erf(|u|)
			if v < 0 {
				o[i] = 0.5 * v * q // 1 + erf(u) = q, without cancelling against 1
			} else {
				o[i] = 0.5 * v * (2 - q)
			}
		}
	}
}

// RoPEParams describes rotary position embeddings applied in place to x
// (Seq, Heads, HeadDim) with row stride Stride (0 = Heads·HeadDim).
type RoPEParams struct {
	Seq, Heads, HeadDim int
	Stride              int
	RotDim              int     // leading dims rotated (partial rotary); 0 = HeadDim
	Theta               float64 // base; 0 = 10000
	Pos0                int     // absolute position of row 0 (decode offset)
	// NeoX pairs x[i] with x[i+RotDim/2] (GPT-NeoX, Llama in HF layout);
	// otherwise pairs are (x[2i], x[2i+1]) (original RoPE, GGUF llama).
	NeoX bool
	// InvFreq, when set, holds the RotDim/2 inverse frequencies to use
	// instead of Theta^(-2i/RotDim): context-extension schemes (linear,
	// llama3) rescale them, and a decoder computes them once, not per call.
	InvFreq []float64
}

// RoPE rotates each pair i of every head of row s by angle
// (Pos0+s)·Theta^(-2i/RotDim). Angles are computed in float64.
func RoPE(x []float32, p RoPEParams) error {
	if p.RotDim == 0 {
		p.RotDim = p.HeadDim
	}
	if p.Stride == 0 {
		p.Stride = p.Heads * p.HeadDim
	}
	if p.Theta == 0 {
		p.Theta = 10000
	}
	switch {
	case p.Seq < 0 || p.Heads <= 0 || p.HeadDim <= 0 || p.Pos0 < 0:
		return fmt.Errorf("rope: seq %d, heads %d, head dim %d, pos0 %d", p.Seq, p.Heads, p.HeadDim, p.Pos0)
	case p.RotDim < 0 || p.RotDim > p.HeadDim || p.RotDim%2 != 0:
		return fmt.Errorf("rope: rotary dims %d must be even and ≤ head dim %d", p.RotDim, p.HeadDim)
	case p.Stride < p.Heads*p.HeadDim:
		return fmt.Errorf("rope: stride %d below %d", p.Stride, p.Heads*p.HeadDim)
	case p.Theta < 0 || math.IsNaN(p.Theta) || math.IsInf(p.Theta, 0):
		return fmt.Errorf("rope: theta %v", p.Theta)
	case p.Seq > 0 && len(x) < (p.Seq-1)*p.Stride+p.Heads*p.HeadDim:
		return fmt.Errorf("rope: x has %d floats, need %d rows of stride %d", len(x), p.Seq, p.Stride)
	}
	half := p.RotDim / 2
	invFreq := p.InvFreq
	if invFreq == nil {
		invFreq = make([]float64, half) // Theta^(-2i/RotDim)
		for i := range invFreq {
			invFreq[i] = math.Pow(p.Theta, -float64(2*i)/float64(p.RotDim))
		}
	} else if len(invFreq) != half {
		return fmt.Errorf("rope: %d inverse frequencies, need rotary dims/2 = %d", len(invFreq), half)
	}
	if grain := max(1, 64/p.Heads); oneChunk(p.Seq, grain) {
		ropeRows(x, &p, invFreq, 0, p.Seq)
	} else {
		q := p // p's address escapes with the closure: copy it only here
		ParallelFor(p.Seq, grain, func(lo, hi int) { ropeRows(x, &q, invFreq, lo, hi) })
	}
	return nil
}

// ropeRows is RoPE over positions [lo, hi) of x.
func ropeRows(x []float32, p *RoPEParams, invFreq []float64, lo, hi int) {
	half := p.RotDim / 2
	for s := lo; s < hi; s++ {
		pos := float64(p.Pos0 + s)
		for i := 0; i < half; i++ {
			sin, cos := math.Sincos(pos * invFreq[i])
			c, sn := float32(cos), float32(sin)
			for h := 0; h < p.Heads; h++ {
				row := x[s*p.Stride+h*p.HeadDim:]
				a, b := 2*i, 2*i+1
				if p.NeoX {
					a, b = i, i+half
				}
				x0, x1 := row[a], row[b]
				row[a] = x0*c - x1*sn
				row[b] = x0*sn + x1*c
			}
		}
	}
}

func checkBinary(op string, out, a, b []float32) error {
	if len(a) != len(b) || len(out) < len(a) {
		return fmt.Errorf("%s: lengths out %d, a %d, b %d", op, len(out), len(a), len(b))
	}
	return nil
}

// Add sets out = a + b elementwise. out may alias a or b.
func Add(out, a, b []float32) error {
	if err := checkBinary("add", out, a, b); err != nil {
		return err
	}
	addRows(out, a, b)
	return nil
}

// Mul sets out = a ⊙ b elementwise. out may alias a or b.
func Mul(out, a, b []float32) error {
	if err := checkBinary("mul", out, a, b); err != nil {
		return err
	}
	mulRows(out, a, b)
	return nil
}

// Scale sets out = s·x. out may alias x.
func Scale(out, x []float32, s float32) error {
	if err := checkUnary("scale", out, x); err != nil {
		return err
	}
	for i, v := range x {
		out[i] = v * s
	}
	return nil
}

// AddBias adds bias (dim) to every row of x (rows, dim) in place.
func AddBias(x, bias []float32, rows, dim int) error {
	if err := checkRows("add_bias", rows, dim, x); err != nil {
		return err
	}
	if len(bias) < dim {
		return fmt.Errorf("add_bias: bias has %d floats, need %d", len(bias), dim)
	}
	one := []float32{1} // row += 1·bias: an FMA by one rounds as the add does
	for r := 0; r < rows; r++ {
		vecAccRows(x[r*dim:(r+1)*dim], one, bias, dim, dim, 1)
	}
	return nil
}

// Embedding copies rows ids[t] of table (vocab, dim) into out (len(ids),
// dim). An id outside [0, vocab) is an error and nothing is written.
func Embedding(out, table []float32, vocab, dim int, ids []int32) error {
	if err := checkRows("embedding", vocab, dim, table); err != nil {
		return err
	}
	if len(out) < len(ids)*dim {
		return fmt.Errorf("embedding: out has %d floats, need %d×%d", len(out), len(ids), dim)
	}
	for t, id := range ids {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("embedding: token %d has id %d outside vocabulary of %d", t, id, vocab)
		}
	}
	for t, id := range ids {
		copy(out[t*dim:(t+1)*dim], table[int(id)*dim:(int(id)+1)*dim])
	}
	return nil
}

// Transpose sets dst (cols, rows) to src (rows, cols)ᵀ: between a
// convolution's channel-major layout (C, HW) and a transformer's token rows
// (HW, C). Output rows are split over the pool. dst must not alias src.
func Transpose(dst, src []float32, rows, cols int) error {
	if rows < 0 || cols < 0 || len(src) < rows*cols || len(dst) < rows*cols {
		return fmt.Errorf("transpose: %d×%d from %d floats into %d", rows, cols, len(src), len(dst))
	}
	ParallelFor(cols, max(1, 4096/max(rows, 1)), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			d := dst[c*rows : (c+1)*rows]
			for r := range d {
				d[r] = src[r*cols+c]
			}
		}
	})
	return nil
}

// PolarExp sets re[i] + i·im[i] = min(e^{logMag[i]}, magMax)·e^{i·phase[i]}:
// a spectrum from predicted log-magnitudes and phases (Vocos' ISTFT head, which
// clips the magnitude at 100). All four slices have the same length; re and
// im may alias neither input.
func PolarExp(re, im, logMag, phase []float32, magMax float32) error {
	n := len(logMag)
	if len(phase) != n || len(re) < n || len(im) < n {
		return fmt.Errorf("polar_exp: %d log-magnitudes, %d phases, out %d and %d", n, len(phase), len(re), len(im))
	}
	ParallelFor(n, 8192, func(lo, hi int) {
		var mag [256]float32
		for b := lo; b < hi; b += len(mag) {
			e := min(b+len(mag), hi)
			m := mag[:e-b]
			for i, v := range logMag[b:e] {
				m[i] = min(v, 88) // e^88 < MaxFloat32; larger clip at magMax below anyway
			}
			vecExpSub(m, 0)
			for i, v := range m {
				m[i] = min(v, magMax)
			}
			r, im, ph := re[b:e], im[b:e], phase[b:e]
			n8 := len(m) &^ 7
			if useAVX2 && n8 > 0 && vecSinCosMulAVX2(&r[0], &im[0], &ph[0], &m[0], n8) == 0 {
				r, im, ph, m = r[n8:], im[n8:], ph[n8:], m[n8:]
			}
			sinCosMulGeneric(r, im, ph, m)
		}
	})
	return nil
}

// sinCosMulGeneric is PolarExp's reference for the rotation: re = mag·cos φ,
// im = mag·sin φ, in float64.
func sinCosMulGeneric(re, im, phase, mag []float32) {
	for i, p := range phase {
		s, c := math.Sincos(float64(p))
		re[i], im[i] = float32(float64(mag[i])*c), float32(float64(mag[i])*s)
	}
}
