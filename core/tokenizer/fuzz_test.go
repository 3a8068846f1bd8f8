package tokenizer

import (
	"bytes"
	"os"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

// FuzzParseHF: any tokenizer.json either fails to parse or encodes and
// decodes without panicking.
func FuzzParseHF(f *testing.F) {
	if b, err := os.ReadFile("testdata/tiny_tokenizer.json"); err == nil {
		f.Add(b, "the cat<|eot_id|> 12")
	}
	f.Add([]byte(`{"added_tokens":[{"id":3,"content":"<s>","special":true}],"normalizer":{"type":"Replace","pattern":{"String":" "},"content":"\u2581"},"model":{"type":"BPE","vocab":{"a":0,"\u2581":1,"<0x41>":2},"merges":["\u2581 a"],"byte_fallback":true}}`), "a A<s>")
	f.Fuzz(func(t *testing.T, js []byte, text string) {
		tk, err := ParseHF(js, nil)
		if err != nil {
			return
		}
		ids := tk.Encode(text, true)
		for _, id := range ids {
			if id < 0 || id >= tk.VocabSize() {
				t.Fatalf("id %d outside vocabulary %d", id, tk.VocabSize())
			}
		}
		tk.DecodeAll(ids)
	})
}

// FuzzTokenizerFromGGUF: hostile tokenizer.ggml.* metadata gives an error
// or a tokenizer whose ids stay inside the vocabulary.
func FuzzTokenizerFromGGUF(f *testing.F) {
	for _, meta := range []formats.Metadata{
		{"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": []string{"<unk>", "<s>", "</s>", "<0x41>", " ", "a", " a"},
			"tokenizer.ggml.scores": []float32{0, 0, 0, 0, -1, -2, -3}, "tokenizer.ggml.token_type": []int32{2, 3, 3, 6, 1, 1, 1}},
		{"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "qwen2", "tokenizer.ggml.tokens": []string{"a", "b", "ab", "<|x|>"},
			"tokenizer.ggml.merges": []string{"a b"}, "tokenizer.ggml.token_type": []int32{1, 1, 1, 3}, "tokenizer.ggml.eos_token_id": uint32(3)},
		{"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "deepseek-llm", "tokenizer.ggml.tokens": []string{"a", "Ġ", "Ġa", "õ", "  "},
			"tokenizer.ggml.merges": []string{"Ġ a"}, "tokenizer.ggml.token_type": []int32{1, 1, 1, 4, 4}},
		{"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-4o", "tokenizer.ggml.tokens": []string{"A", "b", "Ab", "1"},
			"tokenizer.ggml.merges": []string{"A b"}},
		{"tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁a", "b", "▁!"},
			"tokenizer.ggml.token_type": []int32{3, 3, 3, 3, 1, 1, 1}, "tokenizer.ggml.unknown_token_id": uint32(1),
			"tokenizer.ggml.bos_token_id": uint32(2), "tokenizer.ggml.seperator_token_id": uint32(3)},
	} {
		var buf bytes.Buffer
		if err := formats.WriteGGUF(&buf, meta, nil); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes(), "ab a<|x|>A é")
	}
	f.Fuzz(func(t *testing.T, b []byte, text string) {
		g, err := formats.ParseGGUF(b)
		if err != nil {
			return
		}
		tk, err := FromGGUF(g.Meta())
		if err != nil {
			return
		}
		for _, o := range []Options{{AddSpecial: true, ParseSpecial: true}, {}} {
			for _, id := range tk.EncodeWith(text, o) {
				if id < 0 || id >= tk.VocabSize() {
					t.Fatalf("id %d outside vocabulary %d", id, tk.VocabSize())
				}
			}
		}
	})
}
