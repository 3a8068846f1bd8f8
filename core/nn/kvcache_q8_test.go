package nn

import (
	"math"
	"math/rand"
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

// A q8_0 cache grows, keeps what it holds (levels and scales), clones and
// slides as the others do, in 34 bytes per 32 elements, and refuses rows
// that are not whole blocks.
func TestKVCacheQ8GrowsKeepsAndClones(t *testing.T) {
	const w = 64
	c := KVCache{Width: w, Max: 100, Q8: true, Half: true}
	if err := c.Reserve(3); err != nil {
		t.Fatal(err)
	}
	if c.K != nil || c.K16 != nil || c.Rows() != 64 || c.Bytes() != 2*64*(w+2*w/32) {
		t.Fatalf("q8_0 cache: K %d, K16 %d, %d rows, %d bytes", len(c.K), len(c.K16), c.Rows(), c.Bytes())
	}
	c.K8[w+5], c.V8[w+5], c.KD[3], c.VD[3] = 7, 8, 9, 10
	if err := c.Reserve(90); err != nil {
		t.Fatal(err)
	}
	if c.Rows() < 90 || len(c.KD) != c.Rows()*w/32 || c.K8[w+5] != 7 || c.V8[w+5] != 8 || c.KD[3] != 9 || c.VD[3] != 10 {
		t.Fatalf("grown q8_0 cache lost data or is short: %d rows, %d scales", c.Rows(), len(c.KD))
	}
	f := c.Clone(2)
	if !f.Q8 || f.Rows() != 2 || len(f.KD) != 4 || f.K8[w+5] != 7 || f.V8[w+5] != 8 || f.KD[3] != 9 || f.VD[3] != 10 {
		t.Fatalf("clone: q8 %v, %d rows, %d scales", f.Q8, f.Rows(), len(f.KD))
	}
	s := KVCache{Width: 32, Max: 1000, Window: 4, Q8: true}
	for pos := 0; pos < 80; pos++ {
		if err := s.prepare(pos, 1); err != nil {
			t.Fatal(err)
		}
		r := pos - s.Start
		s.K8[r*32], s.V8[r*32+31], s.KD[r], s.VD[r] = int8(pos), int8(-pos), uint16(pos), uint16(1000+pos)
	}
	if s.Start == 0 {
		t.Fatal("sliding q8_0 cache dropped nothing")
	}
	for pos := 80 - 4; pos < 80; pos++ {
		r := pos - s.Start
		if s.K8[r*32] != int8(pos) || s.V8[r*32+31] != int8(-pos) || s.KD[r] != uint16(pos) || s.VD[r] != uint16(1000+pos) {
			t.Fatalf("position %d: %d %d %d %d after sliding to %d", pos, s.K8[r*32], s.V8[r*32+31], s.KD[r], s.VD[r], s.Start)
		}
	}
	bad := KVCache{Width: 48, Max: 10, Q8: true}
	if err := bad.Reserve(1); err == nil {
		t.Fatal("a 48-wide q8_0 cache accepted")
	}
}

// TestAttentionQ8Cache: attention over a q8_0 cache, a prompt then decode
// steps, stores each key and value as kernels.QuantizeKVQ8 does, and its
// output is attention over a float32 cache holding those widened values;
// against a float32 cache of the unrounded values it moves by the
// rounding (random unnormalised weights: scores of ±20, a sharp softmax;
// measured max 0.030 of the output's largest magnitude, bound 0.1).
func TestAttentionQ8Cache(t *testing.T) {
	const dim, heads, kvHeads, hd = 64, 4, 2, 32
	r := rand.New(rand.NewSource(5))
	a := randQ8TestAttention(r, dim, heads, kvHeads, hd)
	const kw = kvHeads * hd
	q8 := KVCache{Width: kw, Max: 64, Q8: true}
	f32 := KVCache{Width: kw, Max: 64}
	var s Scratch
	pos := 0
	worst := 0.0
	for step, seq := range []int{13, 1, 1, 1} {
		x := randF(r, seq*dim)
		got, ref := make([]float32, seq*dim), make([]float32, seq*dim)
		if err := a.Forward(got, x, seq, pos, &q8, &s); err != nil {
			t.Fatal(err)
		}
		if err := a.Forward(ref, x, seq, pos, &f32, &s); err != nil {
			t.Fatal(err)
		}
		// The float32 cache now holds the unrounded keys and values: the
		// q8_0 cache's levels and scales are their quantization.
		n := (pos + seq) * kw
		qs, d := make([]int8, n), make([]uint16, n/32)
		kernels.QuantizeKVQ8(qs, d, f32.K[:n])
		for i := range qs {
			if qs[i] != q8.K8[i] || d[i/32] != q8.KD[i/32] {
				t.Fatalf("step %d: key element %d stored %d·%#x, want %d·%#x", step, i, q8.K8[i], q8.KD[i/32], qs[i], d[i/32])
			}
		}
		kq := make([]float32, n)
		vq := make([]float32, n)
		kernels.DequantizeKVQ8(kq, q8.K8[:n], q8.KD)
		kernels.DequantizeKVQ8(vq, q8.V8[:n], q8.VD)
		// Attention over the widened cache, then the output projection.
		qv := make([]float32, seq*heads*hd)
		if err := a.Q.Forward(qv, x, seq); err != nil {
			t.Fatal(err)
		}
		if err := a.Rope.Apply(qv, seq, heads, hd, pos); err != nil {
			t.Fatal(err)
		}
		att := make([]float32, seq*heads*hd)
		p := kernels.AttnParams{Heads: heads, KVHeads: kvHeads, HeadDim: hd, SeqQ: seq, SeqKV: pos + seq, Causal: true, QPos0: pos}
		if err := kernels.AttentionNaive(att, qv, kq, vq, p); err != nil {
			t.Fatal(err)
		}
		want := make([]float32, seq*dim)
		if err := a.O.Forward(want, att, seq); err != nil {
			t.Fatal(err)
		}
		var big float64
		for i := range want {
			big = max(big, math.Abs(float64(ref[i])))
			if e := math.Abs(float64(got[i] - want[i])); e > 1e-4*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("step %d: out[%d] = %v, attention over the widened cache %v", step, i, got[i], want[i])
			}
		}
		for i := range ref {
			worst = max(worst, math.Abs(float64(got[i]-ref[i]))/big)
		}
		pos += seq
	}
	if worst > 0.1 {
		t.Fatalf("q8_0 cache moved the output by %g of its largest magnitude (bound 0.1)", worst)
	}
	t.Logf("q8_0 against float32 cache: max %g of the largest output", worst)
}

