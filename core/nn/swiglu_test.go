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
						if rows > 1 && len(s.u) != rows*ffBlock {
							t.Fatalf("rows=%d: up scratch %d floats, want (rows, ffBlock) = %d", rows, len(s.u), rows*ffBlock)
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
