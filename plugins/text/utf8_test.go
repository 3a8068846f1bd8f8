package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/loomhq/loom/core/testmodel"
	"github.com/loomhq/loom/plugins/sdk"
)

// Issue 17 item 1: a model sampling byte tokens that never form UTF-8 sent
// raw bytes as deltas; over gRPC that failed the marshal and the job
// ("string field contains invalid UTF-8"). Every delta and the result text
// must be valid UTF-8, with U+FFFD for what can never be.
func TestRandomBytesStreamValidUTF8(t *testing.T) {
	dir := t.TempDir()
	if err := testmodel.WriteByteLlama(filepath.Join(dir, "byte-llama.gguf"), 1); err != nil {
		t.Fatal(err)
	}
	e := newEngine([]string{dir}, "")
	replaced := 0
	for seed := range int64(4) {
		r := runJob(t, e, context.Background(), sdk.Job{Task: taskComplete, Model: "byte-llama", Seed: seed,
			Params: json.RawMessage(`{"prompt":"héllo","max_tokens":48,"temperature":1}`)})
		if r.err != nil {
			t.Fatalf("seed %d: %v", seed, r.err)
		}
		for _, d := range r.deltas {
			if !utf8.ValidString(d) {
				t.Fatalf("seed %d: delta %q is not valid UTF-8", seed, d)
			}
		}
		if !utf8.ValidString(r.res.Text) || strings.Join(r.deltas, "") != r.res.Text {
			t.Fatalf("seed %d: text %q, deltas %q", seed, r.res.Text, r.deltas)
		}
		replaced += strings.Count(r.res.Text, "\uFFFD")
	}
	if replaced == 0 {
		t.Fatal("no byte was replaced: the model did not produce the invalid UTF-8 this test is about")
	}
}
