package kernels

// Convolutions for the image and audio towers, NCHW like PyTorch checkpoints:
// conv2d by im2col + one Gemm per (image, group), conv-transpose2d by one Gemm
// per (image, group) into columns + col2im, conv1d by one Gemm per kernel tap
// (or, strided or grouped, as conv2d of height 1), and
// nearest ×2 upsampling. The im2col buffers come from a pool, so repeated
// calls at one size do not allocate them again.

import (
	"fmt"
	"slices"
	"sync"
)

// Conv2DParams describes a 2-D convolution: x (N, C, H, W), weight
// (K, C/Groups, KH, KW), bias (K) or nil, out (N, K, OH, OW). Zero strides,
// dilations and groups mean 1.
type Conv2DParams struct {
	N, C, H, W       int
	K, KH, KW        int
	StrideH, StrideW int
	PadH, PadW       int
	DilH, DilW       int
	Groups           int
}

func orOne(v int) int {
	if v == 0 {
		return 1
	}
	return v
}

func (p *Conv2DParams) defaults() {
	p.StrideH, p.StrideW = orOne(p.StrideH), orOne(p.StrideW)
	p.DilH, p.DilW = orOne(p.DilH), orOne(p.DilW)
	p.Groups = orOne(p.Groups)
}

// OutSize returns (OH, OW): floor((H + 2·PadH - DilH·(KH-1) - 1)/StrideH) + 1.
func (p Conv2DParams) OutSize() (oh, ow int) {
	p.defaults()
	return convOut(p.H, p.KH, p.StrideH, p.PadH, p.DilH), convOut(p.W, p.KW, p.StrideW, p.PadW, p.DilW)
}

func convOut(in, k, stride, pad, dil int) int {
	span := in + 2*pad - dil*(k-1) - 1
	if span < 0 {
		return 0
	}
	return span/stride + 1
}

func (p *Conv2DParams) validate(out, x, w, bias []float32) error {
	return p.validateLen(out, len(x), w, bias)
}

// validateLen is validate for an x of xLen floats.
func (p *Conv2DParams) validateLen(out []float32, xLen int, w, bias []float32) error {
	p.defaults()
	switch {
	case p.N < 0 || p.C <= 0 || p.H <= 0 || p.W <= 0 || p.K <= 0 || p.KH <= 0 || p.KW <= 0:
		return fmt.Errorf("conv2d: dims N%d C%d H%d W%d K%d KH%d KW%d", p.N, p.C, p.H, p.W, p.K, p.KH, p.KW)
	case p.StrideH < 0 || p.StrideW < 0 || p.DilH < 0 || p.DilW < 0 || p.PadH < 0 || p.PadW < 0 || p.Groups < 0:
		return fmt.Errorf("conv2d: negative stride, dilation, padding or groups")
	case p.C%p.Groups != 0 || p.K%p.Groups != 0:
		return fmt.Errorf("conv2d: groups %d must divide channels %d and %d", p.Groups, p.C, p.K)
	}
	oh, ow := p.OutSize()
	if oh <= 0 || ow <= 0 {
		return fmt.Errorf("conv2d: kernel %dx%d (dilation %d,%d) larger than padded input %dx%d", p.KH, p.KW, p.DilH, p.DilW, p.H, p.W)
	}
	switch {
	case xLen < p.N*p.C*p.H*p.W:
		return fmt.Errorf("conv2d: x has %d floats, need %d", xLen, p.N*p.C*p.H*p.W)
	case len(w) < p.K*(p.C/p.Groups)*p.KH*p.KW:
		return fmt.Errorf("conv2d: weight has %d floats, need %d", len(w), p.K*(p.C/p.Groups)*p.KH*p.KW)
	case bias != nil && len(bias) < p.K:
		return fmt.Errorf("conv2d: bias has %d floats, need %d", len(bias), p.K)
	case len(out) < p.N*p.K*oh*ow:
		return fmt.Errorf("conv2d: out has %d floats, need %d", len(out), p.N*p.K*oh*ow)
	}
	return nil
}

// colBufs recycles im2col, padding and weight-gather buffers (not zeroed).
// A free list rather than a sync.Pool: a VAE decode after twenty UNet steps
// would otherwise find the pool emptied by the collector and fault in fresh
// pages for every 64×64 map.
var colBufs = sizedBuffers{max: 16}

func getCol(n int) *[]float32 { return colBufs.get(n) }

func putCol(b *[]float32) { colBufs.put(b) }

// sizedBuffers is a free list of float buffers that hands out the smallest
// one big enough. A first-in-first-out list handed them out in turn, so a
// call wanting a large buffer often got a small one and grew it, dropping
// the small one to the collector: with two threads, where the UNet's items
// and a conv's own buffers interleave, every image faulted fresh pages for
// its VAE decode's maps. At most max buffers are kept (the smallest goes).
type sizedBuffers struct {
	mu   sync.Mutex
	free []*[]float32
	max  int
}

