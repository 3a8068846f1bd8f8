package nn

// One-dimensional layers of the speech towers: Conv1D and ConvTranspose1D
// over (channels, time) activations with PyTorch-layout kernels, weight
// normalisation folded at load (HiFi-GAN checkpoints store weight_g and
// weight_v), BatchNorm1d in eval form, and the pointwise activations those
// towers use (ReLU, LeakyReLU, Tanh).

import (
	"fmt"
	"math"
	"sync"

	"github.com/loomhq/loom/core/kernels"
)

// Conv1D is a 1-D convolution over one sequence: x (In, L) → out (Out, OL).
type Conv1D struct {
	In, Out, Kernel int
	Stride, Pad     int
	Dil, Groups     int
	W               []float32 // (Out, In/Groups, Kernel)
	Bias            []float32 // (Out) or nil
	rows            *rowsWeight
}

// rowsWeight is a Conv1D's weight in the tap-major layout of the
// channels-last kernels, made on the first ForwardRows (shared by copies of
// the layer: Binder.Conv1D allocates it).
type rowsWeight struct {
	once   sync.Once
	w      []float32
	packed *kernels.PackedT // w packed for the GEMM (ungrouped convs)
}

// conv1dChunk is the most output positions one kernels.Conv1D call covers
// when the kernel builds an im2col buffer (strided or grouped convs): that
// buffer is In·Kernel·chunk floats, so a long waveform (a vocoder's last stage
// sees hundreds of thousands of samples) is convolved in pieces with bounded
// scratch instead of one buffer of gigabytes. Stride-1 ungrouped convs need no
// such buffer and run whole.
var conv1dChunk = 8192

// OutLen returns the output length for an input of l steps.
func (c *Conv1D) OutLen(l int) int { return c.params(l).OutLen() }

func (c *Conv1D) params(l int) kernels.Conv1DParams {
	return kernels.Conv1DParams{N: 1, C: c.In, L: l, K: c.Out, KW: c.Kernel, Stride: max(c.Stride, 1),
		Pad: c.Pad, Dil: max(c.Dil, 1), Groups: max(c.Groups, 1)}
}

// Forward sets out (Out, OL) from x (In, l).
func (c *Conv1D) Forward(out, x []float32, l int) error {
	if c.W == nil {
		return fmt.Errorf("conv1d %d→%d: unbound weights", c.In, c.Out)
	}
	p := c.params(l)
	ol := p.OutLen()
	if !p.Im2col() || ol <= conv1dChunk || len(x) < c.In*l || len(out) < c.Out*ol {
		return kernels.Conv1D(out, x, c.W, c.Bias, p) // the kernel reports bad sizes
	}
	return c.forwardChunked(out, x, l, ol, p)
}

// ForwardRows is Forward on channels-last activations: x (l, In) rows →
// out (OL, Out) rows, without transposing either (kernels.Conv1DRows, or
// kernels.DepthwiseConv1DRows when Groups = In = Out). add adds the
// convolution to out's values. Stride-1, undilated convolutions only.
func (c *Conv1D) ForwardRows(out, x []float32, l int, add bool) error {
	if c.W == nil {
		return fmt.Errorf("conv1d %d→%d: unbound weights", c.In, c.Out)
	}
	depthwise := c.Groups == c.In && c.In == c.Out && c.Groups > 1
	if max(c.Stride, 1) != 1 || max(c.Dil, 1) != 1 || (max(c.Groups, 1) != 1 && !depthwise) || (depthwise && add) {
		return fmt.Errorf("conv1d %d→%d rows: stride %d, dilation %d, groups %d, add %v: not a channels-last layout", c.In, c.Out, c.Stride, c.Dil, c.Groups, add)
	}
	w := c.rowsWeight(depthwise)
	if depthwise {
		return kernels.DepthwiseConv1DRows(out, x, w, c.Bias, l, c.In, c.Kernel, c.Pad)
	}
	if c.rows != nil && c.rows.packed != nil {
		return kernels.Conv1DRowsPacked(out, x, c.rows.packed, c.Bias, l, c.In, c.Kernel, c.Pad, add)
	}
	return kernels.Conv1DRows(out, x, w, c.Bias, l, c.In, c.Out, c.Kernel, c.Pad, add)
}

