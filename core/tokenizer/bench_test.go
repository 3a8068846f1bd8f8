package tokenizer

import (
	"strings"
	"testing"
)

// benchText is ~4 KiB of story-like English.
var benchText = strings.Repeat("Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. ", 42)

func BenchmarkSentencePieceEncode4KiB(b *testing.B) {
	tk := tok512(b)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tk.Encode(benchText, true)
	}
}

func BenchmarkByteBPEEncode4KiB(b *testing.B) {
	tk := tinyBPE(b)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tk.Encode(benchText, true)
	}
}

// The tokenizers of llama.cpp's vocabularies (testdata/vocab extracts) on
// the same text, and on inputs whose words are long — one word, a run of
// spaces, CJK — at 4 KiB and 64 KiB: the cost per byte must not grow with
// the length (no quadratic path).
func BenchmarkVocabEncode(b *testing.B) {
	inputs := []struct{ name, text string }{
		{"story4KiB", benchText},
		{"word4KiB", strings.Repeat("abcdefgh", 512)},
		{"word64KiB", strings.Repeat("abcdefgh", 8192)},
		{"spaces4KiB", strings.Repeat(" ", 4096)},
		{"spaces64KiB", strings.Repeat(" ", 65536)},
		{"cjk4KiB", strings.Repeat("日本語のテキスト", 4096/24)},
		{"cjk64KiB", strings.Repeat("日本語のテキスト", 65536/24)},
	}
	for _, name := range []string{"llama-bpe", "qwen2", "deepseek-llm", "gpt-2", "llama-spm", "bert-bge"} {
		tk := extractTokenizer(b, name)
		for _, in := range inputs {
			b.Run(name+"/"+in.name, func(b *testing.B) {
				b.SetBytes(int64(len(in.text)))
				for b.Loop() {
					tk.EncodeWith(in.text, Options{})
				}
			})
		}
	}
}