// get returns a buffer of length n: the smallest free one of capacity ≥ n,
// else the largest free one grown (or a new one).
func (s *sizedBuffers) get(n int) *[]float32 {
	s.mu.Lock()
	best := -1
	for i, b := range s.free {
		switch c := cap(*b); {
		case best < 0:
			best = i
		case c >= n && (cap(*s.free[best]) < n || c < cap(*s.free[best])):
			best = i
		case c < n && cap(*s.free[best]) < n && c > cap(*s.free[best]):
			best = i
		}
	}
	var b *[]float32
	if best >= 0 {
		b = s.free[best]
		s.free = slices.Delete(s.free, best, best+1)
	}
	s.mu.Unlock()
	if b == nil {
		b = new([]float32)
	}
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return b
}

// put returns b to the list, dropping the smallest buffer when it is full.
func (s *sizedBuffers) put(b *[]float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.free) < s.max {
		s.free = append(s.free, b)
		return
	}
	small := 0
	for i, f := range s.free {
		if cap(*f) < cap(*s.free[small]) {
			small = i
		}
	}
	if cap(*b) > cap(*s.free[small]) {
		s.free[small] = b
	}
}

// Conv2D computes out = conv(x, w) + bias with the layout of Conv2DParams.
func Conv2D(out, x, w, bias []float32, p Conv2DParams) error {
	if err := p.validate(out, x, w, bias); err != nil {
		return err
	}
	conv2d(out, x, w, bias, p)
	return nil
}

// conv2d is Conv2D on validated parameters (defaults filled in).
func conv2d(out, x, w, bias []float32, p Conv2DParams) {
	oh, ow := p.OutSize()
	ohw, hw := oh*ow, p.H*p.W
	cg, kg := p.C/p.Groups, p.K/p.Groups
	kdim := cg * p.KH * p.KW // one output pixel's receptive field
	// A 1×1, stride-1, unpadded conv is a plain GEMM on x: no im2col.
	direct := p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1 && p.PadH == 0 && p.PadW == 0
	// Stride-1 ungrouped convs on large maps run per tap (no im2col buffer of
	// KH·KW times the input); on small maps (a UNet's 16×16 to 4×4 levels) the
	// im2col buffer is small and one Gemm over the whole batch beats KH·KW
	// small ones.
	if !direct && p.StrideH == 1 && p.StrideW == 1 && p.Groups == 1 {
		if ohw >= conv2dTapsMinPixels {
			conv2dTaps(out, x, w, bias, &p, oh, ow)
		} else {
			conv2dWide(out, x, w, bias, &p, oh, ow)
		}
		return
	}
	var colBuf *[]float32
	if !direct {
		colBuf = getCol(kdim * ohw)
		defer putCol(colBuf)
	}
	for n := 0; n < p.N; n++ {
		for g := 0; g < p.Groups; g++ {
			xg := x[(n*p.C+g*cg)*hw : (n*p.C+(g+1)*cg)*hw] // (cg, H, W)
			col := xg                                      // (kdim, OH·OW)
			if !direct {
				col = *colBuf
				im2col(col, xg, &p, cg, oh, ow)
			}
			og := out[(n*p.K+g*kg)*ohw : (n*p.K+(g+1)*kg)*ohw] // (kg, OH·OW)
			Gemm(kg, ohw, kdim, w[g*kg*kdim:], kdim, col, ohw, 0, og, ohw)
			if bias != nil {
				for k := 0; k < kg; k++ {
					b := bias[g*kg+k]
					for i := range og[k*ohw : (k+1)*ohw] {
						og[k*ohw+i] += b
					}
				}
			}
		}
	}
}

// tapMajor returns a pooled (taps, K, C) copy of a (K, C, taps) weight: the
// per-tap (K, C) matrices the tap-by-tap convolutions multiply by. The caller
// puts the buffer back with putCol.
func tapMajor(w []float32, k, c, taps int) *[]float32 {
	buf := getCol(taps * k * c)
	wt := *buf
	for o := 0; o < k; o++ {
		for i := 0; i < c; i++ {
			for t := 0; t < taps; t++ {
				wt[(t*k+o)*c+i] = w[(o*c+i)*taps+t]
			}
		}
	}
	return buf
}

// conv2dTapsMinPixels is the smallest output map (OH·OW) Conv2D runs as an
// implicit-im2col Gemm (conv2dTaps). A variable so tests can send every shape
// down either path.
var conv2dTapsMinPixels = 1024

