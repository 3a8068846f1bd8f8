// Command mkllama writes a random-weight Llama model as GGUF, for
// benchmarks: the shape of a ~110M-parameter Llama (dim 768, 12 layers, 12
// heads, ff 2048, vocab 32000, tied output; -untied adds output.weight for
// 134M) in any type Loom can write (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0,
// q5_1); the K-quants and mixtures such as q4_K_M come from llama.cpp's
// llama-quantize run on the f32 file. -experts 8 -experts-used 2 makes the
// feed-forward a Mixtral-style Mixture of Experts of -ff each. The weights
// are N(0, 0.02) noise (norms 1), so the text is meaningless but the work
// per token is that of a real model of this size. The file says
// tokenizer.ggml.model = "no_vocab", so llama.cpp loads it with -vocab dummy
// tokens. Files go to /tmp by default and are never committed.
//
//	go run ./tools/mkllama -type f32  -out /tmp/llama110m-f32.gguf
//	go run ./tools/mkllama -type q8_0 -out /tmp/llama110m-q8_0.gguf
//	go run ./tools/mkllama -experts 8 -experts-used 2 -ff 512 -out /tmp/moe-f32.gguf
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

func main() {
	typ := flag.String("type", "f32", "weight storage type Loom can write: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1 (norms stay f32)")
	out := flag.String("out", "", "output file (default /tmp/llama110m-TYPE.gguf)")
	dim := flag.Int("dim", 768, "model width")
	layers := flag.Int("layers", 12, "blocks")
	heads := flag.Int("heads", 12, "attention heads")
	kvHeads := flag.Int("kv-heads", 12, "key/value heads")
	ff := flag.Int("ff", 2048, "feed-forward width")
	vocab := flag.Int("vocab", 32000, "vocabulary size")
	ctx := flag.Int("context", 2048, "context length")
	seed := flag.Int64("seed", 1, "weight seed")
	untied := flag.Bool("untied", false, "write output.weight instead of tying the output to token_embd")
	experts := flag.Int("experts", 0, "experts per MoE layer (0: dense SwiGLU)")
	expertsUsed := flag.Int("experts-used", 2, "experts per token")
	flag.Parse()
	if *out == "" {
		*out = fmt.Sprintf("/tmp/llama110m-%s.gguf", *typ)
	}
	sh := shape{dim: *dim, layers: *layers, heads: *heads, kvHeads: *kvHeads, ff: *ff, vocab: *vocab, ctx: *ctx,
		untied: *untied, experts: *experts, expertsUsed: *expertsUsed}
	if err := write(*out, *typ, sh, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "mkllama:", err)
		os.Exit(1)
	}
}

// spec names one weight: n matrices (rows, cols) stacked, or one when n = 0.
type spec struct {
	name          string
	n, rows, cols int
}

// shape is the model's geometry.
type shape struct {
	dim, layers, heads, kvHeads, ff, vocab, ctx int
	untied                                      bool
	experts, expertsUsed                        int
}

func write(path, typ string, sh shape, seed int64) error {
	f, err := kernels.ParseDType(typ)
	if err != nil || !f.Writable() || f == kernels.Q8_1 || f == kernels.Q8_K {
		return fmt.Errorf("type %q: want one Loom can write (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1)", typ)
	}
	if sh.experts < 0 || sh.experts > 0 && (sh.expertsUsed < 1 || sh.expertsUsed > sh.experts) {
		return fmt.Errorf("%d experts, %d used per token", sh.experts, sh.expertsUsed)
	}
	dim, layers, heads, kvHeads, ff, vocab, ctx := sh.dim, sh.layers, sh.heads, sh.kvHeads, sh.ff, sh.vocab, sh.ctx
	r := rand.New(rand.NewSource(seed))
	var infos []*formats.Info
	params := 0
	// stack writes n matrices (rows, cols) as one tensor (n, rows, cols);
	// n = 0 writes a plain 2-D matrix.
	stack := func(name string, n, rows, cols int) error {
		count := max(n, 1)
		v := make([]float32, count*rows*cols)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.02)
		}
		rb, err := f.RowBytes(cols)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		b := make([]byte, count*rows*rb)
		if err := f.Quantize(b, v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		sh := []int{rows, cols}
		if n > 0 {
			sh = []int{n, rows, cols}
		}
		infos = append(infos, &formats.Info{Name: name, Type: f, Shape: sh, Data: b})
		params += count * rows * cols
		return nil
	}
	matrix := func(name string, rows, cols int) error { return stack(name, 0, rows, cols) }
	ones := func(name string, n int) {
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(1))
		}
		infos = append(infos, &formats.Info{Name: name, Type: kernels.F32, Shape: []int{n}, Data: b})
		params += n
	}
	hd := dim / heads
	if err := matrix("token_embd.weight", vocab, dim); err != nil {
		return err
	}
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ones(p+"attn_norm.weight", dim)
		ones(p+"ffn_norm.weight", dim)
		mats := []spec{
			{"attn_q.weight", 0, dim, dim}, {"attn_k.weight", 0, kvHeads * hd, dim}, {"attn_v.weight", 0, kvHeads * hd, dim},
			{"attn_output.weight", 0, dim, dim},
		}
		if sh.experts > 0 {
			mats = append(mats, spec{"ffn_gate_inp.weight", 0, sh.experts, dim},
				spec{"ffn_gate_exps.weight", sh.experts, ff, dim}, spec{"ffn_up_exps.weight", sh.experts, ff, dim},
				spec{"ffn_down_exps.weight", sh.experts, dim, ff})
		} else {
			mats = append(mats, spec{"ffn_gate.weight", 0, ff, dim}, spec{"ffn_up.weight", 0, ff, dim}, spec{"ffn_down.weight", 0, dim, ff})
		}
		for _, m := range mats {
			if err := stack(p+m.name, m.n, m.rows, m.cols); err != nil {
				return err
			}
		}
	}
	ones("output_norm.weight", dim)
	if sh.untied {
		if err := matrix("output.weight", vocab, dim); err != nil {
			return err
		}
	}
	meta := formats.Metadata{
		"general.architecture":                   "llama",
		"general.name":                           fmt.Sprintf("random-llama-%dM-%s", params/1000000, typ),
		"llama.context_length":                   uint32(ctx),
		"llama.embedding_length":                 uint32(dim),
		"llama.block_count":                      uint32(layers),
		"llama.feed_forward_length":              uint32(ff),
		"llama.attention.head_count":             uint32(heads),
		"llama.attention.head_count_kv":          uint32(kvHeads),
		"llama.rope.freq_base":                   float32(10000),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.vocab_size":                       uint32(vocab),
		"tokenizer.ggml.model":                   "no_vocab", // llama.cpp: vocab_size dummy tokens
	}
	if sh.experts > 0 {
		meta["llama.expert_count"] = uint32(sh.experts)
		meta["llama.expert_used_count"] = uint32(sh.expertsUsed)
	}
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := formats.WriteGGUF(file, meta, infos); err != nil {
		file.Close()
		return err
	}
	if err := file.Close(); err != nil {
		return err
	}
	fmt.Printf("%s: %d parameters, %s\n", path, params, typ)
	return nil
}
