// Package testmodel writes the files of particular worst cases for tests —
// a tiny random-weight model that samples invalid UTF-8, an image that
// decodes to a hundred times its size — never for serving.
package testmodel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

// WriteByteLlama writes a GGUF Llama (dim 16, one block, context 128) whose
// vocabulary is <unk>, <s>, </s> and the 256 SentencePiece byte-fallback
// tokens <0x00>…<0xFF>, with N(0, 1) weights from seed. Sampled at
// temperature 1 it emits near-uniform random bytes, most of which never form
// valid UTF-8: the worst case any byte-fallback model can reach.
func WriteByteLlama(path string, seed uint64) error {
	const (
		dim, layers, heads, ff, ctx = 16, 1, 2, 32, 128
		vocab                       = 3 + 256
	)
	r := rand.New(rand.NewPCG(seed, 17))
	var infos []*formats.Info
	f32 := func(name string, v []float32, shape ...int) {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		infos = append(infos, &formats.Info{Name: name, Type: kernels.F32, Shape: shape, Data: b})
	}
	// matrix is (rows, cols) in the GGUF reader's row-major sense.
	matrix := func(name string, rows, cols int) {
		v := make([]float32, rows*cols)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		f32(name, v, rows, cols)
	}
	ones := func(name string, n int) {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		f32(name, v, n)
	}
	matrix("token_embd.weight", vocab, dim)
	for l := range layers {
		p := fmt.Sprintf("blk.%d.", l)
		ones(p+"attn_norm.weight", dim)
		ones(p+"ffn_norm.weight", dim)
		matrix(p+"attn_q.weight", dim, dim)
		matrix(p+"attn_k.weight", dim, dim)
		matrix(p+"attn_v.weight", dim, dim)
		matrix(p+"attn_output.weight", dim, dim)
		matrix(p+"ffn_gate.weight", ff, dim)
		matrix(p+"ffn_up.weight", ff, dim)
		matrix(p+"ffn_down.weight", dim, ff)
	}
	ones("output_norm.weight", dim)
	matrix("output.weight", vocab, dim)

	tokens := []string{"<unk>", "<s>", "</s>"}
	types := []int32{2, 3, 3} // unknown, control, control
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, 6) // byte
	}
	meta := formats.Metadata{
		"general.architecture":                   "llama",
		"general.name":                           "byte-llama (random weights, test only)",
		"llama.context_length":                   uint32(ctx),
		"llama.embedding_length":                 uint32(dim),
		"llama.block_count":                      uint32(layers),
		"llama.feed_forward_length":              uint32(ff),
		"llama.attention.head_count":             uint32(heads),
		"llama.attention.head_count_kv":          uint32(heads),
		"llama.rope.freq_base":                   float32(10000),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.vocab_size":                       uint32(vocab),
		"tokenizer.ggml.model":                   "llama",
		"tokenizer.ggml.tokens":                  tokens,
		"tokenizer.ggml.scores":                  make([]float32, vocab),
		"tokenizer.ggml.token_type":              types,
		"tokenizer.ggml.bos_token_id":            uint32(1),
		"tokenizer.ggml.eos_token_id":            uint32(2),
		"tokenizer.ggml.unknown_token_id":        uint32(0),
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := formats.WriteGGUF(f, meta, infos); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
