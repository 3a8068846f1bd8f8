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
	a := w
	if p.KW > 1 {
		aBuf := getCol(len(w[:p.K*p.C*p.KH*p.KW]))
		defer putCol(aBuf)
		a = *aBuf
		stackColumnTaps(a, w, p.K, p.C, p.KH, p.KW)
	}
	conv2dBand(out, x, a, bias, &p, lo, hi, add)
	return nil
}

// Conv2DBandStacked is Conv2DBand with the kernel already stacked by
// StackColumnTaps (a layer's weight, stacked once at load: stacking on
// every call cost a tenth of a two-thread VAE decode).
func Conv2DBandStacked(out, x, stacked, bias []float32, p Conv2DParams, lo, hi int, add bool) error {
	if err := checkConvBand(out, x, stacked, bias, &p, lo, hi, 1); err != nil {
		return err
	}
	conv2dBand(out, x, stacked, bias, &p, lo, hi, add)
	return nil
}

// StackColumnTaps returns w (k, c, kh, kw) laid out as conv2dBand's GEMM
// reads it: the column taps stacked as rows, row kw'·k + k', column
// c'·kh + kh' holding w[k'][c'][kh'][kw'].
func StackColumnTaps(w []float32, k, c, kh, kw int) ([]float32, error) {
	if k <= 0 || c <= 0 || kh <= 0 || kw <= 0 || len(w) != k*c*kh*kw {
		return nil, fmt.Errorf("stack conv taps: %d floats for a (%d, %d, %d, %d) kernel", len(w), k, c, kh, kw)
	}
	a := make([]float32, len(w))
	stackColumnTaps(a, w, k, c, kh, kw)
	return a, nil
}

func stackColumnTaps(a, w []float32, k, c, kh, kw int) {
	kdim := c * kh
	for kk := 0; kk < k; kk++ {
		for cc := 0; cc < c; cc++ {
			for h := 0; h < kh; h++ {
				src := w[((kk*c+cc)*kh+h)*kw:][:kw]
				for t, v := range src {
					a[(t*k+kk)*kdim+cc*kh+h] = v
				}
			}
		}
	}
}

// Upsample2xKernel is a 3×3, pad-1 convolution's kernel (K, C, 3, 3) folded
// for the map before a nearest ×2 upsampling. Output pixel (2i+a, 2j+b) of
// the conv on the upsampled map reads upsampled rows 2i+a−1 … 2i+a+1, which
// are rows i−1, i, i of the small map for a = 0 and i, i, i+1 for a = 1
// (the same for columns): each of the four phases (a, b) is a 2×2 conv on
// the small map, its taps the sums of the 3×3 taps that land on the same
// small pixel. 4·4 taps instead of 4·9 per small pixel: 2.25× fewer FLOPs.
type Upsample2xKernel struct {
	K, C int
	W3   []float32    // the 3×3 kernel it was folded from (K, C, 3, 3)
	W    [4][]float32 // phase 2a+b: (K, C, 2, 2)
}

// upsample2xTaps[a][t] are the 3×3 kernel rows (or columns) that phase a's
// 2×2 tap t sums.
var upsample2xTaps = [2][2][]int{{{0}, {1, 2}}, {{0, 1}, {2}}}

// FoldUpsample2x folds w (k, c, 3, 3) into an Upsample2xKernel (each folded
// tap summed in float64, rounded once).
func FoldUpsample2x(w []float32, k, c int) (*Upsample2xKernel, error) {
	if k <= 0 || c <= 0 || len(w) != k*c*9 {
		return nil, fmt.Errorf("fold upsample conv: %d floats for a (%d, %d, 3, 3) kernel", len(w), k, c)
	}
	f := &Upsample2xKernel{K: k, C: c, W3: w}
	slab := make([]float32, 4*k*c*4) // phases adjacent: upsample2xBand stacks (a, 0) and (a, 1)
	for ph := range f.W {
		a, b := ph/2, ph%2
		f.W[ph] = slab[ph*k*c*4 : (ph+1)*k*c*4]
		for kc := 0; kc < k*c; kc++ {
			src := w[kc*9 : kc*9+9]
			for t := 0; t < 4; t++ {
				s := 0.0
				for _, kh := range upsample2xTaps[a][t/2] {
					for _, kw := range upsample2xTaps[b][t%2] {
						s += float64(src[kh*3+kw])
					}
				}
				f.W[ph][kc*4+t] = float32(s)
			}
		}
	}
	return f, nil
}

