package gateway

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// Every request gets an id (the client's when it sends a sane one), answered
// in X-Request-Id, stored in the job it makes and put on its log line with
// the job's id.
func TestRequestIDOnResponseJobAndLog(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	code, hdr, _ := e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": "hi"}, "X-Request-Id", "req-abc.1")
	if code != 200 || hdr.Get("X-Request-Id") != "req-abc.1" {
		t.Fatalf("status %d, X-Request-Id %q", code, hdr.Get("X-Request-Id"))
	}
	jobID := hdr.Get("X-Loom-Job-Id")
	st, err := e.q.Get(t.Context(), jobID)
	if err != nil || st.Job.RequestID != "req-abc.1" {
		t.Fatalf("job %s request id %+v %v", jobID, st, err)
	}
	// An id with characters outside [A-Za-z0-9._-] (which could forge a log
	// line) or over 64 bytes is replaced.
	_, hdr, _ = e.do("GET", "/healthz", "", nil, "X-Request-Id", "evil msg=forged")
	if got := hdr.Get("X-Request-Id"); !validRequestID(got) || strings.Contains(got, "evil") {
		t.Fatalf("forged id answered as %q", got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		for _, l := range logs.lines(t) {
			if l["msg"] == "request" && l["path"] == "/v1/completions" {
				if l["request_id"] != "req-abc.1" || l["job"] != jobID || l["status"] != 200.0 {
					t.Fatalf("request line %v", l)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request line in %v", logs.lines(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
