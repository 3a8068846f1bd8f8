package kernels

// Row bands of one image's convolution and GroupNorm, for a Pool.Team whose
// members each keep a band of rows through many layers (the VAE decoder): a
// member computes its output rows from its own input rows plus the few rows
// its kernel reaches across the band edge, on its own thread, so no map is
// split by channels in one op and by pixel columns in the next.

import (
	"fmt"
	"math"
)

// Conv2DBand computes output rows [lo, hi) of Conv2D(out, x, w, bias, p) for
// one image (p.N = 1) of a stride-1 ungrouped convolution, on the calling
// thread; the other rows of out are not touched. It reads the input rows
// the kernel reaches beyond the band. add adds the convolution (bias
// included) to out's values instead of replacing them. Each output element
// is computed as Conv2D computes it (the same GEMM over the same depth, then
// the bias), so a band holds Conv2D's values bit for bit when p.K > 1 (with
// one output channel Conv2D's small paths use a matrix-vector kernel).
func Conv2DBand(out, x, w, bias []float32, p Conv2DParams, lo, hi int, add bool) error {
	if err := checkConvBand(out, x, w, bias, &p, lo, hi, 1); err != nil {
		return err
	}
	conv2dBand(out, x, w, bias, &p, lo, hi, add, false)
	return nil
}

// Upsample2xConv2DBand is Conv2DBand (add false) on UpsampleNearest2x(x)
// without building it: p describes the convolution of the upsampled map
// (p.H and p.W even); x holds the map before upsampling (p.C, p.H/2, p.W/2).
func Upsample2xConv2DBand(out, x, w, bias []float32, p Conv2DParams, lo, hi int) error {
	if p.H%2 != 0 || p.W%2 != 0 {
		return fmt.Errorf("upsample conv2d band: upsampled map %dx%d has an odd side", p.H, p.W)
	}
	if err := checkConvBand(out, x, w, bias, &p, lo, hi, 4); err != nil {
		return fmt.Errorf("upsample %w", err)
	}
	conv2dBand(out, x, w, bias, &p, lo, hi, false, true)
	return nil
}

// checkConvBand validates a band of p on an x holding p's input shrunk by
// the factor shrink (4: the map before a ×2 upsampling).
func checkConvBand(out, x, w, bias []float32, p *Conv2DParams, lo, hi, shrink int) error {
	if err := p.validateLen(out, len(x)*shrink, w, bias); err != nil {
		return fmt.Errorf("conv2d band: %w", err)
	}
	oh, _ := p.OutSize()
	switch {
	case p.N != 1 || p.StrideH != 1 || p.StrideW != 1 || p.Groups != 1:
		return fmt.Errorf("conv2d band: needs one image, stride 1, no groups (N %d, stride %d,%d, groups %d)", p.N, p.StrideH, p.StrideW, p.Groups)
	case lo < 0 || hi > oh || lo >= hi:
		return fmt.Errorf("conv2d band: rows [%d, %d) of %d", lo, hi, oh)
	}
	return nil
}

// conv2dBand is Conv2DBand on checked arguments (up2: x is the map before a
// nearest ×2 upsampling). As conv2dTaps does for a whole image, it copies
// the input rows the band reads — rows lo−PadH … hi−1−PadH+DilH·(KH−1),
// zero outside the map — into a zero-bordered buffer with Wp = W + 2·PadW
// columns, where im2col row (c, kh, kw) sits at a fixed offset, runs one
// implicit-B GEMM over the band's "wide" rows of Wp columns and compacts
// them into out with the bias. A 1×1 unpadded conv reads x's band directly.
func conv2dBand(out, x, w, bias []float32, p *Conv2DParams, lo, hi int, add, up2 bool) {
	oh, ow := p.OutSize()
	rows, taps := hi-lo, p.KH*p.KW
	kdim := p.C * taps
	offs := make([]int32, kdim) // im2col row (c, kh, kw) → its offset in src
	var src []float32
	wp := p.W + 2*p.PadW
	if taps == 1 && p.PadH == 0 && p.PadW == 0 && !up2 {
		src = x[lo*p.W:]
		for c := range offs {
			offs[c] = int32(c * p.H * p.W)
		}
	} else {
		hp := rows + p.DilH*(p.KH-1)
		plane := hp * wp
		slack := p.DilW * (p.KW - 1) // the last plane's last taps read past it (into discarded columns)
		buf := getCol(p.C*plane + slack)
		defer putCol(buf)
		src = *buf
		padBand(src, x, p, lo-p.PadH, hp, up2)
		clear(src[p.C*plane:])
		for r := range offs {
			c, t := r/taps, r%taps
			offs[r] = int32(c*plane + (t/p.KW)*p.DilH*wp + (t%p.KW)*p.DilW)
		}
	}
	wide := rows * wp
	accBuf := getCol(p.K * wide)
	defer putCol(accBuf)
	acc := *accBuf
	one := [1]float32{1}
	pack := func(dst []float32, col, cols, pc, kb, nr int) {
		packGather(dst, src[col:], offs[pc:pc+kb], kb, cols, nr)
	}
	gemmImplicitB(p.K, wide, kdim, w, kdim, pack, 0, acc, wide)
	for k := 0; k < p.K; k++ {
		b := float32(0)
		if bias != nil {
			b = bias[k]
		}
		for y := 0; y < rows; y++ {
			s, d := acc[k*wide+y*wp:k*wide+y*wp+ow], out[(k*oh+lo+y)*ow:(k*oh+lo+y+1)*ow]
			if add {
				vecAffine(s, s, 1, b) // v·1 + b rounds as v + b does
				vecAccRows(d, one[:], s, ow, ow, 1)
			} else {
				vecAffine(d, s, 1, b)
			}
		}
	}
}

