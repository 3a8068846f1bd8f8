package kernels

import (
	"math"
	"math/rand"
	"testing"
)

// qgemmTypes are the types with a packed GEMM.
var qgemmTypes = []DType{Q4_0, Q8_0, Q4_K, Q5_K, Q6_K}

// qgemmRefs returns d's panel layout reference (packing and micro-kernel),
// its activation type and its block bytes, in any build.
func qgemmRefs(d DType) (pack func(dst []byte, w []byte, rb, nb, rows int), micro func(p, x []byte, xs, nb int, out []float32), act DType, block int) {
	switch d {
	case Q4_0, Q8_0:
		shift := 3
		if d == Q8_0 {
			shift = 7
		}
		return func(dst, w []byte, rb, nb, rows int) { packPanelRef(dst, d, w, rb, nb, rows) },
			func(p, x []byte, xs, nb int, out []float32) { qgemmRef(p, x, xs, nb, shift, out) },
			Q8S, qgBlockBytes
	}
	kp := kPanelOf(d)
	return func(dst, w []byte, rb, nb, rows int) { packPanelKRef(dst, d, w, rb, nb, rows) },
		func(p, x []byte, xs, nb int, out []float32) { qgemmKRef(p, x, xs, nb, kp, out) },
		Q8_K, kp.bytes()
}

// absDots returns Σ|w·x| of every (activation row i, weight row j) pair,
// i·qgRows+j, from the widened weights (rows of k) and activations: the
// scale of a dot's float rounding, which a result that cancels (q5_K's
// scales against its mins) does not show.
func absDots(t *testing.T, d, act DType, w, xq []byte, rows, k int) []float64 {
	wf := make([]float32, rows*k)
	xf := make([]float32, qgActRows*k)
	if err := d.Dequantize(wf, w); err != nil {
		t.Fatal(err)
	}
	if err := act.Dequantize(xf, xq); err != nil {
		t.Fatal(err)
	}
	s := make([]float64, qgActRows*qgRows)
	for i := 0; i < qgActRows; i++ {
		for j := 0; j < rows; j++ {
			for e := 0; e < k; e++ {
				s[i*qgRows+j] += math.Abs(float64(wf[j*k+e]) * float64(xf[i*k+e]))
			}
		}
	}
	return s
}

// closeTo reports whether got is within float rounding of want, for a dot
// whose terms' magnitudes add up to scale.
func closeTo(got, want float32, scale float64) bool {
	return math.Abs(float64(got-want)) <= 1e-6*scale+1e-30
}

// The packers write the reference layout's bytes (tail panels of fewer than
// sixteen rows included) and the micro-kernels agree with their reference to
// float rounding (fused multiply-adds against separate ones), on every block
// count.
func TestQgemmMatchesReference(t *testing.T) {
	if qgemmFor(Q4_0) == nil {
		t.Skip("no packed GEMM in this build or CPU (needs AVX-512 VNNI)")
	}
	r := rand.New(rand.NewSource(11))
	for _, d := range qgemmTypes {
		g := qgemmFor(d)
		pack, micro, act, block := qgemmRefs(d)
		if act != g.act || block != g.block {
			t.Fatalf("%v: table says %v/%d, reference %v/%d", d, g.act, g.block, act, block)
		}
		for _, nb := range []int{1, 3, 8} {
			for _, rows := range []int{16, 13, 1} {
				k := nb * d.BlockSize()
				rb := nb * d.BlockBytes()
				w := randomWeights(t, r, d, rows, k)
				got := make([]byte, nb*block)
				for i := range got {
					got[i] = 0x5a
				}
				g.packPanel(&got[0], &w[0], rb, nb, rows)
				want := make([]byte, nb*block)
				pack(want, w, rb, nb, rows)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%v pack nb=%d rows=%d: byte %d = %#x, want %#x", d, nb, rows, i, got[i], want[i])
					}
				}
				xs := nb * act.BlockBytes()
				xq := make([]byte, qgActRows*xs)
				if err := act.Quantize(xq, randSlice(r, qgActRows*k)); err != nil {
					t.Fatal(err)
				}
				var out [qgActRows * qgRows]float32
				g.micro(&got[0], &xq[0], xs, nb, &out)
				ref := make([]float32, qgActRows*qgRows)
				micro(want, xq, xs, nb, ref)
				scale := absDots(t, d, act, w, xq, rows, k)
				for i, v := range ref {
					if !closeTo(out[i], v, scale[i]) {
						t.Fatalf("%v micro nb=%d rows=%d: out[%d] = %v, want %v", d, nb, rows, i, out[i], v)
					}
				}
			}
		}
	}
}

// The panel layouts and the micro-kernels' references compose to the row
// dots' references (in every build, assembly or not): packing then the
// micro-kernel gives each (activation row, weight row) pair's dot, tail
// lanes zero.
func TestQgemmRefMatchesDots(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, d := range qgemmTypes {
		pack, micro, act, block := qgemmRefs(d)
		dot := traits[d].dotQ[implGeneric]
		for _, nb := range []int{1, 3} {
			for _, rows := range []int{16, 7} {
				k, rb := nb*d.BlockSize(), nb*d.BlockBytes()
				w := randomWeights(t, r, d, rows, k)
				p := make([]byte, nb*block)
				pack(p, w, rb, nb, rows)
				xs := nb * act.BlockBytes()
				xq := make([]byte, qgActRows*xs)
				if err := act.Quantize(xq, randSlice(r, qgActRows*k)); err != nil {
					t.Fatal(err)
				}
				out := make([]float32, qgActRows*qgRows)
				micro(p, xq, xs, nb, out)
				scale := absDots(t, d, act, w, xq, rows, k)
				for i := 0; i < qgActRows; i++ {
					for j := 0; j < qgRows; j++ {
						var want float32
						if j < rows {
							want = dot(&w[j*rb], &xq[i*xs], nb)
						}
						if got := out[i*qgRows+j]; !closeTo(got, want, scale[i*qgRows+j]) {
							t.Fatalf("%v nb=%d rows=%d: out[%d][%d] = %v, want %v", d, nb, rows, i, j, got, want)
						}
					}
				}
			}
		}
	}
}
