package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

func tokenizeCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runTokenize(args, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), err
}

// A GGUF byte-level BPE vocabulary (Qwen2's pre-tokenizer, one merge, a
// control token): ids on one line, no BOS unless --bos, control text parsed
// unless --no-parse-special, --pieces quoted.
func TestTokenizeGGUF(t *testing.T) {
	meta := formats.Metadata{
		"general.architecture": "qwen2", "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "qwen2",
		"tokenizer.ggml.tokens":       []string{"a", "b", "ab", "Ġ", "Ġab", "<|x|>", "1", "<", "|", "x", ">"},
		"tokenizer.ggml.token_type":   []int32{1, 1, 1, 1, 1, 3, 1, 1, 1, 1, 1},
		"tokenizer.ggml.merges":       []string{"a b", "Ġ ab"},
		"tokenizer.ggml.bos_token_id": uint32(5), "tokenizer.ggml.add_bos_token": true,
	}
	path := filepath.Join(t.TempDir(), "v.gguf")
	var buf bytes.Buffer
	if err := formats.WriteGGUF(&buf, meta, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in   string
		args []string
		want string
	}{
		{"ab ab11<|x|>", nil, "2 4 6 6 5\n"},
		{"ab ab11<|x|>", []string{"--bos"}, "5 2 4 6 6 5\n"},
		{"ab<|x|>", []string{"--no-parse-special"}, "2 7 8 9 8 10\n"},
		{"ab ab<|x|>", []string{"--pieces"}, `"ab" " ab" "<|x|>"` + "\n"},
		{"", nil, "\n"},
	}
	for _, c := range cases {
		got, err := tokenizeCLI(t, c.in, append([]string{"--model", path}, c.args...)...)
		if err != nil || got != c.want {
			t.Errorf("%q %v: %q, %v; want %q", c.in, c.args, got, err, c.want)
		}
	}
}

func TestTokenizeStories260K(t *testing.T) {
	model := filepath.Join("..", "..", "..", "shared", "models", "stories260K", "stories260K.gguf")
	if _, err := os.Stat(model); err != nil {
		t.Skipf("shared model not present (%v)", err)
	}
	if got, err := tokenizeCLI(t, "Once upon a time", "--model", model, "--bos"); err != nil || got != "1 403 407 261 378\n" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestTokenizeErrors(t *testing.T) {
	if _, err := tokenizeCLI(t, "x"); err == nil {
		t.Error("missing --model accepted")
	}
	if _, err := tokenizeCLI(t, "x", "--model", filepath.Join(t.TempDir(), "absent.gguf")); err == nil {
		t.Error("absent model accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	os.WriteFile(bad, []byte("GGUF\x03\x00\x00\x00garbage"), 0o644)
	if _, err := tokenizeCLI(t, "x", "--model", bad); err == nil {
		t.Error("corrupt model accepted")
	}
}
