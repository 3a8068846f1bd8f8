package nn

// Convolutional blocks of the diffusion towers (UNet, VAE, the video UNet),
// written to diffusers' module and tensor names (models/resnet.py,
// models/upsampling.py): ResnetBlock2D and Upsample2D. Activations are NCHW
// (n, C, H, W); each block takes its working memory from the caller's arena.

import (
	"errors"
	"fmt"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/tensor"
)

// ResnetBlock is diffusers' ResnetBlock2D ("Deep Residual Learning", He et
// al. 2016, as latent diffusion uses it): GroupNorm, SiLU, conv, plus the
// projected time embedding, GroupNorm, SiLU, conv, plus the input
// (1×1-projected when the channel count changes).
type ResnetBlock struct {
	In, Out      int
	Norm1, Norm2 GroupNorm
	Conv1, Conv2 Conv2D  // 3×3: (Out, In), (Out, Out)
	TimeProj     Linear  // time_emb_proj (Out, T); W.Rows == 0 without a time embedding (the VAE)
	Shortcut     *Conv2D // conv_shortcut, 1×1 (Out, In), when In != Out
}

// BindResnetBlock binds a ResnetBlock2D under b: norm1, conv1, time_emb_proj
// (when temb > 0), norm2, conv2 and conv_shortcut (when in != out).
func BindResnetBlock(b *Binder, in, out, temb, groups int, eps float32) ResnetBlock {
	r := ResnetBlock{In: in, Out: out,
		Norm1: b.GroupNorm("norm1", groups, in, eps), Conv1: b.Conv2D("conv1", out, in, 3, 1, 1),
		Norm2: b.GroupNorm("norm2", groups, out, eps), Conv2: b.Conv2D("conv2", out, out, 3, 1, 1)}
	if temb > 0 {
		r.TimeProj = b.DenseLinear("time_emb_proj", out, temb)
	}
	if in != out {
		sc := b.Conv2D("conv_shortcut", out, in, 1, 1, 0)
		r.Shortcut = &sc
	}
	return r
}

// Forward sets out (n, Out, h, w) from x (n, In, h, w); tembAct is the
// activated time embedding silu(temb) (n, T), or nil for a block without
// one. out must not alias x.
func (r *ResnetBlock) Forward(out, x []float32, n, h, w int, tembAct []float32, ar *tensor.Arena) error {
	hw := h * w
	if len(x) < n*r.In*hw || len(out) < n*r.Out*hw {
		return fmt.Errorf("resnet %d→%d: x has %d floats, out %d, for %d×%dx%d", r.In, r.Out, len(x), len(out), n, h, w)
	}
	t := ar.Scratch(n * r.In * hw)
	if err := r.Norm1.Forward(t, x, n, hw); err != nil {
		return err
	}
	if err := kernels.SiLU(t, t); err != nil {
		return err
	}
	hid := ar.Scratch(n * r.Out * hw)
	if err := r.Conv1.Forward(hid, t, n, h, w); err != nil {
		return err
	}
	if r.TimeProj.W.Rows > 0 {
		if tembAct == nil {
			return fmt.Errorf("resnet: time embedding missing")
		}
		proj := ar.Floats(n * r.Out)
		if err := r.TimeProj.Forward(proj, tembAct, n); err != nil {
			return err
		}
		for i := 0; i < n*r.Out; i++ {
			p, plane := proj[i], hid[i*hw:(i+1)*hw]
			for j := range plane {
				plane[j] += p
			}
		}
	}
	if err := r.Norm2.Forward(hid, hid, n, hw); err != nil {
		return err
	}
	if err := kernels.SiLU(hid, hid); err != nil {
		return err
	}
	if err := r.Conv2.Forward(out, hid, n, h, w); err != nil {
		return err
	}
	skip := x
	if r.Shortcut != nil {
		skip = hid // conv2 is done with hid: reuse it for the projected input
		if err := r.Shortcut.Forward(skip, x, n, h, w); err != nil {
			return err
		}
	}
	m := n * r.Out * hw
	return kernels.Add(out[:m], out[:m], skip[:m])
}

// StackForBands prepares the block's 3×3 convs for ForwardBand
// (Conv2D.StackForBands).
func (r *ResnetBlock) StackForBands() error {
	return errors.Join(r.Conv1.StackForBands(), r.Conv2.StackForBands())
}

