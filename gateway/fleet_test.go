package gateway

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/queue"
)

// A model whose only worker went away (its lane is known) answers 503
// model_unavailable with Retry-After at once, or queues with the wait
// header; /v1/models counts the live workers per model and its queue.
func TestUnservedModel(t *testing.T) {
	e := newEnv(t, Config{})
	// "gone" was served by a worker that is now draining: known, not served.
	_ = e.q.Register(t.Context(), queue.WorkerInfo{ID: "w-old", Tasks: []string{taskComplete}, Draining: true})
	_ = e.q.Register(t.Context(), queue.WorkerInfo{ID: "w-gone", Tasks: []string{taskComplete},
		Models: []queue.ServedModel{{ID: "gone", Tasks: []string{taskComplete}}}})
	if _, _, err := e.q.Enqueue(t.Context(), queue.Job{Task: taskComplete, Model: "gone", Params: json.RawMessage(`{"prompt":"slow"}`)}); err != nil {
		t.Fatal(err)
	}
	_ = e.q.Register(t.Context(), queue.WorkerInfo{ID: "w-gone", Tasks: []string{taskComplete}, Draining: true})
	e.srv.models.at = time.Time{}

	code, hdr, body := e.postJSON("/v1/completions", map[string]any{"model": "gone", "prompt": "x"})
	if code != 503 || errorOf(t, body).Code != "model_unavailable" || hdr.Get("Retry-After") != "5" ||
		!strings.Contains(errorOf(t, body).Message, waitHeader) {
		t.Fatalf("unserved model: %d %v %s", code, hdr, body)
	}
	code, _, body = e.postJSON("/v1/completions", map[string]any{"model": "never-heard-of", "prompt": "x"})
	if code != 404 || errorOf(t, body).Code != "model_not_found" {
		t.Fatalf("unknown model: %d %s", code, body)
	}

	// With the header the job is queued, its deadline that many seconds off.
	code, _, body = e.do("POST", "/v1/jobs", "application/json", []byte(`{"task":"text.complete","model":"gone","params":{"prompt":"x"}}`),
		waitHeader, "30")
	if code != 202 {
		t.Fatalf("with %s: %d %s", waitHeader, code, body)
	}
	st, err := e.q.Get(t.Context(), decode[jobView](t, body).ID)
	if err != nil || st.Status != queue.StatusQueued || st.Job.Deadline.IsZero() ||
		time.Until(st.Job.Deadline) > 31*time.Second || time.Until(st.Job.Deadline) < 20*time.Second {
		t.Fatalf("queued job %+v %v: want queued with a deadline ~30s away", st, err)
	}
	for _, bad := range []string{"-1", "soon", "1e9", "NaN"} {
		code, _, body = e.do("POST", "/v1/jobs", "application/json", []byte(`{"task":"text.complete","model":"gone"}`), waitHeader, bad)
		if code != 400 {
			t.Fatalf("%s: %q → %d %s, want 400", waitHeader, bad, code, body)
		}
	}

	code, _, body = e.do("GET", "/v1/models", "", nil)
	e.srv.models.at = time.Time{}
	code, _, body = e.do("GET", "/v1/models", "", nil)
	list := decode[struct {
		Data []modelObject `json:"data"`
	}](t, body)
	byID := map[string]modelObject{}
	for _, m := range list.Data {
		byID[m.ID] = m
	}
	if code != 200 || byID["gone"].Workers != 0 || byID["gone"].QueueDepth != 2 || byID["gone"].OldestQueuedS <= 0 ||
		byID["tiny"].Workers != 1 || byID["tiny"].Loaded != 1 || byID["tiny"].QueueDepth != 0 {
		t.Fatalf("models: %d %s", code, body)
	}

	_, _, body = e.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`loom_model_queue_depth{model="gone",task="text.complete"} 2`,
		`loom_model_queue_depth{model="tiny",task="text.complete"} 0`,
		`loom_model_workers{model="gone",state="serving"} 0`,
		`loom_model_workers{model="tiny",state="serving"} 1`,
		`loom_model_workers{model="tiny",state="loaded"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(string(body), `loom_model_oldest_job_age_seconds{model="gone",task="text.complete"} 0.`) &&
		!strings.Contains(string(body), `loom_model_oldest_job_age_seconds{model="gone",task="text.complete"} 1`) {
		t.Errorf("metrics lack the oldest age of gone's lane:\n%s", body)
	}
}

// With Config.WaitForWorker every request may wait; the job fails with 504
// timeout at its deadline when no worker came.
func TestWaitForWorkerDeadline(t *testing.T) {
	e := newEnv(t, Config{WaitForWorker: 300 * time.Millisecond})
	_ = e.q.Register(t.Context(), queue.WorkerInfo{ID: "w-gone", Tasks: []string{taskComplete},
		Models: []queue.ServedModel{{ID: "gone", Tasks: []string{taskComplete}}}})
	_ = e.q.Register(t.Context(), queue.WorkerInfo{ID: "w-gone", Draining: true})
	start := time.Now()
	code, _, body := e.postJSON("/v1/completions", map[string]any{"model": "gone", "prompt": "x"})
	if code != 504 || errorOf(t, body).Code != "timeout" || time.Since(start) > 5*time.Second {
		t.Fatalf("no worker came: %d %s after %s, want 504 timeout", code, body, time.Since(start))
	}
}

// KeyConcurrency holds across gateways: the count lives in the shared queue.
func TestKeyConcurrencyAcrossGateways(t *testing.T) {
	cfg := Config{APIKeys: []string{"k-one", "k-two"}, KeyConcurrency: 1, Logger: slog.New(slog.DiscardHandler)}
	e := newEnv(t, cfg)
	other := httptest.NewServer(New(cfg, e.q).Handler()) // a second gateway on the same queue
	defer other.Close()
	one, two := []string{"Authorization", "Bearer k-one"}, []string{"Authorization", "Bearer k-two"}
	slow := map[string]any{"task": taskComplete, "model": "tiny", "params": map[string]any{"prompt": "slow"}}
	code, _, body := e.postJSON("/v1/jobs", slow, one...)
	if code != 202 {
		t.Fatalf("first job: %d %s", code, body)
	}
	first := decode[jobView](t, body)
	e2 := &testEnv{t: t, q: e.q, ts: other}
	code, hdr, body := e2.postJSON("/v1/jobs", slow, one...)
	if code != 429 || errorOf(t, body).Code != "concurrency_limited" || hdr.Get("Retry-After") == "" {
		t.Fatalf("second job of k-one on the other gateway: %d %v %s", code, hdr, body)
	}
	if code, _, body := e2.postJSON("/v1/jobs", slow, two...); code != 202 {
		t.Fatalf("k-two: %d %s", code, body)
	}
	if code, _, body := e.do("DELETE", "/v1/jobs/"+first.ID, "", nil, one...); code != 200 {
		t.Fatalf("cancel: %d %s", code, body)
	}
	if code, _, body := e2.postJSON("/v1/jobs", map[string]any{"task": taskComplete, "model": "tiny", "params": map[string]any{"prompt": "hi"}}, one...); code != 202 {
		t.Fatalf("k-one after its job ended: %d %s", code, body)
	}
}
