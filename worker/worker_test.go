package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
	"github.com/loomhq/loom/worker"
)

const lease = 300 * time.Millisecond

// fakeEngine is an in-process plugin: its manifest and a Run function.
type fakeEngine struct {
	man sdk.Manifest
	run func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error
}

func (f *fakeEngine) Describe(context.Context) (sdk.Manifest, error) { return f.man, nil }
func (f *fakeEngine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	return f.run(ctx, job, emit)
}

func textEngine(run func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error) *fakeEngine {
	return &fakeEngine{
		man: sdk.Manifest{Name: "text", Version: "test", Tasks: []string{"text.complete"},
			Models: []sdk.ModelInfo{{ID: "tiny", Tasks: []string{"text.complete"}, Ready: true}}},
		run: run,
	}
}

func result(emit func(sdk.Event) error, v string) error {
	return emit(sdk.Event{Kind: sdk.EventResult, Result: json.RawMessage(`{"text":"` + v + `"}`)})
}

type harness struct {
	q       queue.Queue
	w       *worker.Worker
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func start(t *testing.T, engines map[string]sdk.Engine, cfg worker.Config) *harness {
	t.Helper()
	q := queue.NewMemory(queue.Options{LeaseDuration: lease, MaxAttempts: 3})
	t.Cleanup(func() { _ = q.Close() })
	return startOn(t, q, engines, cfg)
}

func startOn(t *testing.T, q queue.Queue, engines map[string]sdk.Engine, cfg worker.Config) *harness {
	t.Helper()
	cfg.LeaseDuration = lease
	cfg.ID = "w-test"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 5 * time.Second
	}
	h := &harness{q: q, w: worker.New(q, engines, cfg), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- h.w.Run(ctx) }()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop ends Run and waits for it.
func (h *harness) stop(t *testing.T) {
	t.Helper()
	if h.stopped {
		return
	}
	h.stopped = true
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("worker.Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker.Run did not return 10s after its context ended")
	}
}

func (h *harness) enqueue(t *testing.T, job queue.Job) string {
	t.Helper()
	if job.Task == "" {
		job.Task = "text.complete"
	}
	if job.Model == "" {
		job.Model = "tiny"
	}
	st, _, err := h.q.Enqueue(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	return st.Job.ID
}

// wait follows the job's events until the terminal one and returns them.
func (h *harness) wait(t *testing.T, id string) ([]queue.Event, *queue.JobState) {
	t.Helper()
	var all []queue.Event
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		var after int64
		if len(all) > 0 {
			after = all[len(all)-1].Seq
		}
		evs, err := h.q.Events(context.Background(), id, after, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, evs...)
		if len(all) > 0 && all[len(all)-1].Terminal() {
			st, err := h.q.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			return all, st
		}
	}
	t.Fatalf("job %s did not finish; events so far %v", id, all)
	return nil, nil
}

func types(evs []queue.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func waitRunning(t *testing.T, q queue.Queue, id string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if st, err := q.Get(context.Background(), id); err == nil && st.Status == queue.StatusRunning {
			return
		}
	}
	t.Fatalf("job %s never started", id)
}

func TestSuccessForwardsEvents(t *testing.T) {
	var got sdk.Job
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		got = job
		for _, ev := range []sdk.Event{
			{Kind: sdk.EventProgress, Step: 1, Total: 2},
			{Kind: sdk.EventDelta, Text: "hel"},
			{Kind: sdk.EventPreview, MIME: "image/png", Data: []byte{0x89, 'P', 'N', 'G'}},
			{Kind: sdk.EventProgress, Step: 2, Total: 2},
			{Kind: sdk.EventDelta, Text: "lo"},
			{Kind: sdk.EventArtifact, Name: "out.wav", MIME: "audio/wav", Data: []byte("RIFF")},
		} {
			if err := emit(ev); err != nil {
				return err
			}
		}
		return result(emit, "hello")
	})
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{})
	id := h.enqueue(t, queue.Job{Params: json.RawMessage(`{"prompt":"hi"}`), Seed: 7,
		Inputs: []queue.Blob{{Name: "image", MIME: "image/png", Data: []byte{1, 2}}}})
	evs, st := h.wait(t, id)
	want := []string{"queued", "started", "progress", "delta", "preview", "progress", "delta", "result"}
	if tp := types(evs); !slices.Equal(tp, want) {
		t.Fatalf("events %v, want %v", tp, want)
	}
	if string(evs[2].Data) != `{"step":1,"total":2}` || string(evs[3].Data) != `{"text":"hel"}` ||
		string(evs[4].Data) != `{"mime":"image/png","data":"iVBORw=="}` {
		t.Fatalf("event data: %s | %s | %s", evs[2].Data, evs[3].Data, evs[4].Data)
	}
	if st.Status != queue.StatusSucceeded || string(st.Result.Output) != `{"text":"hello"}` ||
		len(st.Result.Artifacts) != 1 || string(st.Result.Artifacts[0].Data) != "RIFF" || st.Worker != "w-test" {
		t.Fatalf("final state %+v", st)
	}
	if got.ID != id || got.Task != "text.complete" || got.Model != "tiny" || got.Seed != 7 || got.Attempt != 1 ||
		string(got.Params) != `{"prompt":"hi"}` || len(got.Inputs) != 1 || got.Inputs[0].Data[1] != 2 {
		t.Fatalf("engine got job %+v", got)
	}
}