// Upsample2D is diffusers' Upsample2D with a conv: nearest-neighbour ×2,
// then a 3×3 convolution (pad 1).
type Upsample2D struct {
	Conv   Conv2D                    // (C, C, 3, 3)
	Folded *kernels.Upsample2xKernel // Conv's kernel folded for the small map (ForwardBand), or nil
}

// BindUpsample2D binds upsamplers.0-style conv under b ("conv").
func BindUpsample2D(b *Binder, ch int) Upsample2D {
	u := Upsample2D{Conv: b.Conv2D("conv", ch, ch, 3, 1, 1)}
	if u.Conv.W != nil {
		u.Folded, _ = kernels.FoldUpsample2x(u.Conv.W, ch, ch)
	}
	return u
}

// Forward sets out (n, Conv.Out, 2h, 2w) from x (n, Conv.In, h, w).
func (u *Upsample2D) Forward(out, x []float32, n, h, w int, ar *tensor.Arena) error {
	big := ar.Scratch(n * u.Conv.In * 4 * h * w)
	if err := kernels.UpsampleNearest2x(big, x, n, u.Conv.In, h, w); err != nil {
		return err
	}
	return u.Conv.Forward(out, big, n, 2*h, 2*w)
}

// ForwardBand computes rows [lo, hi) of Forward for one image (In, h, w)
// without a time embedding, as one member part of a Pool.Team whose members
// own the rows Band(h, 1, part, parts) of every map: GroupNorm statistics
// meet over the whole image, and each conv reads its neighbours' edge rows
// after a barrier. t (In, h, w) and hid (Out, h, w) are the team's shared
// working maps. Every member meets bar the same six times, failed or not.
// out must not alias x, t or hid.
func (r *ResnetBlock) ForwardBand(out, x, t, hid []float32, h, w, lo, hi int, st *kernels.BandStats, part int, bar *kernels.Barrier) error {
	hw := h * w
	var err error
	ok := func(e error) bool { // records the first error; false from then on
		if err == nil {
			err = e
		}
		return err == nil
	}
	switch {
	case r.TimeProj.W.Rows > 0:
		err = fmt.Errorf("resnet %d→%d: row bands without a time embedding only", r.In, r.Out)
	case len(x) < r.In*hw || len(t) < r.In*hw || len(hid) < r.Out*hw || len(out) < r.Out*hw:
		err = fmt.Errorf("resnet %d→%d bands: x %d, t %d, hid %d, out %d floats for %dx%d", r.In, r.Out, len(x), len(t), len(hid), len(out), h, w)
	}
	ok(r.Norm1.ForwardBand(t, x, hw, true, lo*w, hi*w, st, part, bar))
	bar.Wait() // conv1 reads the neighbours' edge rows of t
	_ = err == nil && ok(r.Conv1.ForwardBand(hid, t, h, w, lo, hi, false))
	ok(r.Norm2.ForwardBand(hid, hid, hw, true, lo*w, hi*w, st, part, bar))
	bar.Wait() // conv2 reads the neighbours' edge rows of hid
	if err != nil {
		return err
	}
	if r.Shortcut != nil {
		if err := r.Shortcut.ForwardBand(out, x, h, w, lo, hi, false); err != nil {
			return err
		}
	} else {
		for c := 0; c < r.Out; c++ {
			copy(out[c*hw+lo*w:c*hw+hi*w], x[c*hw+lo*w:c*hw+hi*w])
		}
	}
	return r.Conv2.ForwardBand(out, hid, h, w, lo, hi, true) // out = skip + conv2, as Forward's sum
}

// ForwardBand computes output rows [lo, hi) of Forward for one image x
// (Conv.In, h, w) on the calling thread from x itself, the conv's four
// output phases as 2×2 convs with the folded kernel
// (kernels.Upsample2xConv2DBand: 2.25× fewer FLOPs than the 3×3 conv on
// the upsampled map, the same values to float32 rounding).
func (u *Upsample2D) ForwardBand(out, x []float32, h, w, lo, hi int) error {
	f := u.Folded
	if f == nil { // built without BindUpsample2D
		if u.Conv.W == nil {
			return fmt.Errorf("upsample conv %d→%d: unbound weights", u.Conv.In, u.Conv.Out)
		}
		var err error
		if f, err = kernels.FoldUpsample2x(u.Conv.W, u.Conv.Out, u.Conv.In); err != nil {
			return err
		}
	}
	return kernels.Upsample2xConv2DBand(out, x, f, u.Conv.Bias, u.Conv.params(1, 2*h, 2*w), lo, hi)
}
