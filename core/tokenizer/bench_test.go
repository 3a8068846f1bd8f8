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