// ForwardRowsBand computes output rows [lo, hi) of ForwardRows for a
// stride-1 ungrouped conv that keeps the length (2·Pad = Kernel − 1), on the
// calling thread: one Pool.Team member's band. It reads the rows of x the
// kernel reaches beyond the band (zeros past either end, as the padding);
// the other rows of out are not touched. Each row is computed as
// ForwardRows computes it, bit for bit, when the band and l both have more
// than one row (a single row goes through the matrix-vector kernel).
func (c *Conv1D) ForwardRowsBand(out, x []float32, l, lo, hi int, add bool) error {
	switch {
	case c.W == nil || max(c.Stride, 1) != 1 || max(c.Dil, 1) != 1 || max(c.Groups, 1) != 1 || 2*c.Pad != c.Kernel-1:
		return fmt.Errorf("conv1d %d→%d (kernel %d, pad %d, groups %d, stride %d): no row bands", c.In, c.Out, c.Kernel, c.Pad, c.Groups, c.Stride)
	case lo < 0 || hi > l || lo >= hi || len(x) < l*c.In || len(out) < l*c.Out:
		return fmt.Errorf("conv1d %d→%d rows [%d, %d) of %d: x %d, out %d floats", c.In, c.Out, lo, hi, l, len(x), len(out))
	}
	w := c.rowsWeight(false)
	span := hi - lo + c.Kernel - 1 // input rows lo−Pad … hi−1+Pad
	var slab []float32
	if c.Pad == 0 {
		slab = x[lo*c.In : hi*c.In]
	} else {
		slab = make([]float32, span*c.In)
		for r := range span {
			if t := lo - c.Pad + r; t >= 0 && t < l {
				copy(slab[r*c.In:(r+1)*c.In], x[t*c.In:(t+1)*c.In])
			}
		}
	}
	o := out[lo*c.Out : hi*c.Out]
	if c.rows != nil && c.rows.packed != nil {
		return kernels.Conv1DRowsPacked(o, slab, c.rows.packed, c.Bias, span, c.In, c.Kernel, 0, add)
	}
	return kernels.Conv1DRows(o, slab, w, c.Bias, span, c.In, c.Out, c.Kernel, 0, add)
}

// DepthwiseRowsBand computes output rows [lo, hi) of ForwardRows for a
// depthwise conv on the calling thread (kernels.DepthwiseConv1DRowsBand):
// one Pool.Team member's band.
func (c *Conv1D) DepthwiseRowsBand(out, x []float32, l, lo, hi int) error {
	if c.W == nil || max(c.Stride, 1) != 1 || max(c.Dil, 1) != 1 || c.Groups != c.In || c.In != c.Out || c.Groups <= 1 {
		return fmt.Errorf("conv1d %d→%d (groups %d, stride %d, dilation %d): not a depthwise rows conv", c.In, c.Out, c.Groups, c.Stride, c.Dil)
	}
	w := c.rowsWeight(true)
	return kernels.DepthwiseConv1DRowsBand(out, x, w, c.Bias, l, c.In, c.Kernel, c.Pad, lo, hi)
}

// rowsWeight is the weight in the channels-last kernels' tap-major layout,
// converted once when the conv was bound with room for it.
func (c *Conv1D) rowsWeight(depthwise bool) []float32 {
	convert := func() []float32 {
		if depthwise {
			return kernels.DepthwiseRowsWeight(c.W, c.In, c.Kernel)
		}
		return kernels.ConvRowsWeight(c.W, c.Out, c.In, c.Kernel)
	}
	if c.rows == nil {
		return convert()
	}
	c.rows.once.Do(func() {
		c.rows.w = convert()
		if !depthwise {
			// Packed once too: every call multiplies by it.
			c.rows.packed = kernels.PackT(c.rows.w, c.Out, c.Kernel*c.In, c.Kernel*c.In)
		}
	})
	return c.rows.w
}

// ForwardAdd adds the convolution of x (In, l) to out (Out, OL): a residual
// connection without a pass of its own for stride-1 ungrouped convs.
func (c *Conv1D) ForwardAdd(out, x []float32, l int) error {
	if c.W == nil {
		return fmt.Errorf("conv1d %d→%d: unbound weights", c.In, c.Out)
	}
	p := c.params(l)
	if !p.Im2col() {
		return kernels.Conv1DAdd(out, x, c.W, c.Bias, p)
	}
	ol := p.OutLen()
	if len(out) < c.Out*ol {
		return fmt.Errorf("conv1d %d→%d: out has %d floats, need %d", c.In, c.Out, len(out), c.Out*ol)
	}
	t := make([]float32, c.Out*ol)
	if err := c.Forward(t, x, l); err != nil {
		return err
	}
	for i, v := range t {
		out[i] += v
	}
	return nil
}

