package tokenizer

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

var updateRWKV = flag.String("update-rwkv", "", "llama-tokenize binary: rewrite testdata/rwkv-world-tiny.out from it")

// rwkvTinyVocab is a small World-style vocabulary written as llama.cpp's
// converter writes RWKV's: "<s>" (control), every byte as Python's repr
// of it, then longer byte strings — spaces, newlines, words, a backslash
// pair, UTF-8 sequences — so greedy longest matches and the escapes are
// both exercised.
func rwkvTinyVocab() []string {
	v := []string{"<s>"}
	for b := 0; b < 256; b++ {
		v = append(v, pyRepr([]byte{byte(b)}))
	}
	for _, s := range []string{"\n\n", "  ", "    ", "\t\t", "he", "hel", "hello", " world", " wor", "the", " the", " cat",
		"ca", "at", "é", "caf", "café", "日本", "語", "\\n", "''", " \"", "AI", " AI", "123", "12", "\r\n",
		"<s", "s>", "ll", "llo", "o w"} {
		v = append(v, pyRepr([]byte(s)))
	}
	return v
}

// pyRepr is repr(b)[2:-1] as Python writes it for bytes.
func pyRepr(b []byte) string {
	var sb strings.Builder
	quote := byte('\'')
	if slices.Contains(b, '\'') && !slices.Contains(b, '"') {
		quote = '"'
	}
	for _, c := range b {
		switch {
		case c == '\\':
			sb.WriteString(`\\`)
		case c == quote:
			sb.WriteString(`\` + string(c))
		case c == '\t':
			sb.WriteString(`\t`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, c)
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

var rwkvCases = []string{
	"hello world", "Hello world\n\nthe cat", "the  cat\t\tsat", "naïve café 日本語", `a\nb and a \ slash`,
	"it's \"quoted\" 'twice'", "<s>hello<s>", "AI 123 1234", "line\r\nline", "    indented\n\n\n", "o wo",
	string([]byte{0xff, 0xfe, 'a'}),
}

// The RWKV World tokenizer gives llama-tokenize's ids (testdata/
// rwkv-world-tiny.out, written by llama.cpp 1fd6dfe9f's llama-tokenize from a
// GGUF with this vocabulary) and decodes back to the text.
func TestRWKVWorldMatchesLlamaCpp(t *testing.T) {
	tokens := rwkvTinyVocab()
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = TypeNormal
	}
	types[0] = TypeControl
	meta := formats.Metadata{"tokenizer.ggml.model": "rwkv", "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
		"tokenizer.ggml.bos_token_id": uint32(0), "tokenizer.ggml.eos_token_id": uint32(0)}
	tok, err := FromGGUF(meta)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join("testdata", "rwkv-world-tiny.out")
	if *updateRWKV != "" {
		writeRWKVReference(t, meta, out)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(rwkvCases) {
		t.Fatalf("%d reference lines for %d cases", len(lines), len(rwkvCases))
	}
	for i, text := range rwkvCases {
		var want []int
		if err := json.Unmarshal([]byte(lines[i]), &want); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		got := tok.Encode(text, true)
		if !slices.Equal(got, want) {
			t.Errorf("%q: %v, llama.cpp %v", text, got, want)
		}
		// "<s>" is in the trie too (llama.cpp puts every token there), so
		// only texts without it come back byte for byte.
		if dec := tok.DecodeAll(tok.EncodeWith(text, Options{})); dec != text && !strings.Contains(text, "<s>") {
			t.Errorf("%q decodes to %q", text, dec)
		}
	}
	if tok.BOS() != 0 || tok.EOS() != 0 || !tok.IsControl(0) || tok.Decode(0) != "" {
		t.Errorf("BOS %d EOS %d", tok.BOS(), tok.EOS())
	}
}

// writeRWKVReference runs llama-tokenize on each case with a GGUF of the
// vocabulary (the tiny RWKV-6 fixture's architecture and tensors; only the
// vocabulary is read).
func writeRWKVReference(t *testing.T, meta formats.Metadata, out string) {
	src, err := formats.Open(filepath.Join("..", "towers", "testdata", "rwkv6", "f32.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	full := formats.Metadata{}
	for k, v := range src.Meta() {
		if !strings.HasPrefix(k, "tokenizer.") {
			full[k] = v
		}
	}
	for k, v := range meta {
		full[k] = v
	}
	full["rwkv6.vocab_size"] = uint32(len(meta["tokenizer.ggml.tokens"].([]string)))
	path := filepath.Join(t.TempDir(), "rwkv-vocab.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := formats.WriteGGUF(f, full, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var sb strings.Builder
	for _, text := range rwkvCases {
		cmd := exec.Command(*updateRWKV, "-m", path, "--stdin", "--ids", "--no-escape", "--log-disable")
		cmd.Stdin = strings.NewReader(text)
		b, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("llama-tokenize %q: %v\n%s", text, err, stderr)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		sb.WriteString(lines[len(lines)-1] + "\n")
	}
	if err := os.WriteFile(out, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
