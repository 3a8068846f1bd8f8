package kernels

import (
	"math"
	"math/rand"
	"testing"
)

// The packers write packPanelRef's bytes (tail panels of fewer than sixteen
// rows included) and the micro-kernels agree with qgemmRef to float
// rounding (fused multiply-adds against separate ones), on every block count.
func TestQgemmMatchesReference(t *testing.T) {
	if qgemmFor(Q4_0) == nil {
		t.Skip("no packed GEMM in this build or CPU (needs AVX-512 VNNI)")
	}
	r := rand.New(rand.NewSource(11))
	for _, d := range []DType{Q4_0, Q8_0} {
		g := qgemmFor(d)
		for _, nb := range []int{1, 3, 24} {
			for _, rows := range []int{16, 13, 1} {
				k := nb * qk32
				rb := nb * d.BlockBytes()
				w := randomWeights(t, r, d, rows, k)
				got := make([]byte, nb*qgBlockBytes)
				for i := range got {
					got[i] = 0x5a
				}
				g.pack(&got[0], &w[0], rb, nb, rows)
				want := make([]byte, nb*qgBlockBytes)
				packPanelRef(want, d, w, rb, nb, rows)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%v pack nb=%d rows=%d: byte %d = %#x, want %#x", d, nb, rows, i, got[i], want[i])
					}
				}
				x := randSlice(r, qgActRows*k)
				xq := make([]byte, qgActRows*nb*Q8SBytes)
				if err := Q8S.Quantize(xq, x); err != nil {
					t.Fatal(err)
				}
				var out [qgActRows * qgRows]float32
				g.micro(&got[0], &xq[0], nb*Q8SBytes, nb, &out)
				ref := make([]float32, qgActRows*qgRows)
				qgemmRef(want, xq, nb*Q8SBytes, nb, g.shift, ref)
				for i, v := range ref {
					if math.Abs(float64(out[i]-v)) > 1e-5*math.Abs(float64(v))+1e-6 {
						t.Fatalf("%v micro nb=%d rows=%d: out[%d] = %v, want %v", d, nb, rows, i, out[i], v)
					}
				}
			}
		}
	}
}

// The panel layout and the micro-kernel's reference compose to the row dots'
// references (in every build, assembly or not): packPanelRef then qgemmRef
// gives each (activation row, weight row) pair's dot, tail lanes zero.
func TestQgemmRefMatchesDots(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, d := range []DType{Q4_0, Q8_0} {
		dot, shift := dotQ4_0Q8SRef, 3
		if d == Q8_0 {
			dot, shift = dotQ8_0Q8SRef, 7
		}
		for _, nb := range []int{1, 5} {
			for _, rows := range []int{16, 7} {
				k, rb := nb*qk32, nb*d.BlockBytes()
				w := randomWeights(t, r, d, rows, k)
				p := make([]byte, nb*qgBlockBytes)
				packPanelRef(p, d, w, rb, nb, rows)
				xs := nb * Q8SBytes
				xq := make([]byte, qgActRows*xs)
				if err := Q8S.Quantize(xq, randSlice(r, qgActRows*k)); err != nil {
					t.Fatal(err)
				}
				out := make([]float32, qgActRows*qgRows)
				qgemmRef(p, xq, xs, nb, shift, out)
				for i := 0; i < qgActRows; i++ {
					for j := 0; j < qgRows; j++ {
						var want float32
						if j < rows {
							want = dot(&w[j*rb], &xq[i*xs], nb)
						}
						if got := out[i*qgRows+j]; math.Abs(float64(got-want)) > 1e-5*math.Abs(float64(want))+1e-6 {
							t.Fatalf("%v nb=%d rows=%d: out[%d][%d] = %v, want %v", d, nb, rows, i, j, got, want)
						}
					}
				}
			}
		}
	}
}