func TestRegistersManifests(t *testing.T) {
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error { return nil })
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{
		Restarts: func(string) int { return 2 }, RegisterEvery: 50 * time.Millisecond})
	var ws []queue.WorkerInfo
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && len(ws) == 0; time.Sleep(10 * time.Millisecond) {
		ws, _ = h.q.Workers(context.Background())
	}
	if len(ws) != 1 || ws[0].ID != "w-test" || !slices.Equal(ws[0].Tasks, []string{"text.complete"}) {
		t.Fatalf("workers %+v", ws)
	}
	var mans []struct {
		sdk.Manifest
		Restarts int `json:"restarts"`
	}
	if err := json.Unmarshal(ws[0].Manifests, &mans); err != nil || len(mans) != 1 || mans[0].Name != "text" ||
		mans[0].Models[0].ID != "tiny" || mans[0].Restarts != 2 {
		t.Fatalf("manifests %s (%v)", ws[0].Manifests, err)
	}
}

func TestPluginErrorKeepsCodeNoRetry(t *testing.T) {
	var runs atomic.Int32
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		runs.Add(1)
		return sdk.Errorf("invalid_request", "temperature must be >= 0")
	})
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{})
	_, st := h.wait(t, h.enqueue(t, queue.Job{}))
	if st.Status != queue.StatusFailed || st.Error == nil || st.Error.Code != "invalid_request" ||
		st.Error.Message != "temperature must be >= 0" || st.Attempt != 1 || runs.Load() != 1 {
		t.Fatalf("state %+v error %+v runs %d", st, st.Error, runs.Load())
	}
}

func TestCrashRetries(t *testing.T) {
	var runs atomic.Int32
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		if runs.Add(1) == 1 {
			if err := emit(sdk.Event{Kind: sdk.EventDelta, Text: "par"}); err != nil {
				return err
			}
			return errors.New("rpc error: code = Unavailable desc = connection reset") // the process died
		}
		if job.Attempt != 2 {
			return sdk.Errorf("internal", "attempt %d, want 2", job.Attempt)
		}
		return result(emit, "ok")
	})
	var mu sync.Mutex
	var outcomes []string
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{OnFinish: func(task, outcome string, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		outcomes = append(outcomes, task+":"+outcome)
	}})
	evs, st := h.wait(t, h.enqueue(t, queue.Job{}))
	if st.Status != queue.StatusSucceeded || st.Attempt != 2 || runs.Load() != 2 {
		t.Fatalf("state %+v runs %d", st, runs.Load())
	}
	// The result event can reach the client a moment before the worker's
	// bookkeeping returns: wait for both outcomes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := slices.Clone(outcomes)
		mu.Unlock()
		if len(got) == 2 || time.Now().After(deadline) {
			if !slices.Equal(got, []string{"text.complete:retried", "text.complete:succeeded"}) {
				t.Fatalf("OnFinish outcomes %v", got)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := []string{"queued", "started", "delta", "retry", "started", "result"}
	if tp := types(evs); !slices.Equal(tp, want) {
		t.Fatalf("events %v, want %v", tp, want)
	}
	var rd struct{ Error queue.JobError }
	if json.Unmarshal(evs[3].Data, &rd) != nil || rd.Error.Code != "plugin_crashed" {
		t.Fatalf("retry event %s", evs[3].Data)
	}
}

func TestCancelReachesRunningJob(t *testing.T) {
	stopped := make(chan time.Time, 1)
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		if job.Seed == 0 {
			return result(emit, "next")
		}
		<-ctx.Done()
		stopped <- time.Now()
		return ctx.Err()
	})
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{})
	id := h.enqueue(t, queue.Job{Seed: 1})
	waitRunning(t, h.q, id)
	canceledAt := time.Now()
	if _, err := h.q.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-stopped:
		if d := at.Sub(canceledAt); d > time.Second {
			t.Fatalf("engine context ended %s after the cancel, want < 1s", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("engine context not canceled 3s after the job was")
	}
	time.Sleep(100 * time.Millisecond)
	st, _ := h.q.Get(context.Background(), id)
	if st.Status != queue.StatusCanceled || st.Result != nil || st.Error != nil {
		t.Fatalf("state after cancel %+v", st)
	}
	// The slot is free again.
	if _, st := h.wait(t, h.enqueue(t, queue.Job{})); st.Status != queue.StatusSucceeded {
		t.Fatalf("next job %+v", st)
	}
}