// conv2dTaps computes a validated stride-1, ungrouped conv2d as one Gemm
// per image whose B, the im2col matrix, is never built. Each image is copied
// once into a zero-padded (C, Hp, Wp) buffer; in it, the input pixel under
// tap (kh, kw) of output (y, x) sits at a fixed offset from y·Wp + x, so
// with a "wide" output of Wp columns per row (the last Wp − OW of each row
// are discarded) im2col row (c, kh, kw) is the buffer itself from offset
// c·plane + kh·DilH·Wp + kw·DilW. The Gemm's B packer copies each sliver's
// rows straight from those offsets (packGather): one pass over C at full
// depth C·KH·KW, and one copy of the image per tap — as many as packing a
// per-tap Gemm's B, where one Gemm per tap read and wrote C KH·KW times at
// depth C. The wide rows are then compacted into out with the bias.
func conv2dTaps(out, x, w, bias []float32, p *Conv2DParams, oh, ow int) {
	hp, wp := p.H+2*p.PadH, p.W+2*p.PadW
	taps, plane, wide := p.KH*p.KW, hp*wp, oh*wp
	kdim := p.C * taps
	slack := p.DilW * (p.KW - 1) // the last channel's last taps read past its plane (into discarded columns)
	padBuf, wideBuf := getCol(p.C*plane+slack), getCol(p.K*wide)
	defer putCol(padBuf)
	defer putCol(wideBuf)
	xp, acc := *padBuf, *wideBuf
	clear(xp[p.C*plane:])
	offs := make([]int32, kdim) // im2col row (c, kh, kw) → its offset in xp
	for r := range offs {
		c, t := r/taps, r%taps
		offs[r] = int32(c*plane + (t/p.KW)*p.DilH*wp + (t%p.KW)*p.DilW)
	}
	pack := func(dst []float32, col, cols, pc, kb, nr int) {
		packGather(dst, xp[col:], offs[pc:pc+kb], kb, cols, nr)
	}
	for n := 0; n < p.N; n++ {
		padPlanes(xp, x[n*p.C*p.H*p.W:(n+1)*p.C*p.H*p.W], p.C, p.H, p.W, p.PadH, p.PadW)
		gemmImplicitB(p.K, wide, kdim, w, kdim, pack, 0, acc, wide)
		on := out[n*p.K*oh*ow : (n+1)*p.K*oh*ow]
		ParallelFor(p.K, max(1, 4096/wide), func(lo, hi int) {
			for k := lo; k < hi; k++ {
				b := float32(0)
				if bias != nil {
					b = bias[k]
				}
				for y := 0; y < oh; y++ {
					// v·1 + b rounds as v + b does.
					vecAffine(on[(k*oh+y)*ow:(k*oh+y+1)*ow], acc[k*wide+y*wp:k*wide+y*wp+ow], 1, b)
				}
			}
		})
	}
}

// packGather packs a B sliver whose rows sit at offsets of src: dst (kb, w)
// row p = src[offs[p] : offs[p]+cols], zero past cols. The caller guarantees
// offs[p] + w ≤ len(src) when cols = w (the vector path copies w floats).
func packGather(dst, src []float32, offs []int32, kb, cols, w int) {
	if cols == w && useAVX2 && (w == 16 || w == 32) && kb > 0 {
		packGatherAVX(kb, &src[0], &offs[0], &dst[0], w)
		return
	}
	for p := 0; p < kb; p++ {
		d, o := dst[p*w:(p+1)*w], int(offs[p])
		copy(d, src[o:o+cols])
		clear(d[cols:])
	}
}

