package kernels

// Attention over a short key sequence, one query row at a time in vector
// registers. A motion module attends across a video's 16 frames at every
// pixel (SeqQ = SeqKV = 16, HeadDim 8 or 16, pixels × heads heads) and
// its text attention reads a 24-token prompt: the tiled path spends more
// on setting up two tiny GEMMs per head than on the products (1024 heads of
// 16×16×8 ran at under 1 GFLOP/s). Here a head's keys are gathered once per
// query tile, transposed to (HeadDim, attnShortKeys), and each query row's
// scores (up to 32: four vectors), softmax and P·V stay in registers.

import "math"

// attnShortKeys is the most keys the short path takes: four 8-lane score
// vectors per query row.
const attnShortKeys = 32

// shortKeys reports whether a call takes the short path: f32 keys and
// values, 1…attnShortKeys of them, a head dimension of 8 or 16, and no
// causal mask, additive mask, soft-cap or window (every query sees every
// key).
func (p *AttnParams) shortKeys(k kvRows) bool {
	return useAVX2 && !k.widened() && p.SeqKV >= 1 && p.SeqKV <= attnShortKeys && (p.HeadDim == 8 || p.HeadDim == 16) &&
		!p.Causal && p.Mask == nil && !p.shaped()
}

// attnShortScratch is a worker's gathered keys and values for the short path.
type attnShortScratch struct {
	kt   [16 * attnShortKeys]float32 // (HeadDim, attnShortKeys): key j's element c at c·attnShortKeys+j
	v    [attnShortKeys * 16]float32 // (keys rounded up to 8, HeadDim), zero past the last key
	mask [attnShortKeys]float32      // 0 for a key, -Inf past the last
	sc   [attnShortKeys]float32      // one row's scores
}

// attnShort runs head h for query rows [i0, i1) on the short path.
func attnShort(out, q []float32, k, v kvRows, p *AttnParams, h, i0, i1 int, s *attnShortScratch) {
	d, nk := p.HeadDim, p.SeqKV
	kh := h / (p.Heads / p.KVHeads)
	nb := (nk + 7) / 8
	clear(s.kt[:d*attnShortKeys])
	clear(s.v[:nb*8*d])
	for j := 0; j < nk; j++ {
		for c, x := range k.f32[j*p.KStride+kh*d : j*p.KStride+kh*d+d] {
			s.kt[c*attnShortKeys+j] = x
		}
		copy(s.v[j*d:(j+1)*d], v.f32[j*p.VStride+kh*d:j*p.VStride+kh*d+d])
	}
	negInf := float32(math.Inf(-1))
	for j := range s.mask {
		if j < nk {
			s.mask[j] = 0
		} else {
			s.mask[j] = negInf
		}
	}
	nq := i1 - i0
	_ = out[(i1-1)*p.OStride+h*d+d-1]
	_ = q[(i1-1)*p.QStride+h*d+d-1]
	attnShortAVX2(&out[i0*p.OStride+h*d], &q[i0*p.QStride+h*d], &s.kt[0], &s.v[0], &s.mask[0], &s.sc[0],
		p.QStride, p.OStride, nq, d, nb, p.Scale)
}

// attnShortGeneric is attnShortAVX2's loop: for each of nq query rows r
// (q and out rows of stride ldq and ldo, d = 8 or 16 floats), scores
// s[j] = scale·Σ_c q[r·ldq+c]·kt[c·attnShortKeys+j] + mask[j] for j < 8·nb,
// their softmax (max subtracted, expf), and out[r·ldo+c] = Σ_j e[j]·v[j·d+c]
// divided by Σ_j e[j]. sc holds a row's scores.
func attnShortGeneric(out, q, kt, v, mask, sc []float32, ldq, ldo, nq, d, nb int, scale float32) {
	n := 8 * nb
	for r := 0; r < nq; r++ {
		qr := q[r*ldq : r*ldq+d]
		mx := float32(math.Inf(-1))
		for j := 0; j < n; j++ {
			var dot float32
			for c, x := range qr {
				dot += x * kt[c*attnShortKeys+j]
			}
			sc[j] = dot*scale + mask[j]
			if sc[j] > mx {
				mx = sc[j]
			}
		}
		var l float32
		for j := 0; j < n; j++ {
			e := float32(0)
			if y := sc[j] - mx; y >= expMin {
				e = expf(y)
			}
			sc[j] = e
			l += e
		}
		o := out[r*ldo : r*ldo+d]
		clear(o)
		for j := 0; j < n; j++ {
			for c := range o {
				o[c] += sc[j] * v[j*d+c]
			}
		}
		inv := 1 / l
		for c := range o {
			o[c] *= inv
		}
	}
}