func TestHeartbeatsKeepLongJobLeased(t *testing.T) {
	var runs atomic.Int32
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		runs.Add(1)
		select {
		case <-time.After(4 * lease):
		case <-ctx.Done():
			return ctx.Err()
		}
		return result(emit, "slow")
	})
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{DefaultConcurrency: 2})
	_, st := h.wait(t, h.enqueue(t, queue.Job{}))
	if st.Status != queue.StatusSucceeded || st.Attempt != 1 || runs.Load() != 1 {
		t.Fatalf("state %+v, runs %d: the lease lapsed under a live job", st, runs.Load())
	}
}

func TestDeadline(t *testing.T) {
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		if job.Deadline.IsZero() {
			return sdk.Errorf("internal", "no deadline passed on")
		}
		<-ctx.Done()
		return ctx.Err()
	})
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{})
	_, st := h.wait(t, h.enqueue(t, queue.Job{Deadline: time.Now().Add(200 * time.Millisecond)}))
	if st.Status != queue.StatusFailed || st.Error.Code != "timeout" || st.Attempt != 1 {
		t.Fatalf("state %+v error %+v", st, st.Error)
	}
}

func TestConcurrencyPerPlugin(t *testing.T) {
	var now, peak atomic.Int32
	gate := make(chan struct{})
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		n := now.Add(1)
		defer now.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		return result(emit, "x")
	})
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{Concurrency: map[string]int{"text": 3}})
	var ids []string
	for range 6 {
		ids = append(ids, h.enqueue(t, queue.Job{}))
	}
	for end := time.Now().Add(5 * time.Second); now.Load() < 3 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a fourth would have started by now
	if now.Load() != 3 || h.w.Running() != 3 {
		t.Fatalf("%d running (worker says %d), want the concurrency of 3", now.Load(), h.w.Running())
	}
	close(gate)
	for _, id := range ids {
		if _, st := h.wait(t, id); st.Status != queue.StatusSucceeded {
			t.Fatalf("job %s: %+v", id, st)
		}
	}
	if peak.Load() != 3 {
		t.Fatalf("peak concurrency %d, want 3", peak.Load())
	}
}

