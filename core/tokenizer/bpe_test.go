package tokenizer

import (
	"reflect"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

func tinyBPE(t testing.TB) *ByteBPE {
	t.Helper()
	tk, err := LoadHF("testdata/tiny_tokenizer.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// Expected ids worked out by hand from gen_tiny_tokenizer.py: ids 0..255 are
// bytes; 256 Ġt, 257 he, 258 Ġthe, 259 in, 260 Ġc, 261 at, 262 Ġcat, 263 ĊĊ;
// 264 <|begin_of_text|>, 265 <|eot_id|>, 266 <|start_header_id|>,
// 267 <|end_header_id|>.
func TestByteBPEKnownIDs(t *testing.T) {
	tk := tinyBPE(t)
	cases := []struct {
		text string
		bos  bool
		want []int
	}{
		// "the" has no merge path to a token ("t he" is not a merge): t + he.
		// " cat": Ġ c (rank 4) first, then a t (5), then Ġc at (6).
		{"the cat", true, []int{264, 't', 257, 262}},
		// ignore_merges: a whole pre-token in the vocab is taken directly.
		{" the", false, []int{258}},
		{"in 12345", false, []int{259, ' ', '1', '2', '3', '4', '5'}},
		{"é!", false, []int{0xC3, 0xA9, '!'}},
		{"<|start_header_id|>user<|end_header_id|>\n\nthe cat<|eot_id|>", false,
			[]int{266, 'u', 's', 'e', 'r', 267, 263, 't', 257, 262, 265}},
	}
	for _, c := range cases {
		if got := tk.Encode(c.text, c.bos); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	if tk.BOS() != 264 || !tk.AddsBOS() || tk.EOS() != 265 || !tk.IsControl(265) || tk.IsControl(258) || tk.VocabSize() != 268 {
		t.Fatalf("bos %d adds %v eos %d vocab %d", tk.BOS(), tk.AddsBOS(), tk.EOS(), tk.VocabSize())
	}
}

func TestByteBPERoundTrip(t *testing.T) {
	tk := tinyBPE(t)
	for _, s := range []string{"the cat sat in the hat", "naïve café — 日本語 🙂", "  spaces\n\n\ttabs ", "x\xffy"} {
		ids := tk.Encode(s, true)
		// An invalid byte is tokenized as U+FFFD (llama.cpp's rule).
		if got, want := tk.DecodeAll(ids), strings.ReplaceAll(s, "\xff", "\uFFFD"); got != want {
			t.Errorf("%q → %v → %q", s, ids, got)
		}
	}
	if tk.Decode(265) != "" || tk.Decode(258) != " the" || tk.Decode(10) != "\n" {
		t.Fatalf("Decode: %q %q %q", tk.Decode(265), tk.Decode(258), tk.Decode(10))
	}
}

// The same vocabulary as GGUF tokenizer model "gpt2" encodes identically.
func TestByteBPEFromGGUFMatchesJSON(t *testing.T) {
	js := tinyBPE(t)
	tokens := make([]string, js.VocabSize())
	types := make([]int32, len(tokens))
	for i := range tokens {
		tokens[i] = js.pieces[i]
		types[i] = TypeNormal
		if js.control[i] {
			types[i] = TypeControl
		}
	}
	merges := []string{"Ġ t", "h e", "Ġt he", "i n", "Ġ c", "a t", "Ġc at", "Ċ Ċ"}
	meta := formats.Metadata{"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "llama-bpe", "tokenizer.ggml.tokens": tokens,
		"tokenizer.ggml.token_type": types, "tokenizer.ggml.merges": merges,
		"tokenizer.ggml.bos_token_id": uint32(264), "tokenizer.ggml.eos_token_id": uint32(265)}
	gg, err := FromGGUF(meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"the cat", "<|start_header_id|>user<|end_header_id|>\n\nthe cat<|eot_id|>", "in 12345 é"} {
		// GGUF has no ignore_merges flag; these texts merge to the same ids.
		if a, b := gg.Encode(s, true), js.Encode(s, true); !reflect.DeepEqual(a, b) {
			t.Errorf("%q: gguf %v, json %v", s, a, b)
		}
	}
	if gg.BOS() != 264 || gg.EOS() != 265 {
		t.Fatal("special ids")
	}
}

func TestByteBPERejects(t *testing.T) {
	for name, js := range map[string]string{
		"notjson":  `{`,
		"unigram":  `{"model":{"type":"Unigram"}}`,
		"badmerge": `{"model":{"type":"BPE","vocab":{"a":0},"merges":["ab"]},"pre_tokenizer":{"type":"ByteLevel"}}`,
		"regex":    `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\w+"}},{"type":"ByteLevel","use_regex":false}]}}`,
		"nobytes":  `{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"Whitespace"}}`,
	} {
		if _, err := ParseHF([]byte(js), nil); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func FuzzByteBPE(f *testing.F) {
	tk, err := LoadHF("testdata/tiny_tokenizer.json", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("the cat<|eot_id|> 123 é")
	f.Fuzz(func(t *testing.T, s string) {
		ids := tk.Encode(s, false)
		if got := tk.DecodeAll(ids); got != s && !strings.Contains(s, "<|") {
			t.Fatalf("%q → %q", s, got)
		}
	})
}
