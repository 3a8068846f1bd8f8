// Command mkllama writes a random-weight Llama-family model as GGUF, for
// benchmarks and llama.cpp reference fixtures: the shape of a ~110M-parameter Llama (dim 768, 12 layers, 12
// heads, ff 2048, vocab 32000, tied output; -untied adds output.weight for
// 134M) in any type Loom can write (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0,
// q5_1); the K-quants and mixtures such as q4_K_M come from llama.cpp's
// llama-quantize run on the f32 file. -experts 8 -experts-used 2 makes the
// feed-forward a Mixtral-style Mixture of Experts of -ff each. The weights
// are N(0, 0.02) noise (norms 1), so the text is meaningless but the work
// per token is that of a real model of this size. The file says
// tokenizer.ggml.model = "no_vocab", so llama.cpp loads it with -vocab dummy
// tokens. Files go to /tmp by default; the small fixtures of
// tools/ggmlref/make-fixtures.sh are committed under core/towers/testdata.
//
// -arch writes another family with llama.cpp's tensor and metadata names:
// qwen2 (q/k/v biases), qwen3 (QK-norm), qwen3moe (QK-norm, experts),
// phi3 (fused attn_qkv and gate+up), gemma2 (post-norms, soft-capping,
// sliding window), gemma3 (post-norms, QK-norm, sliding window, its own
// RoPE base for local layers), bert (a post-LN encoder; -pooling 1 mean
// or 2 CLS; -wordpiece gives it a small English WordPiece vocabulary, so
// llama-embedding and the text plugin read text with it). -std sets the weights' spread and
// -norm-noise makes norm weights 1 + N(0, noise), so tests see every norm.
//
//	go run ./tools/mkllama -type f32  -out /tmp/llama110m-f32.gguf
//	go run ./tools/mkllama -type q8_0 -out /tmp/llama110m-q8_0.gguf
//	go run ./tools/mkllama -experts 8 -experts-used 2 -ff 512 -out /tmp/moe-f32.gguf
package main

import (
	"cmp"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"
	"strings"

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
	arch := flag.String("arch", "llama", "family: llama, qwen2, qwen3, qwen3moe, phi3, gemma2, gemma3")
	std := flag.Float64("std", 0.02, "standard deviation of the random weights")
	normNoise := flag.Float64("norm-noise", 0, "norm weights are 1 + N(0, this)")
	window := flag.Int("sliding-window", 0, "gemma: keys a local layer sees (0: the family's default)")
	pooling := flag.Int("pooling", 1, "bert: pooling type (1 mean, 2 CLS)")
	wordpiece := flag.Bool("wordpiece", false, "bert: write a small English WordPiece vocabulary (-vocab is then its size)")
	flag.Parse()
	if *out == "" {
		*out = fmt.Sprintf("/tmp/llama110m-%s.gguf", *typ)
	}
	sh := shape{dim: *dim, layers: *layers, heads: *heads, kvHeads: *kvHeads, ff: *ff, vocab: *vocab, ctx: *ctx,
		untied: *untied, experts: *experts, expertsUsed: *expertsUsed, arch: *arch, std: *std, normNoise: *normNoise,
		window: *window, pooling: *pooling}
	if *wordpiece {
		if *arch != "bert" {
			fmt.Fprintln(os.Stderr, "mkllama: -wordpiece is for -arch bert")
			os.Exit(2)
		}
		sh.wordpiece = wordPieceVocab()
		sh.vocab = len(sh.wordpiece)
	}
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
	arch                                        string
	std, normNoise                              float64
	window, pooling                             int
	wordpiece                                   []string // bert's vocabulary, llama.cpp's spelling; nil: no_vocab
}

