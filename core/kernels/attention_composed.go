package kernels

import (
	"math"
	"sync"
)

// AttentionComposed is attention the way a framework composes it from its
// generic ops: per head, the full (SeqQ × SeqKV) score matrix S = Q·Kᵀ by
// the core's GEMM, scale, mask (causal and additive) and a row softmax in
// place, then O = S·V by GEMM. It is the fused kernel's performance baseline
// (`loom bench attention --impl composed`) and a second reference; it holds
// Heads·SeqQ·SeqKV floats of scores at once.
func AttentionComposed(out, q, k, v []float32, p AttnParams) error {
	if err := p.normalize(out, q, len(k), len(v)); err != nil {
		return err
	}
	if p.SeqQ == 0 {
		return nil
	}
	d, sq, skv := p.HeadDim, p.SeqQ, p.SeqKV
	scores := make([]float32, p.Heads*sq*skv)
	var firstErr error
	var once sync.Once
	ParallelFor(p.Heads, 1, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			kh := h / (p.Heads / p.KVHeads)
			sc := scores[h*sq*skv : (h+1)*sq*skv]
			GemmT(sq, skv, d, q[h*d:], p.QStride, k[kh*d:], p.KStride, 0, sc, skv)
			negInf := float32(math.Inf(-1))
			for i := 0; i < sq; i++ {
				row := sc[i*skv : (i+1)*skv]
				lim := p.keyLimit(i)
				if p.shaped() {
					p.scoreRow(row[:lim], i, 0)
					for j := lim; j < skv; j++ {
						row[j] = negInf
					}
					continue
				}
				for j := range row {
					switch {
					case j >= lim:
						row[j] = negInf
					case p.Mask != nil:
						row[j] = row[j]*p.Scale + p.Mask[i*skv+j]
					default:
						row[j] *= p.Scale
					}
				}
			}
			if err := Softmax(sc, sq, skv); err != nil {
				once.Do(func() { firstErr = err })
				return
			}
			for i := 0; i < sq; i++ { // a row that sees no key: zeros, as FlashAttention
				if p.keyLimit(i) <= p.keyStart(i) {
					clear(sc[i*skv : (i+1)*skv])
				}
			}
			Gemm(sq, d, skv, sc, skv, v[kh*d:], p.VStride, 0, out[h*d:], p.OStride)
		}
	})
	return firstErr
}