// conv2dWide computes a validated stride-1, ungrouped conv2d by im2col
// Gemms. Like conv2dTaps it works on zero-padded (C, Hp, Wp) copies of the
// images and a "wide" output of Wp columns per row, where the input under
// tap (kh, kw) of every output pixel sits at one fixed offset: an im2col row
// (c, kh, kw) is then a single contiguous copy per image instead of OH short
// row copies with padding around them (which cost as much as the Gemm on
// 16×16 maps). The Gemm multiplies the (K, C·KH·KW) weight by the columns;
// the wide rows are compacted into out with the bias (Wp − OW of every Wp
// columns are computed and discarded). Small batches go as one Gemm; larger
// maps in chunks of output rows whose columns fit conv2dWideCols, so they
// stay in cache and the Gemm runs at full depth (C·KH·KW, not one tap's C).
func conv2dWide(out, x, w, bias []float32, p *Conv2DParams, oh, ow int) {
	hp, wp := p.H+2*p.PadH, p.W+2*p.PadW
	taps, plane, wide := p.KH*p.KW, hp*wp, oh*wp
	kdim, ohw := p.C*taps, oh*ow
	batch, rows := p.N, oh // images and output rows per chunk
	if kdim*p.N*wide > conv2dWideCols {
		if fit := conv2dWideCols / (kdim * wide); fit > 0 {
			// Whole images, as many as fit and evened out over the chunks:
			// one image of an 8×8 or 4×4 map is 80 or 24 columns, fewer
			// than three or one B slivers of 32, where the micro-kernel's
			// padding and packing the weight again per Gemm cost more than
			// the product (a guided video step's 32 frames ran its 4×4 and
			// 8×8 convs at 20 and 40 GFLOP/s of CPU).
			chunks := (p.N + fit - 1) / fit
			batch = (p.N + chunks - 1) / chunks
		} else {
			batch, rows = 1, max(1, min(oh, conv2dWideCols/(kdim*wp)))
		}
	}
	slack := p.DilW * (p.KW - 1) // the last plane's last taps read past it (into discarded columns)
	padBuf, colBuf, accBuf := getCol(p.N*p.C*plane+slack), getCol(kdim*batch*rows*wp), getCol(p.K*batch*rows*wp)
	defer putCol(padBuf)
	defer putCol(colBuf)
	defer putCol(accBuf)
	xp, col, acc := *padBuf, *colBuf, *accBuf
	padPlanes(xp, x, p.N*p.C, p.H, p.W, p.PadH, p.PadW)
	clear(xp[p.N*p.C*plane:])
	for n0 := 0; n0 < p.N; n0 += batch {
		nb := min(batch, p.N-n0)
		for y0 := 0; y0 < oh; y0 += rows {
			nr := min(rows, oh-y0)
			seg := nr * wp // one image's columns in this chunk
			cols := nb * seg
			ParallelFor(kdim, max(1, 16384/cols), func(lo, hi int) {
				for row := lo; row < hi; row++ {
					c, t := row/taps, row%taps
					off := (t/p.KW)*p.DilH*wp + (t%p.KW)*p.DilW + y0*wp
					for i := 0; i < nb; i++ {
						src := ((n0+i)*p.C+c)*plane + off
						copy(col[row*cols+i*seg:row*cols+(i+1)*seg], xp[src:src+seg])
					}
				}
			})
			Gemm(p.K, cols, kdim, w, kdim, col, cols, 0, acc, cols)
			ParallelFor(nb*p.K, max(1, 4096/(nr*ow)), func(lo, hi int) {
				for ik := lo; ik < hi; ik++ {
					i, k := ik/p.K, ik%p.K
					b := float32(0)
					if bias != nil {
						b = bias[k]
					}
					for y := 0; y < nr; y++ {
						d := ((n0+i)*p.K+k)*ohw + (y0+y)*ow
						vecAffine(out[d:d+ow], acc[k*cols+i*seg+y*wp:k*cols+i*seg+y*wp+ow], 1, b) // v·1 + b rounds as v + b
					}
				}
			})
		}
	}
}

// conv2dWideCols bounds the im2col floats of one conv2dWide chunk (1 MiB).
// A variable so tests can send shapes through many chunks.
var conv2dWideCols = 1 << 18

// padPlanes copies planes (p, h, w) of x into xp (p, h+2·ph, w+2·pw) with
// zero borders.
func padPlanes(xp, x []float32, planes, h, w, ph, pw int) {
	hp, wp := h+2*ph, w+2*pw
	plane := hp * wp
	ParallelFor(planes, max(1, 4096/plane), func(lo, hi int) {
		for c := lo; c < hi; c++ {
			dst, src := xp[c*plane:(c+1)*plane], x[c*h*w:(c+1)*h*w]
			clear(dst[:ph*wp])
			for y := 0; y < h; y++ {
				row := dst[(ph+y)*wp : (ph+y+1)*wp]
				clear(row[:pw])
				copy(row[pw:pw+w], src[y*w:(y+1)*w])
				clear(row[pw+w:])
			}
			clear(dst[(ph+h)*wp:])
		}
	})
}

// im2col fills col (cg·KH·KW, OH·OW): row (c, kh, kw) holds, for every output
// pixel, the input value that kernel tap reads (0 in the padding).
func im2col(col, x []float32, p *Conv2DParams, cg, oh, ow int) {
	ohw := oh * ow
	ParallelFor(cg*p.KH*p.KW, 1, func(lo, hi int) {
		for row := lo; row < hi; row++ {
			c, kh, kw := row/(p.KH*p.KW), row/p.KW%p.KH, row%p.KW
			dst := col[row*ohw : (row+1)*ohw]
			src := x[c*p.H*p.W : (c+1)*p.H*p.W]
			for y := 0; y < oh; y++ {
				iy := y*p.StrideH - p.PadH + kh*p.DilH
				d := dst[y*ow : (y+1)*ow]
				if iy < 0 || iy >= p.H {
					clear(d)
					continue
				}
				srow := src[iy*p.W : (iy+1)*p.W]
				if p.StrideW == 1 {
					// Contiguous: outputs [lo, hi) read srow[lo+off : hi+off], the rest padding.
					off := kw*p.DilW - p.PadW
					lo, hi := min(max(0, -off), ow), max(min(ow, p.W-off), 0)
					if lo >= hi {
						clear(d)
						continue
					}
					clear(d[:lo])
					copy(d[lo:hi], srow[lo+off:hi+off])
					clear(d[hi:])
					continue
				}
				for xo := range d {
					ix := xo*p.StrideW - p.PadW + kw*p.DilW
					if ix < 0 || ix >= p.W {
						d[xo] = 0
					} else {
						d[xo] = srow[ix]
					}
				}
			}
		}
	})
}