// padBand fills xp (C, hp, W + 2·PadW) with input rows y0 … y0+hp−1 of x,
// zero outside the map and in the side borders; up2 reads x as the map
// before a nearest ×2 upsampling (C, H/2, W/2).
func padBand(xp, x []float32, p *Conv2DParams, y0, hp int, up2 bool) {
	wp := p.W + 2*p.PadW
	sh, sw := p.H, p.W
	if up2 {
		sh, sw = p.H/2, p.W/2
	}
	for c := 0; c < p.C; c++ {
		for r := 0; r < hp; r++ {
			row := xp[(c*hp+r)*wp : (c*hp+r+1)*wp]
			y := y0 + r
			if y < 0 || y >= p.H {
				clear(row)
				continue
			}
			clear(row[:p.PadW])
			clear(row[p.PadW+p.W:])
			d := row[p.PadW : p.PadW+p.W]
			if !up2 {
				copy(d, x[(c*sh+y)*sw:(c*sh+y+1)*sw])
				continue
			}
			s := x[(c*sh+y/2)*sw : (c*sh+y/2+1)*sw]
			for i, v := range s {
				d[2*i], d[2*i+1] = v, v
			}
		}
	}
}

// BandStats holds a team's partial sums for GroupNormBand: one row of
// 2·groups float64 per member.
type BandStats struct {
	part [][]float64
}

// NewBandStats makes the partial sums of a team of parts members for maps
// of up to groups groups.
func NewBandStats(parts, groups int) *BandStats {
	s := &BandStats{part: make([][]float64, parts)}
	for i := range s.part {
		s.part[i] = make([]float64, 2*groups)
	}
	return s
}

// GroupNormBand is GroupNorm (and, with silu, SiLU after it) of one image x
// (c, hw) on the flat pixel range [lo, hi) of every channel, run by each
// member part of a Pool.Team on its own range: the members' ranges must
// cover [0, hw) once, and every member calls it with the same arguments but
// its range (it meets bar twice). Each member sums its elements of each
// group, and after a barrier every member adds the members' sums in order
// (the mean); the same for the squared deviations (the variance); then each
// normalises its own elements as GroupNorm does. The statistics are float64
// sums in another order than GroupNorm's single pass over a group, so the
// results may differ from GroupNorm's in the last bit of a few elements.
// out may alias x; st must have a row for every member and 2·groups floats
// in each.
func GroupNormBand(out, x, weight, bias []float32, c, hw, groups int, eps float32, silu bool, lo, hi int, st *BandStats, part int, bar *Barrier) error {
	if err := checkGroupNormBand(out, x, weight, bias, c, hw, groups, lo, hi, st, part); err != nil {
		bar.Wait() // the others still meet both barriers
		bar.Wait()
		return err
	}
	groupNormBand(out, x, weight, bias, c, hw, groups, eps, silu, lo, hi, st, part, bar)
	return nil
}

func checkGroupNormBand(out, x, weight, bias []float32, c, hw, groups, lo, hi int, st *BandStats, part int) error {
	switch {
	case c <= 0 || hw <= 0 || groups <= 0 || c%groups != 0 || lo < 0 || hi > hw || lo > hi:
		return fmt.Errorf("groupnorm band: c %d, hw %d, groups %d, range [%d, %d)", c, hw, groups, lo, hi)
	case len(x) < c*hw || len(out) < c*hw || len(weight) < c || len(bias) < c:
		return fmt.Errorf("groupnorm band: x %d, out %d, weight %d, bias %d floats for %d×%d", len(x), len(out), len(weight), len(bias), c, hw)
	case part < 0 || part >= len(st.part) || len(st.part[part]) < 2*groups:
		return fmt.Errorf("groupnorm band: member %d of %d partial sums", part, len(st.part))
	}
	return nil
}

// groupNormBand is GroupNormBand on checked arguments.
func groupNormBand(out, x, weight, bias []float32, c, hw, groups int, eps float32, silu bool, lo, hi int, st *BandStats, part int, bar *Barrier) {
	cg := c / groups
	n := float64(cg * hw)
	sums, sq := st.part[part][:groups], st.part[part][groups:2*groups]
	total := func(g, off int) float64 {
		t := 0.0
		for _, p := range st.part {
			t += p[off+g]
		}
		return t
	}
	for g := 0; g < groups; g++ {
		s := 0.0
		for ch := g * cg; ch < (g+1)*cg; ch++ {
			s += vecSumF64(x[ch*hw+lo : ch*hw+hi])
		}
		sums[g] = s
	}
	bar.Wait()
	var mean [64]float64
	means := mean[:0]
	if groups > len(mean) {
		means = make([]float64, 0, groups)
	}
	for g := 0; g < groups; g++ {
		m := total(g, 0) / n
		means = append(means, m)
		s := 0.0
		for ch := g * cg; ch < (g+1)*cg; ch++ {
			s += vecSqDevF64(x[ch*hw+lo:ch*hw+hi], m)
		}
		sq[g] = s
	}
	bar.Wait()
	for g := 0; g < groups; g++ {
		inv := 1 / math.Sqrt(total(g, groups)/n+float64(eps))
		for ch := g * cg; ch < (g+1)*cg; ch++ {
			wc, bc := float64(weight[ch]), float64(bias[ch])
			o := out[ch*hw+lo : ch*hw+hi]
			vecAffine(o, x[ch*hw+lo:ch*hw+hi], float32(inv*wc), float32(bc-means[g]*inv*wc))
			if silu {
				siluRange(o, o)
			}
		}
	}
}