// Upsample2xConv2DBand computes output rows [lo, hi) of Conv2D(out,
// UpsampleNearest2x(x), w, bias, p) for one image, on the calling thread,
// without building the upsampled map: p describes the 3×3, pad-1, stride-1
// convolution of the upsampled map (p.H and p.W even, p.K and p.C f's), x
// holds the map before upsampling (p.C, p.H/2, p.W/2) and f is the conv's
// kernel folded by FoldUpsample2x. The folded taps sum in another order
// than the 3×3 conv's, so values differ from Conv2D's by float32 rounding.
func Upsample2xConv2DBand(out, x []float32, f *Upsample2xKernel, bias []float32, p Conv2DParams, lo, hi int) error {
	switch {
	case p.H%2 != 0 || p.W%2 != 0:
		return fmt.Errorf("upsample conv2d band: upsampled map %dx%d has an odd side", p.H, p.W)
	case f == nil || f.K != p.K || f.C != p.C || p.KH != 3 || p.KW != 3 || p.PadH != 1 || p.PadW != 1 || orOne(p.DilH) != 1 || orOne(p.DilW) != 1:
		return fmt.Errorf("upsample conv2d band: needs a folded 3×3 pad-1 kernel of (%d, %d) channels (%+v)", p.K, p.C, p)
	}
	if err := checkConvBand(out, x, f.W3, bias, &p, lo, hi, 4); err != nil {
		return fmt.Errorf("upsample %w", err)
	}
	upsample2xBand(out, x, f, bias, &p, lo, hi)
	return nil
}

// upsample2xBand is Upsample2xConv2DBand on checked arguments. It copies the
// small map's rows the band reads into a zero-bordered buffer of W/2 + 2
// columns, then, for each output row parity a, runs phases (a, 0) and
// (a, 1) as one implicit-B GEMM of depth 4·C over "wide" rows (the last
// two columns of each discarded), their kernels stacked (2K rows): phase
// (a, 1)'s im2col matrix is phase (a, 0)'s one column on, so both read the
// same packed B and phase (a, 1)'s results sit one column right. The two
// are interleaved into out's rows 2i+a. Stacked, the 12-row GEMM tiles
// waste 3 % of 2·64 rows instead of 11 % of 64, and B is packed half as
// often. The GEMM runs over chunks of rows whose results stay in cache.
func upsample2xBand(out, x []float32, f *Upsample2xKernel, bias []float32, p *Conv2DParams, lo, hi int) {
	h, w := p.H/2, p.W/2
	wp := w + 2
	y0 := lo/2 - 1          // the first small row the band reads (−1: the zero border)
	hp := (hi-1)/2 + 2 - y0 // through row (hi−1)/2 + 1
	plane, kdim, ms := hp*wp, 4*p.C, 2*p.K
	buf := getCol(p.C*plane + 1) // the last wide column's last tap reads one float past the last plane
	defer putCol(buf)
	src := *buf
	small := Conv2DParams{C: p.C, H: h, W: w, PadW: 1}
	padBand(src, x, &small, y0, hp)
	clear(src[p.C*plane:])
	offs := make([]int32, kdim) // phase (a, 0)'s im2col row (c, tr, tc) → its offset from the phase's first row
	for r := range offs {
		c, t := r/4, r%4
		offs[r] = int32(c*plane + (t/2)*wp + t%2)
	}
	chunk := max(1, min((hi-lo+2)/2, convBandChunkFloats/(ms*wp)))
	accBuf := getCol(ms * chunk * wp)
	defer putCol(accBuf)
	for a := 0; a < 2; a++ {
		i0, i1 := (lo-a+1)/2, (hi-a+1)/2 // small rows i with lo ≤ 2i+a < hi
		wa := f.W[2*a][:ms*kdim]         // phases (a, 0) and (a, 1), adjacent
		for r0 := i0; r0 < i1; r0 += chunk {
			n := min(chunk, i1-r0)
			wide := n * wp
			acc := (*accBuf)[:ms*wide]
			base := src[(r0-1+a-y0)*wp:]
			pack := func(dst []float32, col, cols, pc, kb, nr int) {
				packGather(dst, base[col:], offs[pc:pc+kb], kb, cols, nr)
			}
			gemmImplicitB(ms, wide, kdim, wa, kdim, pack, 0, acc, wide)
			for k := 0; k < p.K; k++ {
				bk := float32(0)
				if bias != nil {
					bk = bias[k]
				}
				e, o := acc[k*wide:(k+1)*wide], acc[(p.K+k)*wide:(p.K+k+1)*wide]
				for i := 0; i < n; i++ {
					s := i * wp
					y := 2*(r0+i) + a
					interleaveBias(out[(k*p.H+y)*p.W:(k*p.H+y+1)*p.W], e[s:s+w], o[s+1:s+1+w], bk)
				}
			}
		}
	}
}

// convBandChunkFloats bounds the GEMM results of one chunk of a band's rows
// (512 KiB, within a core's L2 beside the packed operands). A variable so
// tests can send shapes through many chunks.
var convBandChunkFloats = 1 << 17