// ConvT2DParams describes a transposed 2-D convolution (the gradient of
// conv2d with respect to its input, used to upsample): x (N, C, H, W),
// weight (C, K/Groups, KH, KW) as PyTorch stores it, bias (K) or nil,
// out (N, K, OH, OW) with OH = (H-1)·StrideH - 2·PadH + DilH·(KH-1) + OutPadH + 1.
type ConvT2DParams struct {
	N, C, H, W       int
	K, KH, KW        int
	StrideH, StrideW int
	PadH, PadW       int
	DilH, DilW       int
	OutPadH, OutPadW int
	Groups           int
}

// OutSize returns (OH, OW).
func (p ConvT2DParams) OutSize() (oh, ow int) {
	sh, sw, dh, dw := orOne(p.StrideH), orOne(p.StrideW), orOne(p.DilH), orOne(p.DilW)
	return (p.H-1)*sh - 2*p.PadH + dh*(p.KH-1) + p.OutPadH + 1, (p.W-1)*sw - 2*p.PadW + dw*(p.KW-1) + p.OutPadW + 1
}

// ConvTranspose2D computes out = conv_transpose(x, w) + bias: per (image,
// group) one Gemm makes columns (kg·KH·KW, H·W) = w_gᵀ·x_g, and col2im adds
// each column entry into the output pixel its kernel tap lands on.
func ConvTranspose2D(out, x, w, bias []float32, p ConvT2DParams) error {
	p.StrideH, p.StrideW, p.DilH, p.DilW, p.Groups = orOne(p.StrideH), orOne(p.StrideW), orOne(p.DilH), orOne(p.DilW), orOne(p.Groups)
	switch {
	case p.N < 0 || p.C <= 0 || p.H <= 0 || p.W <= 0 || p.K <= 0 || p.KH <= 0 || p.KW <= 0:
		return fmt.Errorf("conv_transpose2d: dims N%d C%d H%d W%d K%d KH%d KW%d", p.N, p.C, p.H, p.W, p.K, p.KH, p.KW)
	case p.StrideH < 0 || p.StrideW < 0 || p.DilH < 0 || p.DilW < 0 || p.PadH < 0 || p.PadW < 0 || p.Groups < 0 || p.OutPadH < 0 || p.OutPadW < 0:
		return fmt.Errorf("conv_transpose2d: negative stride, dilation, padding or groups")
	case p.OutPadH >= max(p.StrideH, p.DilH) || p.OutPadW >= max(p.StrideW, p.DilW):
		return fmt.Errorf("conv_transpose2d: output padding must be below stride or dilation")
	case p.C%p.Groups != 0 || p.K%p.Groups != 0:
		return fmt.Errorf("conv_transpose2d: groups %d must divide channels %d and %d", p.Groups, p.C, p.K)
	}
	oh, ow := p.OutSize()
	cg, kg := p.C/p.Groups, p.K/p.Groups
	taps := p.KH * p.KW
	switch {
	case oh <= 0 || ow <= 0:
		return fmt.Errorf("conv_transpose2d: padding leaves output %dx%d", oh, ow)
	case len(x) < p.N*p.C*p.H*p.W:
		return fmt.Errorf("conv_transpose2d: x has %d floats, need %d", len(x), p.N*p.C*p.H*p.W)
	case len(w) < p.C*kg*taps:
		return fmt.Errorf("conv_transpose2d: weight has %d floats, need %d", len(w), p.C*kg*taps)
	case bias != nil && len(bias) < p.K:
		return fmt.Errorf("conv_transpose2d: bias has %d floats, need %d", len(bias), p.K)
	case len(out) < p.N*p.K*oh*ow:
		return fmt.Errorf("conv_transpose2d: out has %d floats, need %d", len(out), p.N*p.K*oh*ow)
	}
	hw, ohw, rows := p.H*p.W, oh*ow, kg*taps
	colBuf, wtBuf := getCol(rows*hw), getCol(rows*cg)
	defer putCol(colBuf)
	defer putCol(wtBuf)
	col, wt := *colBuf, *wtBuf // (kg·KH·KW, H·W), (kg·KH·KW, cg)
	for g := 0; g < p.Groups; g++ {
		// w_g is (cg, kg·KH·KW); Gemm wants its transpose row-major.
		wg := w[g*cg*rows : (g+1)*cg*rows]
		for c := 0; c < cg; c++ {
			for r := 0; r < rows; r++ {
				wt[r*cg+c] = wg[c*rows+r]
			}
		}
		for n := 0; n < p.N; n++ {
			xg := x[(n*p.C+g*cg)*hw : (n*p.C+(g+1)*cg)*hw]
			Gemm(rows, hw, cg, wt, cg, xg, hw, 0, col, hw)
			og := out[(n*p.K+g*kg)*ohw : (n*p.K+(g+1)*kg)*ohw]
			// col2im, one output channel per task: channels never collide.
			ParallelFor(kg, 1, func(lo, hi int) {
				for k := lo; k < hi; k++ {
					o := og[k*ohw : (k+1)*ohw]
					b := float32(0)
					if bias != nil {
						b = bias[g*kg+k]
					}
					for i := range o {
						o[i] = b
					}
					for t := 0; t < taps; t++ {
						kh, kw := t/p.KW, t%p.KW
						src := col[(k*taps+t)*hw : (k*taps+t+1)*hw]
						for iy := 0; iy < p.H; iy++ {
							y := iy*p.StrideH - p.PadH + kh*p.DilH
							if y < 0 || y >= oh {
								continue
							}
							for ix := 0; ix < p.W; ix++ {
								xo := ix*p.StrideW - p.PadW + kw*p.DilW
								if xo >= 0 && xo < ow {
									o[y*ow+xo] += src[iy*p.W+ix]
								}
							}
						}
					}
				}
			})
		}
	}
	return nil
}

