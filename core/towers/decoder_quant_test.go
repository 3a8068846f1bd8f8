package towers

import (
	"math"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

// testdata/moe-q4_K_M is a random Mixtral-style Llama (dim 256, one block,
// 4 experts, top-2) written by tools/mkllama and quantized by llama.cpp's
// llama-quantize to q4_K_M (experts' gate/up q4_K, down q6_K, attention
// q4_K/q6_K, output q6_K), with llama.cpp's logits for eight token ids at
// every position (tools/ggmlref/llamalogits). Loom must bind the experts in
// their stored types and agree with llama.cpp position by position, one
// token at a time (the decode path) and as one batch (prefill). With
// llama.cpp's attention in f32 (llamalogits turns off its f16 flash
// attention) both quantize the same activations the same way, so the logits
// agree to float summation order: a normalised MSE of 1e-13 when made; the
// bound is 1e-9, and the top token must agree.
func TestQ4_K_MMoEMatchesLlamaCpp(t *testing.T) {
	src, err := formats.Open("testdata/moe-q4_K_M/model.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ref, err := formats.Open("testdata/moe-q4_K_M/logits.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	d, err := LoadDecoder(src.(formats.InfoSource))
	if err != nil {
		t.Fatal(err)
	}
	d.KVF32 = true // llamalogits ran llama.cpp with an f32 cache
	moe := d.Blocks[0].MoE
	if moe == nil || moe.Weights.Gate.Type.RepackOf() != kernels.Q4_K || moe.Weights.Up.Type.RepackOf() != kernels.Q4_K || moe.Weights.Down.Type.RepackOf() != kernels.Q6_K {
		t.Fatalf("experts bound as %+v", moe)
	}
	gate, _ := src.Info("blk.0.ffn_gate_exps.weight")
	if &moe.Weights.Gate.Q[0][0] != &gate.Data[0] {
		t.Fatal("expert 0's gate is a copy, not a view on the file")
	}
	tin, err := ref.Info("tokens")
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]int, tin.Elements())
	for i := range tokens {
		tokens[i] = int(int32(uint32(tin.Data[4*i]) | uint32(tin.Data[4*i+1])<<8 | uint32(tin.Data[4*i+2])<<16 | uint32(tin.Data[4*i+3])<<24))
	}
	lin, err := ref.Info("logits")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float32, lin.Elements())
	if err := kernels.F32.Dequantize(want, lin.Data); err != nil {
		t.Fatal(err)
	}
	vocab := d.Config.Vocab
	check := func(what string, got []float32, pos int) {
		t.Helper()
		w := want[pos*vocab : (pos+1)*vocab]
		var num, den float64
		best, wbest := 0, 0
		for i := range got {
			diff := float64(got[i] - w[i])
			num += diff * diff
			den += float64(w[i]) * float64(w[i])
			if got[i] > got[best] {
				best = i
			}
			if w[i] > w[wbest] {
				wbest = i
			}
		}
		if e := num / den; e > 1e-9 || math.IsNaN(e) || best != wbest {
			t.Errorf("%s position %d: nmse %.3g against llama.cpp, top token %d (llama.cpp %d)", what, pos, e, best, wbest)
		}
	}
	st := d.NewState(len(tokens))
	for i, tok := range tokens {
		logits, err := st.Forward([]int{tok}, i)
		if err != nil {
			t.Fatal(err)
		}
		check("decode", logits, i)
	}
	// Seven tokens, not eight: MatMulQ runs a batch of eight or more rows
	// of a type without a batched kernel in this build (-tags noasm, AVX2)
	// as f32 GEMM on widened panels, which does not quantize activations
	// and so differs from llama.cpp by ~1e-4 (more precise, not less).
	logits, err := d.NewState(len(tokens)).Forward(tokens[:7], 0)
	if err != nil {
		t.Fatal(err)
	}
	check("prefill", logits, 6)
}