// interleaveBias sets d[2j] = e[j] + b and d[2j+1] = o[j] + b.
func interleaveBias(d, e, o []float32, b float32) {
	n := len(e)
	d, o = d[:2*n], o[:n]
	if n8 := n &^ 7; useAVX2 && n8 > 0 {
		interleaveBiasAVX2(&d[0], &e[0], &o[0], n8, b)
		d, e, o = d[2*n8:], e[n8:], o[n8:]
	}
	interleaveBiasGeneric(d, e, o, b)
}

func interleaveBiasGeneric(d, e, o []float32, b float32) {
	d, o = d[:2*len(e)], o[:len(e)]
	for j, v := range e {
		d[2*j] = v + b
		d[2*j+1] = o[j] + b
	}
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

// conv2dBand is Conv2DBand on checked arguments and the stacked kernel a. As conv2dTaps does for a
// whole image, it copies the input rows the band reads — rows lo−PadH …
// hi−1−PadH+DilH·(KH−1), zero outside the map — into a zero-bordered buffer
// with Wp = W + 2·PadW columns, where im2col row (c, kh, kw) sits at a
// fixed offset, and multiplies over the band's "wide" rows of Wp columns
// (the last DilW·(KW−1) of each discarded). The KW column taps are stacked
// as rows of the GEMM's A instead of its depth: row kw·K + k, column
// c·KH + kh holds w[k][c][kh][kw], and tap kw's result for a pixel is
// tap 0's DilW·kw columns on, so out = Σ_kw C[kw·K + k][col + DilW·kw] +
// bias, summed in the output pass. The GEMM then has KW·K rows at depth
// C·KH: a 12-row tile wastes nothing on 32 or 64 output channels (it
// computed 72 rows for 64) and 9 of 12 rows for conv_out's 3 (was 3 of 12),
// and B is packed at a third of the depth. It runs over chunks of rows
// whose results stay in cache. A 1×1 unpadded conv reads x's band
// directly. Values are independent of the band edges.
func conv2dBand(out, x, a, bias []float32, p *Conv2DParams, lo, hi int, add bool) {
	oh, ow := p.OutSize()
	rows := hi - lo
	kdim, ms := p.C*p.KH, p.K*p.KW
	offs := make([]int32, kdim) // im2col row (c, kh) of tap kw = 0 → its offset in src
	var src []float32
	wp := p.W + 2*p.PadW
	if p.KH == 1 && p.KW == 1 && p.PadH == 0 && p.PadW == 0 {
		src = x[lo*p.W:]
		for c := range offs {
			offs[c] = int32(c * p.H * p.W)
		}
	} else {
		hp := rows + p.DilH*(p.KH-1)
		plane := hp * wp
		buf := getCol(p.C * plane)
		defer putCol(buf)
		src = *buf
		padBand(src, x, p, lo-p.PadH, hp)
		for r := range offs {
			c, kh := r/p.KH, r%p.KH
			offs[r] = int32(c*plane + kh*p.DilH*wp)
		}
	}
	var ones [8]float32
	one := ones[:0]
	if p.KW > len(ones) {
		one = make([]float32, 0, p.KW)
	}
	for range p.KW {
		one = append(one, 1)
	}
	chunk := max(1, min(rows, convBandChunkFloats/(ms*wp)))
	accBuf := getCol(ms * chunk * wp)
	defer putCol(accBuf)
	for r0 := 0; r0 < rows; r0 += chunk {
		n := min(chunk, rows-r0)
		wide := n * wp
		acc := (*accBuf)[:ms*wide]
		base := src[r0*wp:]
		pack := func(dst []float32, col, cols, pc, kb, nr int) {
			packGather(dst, base[col:], offs[pc:pc+kb], kb, cols, nr)
		}
		gemmImplicitB(ms, wide, kdim, a, kdim, pack, 0, acc, wide)
		ld := p.K*wide + p.DilW // from tap kw's result for a pixel to tap kw+1's
		for k := 0; k < p.K; k++ {
			b := float32(0)
			if bias != nil {
				b = bias[k]
			}
			for y := 0; y < n; y++ {
				s, d := acc[k*wide+y*wp:], out[(k*oh+lo+r0+y)*ow:(k*oh+lo+r0+y+1)*ow]
				if add { // d + ((s0 + b) + s1 + …), as Forward adds the conv to the skip
					vecAffine(s[:ow], s[:ow], 1, b) // v·1 + b rounds as v + b does
					vecAccRows(d, one, s, ld, ow, p.KW)
				} else {
					vecAffine(d, s[:ow], 1, b)
					if p.KW > 1 {
						vecAccRows(d, one, s[ld:], ld, ow, p.KW-1)
					}
				}
			}
		}
	}
}

// padBand fills xp (C, hp, W + 2·PadW) with input rows y0 … y0+hp−1 of x,
// zero outside the map and in the side borders.
func padBand(xp, x []float32, p *Conv2DParams, y0, hp int) {
	wp := p.W + 2*p.PadW
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
			copy(row[p.PadW:p.PadW+p.W], x[(c*p.H+y)*p.W:(c*p.H+y+1)*p.W])
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