// Conv1DParams describes a 1-D convolution: x (N, C, L), weight
// (K, C/Groups, KW), bias (K) or nil, out (N, K, OL).
type Conv1DParams struct {
	N, C, L  int
	K, KW    int
	Stride   int
	Pad, Dil int
	Groups   int
}

// OutLen returns OL = floor((L + 2·Pad - Dil·(KW-1) - 1)/Stride) + 1.
func (p Conv1DParams) OutLen() int {
	return convOut(p.L, p.KW, orOne(p.Stride), p.Pad, orOne(p.Dil))
}

func (p Conv1DParams) as2D() Conv2DParams {
	return Conv2DParams{N: p.N, C: p.C, H: 1, W: p.L, K: p.K, KH: 1, KW: p.KW,
		StrideH: 1, StrideW: p.Stride, PadW: p.Pad, DilH: 1, DilW: p.Dil, Groups: p.Groups}
}

// Im2col reports whether Conv1D builds an im2col buffer (C·KW·OL floats) for
// these parameters: only strided or grouped convolutions do; the others run
// one Gemm per kernel tap straight on x.
func (p Conv1DParams) Im2col() bool { return orOne(p.Stride) != 1 || orOne(p.Groups) != 1 }

// Conv1D computes out = conv1d(x, w) + bias. A stride-1, ungrouped conv (every
// convolution of the speech towers) runs as one Gemm per tap on a shifted view
// of x (conv1dTaps); the rest as a conv2d of height 1.
func Conv1D(out, x, w, bias []float32, p Conv1DParams) error {
	q := p.as2D()
	if err := q.validate(out, x, w, bias); err != nil {
		return fmt.Errorf("conv1d: %w", err)
	}
	if !p.Im2col() {
		conv1dTaps(out, x, w, bias, p, false)
		return nil
	}
	conv2d(out, x, w, bias, q) // validate filled q's defaults
	return nil
}

// Conv1DAdd computes out += conv1d(x, w) + bias (a residual connection with no
// pass of its own), for stride-1 ungrouped convolutions only.
func Conv1DAdd(out, x, w, bias []float32, p Conv1DParams) error {
	if p.Im2col() {
		return fmt.Errorf("conv1d add: needs stride 1 and no groups, have stride %d, groups %d", p.Stride, p.Groups)
	}
	q := p.as2D()
	if err := q.validate(out, x, w, bias); err != nil {
		return fmt.Errorf("conv1d add: %w", err)
	}
	conv1dTaps(out, x, w, bias, p, true)
	return nil
}

// conv1dTaps computes a validated stride-1, ungrouped conv1d without im2col:
// for each tap j, out[:, t] += W_j · x[:, t + j·Dil − Pad] over the outputs t
// whose tap lands inside x (the others read zero padding), one Gemm on a
// column range of out with B a shifted view of x. W_j (K, C) is gathered from
// the (K, C, KW) weight once per call. add keeps out's values and adds to them.
func conv1dTaps(out, x, w, bias []float32, p Conv1DParams, add bool) {
	dil, ol := orOne(p.Dil), p.OutLen()
	wtBuf := tapMajor(w, p.K, p.C, p.KW)
	defer putCol(wtBuf)
	wt := *wtBuf // (KW, K, C)
	for n := 0; n < p.N; n++ {
		xn, on := x[n*p.C*p.L:(n+1)*p.C*p.L], out[n*p.K*ol:(n+1)*p.K*ol]
		for k := 0; k < p.K; k++ {
			o := on[k*ol : (k+1)*ol]
			switch {
			case !add && bias == nil:
				clear(o)
			case !add:
				for i := range o {
					o[i] = bias[k]
				}
			case bias != nil:
				for i := range o {
					o[i] += bias[k]
				}
			}
		}
		for j := 0; j < p.KW; j++ {
			s := j*dil - p.Pad // input index read by output 0 through tap j
			t0, t1 := max(0, -s), min(ol, p.L-s)
			if t0 < t1 {
				Gemm(p.K, t1-t0, p.C, wt[j*p.K*p.C:], p.C, xn[t0+s:], p.L, 1, on[t0:], ol)
			}
		}
	}
}