func write(path, typ string, sh shape, seed int64) error {
	f, err := kernels.ParseDType(typ)
	if err != nil || !f.Writable() || f == kernels.Q8_1 || f == kernels.Q8_K {
		return fmt.Errorf("type %q: want one Loom can write (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1)", typ)
	}
	if sh.experts < 0 || sh.experts > 0 && (sh.expertsUsed < 1 || sh.expertsUsed > sh.experts) {
		return fmt.Errorf("%d experts, %d used per token", sh.experts, sh.expertsUsed)
	}
	switch sh.arch {
	case "llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3", "bert":
	case "qwen3moe":
		if sh.experts == 0 {
			return fmt.Errorf("qwen3moe needs -experts")
		}
	default:
		return fmt.Errorf("arch %q: want llama, qwen2, qwen3, qwen3moe, phi3, gemma2 or gemma3", sh.arch)
	}
	gemma := strings.HasPrefix(sh.arch, "gemma")
	if sh.arch == "bert" && (sh.untied || sh.experts > 0) {
		return fmt.Errorf("bert has no output layer and no experts")
	}
	if gemma && sh.untied {
		return fmt.Errorf("%s ties its output to token_embd", sh.arch)
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
			v[i] = float32(r.NormFloat64() * sh.std)
		}
		f := f
		if strings.HasSuffix(name, "ffn_gate_inp.weight") || name == "token_types.weight" {
			// The MoE router stays f32, as llama-quantize leaves it; so do
			// BERT's token types, which llama.cpp adds as a row (ggml_add
			// takes no quantized operand).
			f = kernels.F32
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
	// vector writes an f32 vector of n values base + N(0, noise): norm
	// weights (base 1) and biases (base 0) stay f32 in every file.
	vector := func(name string, n int, base, noise float64) {
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(base+r.NormFloat64()*noise)))
		}
		infos = append(infos, &formats.Info{Name: name, Type: kernels.F32, Shape: []int{n}, Data: b})
		params += n
	}
	ones := func(name string, n int) { vector(name, n, 1, sh.normNoise) }
	hd := dim / heads
	if err := matrix("token_embd.weight", vocab, dim); err != nil {
		return err
	}
	for l := 0; l < layers && sh.arch != "bert"; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ones(p+"attn_norm.weight", dim)
		ones(p+"ffn_norm.weight", dim)
		var mats []spec
		if sh.arch == "phi3" {
			mats = append(mats, spec{"attn_qkv.weight", 0, dim + 2*kvHeads*hd, dim})
		} else {
			mats = append(mats, spec{"attn_q.weight", 0, dim, dim}, spec{"attn_k.weight", 0, kvHeads * hd, dim},
				spec{"attn_v.weight", 0, kvHeads * hd, dim})
		}
		mats = append(mats, spec{"attn_output.weight", 0, dim, dim})
		switch sh.arch {
		case "qwen2":
			vector(p+"attn_q.bias", dim, 0, sh.std*10)
			vector(p+"attn_k.bias", kvHeads*hd, 0, sh.std*10)
			vector(p+"attn_v.bias", kvHeads*hd, 0, sh.std*10)
		case "qwen3", "qwen3moe", "gemma3":
			ones(p+"attn_q_norm.weight", hd)
			ones(p+"attn_k_norm.weight", hd)
		}
		if gemma {
			ones(p+"post_attention_norm.weight", dim)
			ones(p+"post_ffw_norm.weight", dim)
		}
		switch {
		case sh.arch == "phi3":
			mats = append(mats, spec{"ffn_up.weight", 0, 2 * ff, dim}, spec{"ffn_down.weight", 0, dim, ff})
		case sh.experts > 0:
			mats = append(mats, spec{"ffn_gate_inp.weight", 0, sh.experts, dim},
				spec{"ffn_gate_exps.weight", sh.experts, ff, dim}, spec{"ffn_up_exps.weight", sh.experts, ff, dim},
				spec{"ffn_down_exps.weight", sh.experts, dim, ff})
		default:
			mats = append(mats, spec{"ffn_gate.weight", 0, ff, dim}, spec{"ffn_up.weight", 0, ff, dim}, spec{"ffn_down.weight", 0, dim, ff})
		}
		for _, m := range mats {
			if err := stack(p+m.name, m.n, m.rows, m.cols); err != nil {
				return err
			}
		}
	}
	if sh.arch == "bert" {
		// Post-LN encoder layers (llama.cpp's bert.cpp): biases everywhere,
		// LayerNorms with biases, learned positions and token types.
		if err := matrix("position_embd.weight", ctx, dim); err != nil {
			return err
		}
		if err := matrix("token_types.weight", 2, dim); err != nil {
			return err
		}
		ones("token_embd_norm.weight", dim)
		vector("token_embd_norm.bias", dim, 0, sh.normNoise)
		for l := 0; l < layers; l++ {
			p := fmt.Sprintf("blk.%d.", l)
			for _, m := range []spec{{"attn_q", 0, dim, dim}, {"attn_k", 0, dim, dim}, {"attn_v", 0, dim, dim},
				{"attn_output", 0, dim, dim}, {"ffn_up", 0, ff, dim}, {"ffn_down", 0, dim, ff}} {
				if err := matrix(p+m.name+".weight", m.rows, m.cols); err != nil {
					return err
				}
				vector(p+m.name+".bias", m.rows, 0, sh.std)
			}
			for _, n := range []string{"attn_output_norm", "layer_output_norm"} {
				ones(p+n+".weight", dim)
				vector(p+n+".bias", dim, 0, sh.normNoise)
			}
		}
	} else {
		ones("output_norm.weight", dim)
	}
	if sh.untied {
		if err := matrix("output.weight", vocab, dim); err != nil {
			return err
		}
	}
	a := sh.arch
	meta := formats.Metadata{
		"general.architecture":                  a,
		"general.name":                          fmt.Sprintf("random-%s-%dM-%s", a, params/1000000, typ),
		a + ".context_length":                   uint32(ctx),
		a + ".embedding_length":                 uint32(dim),
		a + ".block_count":                      uint32(layers),
		a + ".feed_forward_length":              uint32(ff),
		a + ".attention.head_count":             uint32(heads),
		a + ".attention.head_count_kv":          uint32(kvHeads),
		a + ".rope.freq_base":                   float32(10000),
		a + ".attention.layer_norm_rms_epsilon": float32(1e-5),
		a + ".vocab_size":                       uint32(vocab),
		"tokenizer.ggml.model":                  "no_vocab", // llama.cpp: vocab_size dummy tokens
	}
	if sh.experts > 0 {
		meta[a+".expert_count"] = uint32(sh.experts)
		meta[a+".expert_used_count"] = uint32(sh.expertsUsed)
		if a == "qwen3moe" {
			meta[a+".expert_feed_forward_length"] = uint32(ff)
		}
	}
	switch a {
	case "bert":
		delete(meta, a+".attention.head_count_kv")
		delete(meta, a+".rope.freq_base")
		delete(meta, a+".attention.layer_norm_rms_epsilon")
		meta[a+".attention.layer_norm_epsilon"] = float32(1e-12)
		meta[a+".attention.causal"] = false
		meta[a+".pooling_type"] = uint32(sh.pooling)
		meta["tokenizer.ggml.token_type_count"] = uint32(2)
		if sh.wordpiece != nil {
			delete(meta, a+".vocab_size")
			types := make([]int32, len(sh.wordpiece))
			for i, t := range sh.wordpiece {
				types[i] = 1 // normal
				if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
					types[i] = 3 // control
				}
			}
			meta["tokenizer.ggml.model"] = "bert"
			meta["tokenizer.ggml.pre"] = "bert-bge"
			meta["tokenizer.ggml.tokens"] = sh.wordpiece
			meta["tokenizer.ggml.token_type"] = types
			for key, id := range map[string]uint32{"padding": 0, "unknown": 1, "bos": 2, "cls": 2, "seperator": 3, "mask": 4} {
				meta["tokenizer.ggml."+key+"_token_id"] = id
			}
		}
	case "gemma2":
		meta[a+".attention.layer_norm_rms_epsilon"] = float32(1e-6)
		meta[a+".attn_logit_softcapping"] = float32(50)
		meta[a+".final_logit_softcapping"] = float32(30)
		meta[a+".attention.sliding_window"] = uint32(cmp.Or(sh.window, 4096))
	case "gemma3":
		meta[a+".attention.layer_norm_rms_epsilon"] = float32(1e-6)
		meta[a+".rope.freq_base"] = float32(1e6)
		meta[a+".rope.freq_base_swa"] = float32(10000)
		meta[a+".attention.sliding_window"] = uint32(cmp.Or(sh.window, 512))
		meta[a+".attention.sliding_window_pattern"] = uint32(2)
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

