package h264

// Intra_16x16 macroblocks with no residual: the macroblock is exactly its
// prediction from the reconstructed samples above and to the left (§8.3.3
// luma, §8.3.4 chroma), so it costs a few bits. The encoder takes this when
// the macroblock already equals one of its predictions (within
// Options.SkipTolerance) — the flat backgrounds of generated clips — and
// falls back to I_PCM otherwise. Nothing is transformed or quantised, so
// the stream stays exact at tolerance 0.
//
// Such a macroblock writes mb_type (Intra_16x16, prediction mode, coded
// block patterns 0), intra_chroma_pred_mode, mb_qp_delta 0 and the one
// residual block Intra_16x16 always has, its DC block, with no
// coefficients: coeff_token for TotalCoeff 0, whose code depends on nC,
// the coefficient count of the blocks to the left and above (§9.2.1).

// mbKind is how a macroblock was coded, for its neighbours' nC.
type mbKind uint8

const (
	mbPCM  mbKind = iota // I_PCM: its blocks count as 16 coefficients
	mbPred               // Intra_16x16, no residual: 0
	mbSkip               // P_Skip: 0
)

// Intra_16x16 luma prediction modes and intra_chroma_pred_mode values.
const (
	lumaVertical, lumaHorizontal, lumaDC       = 0, 1, 2
	chromaDC, chromaHorizontal, chromaVertical = 0, 1, 2
)

// predictable reports whether macroblock mb of p equals one of its luma
// and one of its chroma predictions within tol, given the reconstructed
// samples already in p to its left and above; then it writes the
// prediction into p (the decoder's reconstruction) and returns the modes.
func predictable(p *Picture, mb, mbw, tol int, scratch *[384]byte) (luma, chroma int, ok bool) {
	x0, y0 := 16*(mb%mbw), 16*(mb/mbw)
	left, top := x0 > 0, y0 > 0
	pred := scratch[:256]
	luma = -1
	for _, mode := range []int{lumaVertical, lumaHorizontal, lumaDC} {
		if predictLuma(pred, p, x0, y0, left, top, mode) && near(pred, p.Y, p.W, x0, y0, 16, tol) {
			luma = mode
			break
		}
	}
	if luma < 0 {
		return 0, 0, false
	}
	cb, cr := scratch[256:320], scratch[320:384]
	chroma = -1
	for _, mode := range []int{chromaDC, chromaHorizontal, chromaVertical} {
		if predictChroma(cb, p.Cb, p.W/2, x0/2, y0/2, left, top, mode) && near(cb, p.Cb, p.W/2, x0/2, y0/2, 8, tol) &&
			predictChroma(cr, p.Cr, p.W/2, x0/2, y0/2, left, top, mode) && near(cr, p.Cr, p.W/2, x0/2, y0/2, 8, tol) {
			chroma = mode
			break
		}
	}
	if chroma < 0 {
		return 0, 0, false
	}
	put(p.Y, p.W, x0, y0, 16, pred)
	put(p.Cb, p.W/2, x0/2, y0/2, 8, cb)
	put(p.Cr, p.W/2, x0/2, y0/2, 8, cr)
	return luma, chroma, true
}

// predictLuma fills pred (16×16) with mode's prediction; false when the
// samples it needs are outside the picture.
func predictLuma(pred []byte, p *Picture, x0, y0 int, left, top bool, mode int) bool {
	switch mode {
	case lumaVertical:
		if !top {
			return false
		}
		above := p.Y[(y0-1)*p.W+x0:][:16]
		for y := 0; y < 16; y++ {
			copy(pred[16*y:16*y+16], above)
		}
	case lumaHorizontal:
		if !left {
			return false
		}
		for y := 0; y < 16; y++ {
			v := p.Y[(y0+y)*p.W+x0-1]
			for x := 0; x < 16; x++ {
				pred[16*y+x] = v
			}
		}
	default: // DC: the mean of the available edges, 128 with none
		sum, n := 0, 0
		if top {
			for x := 0; x < 16; x++ {
				sum += int(p.Y[(y0-1)*p.W+x0+x])
			}
			n += 16
		}
		if left {
			for y := 0; y < 16; y++ {
				sum += int(p.Y[(y0+y)*p.W+x0-1])
			}
			n += 16
		}
		v := byte(128)
		if n > 0 {
			v = byte((sum + n/2) / n)
		}
		for i := range pred[:256] {
			pred[i] = v
		}
	}
	return true
}