// UpsampleNearest2x sets out (n, c, 2h, 2w) to x (n, c, h, w) with every
// pixel repeated 2×2.
func UpsampleNearest2x(out, x []float32, n, c, h, w int) error {
	if n < 0 || c <= 0 || h <= 0 || w <= 0 || len(x) < n*c*h*w || len(out) < 4*n*c*h*w {
		return fmt.Errorf("upsample2x: n %d, c %d, %dx%d with x %d and out %d floats", n, c, h, w, len(x), len(out))
	}
	ParallelFor(n*c*h, max(1, 4096/w), func(lo, hi int) {
		for r := lo; r < hi; r++ { // r = input row (plane·h + y)
			src := x[r*w : (r+1)*w]
			d0 := out[2*r*2*w : (2*r+1)*2*w]
			for i, v := range src {
				d0[2*i], d0[2*i+1] = v, v
			}
			copy(out[(2*r+1)*2*w:(2*r+2)*2*w], d0)
		}
	})
	return nil
}

// Conv1DRows computes a stride-1, undilated, ungrouped conv1d on
// channels-last activations — x (L, C) rows, out (OL, K) rows with OL =
// L + 2·Pad − KW + 1 — as one GemmT: the receptive field of output t is the
// KW consecutive rows t−Pad … t−Pad+KW−1 of x, one contiguous span of KW·C
// floats, so the im2col matrix is x itself read with row stride C (rows
// overlap; the Gemm only reads them). wRows is the weight in tap-major rows
// (K, KW·C) (ConvRowsWeight converts PyTorch's (K, C, KW)); bias (K) or nil.
// add keeps out's values and adds the convolution to them. Padding copies x
// into a zero-bordered scratch buffer first.
func Conv1DRows(out, x, wRows, bias []float32, l, c, k, kw, pad int, add bool) error {
	return conv1DRows(out, x, wRows, nil, bias, l, c, k, kw, pad, add)
}

// Conv1DRowsPacked is Conv1DRows with the tap-major weight packed once
// (PackT(wRows, k, kw·c, kw·c)): the same values, without packing the
// weight on every call.
func Conv1DRowsPacked(out, x []float32, w *PackedT, bias []float32, l, c, kw, pad int, add bool) error {
	if w.k != kw*c || w.ldw != kw*c {
		return fmt.Errorf("conv1d rows: packed weight of depth %d for kernel %d × %d channels", w.k, kw, c)
	}
	return conv1DRows(out, x, w.w, w, bias, l, c, w.n, kw, pad, add)
}

// conv1DRows is Conv1DRows, multiplying by packed when it is not nil.
func conv1DRows(out, x, wRows []float32, packed *PackedT, bias []float32, l, c, k, kw, pad int, add bool) error {
	ol := l + 2*pad - kw + 1
	switch {
	case l <= 0 || c <= 0 || k <= 0 || kw <= 0 || pad < 0 || ol <= 0:
		return fmt.Errorf("conv1d rows: L %d, C %d, K %d, kernel %d, pad %d", l, c, k, kw, pad)
	case len(x) < l*c || len(wRows) < k*kw*c || len(out) < ol*k || (bias != nil && len(bias) < k):
		return fmt.Errorf("conv1d rows: x %d, weight %d, out %d floats for L %d, C %d, K %d, kernel %d", len(x), len(wRows), len(out), l, c, k, kw)
	}
	xp := x
	if pad > 0 {
		buf := getCol((l + 2*pad) * c)
		defer putCol(buf)
		xp = *buf
		clear(xp[:pad*c])
		copy(xp[pad*c:], x[:l*c])
		clear(xp[(l+pad)*c:])
	}
	beta := float32(0)
	if add {
		beta = 1
	}
	if bias != nil {
		if !add {
			for t := range ol {
				copy(out[t*k:(t+1)*k], bias[:k])
			}
		} else if err := AddBias(out, bias[:k], ol, k); err != nil {
			return err
		}
		beta = 1
	}
	// A (ol, kw·c) with lda = c < kw·c: checkGemm refuses that for callers
	// (a leading dimension below k is usually a bug), so call past it; the
	// span read is (ol−1)·c + kw·c = len(xp).
	if ol == 1 {
		gemvT(k, kw*c, xp, wRows, kw*c, beta, out)
		return nil
	}
	if packed != nil && packed.t == currentTiling() {
		gemmRun(true, ol, k, kw*c, xp, c, nil, 0, nil, packed, beta, out, k)
		return nil
	}
	gemmBlocked(true, ol, k, kw*c, xp, c, wRows, kw*c, beta, out, k)
	return nil
}

