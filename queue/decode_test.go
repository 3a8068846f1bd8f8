package queue

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// Job hashes and event entries come from a shared Redis: whatever is in
// them must decode to an error, never a panic.
func FuzzDecodeState(f *testing.F) {
	f.Add(`{"id":"a","task":"t"}`, "running", "2", `{"code":"x","message":"y"}`, `{"output":1}`, "2026-01-02T03:04:05Z")
	f.Add("", "", "", "", "", "")
	f.Add("{", "queued", "x", "{", "[", "yesterday")
	f.Fuzz(func(t *testing.T, job, status, attempt, jerr, res, ts string) {
		st, err := decodeState("id", map[string]string{"job": job, "status": status, "attempt": attempt,
			"error": jerr, "result": res, "created": ts, "started": ts, "finished": ts})
		if err == nil && st == nil {
			t.Fatal("nil state without an error")
		}
	})
}

func FuzzDecodeEvents(f *testing.F) {
	f.Add("3-0", "delta", "2026-01-02T03:04:05Z", `{"text":"a"}`)
	f.Add("x", "", "", "")
	f.Fuzz(func(t *testing.T, id, typ, ts, data string) {
		evs, err := decodeEvents("id", []redis.XMessage{{ID: id, Values: map[string]any{"type": typ, "time": ts, "data": data}}})
		if err == nil && len(evs) != 1 {
			t.Fatalf("%d events from one entry", len(evs))
		}
	})
}
