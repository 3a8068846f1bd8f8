package kernels

import (
	"math"
	"math/rand"
	"testing"
)

// The short-path routine against its generic twin, and the twin against
// AttentionNaive's float64 softmax: every key count 1…32, head dims 8 and
// 16, strided rows, guard bands around the output rows.
func TestAttnShortMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, d := range []int{8, 16} {
		for nk := 1; nk <= attnShortKeys; nk++ {
			nq, ldq, ldo := 1+r.Intn(9), d+r.Intn(5), d+r.Intn(4)
			p := AttnParams{Heads: 1, KVHeads: 1, HeadDim: d, SeqQ: nq, SeqKV: nk, QStride: ldq, OStride: ldo, KStride: d + 2, VStride: d + 2}
			q := randSlice(r, (nq-1)*ldq+d)
			for i := range q {
				q[i] *= 3
			}
			k, v := randSlice(r, nk*(d+2)), randSlice(r, nk*(d+2))
			if err := p.normalize(make([]float32, (nq-1)*ldo+d), q, len(k), len(v)); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, (nq-1)*ldo+d)
			if err := AttentionNaive(want, q, k, v, p); err != nil {
				t.Fatal(err)
			}
			var s attnShortScratch
			n := len(want)
			got, full := guarded(n)
			// attnShort gathers the head, then the assembly (or, without it, the
			// generic loop) runs; the generic loop on the same gathered head.
			attnShort(got, q, kvRows{f32: k}, kvRows{f32: v}, &p, 0, 0, nq, &s)
			checkGuards(t, full, n)
			gen := make([]float32, n)
			attnShortGeneric(gen, q, s.kt[:], s.v[:], s.mask[:], s.sc[:], ldq, ldo, nq, d, (nk+7)/8, p.Scale)
			for i := 0; i < nq; i++ {
				for c := 0; c < d; c++ {
					a, b, w := got[i*ldo+c], gen[i*ldo+c], want[i*ldo+c]
					if math.Abs(float64(a-b)) > 1e-5 || math.Abs(float64(b-w)) > 1e-5 {
						t.Fatalf("d=%d nk=%d row %d elem %d: asm %v, generic %v, naive %v", d, nk, i, c, a, b, w)
					}
				}
			}
		}
	}
}
