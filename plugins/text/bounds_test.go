package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/testmodel"
	"github.com/loomhq/loom/plugins/sdk"
)

// Issue 17 item 8: a 10 MB prompt was tokenised before the context check
// (the plugin's RSS went from 17 to 469 MB and stayed). A text longer than
// context × the longest piece cannot fit, so it is refused by its byte
// count, before any tokenising: the run allocates little beyond the params.
func TestHugeTextRefusedBeforeTokenising(t *testing.T) {
	dir := t.TempDir()
	if err := testmodel.WriteByteLlama(filepath.Join(dir, "byte-llama.gguf"), 1); err != nil {
		t.Fatal(err)
	}
	e := newEngine([]string{dir}, "")
	// Load the model first so its own allocations are not counted.
	if r := runJob(t, e, context.Background(), sdk.Job{Task: taskComplete, Model: "byte-llama",
		Params: json.RawMessage(`{"prompt":"hi","max_tokens":1}`)}); r.err != nil {
		t.Fatal(r.err)
	}
	huge := strings.Repeat("é", 5<<20) // 10 MiB
	quoted, _ := json.Marshal(huge)
	for _, c := range []struct{ task, params string }{
		{taskComplete, `{"prompt":` + string(quoted) + `}`},
		{taskChat, `{"messages":[{"role":"user","content":` + string(quoted) + `}]}`},
		{taskEmbed, `{"input":[` + string(quoted) + `]}`},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := e.Run(context.Background(), sdk.Job{Task: c.task, Model: "byte-llama", Params: json.RawMessage(c.params)},
			func(sdk.Event) error { return nil })
		runtime.ReadMemStats(&after)
		var pe *sdk.Error
		if !errors.As(err, &pe) || pe.Code != sdk.CodeInvalidRequest || !strings.Contains(pe.Message, "bytes") {
			t.Fatalf("%s: %v, want invalid_request naming the byte limit", c.task, err)
		}
		// Decoding the 10 MiB params costs two to five times their size
		// (encoding/json's buffers); tokenising cost 1.2 GiB.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Fatalf("%s: %d MiB allocated to refuse it", c.task, alloc>>20)
		}
	}
}
