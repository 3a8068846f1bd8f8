package kernels_test

import (
	"math"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

// testdata/ggmlref.gguf holds llama.cpp's own numbers (tools/ggmlref): for
// each type, four rows of a 256×512 weight quantized by llama-quantize from
// a random Llama, ggml's to_float of them, an activation row, and ggml-cpu's
// vec_dot of each weight row with it (activations quantized by ggml to the
// type's vec_dot_type). Loom's widening must agree to float rounding (ggml's
// C may fuse a multiply-add that Go rounds twice) and its dot products, on
// every implementation, to 1e-6 of Σ|w·x| (both sides quantize the same
// activations; only summation order differs: 3.5e-8 at worst when made).
func TestAgainstGGML(t *testing.T) {
	src, err := formats.Open("testdata/ggmlref.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	types := []kernels.DType{kernels.Q4_0, kernels.Q4_1, kernels.Q5_0, kernels.Q5_1, kernels.Q8_0,
		kernels.Q2_K, kernels.Q3_K, kernels.Q4_K, kernels.Q5_K, kernels.Q6_K, kernels.IQ4_NL}
	f32 := func(name string) []float32 {
		in, err := src.Info(name)
		if err != nil || in.Type != kernels.F32 {
			t.Fatalf("%s: %v (type %v)", name, err, in)
		}
		out := make([]float32, in.Elements())
		if err := kernels.F32.Dequantize(out, in.Data); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, d := range types {
		w, err := src.Info(d.String() + ".w")
		if err != nil {
			t.Fatal(err)
		}
		if w.Type != d || len(w.Shape) != 2 {
			t.Fatalf("%v: fixture holds %v %v", d, w.Type, w.Shape)
		}
		rows, k := w.Shape[0], w.Shape[1]
		x, deq, dot := f32(d.String()+".x"), f32(d.String()+".deq"), f32(d.String()+".dot")
		got := make([]float32, rows*k)
		if err := d.Dequantize(got, w.Data); err != nil {
			t.Fatal(err)
		}
		for i, want := range deq {
			if diff := math.Abs(float64(got[i] - want)); diff > 1e-6*math.Abs(float64(want))+1e-12 {
				t.Fatalf("%v: element %d widens to %v, ggml %v", d, i, got[i], want)
			}
		}
		rb, _ := d.RowBytes(k)
		for _, impl := range kernels.Impls() {
			if err := kernels.SetImpl(impl); err != nil {
				t.Fatal(err)
			}
			for r := 0; r < rows; r++ {
				var scale float64
				for p := 0; p < k; p++ {
					scale += math.Abs(float64(deq[r*k+p]) * float64(x[p]))
				}
				g, err := d.Dot(w.Data[r*rb:(r+1)*rb], x)
				if err != nil {
					t.Fatal(err)
				}
				if diff := math.Abs(float64(g - dot[r])); diff > 1e-6*scale {
					t.Errorf("%s %v row %d: dot %v, ggml %v (Σ|w·x| %v)", impl, d, r, g, dot[r], scale)
				}
			}
		}
		if err := kernels.SetImpl(kernels.Impls()[0]); err != nil {
			t.Fatal(err)
		}
	}
}
