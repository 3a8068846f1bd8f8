package nn

import "github.com/loomhq/loom/core/kernels"

// LayerNorm is (x - mean)/sqrt(var + eps) ⊙ W + B (Ba et al. 2016), as in
// ViT, GPT-2 and CLIP.
type LayerNorm struct {
	W, B []float32 // (dim)
	Eps  float32
}

// Forward normalises rows of x (rows, dim) into out (may alias x).
func (n *LayerNorm) Forward(out, x []float32, rows int) error {
	return kernels.LayerNorm(out, x, n.W, n.B, rows, len(n.W), n.Eps)
}

// LayerNorm binds name.weight and name.bias (dim).
func (b *Binder) LayerNorm(name string, dim int, eps float32) LayerNorm {
	return LayerNorm{W: b.Vector(name+".weight", dim), B: b.Vector(name+".bias", dim), Eps: eps}
}

// LinearT binds a layer stored transposed, weight (in, out) as GPT-2's Conv1D
// keeps it, and returns it as a Linear with W (out, in): the copy is made once
// at load so every forward runs the same A·Wᵀ kernels as any other Linear.
func (b *Binder) LinearT(name string, out, in int) Linear {
	m := b.Matrix(name+".weight", in, out)
	w, err := m.Dense()
	if err != nil || w == nil {
		if err != nil {
			b.fail("bind %s: %w", b.name(name), err)
		}
		return Linear{}
	}
	t := make([]float32, out*in)
	for i := 0; i < in; i++ {
		for o := 0; o < out; o++ {
			t[o*in+i] = w[i*out+o]
		}
	}
	l := Linear{W: Matrix{Rows: out, Cols: in, F32: t}}
	if b.Has(name + ".bias") {
		l.Bias = b.Vector(name+".bias", out)
	}
	return l
}

// Flat binds a tensor of any rank holding n values as one f32 slice (e.g.
// ViT's cls_token (1, 1, H) or a conv kernel (O, C, KH, KW)); other storage
// types are widened.
func (b *Binder) Flat(name string, n int) []float32 {
	full := b.name(name)
	in, err := b.src.Info(full)
	if err != nil {
		b.fail("bind %s: %w", full, err)
		return nil
	}
	if in.Elements() != n {
		b.fail("bind %s: shape %v holds %d values, want %d", full, in.Shape, in.Elements(), n)
		return nil
	}
	if in.Type == kernels.F32 {
		return float32View(in.Data)
	}
	out := make([]float32, n)
	if in.Type.Dequantize(out, in.Data) != nil {
		b.fail("bind %s: cannot widen %v to f32", full, in.Type)
		return nil
	}
	return out
}

// FlatMatrix binds a tensor of any rank as an f32 (rows, cols) matrix whose
// rows are its outermost index: a conv kernel (O, C, KH, KW) as (O, C·KH·KW).
func (b *Binder) FlatMatrix(name string, rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, F32: b.Flat(name, rows*cols)}
}

// DenseLinear binds a Linear as f32: image towers multiply every weight by
// thousands of pixels, so a half-precision or quantized checkpoint is widened
// once at load instead of on every call.
func (b *Binder) DenseLinear(name string, out, in int) Linear {
	l := b.Linear(name, out, in)
	if l.W.F32 == nil && l.W.Data != nil {
		w, err := l.W.Dense()
		if err != nil {
			b.fail("bind %s: widen to f32: %w", b.name(name), err)
			return Linear{}
		}
		l.W = Matrix{Rows: out, Cols: in, F32: w}
	}
	return l
}