func TestRoutesByModel(t *testing.T) {
	mk := func(name, model string) *fakeEngine {
		return &fakeEngine{
			man: sdk.Manifest{Name: name, Tasks: []string{"image.generate"},
				Models: []sdk.ModelInfo{{ID: model, Tasks: []string{"image.generate"}, Ready: true}}},
			run: func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
				if job.Model != model {
					return sdk.Errorf("model_not_found", "%s has no %s", name, job.Model)
				}
				return result(emit, name)
			},
		}
	}
	h := start(t, map[string]sdk.Engine{"a": mk("a", "ma"), "b": mk("b", "mb")}, worker.Config{})
	for _, c := range []struct{ model, by string }{{"ma", "a"}, {"mb", "b"}, {"ma", "a"}, {"mb", "b"}} {
		_, st := h.wait(t, h.enqueue(t, queue.Job{Task: "image.generate", Model: c.model}))
		if st.Status != queue.StatusSucceeded || string(st.Result.Output) != `{"text":"`+c.by+`"}` {
			t.Fatalf("model %s: %+v %+v", c.model, st, st.Error)
		}
	}
	if !h.w.Serving() {
		t.Fatal("Serving() is false while the worker runs jobs")
	}
	// A model no plugin has: no slot leases it, so it waits for a worker that does.
	nope := h.enqueue(t, queue.Job{Task: "image.generate", Model: "nope"})
	time.Sleep(300 * time.Millisecond)
	if st, _ := h.q.Get(context.Background(), nope); st.Status != queue.StatusQueued || st.Attempt != 0 {
		t.Fatalf("job for a model this worker lacks: %+v, want it left queued", st)
	}
	ws, _ := h.q.Workers(context.Background())
	if len(ws) != 1 || len(ws[0].Models) != 2 || ws[0].Models[0].ID != "ma" || ws[0].Models[1].ID != "mb" ||
		!slices.Equal(ws[0].Models[0].Tasks, []string{"image.generate"}) {
		t.Fatalf("advertised models %+v, want ma and mb for image.generate", ws)
	}
}

func TestShutdownFinishesWithinGraceThenReleases(t *testing.T) {
	var mu sync.Mutex
	started := map[string]bool{}
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		mu.Lock()
		started[job.ID] = true
		mu.Unlock()
		d := 100 * time.Millisecond
		if job.Seed == 1 {
			d = time.Hour // never finishes on its own
		}
		select {
		case <-time.After(d):
			return result(emit, "quick")
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{DefaultConcurrency: 2, ShutdownGrace: 600 * time.Millisecond})
	quick := h.enqueue(t, queue.Job{Seed: 0})
	slow := h.enqueue(t, queue.Job{Seed: 1})
	waitRunning(t, h.q, quick)
	waitRunning(t, h.q, slow)
	begin := time.Now()
	h.stop(t)
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("shutdown took %s with a 600ms grace", d)
	}
	// A draining worker says so and serves no model any more.
	if h.w.Serving() {
		t.Fatal("Serving() is true after shutdown")
	}
	if ws, _ := h.q.Workers(context.Background()); len(ws) != 1 || !ws[0].Draining || len(ws[0].Models) != 0 {
		t.Fatalf("workers after shutdown %+v, want w-test draining with no models", ws)
	}
	// Jobs enqueued after shutdown stay queued: no slot takes them.
	late := h.enqueue(t, queue.Job{})
	time.Sleep(100 * time.Millisecond)
	if st, _ := h.q.Get(context.Background(), quick); st.Status != queue.StatusSucceeded {
		t.Fatalf("quick job %+v: it should finish inside the grace period", st)
	}
	st, _ := h.q.Get(context.Background(), slow)
	if st.Status != queue.StatusQueued || st.Attempt != 0 {
		t.Fatalf("slow job %+v: want released (queued, attempt given back)", st)
	}
	if st, _ := h.q.Get(context.Background(), late); st.Status != queue.StatusQueued {
		t.Fatalf("job enqueued after shutdown: %+v", st)
	}
	evs, _ := h.q.Events(context.Background(), slow, 0, 0)
	var rd struct{ Reason string }
	if last := evs[len(evs)-1]; last.Type != queue.EventRetry || json.Unmarshal(last.Data, &rd) != nil || rd.Reason != queue.RetryReleased {
		t.Fatalf("slow job's last event %s %s", last.Type, last.Data)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err   error
		code  sdk.Code
		retry bool
	}{
		{sdk.Errorf("invalid_request", "x"), "invalid_request", false},
		{sdk.Errorf("model_not_found", "x"), "model_not_found", false},
		{sdk.Errorf("model_unavailable", "x"), "model_unavailable", false},
		{sdk.Errorf("internal", "x"), "internal", false},
		{sdk.Errorf("plugin_crashed", "x"), "plugin_crashed", true},
		{sdk.Errorf("timeout", "x"), "timeout", false},
		{sdk.Errorf("my_plugin_code", "x"), "my_plugin_code", false}, // a plugin's own code travels unchanged
		{sdk.Errorf("", "x"), "internal", false},
		{errors.New("EOF"), "plugin_crashed", true},
		{context.Canceled, "plugin_crashed", true},
	} {
		jerr, retry := worker.Classify(c.err)
		if jerr.Code != c.code || retry != c.retry || jerr.Message == "" {
			t.Errorf("Classify(%v) = %+v retry=%v, want %s retry=%v", c.err, jerr, retry, c.code, c.retry)
		}
	} // The field at fault stays with the job's error.
	if jerr, _ := worker.Classify(sdk.Errorf("invalid_request", "params: steps: 151 is above the maximum 150").WithParam("steps")); jerr.Param != "steps" {
		t.Errorf("Classify kept Param %q, want steps", jerr.Param)
	}
}