// forwardChunked convolves output positions [o0, o1) at a time: it copies the
// input span they read (zeros where it falls in the padding) and runs the
// kernel unpadded on it. Same arithmetic per output as one call.
func (c *Conv1D) forwardChunked(out, x []float32, l, ol int, p kernels.Conv1DParams) error {
	span := func(n int) int { return (n-1)*p.Stride + p.Dil*(p.KW-1) + 1 }
	xs := make([]float32, c.In*span(conv1dChunk))
	os := make([]float32, c.Out*conv1dChunk)
	for o0 := 0; o0 < ol; o0 += conv1dChunk {
		n := min(conv1dChunk, ol-o0)
		w, start := span(n), o0*p.Stride-p.Pad // input index of the chunk's first tap
		for ch := 0; ch < c.In; ch++ {
			dst, src := xs[ch*w:(ch+1)*w], x[ch*l:(ch+1)*l]
			for i := range dst {
				if j := start + i; j >= 0 && j < l {
					dst[i] = src[j]
				} else {
					dst[i] = 0
				}
			}
		}
		q := p
		q.L, q.Pad = w, 0
		if err := kernels.Conv1D(os, xs[:c.In*w], c.W, c.Bias, q); err != nil {
			return err
		}
		for k := 0; k < c.Out; k++ {
			copy(out[k*ol+o0:k*ol+o0+n], os[k*n:(k+1)*n])
		}
	}
	return nil
}

// Conv1DOpts are a Conv1D's stride, padding, dilation and groups (zero
// stride, dilation and groups mean 1).
type Conv1DOpts struct{ Stride, Pad, Dil, Groups int }

// Conv1D binds a torch.nn.Conv1d: name.weight (out, in/groups, k), or the
// weight-norm pair name.weight_g (out, 1, 1) and name.weight_v, and
// name.bias (out) when present.
func (b *Binder) Conv1D(name string, out, in, k int, o Conv1DOpts) Conv1D {
	g := max(o.Groups, 1)
	if in%g != 0 || out%g != 0 {
		b.fail("bind %s: groups %d do not divide %d→%d", b.name(name), g, in, out)
		return Conv1D{}
	}
	c := Conv1D{In: in, Out: out, Kernel: k, Stride: max(o.Stride, 1), Pad: o.Pad, Dil: max(o.Dil, 1), Groups: g, rows: &rowsWeight{}}
	c.W = b.weightNormed(name, out, in/g*k)
	if b.Has(name + ".bias") {
		c.Bias = b.Vector(name+".bias", out)
	}
	return c
}

// weightNormed binds name.weight as rows×cols values, or folds weight
// normalisation (Salimans & Kingma 2016; torch.nn.utils.weight_norm with
// dim=0): w[r] = g[r] · v[r] / ‖v[r]‖ over each leading-index slice.
func (b *Binder) weightNormed(name string, rows, cols int) []float32 {
	if b.Has(name+".weight") || !b.Has(name+".weight_v") {
		return b.Flat(name+".weight", rows*cols)
	}
	g, v := b.Flat(name+".weight_g", rows), b.Flat(name+".weight_v", rows*cols)
	if g == nil || v == nil {
		return nil
	}
	return foldWeightNorm(g, v, rows, cols)
}

func foldWeightNorm(g, v []float32, rows, cols int) []float32 {
	w := make([]float32, rows*cols)
	for r := 0; r < rows; r++ {
		row := v[r*cols : (r+1)*cols]
		var ss float64
		for _, x := range row {
			ss += float64(x) * float64(x)
		}
		s := 0.0
		if ss > 0 {
			s = float64(g[r]) / math.Sqrt(ss)
		}
		for i, x := range row {
			w[r*cols+i] = float32(float64(x) * s)
		}
	}
	return w
}

// ConvTranspose1D is a transposed 1-D convolution (learned upsampling):
// x (In, L) → out (Out, (L-1)·Stride - 2·Pad + Kernel + OutPad).
type ConvTranspose1D struct {
	In, Out, Kernel     int
	Stride, Pad, OutPad int
	W                   []float32 // (In, Out, Kernel), PyTorch's ConvTranspose1d layout
	Bias                []float32 // (Out) or nil
}

func (c *ConvTranspose1D) params(l int) kernels.ConvT2DParams {
	return kernels.ConvT2DParams{N: 1, C: c.In, H: 1, W: l, K: c.Out, KH: 1, KW: c.Kernel,
		StrideH: 1, StrideW: max(c.Stride, 1), PadW: c.Pad, OutPadW: c.OutPad}
}

// OutLen returns the output length for an input of l steps.
func (c *ConvTranspose1D) OutLen(l int) int { _, ow := c.params(l).OutSize(); return ow }

// Forward sets out (Out, OutLen(l)) from x (In, l): the 2-D kernel with height 1.
func (c *ConvTranspose1D) Forward(out, x []float32, l int) error {
	if c.W == nil {
		return fmt.Errorf("conv_transpose1d %d→%d: unbound weights", c.In, c.Out)
	}
	return kernels.ConvTranspose2D(out, x, c.W, c.Bias, c.params(l))
}