// predictChroma fills pred (8×8) of one chroma plane (stride cw, block at
// x0, y0) with mode's prediction. DC is per 4×4 block (§8.3.4.1–3): the
// top-left and bottom-right blocks average both edges when they can; the
// top-right block prefers the samples above, the bottom-left those to the
// left.
func predictChroma(pred, plane []byte, cw, x0, y0 int, left, top bool, mode int) bool {
	switch mode {
	case chromaVertical:
		if !top {
			return false
		}
		for y := 0; y < 8; y++ {
			copy(pred[8*y:8*y+8], plane[(y0-1)*cw+x0:][:8])
		}
	case chromaHorizontal:
		if !left {
			return false
		}
		for y := 0; y < 8; y++ {
			v := plane[(y0+y)*cw+x0-1]
			for x := 0; x < 8; x++ {
				pred[8*y+x] = v
			}
		}
	default:
		for _, b := range [4][2]int{{0, 0}, {4, 0}, {0, 4}, {4, 4}} {
			xo, yo := b[0], b[1]
			sumTop, sumLeft := 0, 0
			if top {
				for x := 0; x < 4; x++ {
					sumTop += int(plane[(y0-1)*cw+x0+xo+x])
				}
			}
			if left {
				for y := 0; y < 4; y++ {
					sumLeft += int(plane[(y0+yo+y)*cw+x0-1])
				}
			}
			v := 128
			switch {
			case xo == yo && top && left:
				v = (sumTop + sumLeft + 4) >> 3
			case xo == yo && left, xo == 0 && yo > 0 && left:
				v = (sumLeft + 2) >> 2
			case xo == yo && top, xo > 0 && yo == 0 && top, xo == 0 && yo > 0 && top:
				v = (sumTop + 2) >> 2
			case xo > 0 && yo == 0 && left:
				v = (sumLeft + 2) >> 2
			}
			for y := 0; y < 4; y++ {
				for x := 0; x < 4; x++ {
					pred[8*(yo+y)+xo+x] = byte(v)
				}
			}
		}
	}
	return true
}

// near reports whether the n×n block at (x0, y0) of plane is within tol of
// pred.
func near(pred, plane []byte, stride, x0, y0, n, tol int) bool {
	for y := 0; y < n; y++ {
		row := plane[(y0+y)*stride+x0:][:n]
		for x, v := range row {
			if d := int(v) - int(pred[n*y+x]); d > tol || d < -tol {
				return false
			}
		}
	}
	return true
}

func put(plane []byte, stride, x0, y0, n int, block []byte) {
	for y := 0; y < n; y++ {
		copy(plane[(y0+y)*stride+x0:][:n], block[n*y:n*y+n])
	}
}

// nC is the predicted coefficient count of macroblock mb's first 4×4 block
// from the blocks to its left and above (§9.2.1): their mean when both are
// in the picture, the one that is, else 0.
func nC(kinds []mbKind, mb, mbw int) int {
	count := func(k mbKind) int {
		if k == mbPCM {
			return 16
		}
		return 0
	}
	left, top := mb%mbw > 0, mb >= mbw
	switch {
	case left && top:
		return (count(kinds[mb-1]) + count(kinds[mb-mbw]) + 1) >> 1
	case left:
		return count(kinds[mb-1])
	case top:
		return count(kinds[mb-mbw])
	}
	return 0
}

// noCoefficients writes coeff_token for TotalCoeff 0, TrailingOnes 0 in
// the VLC table nC selects (Table 9-5).
func noCoefficients(w *bitWriter, nc int) {
	switch {
	case nc < 2:
		w.u(1, 0b1)
	case nc < 4:
		w.u(2, 0b11)
	case nc < 8:
		w.u(4, 0b1111)
	default:
		w.u(6, 0b000011)
	}
}
