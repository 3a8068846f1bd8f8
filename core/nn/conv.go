package nn

import (
	"fmt"

	"github.com/loomhq/loom/core/kernels"
)

// Conv2D is a 2-D convolution over NCHW activations with a PyTorch-layout
// kernel, as image towers (UNet, VAE) store it.
type Conv2D struct {
	In, Out     int
	Kernel      int       // square kernel side
	Stride, Pad int       // symmetric padding
	W           []float32 // (Out, In, Kernel, Kernel)
	Bias        []float32 // (Out) or nil
	Stacked     []float32 // W with its column taps stacked for ForwardBand (StackForBands), or nil
}

// StackForBands keeps W laid out as ForwardBand's GEMM reads it
// (kernels.StackColumnTaps), so a tower that runs the conv in row bands
// does not rearrange it on every call.
func (c *Conv2D) StackForBands() error {
	if c.W == nil {
		return fmt.Errorf("conv2d %d→%d: unbound weights", c.In, c.Out)
	}
	s, err := kernels.StackColumnTaps(c.W, c.Out, c.In, c.Kernel, c.Kernel)
	c.Stacked = s
	return err
}

// OutSize returns the output height and width for an h×w input.
func (c *Conv2D) OutSize(h, w int) (int, int) {
	return c.params(1, h, w).OutSize()
}

func (c *Conv2D) params(n, h, w int) kernels.Conv2DParams {
	return kernels.Conv2DParams{N: n, C: c.In, H: h, W: w, K: c.Out, KH: c.Kernel, KW: c.Kernel,
		StrideH: c.Stride, StrideW: c.Stride, PadH: c.Pad, PadW: c.Pad}
}

// Forward sets out (n, Out, OH, OW) from x (n, In, h, w).
func (c *Conv2D) Forward(out, x []float32, n, h, w int) error {
	if c.W == nil {
		return fmt.Errorf("conv2d %d→%d: unbound weights", c.In, c.Out)
	}
	return kernels.Conv2D(out, x, c.W, c.Bias, c.params(n, h, w))
}

// Conv2D binds name.weight (out, in, k, k) and, when present, name.bias
// (out). A 1×1 kernel may also be stored as a (out, in) matrix, as linear
// projections converted from convolutions are.
func (b *Binder) Conv2D(name string, out, in, k, stride, pad int) Conv2D {
	c := Conv2D{In: in, Out: out, Kernel: k, Stride: max(stride, 1), Pad: pad}
	c.W = b.Flat(name+".weight", out*in*k*k)
	if b.Has(name + ".bias") {
		c.Bias = b.Vector(name+".bias", out)
	}
	return c
}

// GroupNorm normalises NCHW activations over groups of channels (Wu & He
// 2018) with a per-channel affine, as diffusion towers use it.
type GroupNorm struct {
	Groups int
	W, B   []float32 // (C)
	Eps    float32
}

// Forward normalises x (n, C, hw) into out (may alias x).
func (g *GroupNorm) Forward(out, x []float32, n, hw int) error {
	return kernels.GroupNorm(out, x, g.W, g.B, n, len(g.W), hw, g.Groups, g.Eps)
}

// GroupNorm binds name.weight and name.bias (channels).
func (b *Binder) GroupNorm(name string, groups, channels int, eps float32) GroupNorm {
	if groups <= 0 || channels%groups != 0 {
		b.fail("bind %s: %d channels do not split into %d groups", b.name(name), channels, groups)
	}
	return GroupNorm{Groups: groups, W: b.Vector(name+".weight", channels), B: b.Vector(name+".bias", channels), Eps: eps}
}

// ForwardBand computes output rows [lo, hi) of Forward for one image x
// (In, h, w) of a stride-1 conv on the calling thread (kernels.Conv2DBand):
// one Pool.Team member's band, reading the rows the kernel reaches across
// its edges. add adds the result to out's rows.
func (c *Conv2D) ForwardBand(out, x []float32, h, w, lo, hi int, add bool) error {
	if c.W == nil {
		return fmt.Errorf("conv2d %d→%d: unbound weights", c.In, c.Out)
	}
	if c.Stacked != nil {
		return kernels.Conv2DBandStacked(out, x, c.Stacked, c.Bias, c.params(1, h, w), lo, hi, add)
	}
	return kernels.Conv2DBand(out, x, c.W, c.Bias, c.params(1, h, w), lo, hi, add)
}

// ForwardBand normalises the flat pixel range [lo, hi) of every channel of
// one image x (C, hw) into out, SiLU after it when silu is set, as one
// member part of a Pool.Team whose members cover [0, hw)
// (kernels.GroupNormBand: it meets bar twice).
func (g *GroupNorm) ForwardBand(out, x []float32, hw int, silu bool, lo, hi int, st *kernels.BandStats, part int, bar *kernels.Barrier) error {
	return kernels.GroupNormBand(out, x, g.W, g.B, len(g.W), hw, g.Groups, g.Eps, silu, lo, hi, st, part, bar)
}