// ConvRowsWeight returns PyTorch's (K, C, KW) conv1d weight as Conv1DRows'
// tap-major rows (K, KW·C).
func ConvRowsWeight(w []float32, k, c, kw int) []float32 {
	out := make([]float32, k*kw*c)
	for o := 0; o < k; o++ {
		for i := 0; i < c; i++ {
			for j := 0; j < kw; j++ {
				out[(o*kw+j)*c+i] = w[(o*c+i)*kw+j]
			}
		}
	}
	return out
}

// DepthwiseConv1DRows computes a stride-1, undilated depthwise conv1d (groups
// = channels) on channels-last activations: x (L, C) → out (OL, C), OL =
// L + 2·Pad − KW + 1, out[t, c] = bias[c] + Σ_j wt[j, c]·x[t+j−Pad, c] with
// the weight tap-major, wt (KW, C) (DepthwiseRowsWeight converts PyTorch's
// (C, 1, KW)); taps that fall in the padding are skipped. bias (C) or nil.
// out must not alias x.
func DepthwiseConv1DRows(out, x, wt, bias []float32, l, c, kw, pad int) error {
	ol := l + 2*pad - kw + 1
	switch {
	case l <= 0 || c <= 0 || kw <= 0 || pad < 0 || ol <= 0:
		return fmt.Errorf("depthwise conv1d rows: L %d, C %d, kernel %d, pad %d", l, c, kw, pad)
	case len(x) < l*c || len(wt) < kw*c || len(out) < ol*c || (bias != nil && len(bias) < c):
		return fmt.Errorf("depthwise conv1d rows: x %d, weight %d, out %d floats for L %d, C %d, kernel %d", len(x), len(wt), len(out), l, c, kw)
	}
	ParallelFor(ol, max(1, 8192/(c*kw)), func(lo, hi int) {
		depthwiseRows(out, x, wt, bias, l, c, kw, pad, lo, hi)
	})
	return nil
}

// DepthwiseConv1DRowsBand computes output rows [lo, hi) of
// DepthwiseConv1DRows (the other rows of out are not touched) on the calling
// thread: one member's band of a Pool.Team, reading the rows of x its taps
// reach beyond the band.
func DepthwiseConv1DRowsBand(out, x, wt, bias []float32, l, c, kw, pad, lo, hi int) error {
	ol := l + 2*pad - kw + 1
	switch {
	case l <= 0 || c <= 0 || kw <= 0 || pad < 0 || ol <= 0 || lo < 0 || hi > ol || lo > hi:
		return fmt.Errorf("depthwise conv1d rows: L %d, C %d, kernel %d, pad %d, rows [%d, %d)", l, c, kw, pad, lo, hi)
	case len(x) < l*c || len(wt) < kw*c || len(out) < ol*c || (bias != nil && len(bias) < c):
		return fmt.Errorf("depthwise conv1d rows: x %d, weight %d, out %d floats for L %d, C %d, kernel %d", len(x), len(wt), len(out), l, c, kw)
	}
	depthwiseRows(out, x, wt, bias, l, c, kw, pad, lo, hi)
	return nil
}

// depthwiseRows computes output rows [lo, hi) of DepthwiseConv1DRows.
func depthwiseRows(out, x, wt, bias []float32, l, c, kw, pad, lo, hi int) {
	for t := lo; t < hi; t++ {
		j0, j1 := max(0, pad-t), min(kw, l+pad-t) // taps inside x
		o := out[t*c : (t+1)*c]
		if bias != nil {
			copy(o, bias[:c])
		} else {
			clear(o)
		}
		if j0 < j1 {
			s := (t + j0 - pad) * c
			vecTapsRow(o, x[s:s+(j1-j0)*c], wt[j0*c:j1*c], c, j1-j0)
		}
	}
}

// DepthwiseRowsWeight returns PyTorch's (C, 1, KW) depthwise weight as
// DepthwiseConv1DRows' tap-major (KW, C).
func DepthwiseRowsWeight(w []float32, c, kw int) []float32 {
	out := make([]float32, kw*c)
	for i := 0; i < c; i++ {
		for j := 0; j < kw; j++ {
			out[j*c+i] = w[i*kw+j]
		}
	}
	return out
}

// vecTapsRow adds Σ_j w[j·c+p]·x[j·c+p] over j < taps to o[p], p < c: one
// output row of DepthwiseConv1DRows, AVX2 for the first c &^ 7 channels.
func vecTapsRow(o, x, w []float32, c, taps int) {
	p0 := 0
	if c8 := c &^ 7; useAVX2 && c8 > 0 {
		vecTapsRowAVX2(&o[0], &x[0], &w[0], c, c8, taps)
		p0 = c8
	}
	vecTapsRowGeneric(o, x, w, c, p0, taps)
}

// vecTapsRowGeneric is vecTapsRow's reference loop over channels [p0, c).
func vecTapsRowGeneric(o, x, w []float32, c, p0, taps int) {
	for j := 0; j < taps; j++ {
		xj, wj := x[j*c:(j+1)*c], w[j*c:(j+1)*c]
		for p := p0; p < c; p++ {
			o[p] += wj[p] * xj[p]
		}
	}
}
