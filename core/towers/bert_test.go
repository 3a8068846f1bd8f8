package towers

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

// testdata/bert holds a tiny random BERT encoder (tools/mkllama -arch bert:
// dim 64, 2 post-LN layers, llama.cpp's names) pooling by mean in f32 and
// q8_0 and by [CLS] in f32, each with llama.cpp's pooled embedding of seven
// ids (tools/ggmlref/llamalogits -e; seven: below MatMulQ's f32-panel batch of
// eight, which does not quantize activations as llama.cpp does). Loom's
// L2-normalised embedding must
// equal llama.cpp's, normalised, to 1e-4 relative (max |Δ| / max |e|).
func TestBERTMatchesLlamaCpp(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pooling int
	}{{"f32", PoolMean}, {"q8_0", PoolMean}, {"cls-f32", PoolCLS}} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := formats.Open("testdata/bert/" + tc.name + ".gguf")
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			m, err := LoadBERT(src.(formats.InfoSource))
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.Pooling != tc.pooling || m.TypeRow == nil {
				t.Fatalf("config %+v, token type row %v", m.Config, m.TypeRow != nil)
			}
			ref, err := formats.Open("testdata/bert/" + tc.name + "-embedding.gguf")
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			ein, err := ref.Info("embedding")
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, ein.Elements())
			if err := kernels.F32.Dequantize(want, ein.Data); err != nil {
				t.Fatal(err)
			}
			var ss float64
			for _, v := range want {
				ss += float64(v) * float64(v)
			}
			for i := range want {
				want[i] = float32(float64(want[i]) / math.Sqrt(ss))
			}
			tin, err := ref.Info("tokens")
			if err != nil {
				t.Fatal(err)
			}
			tokens := make([]int, tin.Elements())
			for i := range tokens {
				tokens[i] = int(int32(binary.LittleEndian.Uint32(tin.Data[4*i:])))
			}
			got := make([]float32, m.Config.Dim)
			if err := m.Pooled(got, tokens); err != nil {
				t.Fatal(err)
			}
			if e := logitErr(got, want); !(e <= 1e-4) {
				t.Fatalf("embedding differs from llama.cpp's by %.3g relative\n got %v\nwant %v", e, got[:4], want[:4])
			} else {
				t.Logf("%s: %d tokens, embedding within %.2g of llama.cpp's", tc.name, len(tokens), e)
			}
		})
	}
}

// Bad input is an error, not a crash.
func TestBERTRejectsBadInput(t *testing.T) {
	src, err := formats.Open("testdata/bert/f32.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m, err := LoadBERT(src.(formats.InfoSource))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, m.Config.Dim)
	for name, ids := range map[string][]int{"empty": nil, "too long": make([]int, m.Config.Context+1), "bad id": {1, 9999}} {
		if err := m.Pooled(out, ids); err == nil {
			t.Errorf("%s input accepted", name)
		}
	}
	if _, err := LoadBERT(rewrite(t, "testdata/bert/f32.gguf", func(md formats.Metadata) { md["bert.pooling_type"] = uint32(4) })); err == nil {
		t.Error("rank pooling accepted")
	}
	if _, err := LoadBERT(rewrite(t, "testdata/bert/f32.gguf", func(formats.Metadata) {}, "blk.1.layer_output_norm.bias")); err == nil {
		t.Error("missing tensor accepted")
	}
}
