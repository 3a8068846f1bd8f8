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
// the same text, and on inputs whose words are long: one 64 KiB word, a
// 64 KiB run of spaces, 64 KiB of CJK. Their cost per byte must stay that
// of ordinary text (no quadratic path).
func BenchmarkVocabEncode(b *testing.B) {
	inputs := []struct{ name, text string }{
		{"story4KiB", benchText},
		{"word64KiB", strings.Repeat("abcdefgh", 8192)},
		{"spaces64KiB", strings.Repeat(" ", 65536)},
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
