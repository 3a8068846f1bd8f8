package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenerateThroughPlugin builds loom-plugin-text and runs `loom generate`
// on stories260K through the plugin host: the text must be llama2.c's.
func TestGenerateThroughPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the text plugin")
	}
	model := filepath.Join("..", "..", "..", "shared", "models", "stories260K", "stories260K.bin")
	if _, err := os.Stat(model); err != nil {
		t.Skipf("shared model not present (%v)", err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "loom-plugin-text"), "github.com/loomhq/loom/plugins/text")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	err := runGenerate([]string{"--model", model, "--prompt", "Once upon a time", "--max-tokens", "60",
		"--temperature", "0", "--plugins", dir}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, stderr.String())
	}
	want := "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily\n"
	if stdout.String() != want {
		t.Fatalf("stdout %q, want %q", stdout.String(), want)
	}
	if err := runGenerate([]string{"--prompt", "x"}, &stdout, &stderr); err == nil {
		t.Fatal("missing --model accepted")
	}
}
