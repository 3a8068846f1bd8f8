package gateway

import (
	"context"
	"testing"
	"time"
)

// Issue 17 item 2: a timeout_s beyond time.Duration's range was accepted
// (202) and the job failed at once on an overflowed, past deadline.
func TestJobTimeoutBounds(t *testing.T) {
	e := newEnv(t, Config{})
	for _, bad := range []any{1e300, -1, 7*24*3600 + 1} {
		code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": "text.complete", "params": map[string]any{"prompt": "x"}, "timeout_s": bad})
		if code != 400 || errorOf(t, body).Code != "invalid_request" {
			t.Fatalf("timeout_s %v: %d %s, want 400", bad, code, body)
		}
	}
	code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": "text.complete", "params": map[string]any{"prompt": "x"}, "timeout_s": 30})
	if code != 202 {
		t.Fatalf("timeout_s 30: %d %s", code, body)
	}
	st, err := e.q.Get(context.Background(), decode[jobView](t, body).ID)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(st.Job.Deadline); left < 25*time.Second || left > 31*time.Second {
		t.Fatalf("deadline %s from now, want ~30s", left)
	}
}
