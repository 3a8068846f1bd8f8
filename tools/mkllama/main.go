// Command mkllama writes a random-weight Llama model as GGUF, for
// benchmarks: the shape of a ~110M-parameter Llama (dim 768, 12 layers, 12
// heads, ff 2048, vocab 32000, tied output) in f32 or q8_0. The weights are
// N(0, 0.02) noise (norms 1), so the text is meaningless but the work per
// token is that of a real model of this size. Files go to /tmp by default
// and are never committed.
//
//	go run ./tools/mkllama -type f32  -out /tmp/llama110m-f32.gguf
//	go run ./tools/mkllama -type q8_0 -out /tmp/llama110m-q8_0.gguf
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
	typ := flag.String("type", "f32", "weight storage: f32 or q8_0 (norms stay f32)")
	out := flag.String("out", "", "output file (default /tmp/llama110m-TYPE.gguf)")
	dim := flag.Int("dim", 768, "model width")
	layers := flag.Int("layers", 12, "blocks")
	heads := flag.Int("heads", 12, "attention heads")
	kvHeads := flag.Int("kv-heads", 12, "key/value heads")
	ff := flag.Int("ff", 2048, "feed-forward width")
	vocab := flag.Int("vocab", 32000, "vocabulary size")
	ctx := flag.Int("context", 2048, "context length")
	seed := flag.Int64("seed", 1, "weight seed")
	flag.Parse()
	if *out == "" {
		*out = fmt.Sprintf("/tmp/llama110m-%s.gguf", *typ)
	}
	if err := write(*out, *typ, *dim, *layers, *heads, *kvHeads, *ff, *vocab, *ctx, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "mkllama:", err)
		os.Exit(1)
	}
}

func write(path, typ string, dim, layers, heads, kvHeads, ff, vocab, ctx int, seed int64) error {
	var f kernels.DType
	switch typ {
	case "f32":
		f = kernels.F32
	case "q8_0":
		f = kernels.Q8_0
	default:
		return fmt.Errorf("type %q: want f32 or q8_0", typ)
	}
	r := rand.New(rand.NewSource(seed))
	var infos []*formats.Info
	params := 0
	matrix := func(name string, rows, cols int) error {
		v := make([]float32, rows*cols)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.02)
		}
		rb, err := f.RowBytes(cols)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		b := make([]byte, rows*rb)
		if err := f.Quantize(b, v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		infos = append(infos, &formats.Info{Name: name, Type: f, Shape: []int{rows, cols}, Data: b})
		params += rows * cols
		return nil
	}
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
		for _, m := range []struct {
			name       string
			rows, cols int
		}{
			{"attn_q.weight", dim, dim}, {"attn_k.weight", kvHeads * hd, dim}, {"attn_v.weight", kvHeads * hd, dim},
			{"attn_output.weight", dim, dim}, {"ffn_gate.weight", ff, dim}, {"ffn_up.weight", ff, dim}, {"ffn_down.weight", dim, ff},
		} {
			if err := matrix(p+m.name, m.rows, m.cols); err != nil {
				return err
			}
		}
	}
	ones("output_norm.weight", dim)
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