// ConvTranspose1D binds a torch.nn.ConvTranspose1d: name.weight (in, out, k)
// or its weight-norm pair (weight_g (in, 1, 1): weight_norm's dim 0 is the
// input channel here), and name.bias (out) when present.
func (b *Binder) ConvTranspose1D(name string, out, in, k, stride, pad int) ConvTranspose1D {
	c := ConvTranspose1D{In: in, Out: out, Kernel: k, Stride: max(stride, 1), Pad: pad}
	c.W = b.weightNormed(name, in, out*k)
	if b.Has(name + ".bias") {
		c.Bias = b.Vector(name+".bias", out)
	}
	return c
}

// BatchNorm1D is torch.nn.BatchNorm1d in eval mode, folded at load into a
// per-channel scale and shift: y = x·Scale[c] + Shift[c].
type BatchNorm1D struct {
	Scale, Shift []float32 // (C)
}

// Forward normalises x (C, l) into out (may alias x).
func (n *BatchNorm1D) Forward(out, x []float32, l int) error {
	c := len(n.Scale)
	if len(x) < c*l || len(out) < c*l {
		return fmt.Errorf("batchnorm1d: %d channels × %d steps, x %d, out %d", c, l, len(x), len(out))
	}
	kernels.ParallelFor(c, max(1, 4096/max(l, 1)), func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			s, t := n.Scale[ch], n.Shift[ch]
			for i := ch * l; i < (ch+1)*l; i++ {
				out[i] = x[i]*s + t
			}
		}
	})
	return nil
}

// ForwardRows normalises channels-last x (l, C) rows into out (may alias x).
func (n *BatchNorm1D) ForwardRows(out, x []float32, l int) error {
	c := len(n.Scale)
	if len(x) < c*l || len(out) < c*l {
		return fmt.Errorf("batchnorm1d: %d steps × %d channels, x %d, out %d", l, c, len(x), len(out))
	}
	kernels.ParallelFor(l, max(1, 4096/max(c, 1)), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			o, xs := out[t*c:(t+1)*c], x[t*c:(t+1)*c]
			for ch, v := range xs {
				o[ch] = v*n.Scale[ch] + n.Shift[ch]
			}
		}
	})
	return nil
}

// BatchNorm1D binds name.{weight,bias,running_mean,running_var} (c).
func (b *Binder) BatchNorm1D(name string, c int, eps float32) BatchNorm1D {
	w, bias := b.Vector(name+".weight", c), b.Vector(name+".bias", c)
	mean, vr := b.Vector(name+".running_mean", c), b.Vector(name+".running_var", c)
	if w == nil || bias == nil || mean == nil || vr == nil {
		return BatchNorm1D{}
	}
	n := BatchNorm1D{Scale: make([]float32, c), Shift: make([]float32, c)}
	for i := 0; i < c; i++ {
		s := float64(w[i]) / math.Sqrt(float64(vr[i])+float64(eps))
		n.Scale[i] = float32(s)
		n.Shift[i] = float32(float64(bias[i]) - float64(mean[i])*s)
	}
	return n
}

func pointwise(op string, out, x []float32, f func(float32) float32) error {
	if len(out) < len(x) {
		return fmt.Errorf("%s: out has %d floats, x %d", op, len(out), len(x))
	}
	kernels.ParallelFor(len(x), 8192, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = f(x[i])
		}
	})
	return nil
}

// ReLU sets out to max(x, 0). out may alias x. The loop is written out
// rather than passed to pointwise: a call through a func value per element
// was 2.6 % of a 1-thread speech profile.
func ReLU(out, x []float32) error {
	if len(out) < len(x) {
		return fmt.Errorf("relu: out has %d floats, x %d", len(out), len(x))
	}
	kernels.ParallelFor(len(x), 8192, func(lo, hi int) {
		o, v := out[lo:hi], x[lo:hi]
		for i := range v {
			o[i] = max(v[i], 0)
		}
	})
	return nil
}

// LeakyReLU sets out to x for x ≥ 0 and slope·x below. out may alias x.
func LeakyReLU(out, x []float32, slope float32) error {
	if slope < 0 || slope > 1 {
		return pointwise("leaky_relu", out, x, func(v float32) float32 {
			if v < 0 {
				return v * slope
			}
			return v
		})
	}
	if len(out) < len(x) {
		return fmt.Errorf("leaky_relu: out has %d floats, x %d", len(out), len(x))
	}
	// For 0 ≤ slope ≤ 1, max(v, slope·v) is the same function without a
	// data-dependent branch or a call per element (the vocoder's hottest loop).
	kernels.ParallelFor(len(x), 8192, func(lo, hi int) {
		o, v := out[lo:hi], x[lo:hi]
		for i := range v {
			o[i] = max(v[i], v[i]*slope)
		}
	})
	return nil
}

// Tanh sets out to tanh(x). out may alias x.
func Tanh(out, x []float32) error {
	return pointwise("tanh", out, x, func(v float32) float32 { return float32(math.Tanh(float64(v))) })
}
