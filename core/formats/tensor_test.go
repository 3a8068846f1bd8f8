package formats

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

func TestTensorViews(t *testing.T) {
	m, err := OpenLlama2C(sharedModel(t, "stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	k, err := m.Tensor("blk.2.attn_k.weight")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := m.Info("blk.2.attn_k.weight")
	vals, err := k.F32()
	if err != nil {
		t.Fatal(err)
	}
	if k.DType() != kernels.F32 || k.Dim(0) != 32 || k.Dim(1) != 64 || vals[65] != f32At(in.Data, 65) {
		t.Fatalf("dtype %v shape %v", k.DType(), k.Shape())
	}
	if &vals[0] != (*float32)(unsafePointer(in.Data)) {
		t.Error("f32 view copied the mapped bytes")
	}
	if _, err := m.Tensor("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
}

func TestTensorDTypesAndAlignment(t *testing.T) {
	// A 1-byte __metadata__ padding shift makes the data start unaligned.
	ts := []stTensor{{"w", "F32", []int{2}, f32Bytes(1.5, -2)}, {"h", "F16", []int{1}, []byte{0, 0x3c}}, {"i", "I32", []int{1}, make([]byte, 4)}}
	b := rawSafetensors(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},"i":{"dtype":"I32","shape":[1],"data_offsets":[10,14]}}`,
		append(append(append([]byte{}, ts[0].data...), ts[1].data...), ts[2].data...))
	path := filepath.Join(t.TempDir(), "odd.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	w, err := src.Tensor("w")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := w.F32(); err != nil || v[0] != 1.5 || v[1] != -2 {
		t.Fatalf("unaligned f32: %v %v", v, err)
	}
	h, err := src.Tensor("h")
	if err != nil || h.DType() != kernels.F16 {
		t.Fatalf("f16: %v", err)
	}
	if x, _ := h.At(0); x != 1 {
		t.Fatalf("f16 value %v", x)
	}
	if _, err := src.Tensor("i"); err == nil {
		t.Error("i32 has no tensor dtype but converted")
	}
	q := &Info{Name: "q", Type: kernels.Q8_0, Shape: []int{1, 32}, Data: make([]byte, 34)}
	if qt, err := q.Tensor(); err != nil || qt.DType() != kernels.Q8_0 {
		t.Fatalf("q8_0: %v", err)
	}
}
