package nn

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

// quantLinear quantizes a random (out, in) matrix to d and, with repack,
// rewrites it in d's repacked layout where this CPU has one (as loading does).
func quantLinear(t *testing.T, r *rand.Rand, d kernels.DType, out, in int, repack bool) Linear {
	t.Helper()
	rb, err := d.RowBytes(in)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, out*rb)
	switch d {
	case kernels.Q4_K, kernels.Q6_K: // no Go quantizer: random levels and scales, f16 super-block scales of 0.01
		r.Read(data)
		bb := d.BlockBytes()
		for b := 0; b < len(data); b += bb {
			at := b // q4_K: d, dmin first
			if d == kernels.Q6_K {
				at = b + bb - 2 // q6_K: d last
			}
			for i := at; i < b+bb && i < at+4; i += 2 {
				data[i], data[i+1] = 0x1f, 0x21
			}
		}
	default:
		if err := d.Quantize(data, randF(r, out*in)); err != nil {
			t.Fatal(err)
		}
	}
	typ := d
	if repack {
		if typ, _, err = kernels.Repack(data, d, out, in, nil); err != nil {
			t.Fatal(err)
		}
	}
	return Linear{W: Matrix{Rows: out, Cols: in, Data: data, Type: typ}}
}

// TestSwiGLUUpInBlocks: a batch through quantized weights runs Up ffBlock
// rows at a time into a (rows, ffBlock) buffer; its output is the one-call
// composition Down·(act(Gate·x) ⊙ Up·x) bit for bit (every output element is
// the same dot of the same quantized row), for a width with a short last
// block, SiLU and GeGLU, file and repacked layouts, one and several rows.
func TestSwiGLUUpInBlocks(t *testing.T) {
	const dim, ff = 256, 2*ffBlock + 256 // a last block of 256
	for _, d := range []kernels.DType{kernels.Q8_0, kernels.Q4_0, kernels.Q4_K, kernels.Q6_K} {
		for _, repack := range []bool{false, true} {
			for _, geglu := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/repack=%v/geglu=%v", d, repack, geglu), func(t *testing.T) {
					r := rand.New(rand.NewSource(7))
					m := SwiGLU{Gate: quantLinear(t, r, d, ff, dim, repack), Up: quantLinear(t, r, d, ff, dim, repack),
						Down: quantLinear(t, r, d, dim, ff, repack), GeGLU: geglu}
					for _, rows := range []int{1, 9, 17} {
						x := randF(r, rows*dim)
						var s Scratch
						got := make([]float32, rows*dim)
						if err := m.Forward(got, x, rows, &s); err != nil {
							t.Fatal(err)
						}
						if rows > 1 && len(s.ws) != rows*(ff+ffBlock) {
							t.Fatalf("rows=%d: scratch %d floats, want (rows, ff + ffBlock) = %d", rows, len(s.ws), rows*(ff+ffBlock))
						}
						g, u := make([]float32, rows*ff), make([]float32, rows*ff)
						if err := m.Gate.Forward(g, x, rows); err != nil {
							t.Fatal(err)
						}
						if err := m.Up.Forward(u, x, rows); err != nil {
							t.Fatal(err)
						}
						act := kernels.SiLU
						if geglu {
							act = kernels.GELUF16
						}
						if err := act(g, g); err != nil {
							t.Fatal(err)
						}
						if err := kernels.Mul(g, g, u); err != nil {
							t.Fatal(err)
						}
						want := make([]float32, rows*dim)
						if err := m.Down.Forward(want, g, rows); err != nil {
							t.Fatal(err)
						}
						for i := range want {
							if got[i] != want[i] {
								t.Fatalf("rows=%d: out[%d] = %g, want %g", rows, i, got[i], want[i])
							}
						}
					}
				})
			}
		}
	}
}

// TestAttentionAndFFNShareScratch: attention and the feed-forward cut their
// buffers from one working slice (they never run at once), which holds the
// larger of their needs, not the sum, and a block run with one Scratch gives
// the bits of each layer run with a Scratch of its own: a prompt, then
// decode steps, f16 and float32 caches, a quantized feed-forward wide enough
// to run Up in blocks.
func TestAttentionAndFFNShareScratch(t *testing.T) {
	const dim, heads, kvHeads, hd, ff = 64, 4, 2, 16, ffBlock + 256
	r := rand.New(rand.NewSource(3))
	lin := func(out, in int) Linear { return Linear{W: Matrix{Rows: out, Cols: in, F32: randF(r, out*in)}} }
	inv := make([]float64, hd/2)
	for i := range inv {
		inv[i] = 1 / float64(int(1)<<i)
	}
	a := Attention{Q: lin(heads*hd, dim), K: lin(kvHeads*hd, dim), V: lin(kvHeads*hd, dim), O: lin(dim, heads*hd),
		Heads: heads, KVHeads: kvHeads, HeadDim: hd, Rope: RoPE{RotDim: hd, InvFreq: inv}}
	m := SwiGLU{Gate: quantLinear(t, r, kernels.Q8_0, ff, dim, false), Up: quantLinear(t, r, kernels.Q8_0, ff, dim, false),
		Down: quantLinear(t, r, kernels.Q8_0, dim, ff, false)}
	for _, half := range []bool{false, true} {
		const prompt = 11
		var shared Scratch
		c1 := KVCache{Width: kvHeads * hd, Max: 64, Half: half}
		c2 := c1
		x := randF(r, prompt*dim)
		pos := 0
		for step, seq := range []int{prompt, 1, 1} {
			in := x[:seq*dim]
			got, want := make([]float32, seq*dim), make([]float32, seq*dim)
			h1, h2 := make([]float32, seq*dim), make([]float32, seq*dim)
			var own1, own2 Scratch
			if err := a.Forward(h1, in, seq, pos, &c1, &shared); err != nil {
				t.Fatal(err)
			}
			if err := m.Forward(got, h1, seq, &shared); err != nil {
				t.Fatal(err)
			}
			if err := a.Forward(h2, in, seq, pos, &c2, &own1); err != nil {
				t.Fatal(err)
			}
			if err := m.Forward(want, h2, seq, &own2); err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if got[i] != want[i] || h1[i] != h2[i] {
					t.Fatalf("half=%v step %d: out[%d] = %g (attention %g), own scratches %g (%g)", half, step, i, got[i], h1[i], want[i], h2[i])
				}
			}
			if step == 0 {
				vw := 0
				if half {
					vw = seq * kvHeads * hd
				}
				attn, ffn := 2*seq*heads*hd+vw, seq*(ff+ffBlock)
				if len(own1.ws) != attn || len(own2.ws) != ffn || len(shared.ws) != max(attn, ffn) {
					t.Fatalf("half=%v: working slices attention %d, feed-forward %d, shared %d; want %d, %d, %d",
						half, len(own1.ws), len(own2.ws), len(shared.ws), attn, ffn, max(attn, ffn))
				}
			}
			pos += seq
			x = randF(r, dim)
		}
	}
}
