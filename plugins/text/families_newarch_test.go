package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/tokenizer"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
)

// withVocab writes the model of fixture (a llama.cpp-checked random model
// under core/towers/testdata, tokenizer "no_vocab") to dir/name.gguf with a
// SentencePiece vocabulary of its size: <unk>, <s>, </s>, "▁", the printable
// ASCII characters, then two-letter pieces.
func withVocab(t *testing.T, fixture, dir, name string) string {
	t.Helper()
	return withTokenizer(t, fixture, dir, name, func(vocab int) formats.Metadata {
		tokens := []string{"<unk>", "<s>", "</s>", "▁"}
		types := []int32{2, 3, 3, 1}
		for c := byte(33); c < 127 && len(tokens) < vocab; c++ {
			tokens, types = append(tokens, string(c)), append(types, 1)
		}
		for i := 0; len(tokens) < vocab; i++ {
			tokens, types = append(tokens, fmt.Sprintf("%c%c", 'a'+i/26, 'a'+i%26)), append(types, 1)
		}
		return formats.Metadata{"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens,
			"tokenizer.ggml.scores": make([]float32, vocab), "tokenizer.ggml.token_type": types,
			"tokenizer.ggml.bos_token_id": uint32(1), "tokenizer.ggml.eos_token_id": uint32(2),
			"tokenizer.ggml.unknown_token_id": uint32(0)}
	})
}

// withTokenizer writes the model of fixture to dir/name.gguf with the
// tokenizer.* metadata vocab(its vocabulary size) gives.
func withTokenizer(t *testing.T, fixture, dir, name string, vocab func(n int) formats.Metadata) string {
	t.Helper()
	src, err := formats.Open(filepath.Join("..", "..", "core", "towers", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var infos []*formats.Info
	for _, n := range src.Names() {
		in, err := src.Info(n)
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, in)
	}
	emb, err := src.Info("token_embd.weight")
	if err != nil {
		t.Fatal(err)
	}
	meta := formats.Metadata{}
	for k, v := range src.Meta() {
		if !strings.HasPrefix(k, "tokenizer.") {
			meta[k] = v
		}
	}
	for k, v := range vocab(emb.Shape[0]) {
		meta[k] = v
	}
	path := filepath.Join(dir, name+".gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := formats.WriteGGUF(f, meta, infos); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestNewFamiliesStream serves each new architecture through the text
// plugin as Llama is served: a greedy completion with two choices (the
// second forked from the first's prefill) must stream the text of the
// tokens the tower picks when driven directly, and the embeddings task must
// refuse a model that is not an attention decoder with a clear error (and
// its manifest not list the task).
func TestNewFamiliesStream(t *testing.T) {
	dir := t.TempDir()
	for _, fam := range []string{"mamba", "mamba2", "rwkv6", "deepseek2"} {
		t.Run(fam, func(t *testing.T) {
			path := withVocab(t, fam+"/f32.gguf", dir, fam)
			src, err := formats.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			lm, err := towers.LoadLM(src.(formats.InfoSource))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.FromSource(src, "")
			if err != nil {
				t.Fatal(err)
			}
			const prompt, maxTokens = "Hello, world", 6
			ids := tok.Encode(prompt, true)
			st := lm.NewSession(0)
			logits, err := st.Forward(ids, 0)
			if err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			for i := 0; i < maxTokens; i++ {
				next := 0
				for v, x := range logits {
					if x > logits[next] {
						next = v
					}
				}
				if next == tok.EOS() || next == tok.BOS() {
					break
				}
				want.WriteString(tok.Decode(next))
				if logits, err = st.Forward([]int{next}, len(ids)+i); err != nil {
					t.Fatal(err)
				}
			}
			if want.Len() == 0 {
				t.Fatal("the model ends at once: nothing to compare")
			}

			e := newEngine([]string{dir}, "")
			r := runJob(t, e, context.Background(), sdk.Job{Task: taskComplete, Model: fam,
				Params: json.RawMessage(fmt.Sprintf(`{"prompt":%q,"max_tokens":%d,"temperature":0,"n":2}`, prompt, maxTokens))})
			if r.err != nil {
				t.Fatal(r.err)
			}
			if len(r.res.Choices) != 2 || r.res.Choices[0].Text != want.String() || r.res.Choices[1].Text != want.String() {
				t.Fatalf("choices %+v, want twice %q", r.res.Choices, want.String())
			}
			// The two choices' deltas interleave; together they hold both texts.
			if got := strings.Join(r.deltas, ""); len(got) != 2*want.Len() {
				t.Fatalf("streamed %q, want the pieces of %q twice", got, want.String())
			}
			err = e.Run(context.Background(), sdk.Job{Task: taskEmbed, Model: fam, Params: json.RawMessage(`{"input":["hello"]}`)},
				func(sdk.Event) error { return nil })
			if err == nil || !strings.Contains(err.Error(), "does not serve embeddings") {
				t.Fatalf("embeddings of a %s model: %v", fam, err)
			}
			// Nor does its manifest offer them, so the gateway answers 404.
			man, err := e.Describe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range man.Models {
				if m.ID == fam && (len(m.Tasks) != 2 || m.Tasks[0] != taskComplete || m.Tasks[1] != taskChat || !m.Ready) {
					t.Fatalf("Describe lists %s with tasks %v (ready %v)", fam, m.Tasks, m.Ready)
				}
			}
		})
	}
}

// An RWKV-6 file with the World vocabulary (tokenizer.ggml.model rwkv, as
// every converted RWKV-6 GGUF has) loads and streams through the plugin:
// "<s>" then every byte written as the converter writes it.
func TestRWKVWorldFileStreams(t *testing.T) {
	dir := t.TempDir()
	withTokenizer(t, "rwkv6/f32.gguf", dir, "rwkv6-world", func(vocab int) formats.Metadata {
		tokens, types := []string{"<s>"}, []int32{3}
		for b := 0; len(tokens) < vocab; b++ {
			s := string(rune(b))
			if b < 0x20 || b >= 0x7f || b == '\\' || b == '\'' {
				s = fmt.Sprintf(`\x%02x`, b)
			}
			tokens, types = append(tokens, s), append(types, 1)
		}
		return formats.Metadata{"tokenizer.ggml.model": "rwkv", "tokenizer.ggml.tokens": tokens,
			"tokenizer.ggml.token_type": types, "tokenizer.ggml.bos_token_id": uint32(0), "tokenizer.ggml.eos_token_id": uint32(0)}
	})
	e := newEngine([]string{dir}, "")
	r := runJob(t, e, context.Background(), sdk.Job{Task: taskComplete, Model: "rwkv6-world",
		Params: json.RawMessage(`{"prompt":"Hello, world","max_tokens":6,"temperature":0}`)})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.Usage.PromptTokens != len("Hello, world") || r.res.Usage.CompletionTokens == 0 {
		t.Fatalf("usage %+v: one token a byte expected", r.res.Usage)
	}
	lm, err := e.model("rwkv6-world")
	if err != nil {
		t.Fatal(err)
	}
	defer e.done(lm)
	if got := lm.tok.Encode("\n\xfe", false); len(got) != 2 || got[0] != 1+'\n' || got[1] != 1+0xfe {
		t.Errorf("escaped bytes: %v, want [%d %d]", got, 1+'\n', 1+0xfe)
	}
}