// wordPieceVocab is a small English WordPiece vocabulary written as
// llama.cpp's converter writes BERT's (convert_hf_to_gguf.py, BertModel):
// special tokens as they are, word-initial pieces with "▁" before them and
// continuation pieces ("##ing") without their "##". Every ASCII letter,
// digit and punctuation mark is a piece and every letter and digit a
// continuation, so any ASCII text tokenizes without [UNK]; common words and
// suffixes make real sentences a few tokens a word.
func wordPieceVocab() []string {
	v := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	for c := byte('!'); c <= '~'; c++ {
		if c >= 'A' && c <= 'Z' {
			continue // the vocabulary is lower-cased, as bge's and MiniLM's are
		}
		v = append(v, "\u2581"+string(c))
	}
	for c := byte('0'); c <= 'z'; c++ {
		if c <= '9' || c >= 'a' {
			v = append(v, string(c))
		}
	}
	words := strings.Fields(`the of and to in is was for on that with as it by at from his he an be are
		this which or had not but were her she they you we their one all there been has have who its can
		time first new two more after years would about also into other some what when than up out only
		so do if my me no will said them could like then these may many over such how just our where
		cat cats dog dogs bird fish tree house car road city river sea sky sun moon star rain snow
		red green blue black white big small old young good bad happy sad fast slow hot cold
		sat ran jumped sleeps eat eats play plays read reads went go goes see saw love likes
		man woman child children girl boy friend people king queen book music food water fire
		weather today tomorrow morning night day week year world country language computer model
		embedding sentence search query document vector hello thanks please story once upon`)
	for _, w := range words {
		v = append(v, "\u2581"+w)
	}
	return append(v, "es", "ed", "ing", "ly", "er", "est", "ion", "ness", "ment", "able", "ful")
}
