package kernels

import (
	"math"
	"testing"
)

// The table's rows against ggml's type_traits (ggml.c): id, block size, bytes
// per block, and the activation type of the dot product.
func TestDTypeTable(t *testing.T) {
	want := map[DType]struct {
		name       string
		id         uint32
		bs, bbytes int
		vecDot     DType
		computable bool
	}{
		F32: {"f32", 0, 1, 4, F32, true}, F16: {"f16", 1, 1, 2, F32, true}, BF16: {"bf16", 30, 1, 2, F32, true},
		Q8_0: {"q8_0", 8, 32, 34, Q8S, true}, Q4_0: {"q4_0", 2, 32, 18, Q8S, true}, Q8S: {"q8s", 255, 32, 40, 0, false},
		Q4_0R8: {"q4_0r8", 254, 32, 18, Q8S, true}, Q4_KR8: {"q4_Kr8", 253, 256, 144, Q8_K, true},
		Q6_KR8: {"q6_Kr8", 252, 256, 210, Q8_K, true},
		Q4_1:   {"q4_1", 3, 32, 20, Q8_1, true}, Q5_0: {"q5_0", 6, 32, 22, Q8_0, true}, Q5_1: {"q5_1", 7, 32, 24, Q8_1, true},
		IQ4_NL: {"iq4_nl", 20, 32, 18, Q8_0, true}, Q8_1: {"q8_1", 9, 32, 36, 0, false},
		Q2_K: {"q2_K", 10, 256, 84, Q8_K, true}, Q3_K: {"q3_K", 11, 256, 110, Q8_K, true}, Q4_K: {"q4_K", 12, 256, 144, Q8_K, true},
		Q5_K: {"q5_K", 13, 256, 176, Q8_K, true}, Q6_K: {"q6_K", 14, 256, 210, Q8_K, true}, Q8_K: {"q8_K", 15, 256, 292, 0, false},
		I8: {"i8", 24, 1, 1, 0, false}, I16: {"i16", 25, 1, 2, 0, false}, I32: {"i32", 26, 1, 4, 0, false}, F64: {"f64", 28, 1, 8, 0, false},
	}
	if len(DTypes()) != len(want) {
		t.Fatalf("DTypes() = %v", DTypes())
	}
	for _, d := range DTypes() {
		w, ok := want[d]
		if !ok {
			t.Errorf("unexpected row %v", d)
			continue
		}
		tr := d.Traits()
		if d.String() != w.name || uint32(d) != w.id || d.BlockSize() != w.bs || d.BlockBytes() != w.bbytes {
			t.Errorf("%s: id %d, block %d/%d; want %+v", d, uint32(d), d.BlockSize(), d.BlockBytes(), w)
		}
		if d.Computable() != w.computable || w.computable && tr.VecDot != w.vecDot {
			t.Errorf("%s: computable %v, vec-dot %v; want %v, %v", d, d.Computable(), tr.VecDot, w.computable, w.vecDot)
		}
		if d.Computable() {
			if tr.VecDot == F32 && tr.dotF32 == nil {
				t.Errorf("%s: no f32 dot", d)
			}
			for i, f := range tr.dotQ {
				if tr.VecDot != F32 && f == nil {
					t.Errorf("%s: no dot for implementation %d", d, i)
				}
			}
		}
		if p, err := ParseDType(d.String()); err != nil || p != d {
			t.Errorf("ParseDType(%q) = %v, %v", d, p, err)
		}
	}
	if _, err := ParseDType("q9_9"); err == nil {
		t.Error("ParseDType(q9_9) succeeded")
	}
	if _, err := DType(200).RowBytes(32); err == nil {
		t.Error("RowBytes of an unknown dtype succeeded")
	}
	if DType(200).String() != "ggml_type(200)" || DType(4).String() != "ggml_type(4)" {
		t.Errorf("unknown dtypes print %q, %q", DType(200), DType(4))
	}
	if b, err := Q4_0.RowBytes(4096); err != nil || b != 4096/32*18 {
		t.Errorf("RowBytes(q4_0, 4096) = %d, %v", b, err)
	}
	if _, err := Q4_0.RowBytes(33); err == nil {
		t.Error("RowBytes(q4_0, 33) succeeded")
	}
	if _, err := F32.RowBytes(math.MaxInt / 2); err == nil {
		t.Error("RowBytes(f32, MaxInt/2) did not overflow")
	}
	if err := I32.Dequantize(make([]float32, 4), make([]byte, 16)); err == nil {
		t.Error("Dequantize of a type without kernels succeeded")
	}
	if Q8S.Stored() || !Q8_K.Stored() {
		t.Error("q8s is Loom's own layout, q8_K a GGUF type")
	}
	for _, d := range []DType{Q8_1, Q8_K, Q8S} { // activation types: widen, but no dot product
		if !d.Widenable() || !d.Writable() || d.Computable() {
			t.Errorf("%v: widenable %v, writable %v, computable %v", d, d.Widenable(), d.Writable(), d.Computable())
		}
	}
}