// A decode step through a q8_0 cache allocates nothing (its quantizer's
// staging buffer is on the stack), at 1 and 2 threads.
func TestAttentionQ8DecodeDoesNotAllocate(t *testing.T) {
	const dim, heads, kvHeads, hd = 64, 4, 2, 32
	r := rand.New(rand.NewSource(6))
	a := randQ8TestAttention(r, dim, heads, kvHeads, hd)
	c := KVCache{Width: kvHeads * hd, Max: 64, Q8: true}
	var s Scratch
	x, out := randF(r, 20*dim), make([]float32, 20*dim)
	if err := a.Forward(out, x, 20, 0, &c, &s); err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2} {
		kernels.SetThreads(threads)
		allocs := testing.AllocsPerRun(20, func() {
			if err := a.Forward(out[:dim], x[:dim], 1, 20, &c, &s); err != nil {
				t.Fatal(err)
			}
		})
		kernels.SetThreads(0)
		if allocs != 0 {
			t.Fatalf("%d threads: %v allocations per decode step", threads, allocs)
		}
	}
}

// randQ8TestAttention is an attention layer of random f32 weights whose
// heads are whole q8_0 blocks, with a RoPE of a few distinct frequencies.
func randQ8TestAttention(r *rand.Rand, dim, heads, kvHeads, hd int) Attention {
	lin := func(out, in int) Linear { return Linear{W: Matrix{Rows: out, Cols: in, F32: randF(r, out*in)}} }
	inv := make([]float64, hd/2)
	for i := range inv {
		inv[i] = 1 / float64(int(1)<<(i%8))
	}
	return Attention{Q: lin(heads*hd, dim), K: lin(kvHeads*hd, dim), V: lin(kvHeads*hd, dim), O: lin(dim, heads*hd),
		Heads: heads, KVHeads: kvHeads, HeadDim: hd, Rope: RoPE{RotDim: hd, InvFreq: inv}}
}
