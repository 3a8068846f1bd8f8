package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/tokenizer"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
)

// writeTinyQwen3 writes a random Qwen3 (QK-norm, NeoX RoPE, untied output)
// with a byte-level BPE vocabulary of printable ASCII, space and newline
// (GPT-2's byte symbols, no merges) and Qwen's ChatML control tokens
// <|endoftext|>, <|im_start|>, <|im_end|> — what a real Qwen3 GGUF holds,
// shrunk so anything it generates is readable text.
func writeTinyQwen3(t *testing.T, path string) {
	t.Helper()
	var tokens []string
	var types []int32
	for b := 0x21; b <= 0x7e; b++ {
		tokens, types = append(tokens, string(rune(b))), append(types, 1)
	}
	tokens = append(tokens, "Ġ", "Ċ", "<|endoftext|>", "<|im_start|>", "<|im_end|>") // GPT-2's symbols of ' ', '\n'
	types = append(types, 1, 1, 3, 3, 3)
	const dim, layers, heads, kvHeads, ff = 32, 2, 4, 2, 64
	hd, vocab := dim/heads, len(tokens)
	r := rand.New(rand.NewSource(5))
	var infos []*formats.Info
	add := func(name string, base, std float64, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		b := make([]byte, 4*n)
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(base+r.NormFloat64()*std)))
		}
		infos = append(infos, &formats.Info{Name: name, Type: kernels.F32, Shape: shape, Data: b})
	}
	add("token_embd.weight", 0, 0.5, vocab, dim)
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		add(p+"attn_norm.weight", 1, 0.1, dim)
		add(p+"attn_q.weight", 0, 0.3, dim, dim)
		add(p+"attn_k.weight", 0, 0.3, kvHeads*hd, dim)
		add(p+"attn_v.weight", 0, 0.3, kvHeads*hd, dim)
		add(p+"attn_q_norm.weight", 1, 0.1, hd)
		add(p+"attn_k_norm.weight", 1, 0.1, hd)
		add(p+"attn_output.weight", 0, 0.3, dim, dim)
		add(p+"ffn_norm.weight", 1, 0.1, dim)
		add(p+"ffn_gate.weight", 0, 0.3, ff, dim)
		add(p+"ffn_up.weight", 0, 0.3, ff, dim)
		add(p+"ffn_down.weight", 0, 0.3, dim, ff)
	}
	add("output_norm.weight", 1, 0.1, dim)
	add("output.weight", 0, 0.5, vocab, dim)
	meta := formats.Metadata{
		"general.architecture":                   "qwen3",
		"qwen3.context_length":                   uint32(256),
		"qwen3.embedding_length":                 uint32(dim),
		"qwen3.block_count":                      uint32(layers),
		"qwen3.feed_forward_length":              uint32(ff),
		"qwen3.attention.head_count":             uint32(heads),
		"qwen3.attention.head_count_kv":          uint32(kvHeads),
		"qwen3.rope.freq_base":                   float32(1e6),
		"qwen3.attention.layer_norm_rms_epsilon": float32(1e-6),
		"tokenizer.ggml.model":                   "gpt2",
		"tokenizer.ggml.pre":                     "qwen2",
		"tokenizer.ggml.tokens":                  tokens,
		"tokenizer.ggml.token_type":              types,
		"tokenizer.ggml.merges":                  []string{},
		"tokenizer.ggml.bos_token_id":            uint32(vocab - 3),
		"tokenizer.ggml.eos_token_id":            uint32(vocab - 1),
		"tokenizer.ggml.add_bos_token":           false,
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := formats.WriteGGUF(f, meta, infos); err != nil {
		t.Fatal(err)
	}
}

// A Qwen3 file streams through the text plugin as a Llama does: its chat
// template comes from the GGUF (ChatML, by the architecture and the
// vocabulary's <|im_start|>), and the greedy reply is the one the Qwen3
// decoder gives on that rendered prompt, token for token, one delta each.
func TestQwen3ChatThroughPlugin(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tiny-qwen3.gguf")
	writeTinyQwen3(t, path)

	// The reference: render ChatML by hand, tokenize, decode greedily.
	src, err := formats.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tok, err := tokenizer.FromSource(src, "")
	if err != nil {
		t.Fatal(err)
	}
	dec, err := towers.LoadDecoder(src.(formats.InfoSource))
	if err != nil {
		t.Fatal(err)
	}
	prompt := "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n"
	ids := tok.Encode(prompt, true)
	if len(ids) != 28 || ids[0] != tok.VocabSize()-2 || ids[len(ids)-1] != 95 {
		t.Fatalf("ChatML prompt tokenized as %v", ids) // 3 control tokens and 25 bytes; 95 is "Ċ"
	}
	const maxTokens = 30
	st := dec.NewState(0)
	logits, err := st.Forward(ids, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	made := 0
	for ; made < maxTokens; made++ {
		next := 0
		for i, v := range logits {
			if v > logits[next] {
				next = i
			}
		}
		if next >= tok.VocabSize()-3 { // a control token ends the reply
			break
		}
		want.WriteString(tok.Decode(next))
		if logits, err = st.Forward([]int{next}, len(ids)+made); err != nil {
			t.Fatal(err)
		}
	}
	if made < 5 {
		t.Fatalf("reference reply %q is too short to tell anything", want.String())
	}

	e := newEngine([]string{dir}, "")
	r := runJob(t, e, context.Background(), sdk.Job{Task: taskChat, Model: "tiny-qwen3",
		Params: json.RawMessage(fmt.Sprintf(`{"messages":[{"role":"user","content":"Hi there!"}],"max_tokens":%d,"temperature":0}`, maxTokens))})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.Text != want.String() || strings.Join(r.deltas, "") != r.res.Text {
		t.Fatalf("reply %q (deltas %q), Qwen3 decoder gives %q", r.res.Text, r.deltas, want.String())
	}
	if r.res.Usage.PromptTokens != len(ids) || r.res.Usage.CompletionTokens != made || len(r.deltas) != made {
		t.Fatalf("usage %+v, %d deltas; want %d prompt and %d completion tokens", r.res.Usage, len(r.deltas), len(ids), made)
	}
	m, err := e.Describe(context.Background())
	if err != nil || !slices.ContainsFunc(m.Models, func(mi sdk.ModelInfo) bool { return mi.ID == "tiny-qwen3" }) {
		t.Fatalf("manifest %+v, %v", m.Models, err)
	}
}
