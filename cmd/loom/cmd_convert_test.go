package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

func TestConvertStories260K(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "models", "stories260K")
	if _, err := os.Stat(filepath.Join(dir, "stories260K.bin")); err != nil {
		t.Skipf("shared model stories260K not present: %v", err)
	}
	out := filepath.Join(t.TempDir(), "s.gguf")
	var so, se bytes.Buffer
	code := runMain([]string{"convert", "--from", "llama2c", "--in", filepath.Join(dir, "stories260K.bin"),
		"--tokenizer", filepath.Join(dir, "tok512.bin"), "--out", out}, &so, &se)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	got, err := formats.OpenGGUF(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	want, err := formats.OpenGGUF(filepath.Join(dir, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	for _, k := range []string{"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.model"} {
		if !reflect.DeepEqual(got.Meta()[k], want.Meta()[k]) {
			t.Errorf("%s differs", k)
		}
	}
	for _, n := range want.Names() {
		wi, _ := want.Info(n)
		if n == "output.weight" {
			n = "token_embd.weight"
		}
		gi, err := got.Info(n)
		if err != nil || !bytes.Equal(gi.Data, wi.Data) {
			t.Errorf("%s: %v or values differ", n, err)
		}
	}
	if code := runMain([]string{"convert", "--in", "x"}, &so, &se); code != 2 || !strings.Contains(se.String(), "usage") {
		t.Errorf("missing flags: exit %d %q", code, se.String())
	}
}