func TestRunWithoutEnginesFails(t *testing.T) {
	q := queue.NewMemory(queue.Options{})
	defer q.Close()
	if err := worker.New(q, nil, worker.Config{}).Run(context.Background()); err == nil {
		t.Fatal("Run with no engines: no error")
	}
}

// A job that crashes its plugin every time is failed as poison on its
// PoisonAfter-th crash (here before its max_attempts), with the last
// crash's message; the log says what happens at each attempt.
func TestAlwaysCrashingJobIsPoison(t *testing.T) {
	var runs atomic.Int32
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		runs.Add(1)
		return sdk.Errorf(sdk.CodePluginCrashed, "plugin text died during job %s: panic: boom (error id 0123456789ab)", job.ID)
	})
	var logs bytes.Buffer
	var mu sync.Mutex
	h := start(t, map[string]sdk.Engine{"text": eng}, worker.Config{PoisonAfter: 2,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))})
	evs, st := h.wait(t, h.enqueue(t, queue.Job{MaxAttempts: 5}))
	if st.Status != queue.StatusFailed || st.Error == nil || st.Error.Code != sdk.CodePoison || st.Attempt != 2 || runs.Load() != 2 ||
		!strings.Contains(st.Error.Message, "crashed plugin text on attempt 2") || !strings.Contains(st.Error.Message, "panic: boom (error id 0123456789ab)") {
		t.Fatalf("state %+v error %+v runs %d", st, st.Error, runs.Load())
	}
	if tp := types(evs); !slices.Equal(tp, []string{"queued", "started", "retry", "started", "error"}) {
		t.Fatalf("events %v", tp)
	}
	mu.Lock()
	log := logs.String()
	mu.Unlock()
	if !strings.Contains(log, "queueing it again for attempt 2 of 5") ||
		!strings.Contains(log, "crashed its plugin on every attempt; failing it as poison") {
		t.Fatalf("log:\n%s", log)
	}
	// max_attempts below PoisonAfter: the last attempt's crash is poison too.
	_, st = h.wait(t, h.enqueue(t, queue.Job{MaxAttempts: 1}))
	if st.Error == nil || st.Error.Code != sdk.CodePoison || st.Attempt != 1 {
		t.Fatalf("max_attempts 1: %+v", st.Error)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// AddEngines brings a plugin into a running worker: its jobs run without a
// restart, and a name already served is refused.
func TestAddEnginesServesNewPlugin(t *testing.T) {
	h := start(t, map[string]sdk.Engine{"text": textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		return result(emit, "text")
	})}, worker.Config{})
	waitRegistered := func(model string) {
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			ws, _ := h.q.Workers(t.Context())
			for _, w := range ws {
				for _, m := range w.Models {
					if m.ID == model {
						return
					}
				}
			}
		}
		t.Fatalf("model %s never advertised", model)
	}
	waitRegistered("tiny")
	shout := &fakeEngine{
		man: sdk.Manifest{Name: "shout", Version: "1", Tasks: []string{"text.shout"},
			Models: []sdk.ModelInfo{{ID: "loud", Tasks: []string{"text.shout"}, Ready: true}}},
		run: func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error { return result(emit, "LOUD") },
	}
	if err := h.w.AddEngines(t.Context(), map[string]sdk.Engine{"shout": shout}); err != nil {
		t.Fatal(err)
	}
	waitRegistered("loud")
	_, st := h.wait(t, h.enqueue(t, queue.Job{Task: "text.shout", Model: "loud"}))
	if st.Status != queue.StatusSucceeded || string(st.Result.Output) != `{"text":"LOUD"}` {
		t.Fatalf("job on the added plugin: %+v", st)
	}
	if err := h.w.AddEngines(t.Context(), map[string]sdk.Engine{"shout": shout}); err == nil || !strings.Contains(err.Error(), "already served") {
		t.Fatalf("adding it twice: %v", err)
	}
}
