// Package queuetest is the one conformance suite every queue.Queue backend
// passes: delivery, priorities, leases and redelivery, dead-lettering,
// exactly-once completion, retry, release, cancel, events, TTL,
// backpressure, idempotency, listing and deleting, the worker registry, concurrent consumers,
// and the fleet's routing: lanes per model, lanes taking turns, warm
// workers before cold ones, deadlines in lanes nobody serves.
// Durations are short (200 ms leases) so the suite runs in seconds.
package queuetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
)

// Lease is the lease duration most cases run with.
const Lease = 200 * time.Millisecond

// NewQueue builds a fresh, empty queue with opts and closes it when t ends.
type NewQueue func(t *testing.T, opts queue.Options) queue.Queue

// Run runs every case against the backend newQueue builds.
func Run(t *testing.T, newQueue NewQueue) {
	cases := []struct {
		name string
		fn   func(t *testing.T, nq NewQueue)
	}{
		{"EnqueueGet", testEnqueueGet},
		{"DeliveryByTask", testDeliveryByTask},
		{"Priorities", testPriorities},
		{"DequeueHonoursContext", testDequeueContext},
		{"LeaseExpiryRedelivers", testLeaseExpiry},
		{"HeartbeatKeepsLease", testHeartbeatKeepsLease},
		{"DeadLetterAfterMaxAttempts", testDeadLetter},
		{"CompleteExactlyOnce", testCompleteOnce},
		{"FailRetryThenDeadLetter", testFailRetry},
		{"Release", testRelease},
		{"CancelQueued", testCancelQueued},
		{"CancelRunning", testCancelRunning},
		{"Events", testEvents},
		{"EventsCap", testEventsCap},
		{"EventsWait", testEventsWait},
		{"ResultTTL", testTTL},
		{"Backpressure", testBackpressure},
		{"Idempotency", testIdempotency},
		{"Workers", testWorkers},
		{"DeadlinePassedWhileQueued", testDeadline},
		{"ConcurrentConsumers", testConcurrent},
		{"RoutingByModel", testRoutingByModel},
		{"LanesTakeTurns", testLanesTakeTurns},
		{"WarmBeforeCold", testWarmBeforeCold},
		{"DeadlineInUnservedLane", testDeadlineUnserved},
		{"OwnerLimit", testOwnerLimit},
		{"List", testList},
		{"ListSkipsExpired", testListExpired},
		{"Delete", testDelete},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, newQueue)
		})
	}
}

func opts() queue.Options {
	return queue.Options{LeaseDuration: Lease, MaxAttempts: 3, ResultTTL: time.Minute, WorkerTTL: time.Minute}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func enqueue(t *testing.T, q queue.Queue, job queue.Job) *queue.JobState {
	t.Helper()
	st, existed, err := q.Enqueue(ctxT(t, 5*time.Second), job)
	if err != nil {
		t.Fatalf("enqueue %+v: %v", job, err)
	}
	if existed {
		t.Fatalf("enqueue %+v: existed=true for a new job", job)
	}
	return st
}

// lanes turns "task" (model "") and "task/model" into lanes.
func lanes(specs ...string) []queue.Lane {
	out := make([]queue.Lane, len(specs))
	for i, s := range specs {
		out[i].Task, out[i].Model, _ = strings.Cut(s, "/")
	}
	return out
}

func dequeue(t *testing.T, q queue.Queue, worker string, tasks ...string) *queue.Lease {
	t.Helper()
	l, err := q.Dequeue(ctxT(t, 5*time.Second), worker, lanes(tasks...))
	if err != nil {
		t.Fatalf("dequeue %v by %s: %v", tasks, worker, err)
	}
	return l
}

// dequeueNone asserts that nothing is delivered within d.
func dequeueNone(t *testing.T, q queue.Queue, d time.Duration, tasks ...string) {
	t.Helper()
	l, err := q.Dequeue(ctxT(t, d), "idle", lanes(tasks...))
	if err == nil {
		t.Fatalf("dequeue %v: got job %s (attempt %d), want nothing", tasks, l.Job.ID, l.Attempt)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dequeue %v: err %v, want context.DeadlineExceeded", tasks, err)
	}
}

func get(t *testing.T, q queue.Queue, id string) *queue.JobState {
	t.Helper()
	st, err := q.Get(ctxT(t, 5*time.Second), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return st
}

func events(t *testing.T, q queue.Queue, id string) []queue.Event {
	t.Helper()
	evs, err := q.Events(ctxT(t, 5*time.Second), id, 0, 0)
	if err != nil {
		t.Fatalf("events %s: %v", id, err)
	}
	return evs
}

func types(evs []queue.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func wantStatus(t *testing.T, q queue.Queue, id string, want queue.Status) *queue.JobState {
	t.Helper()
	st := get(t, q, id)
	if st.Status != want {
		t.Fatalf("job %s status %q, want %q (state %+v)", id, st.Status, want, st)
	}
	return st
}

func wantDepth(t *testing.T, q queue.Queue, task string, want int) {
	t.Helper()
	d, err := q.Depth(ctxT(t, 5*time.Second), task)
	if err != nil {
		t.Fatalf("depth %s: %v", task, err)
	}
	if d != want {
		t.Fatalf("depth %s = %d, want %d", task, d, want)
	}
}

// eventually polls cond every 20 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); ; {
		if cond() {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testEnqueueGet(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	job := queue.Job{Task: "text.complete", Model: "m", Params: json.RawMessage(`{"prompt":"hi"}`), Seed: 42,
		Inputs: []queue.Blob{{Name: "image", MIME: "image/png", Data: []byte{0, 1, 2, 255}}}}
	st := enqueue(t, q, job)
	if st.Job.ID == "" || st.Status != queue.StatusQueued || st.CreatedAt.IsZero() || st.Attempt != 0 {
		t.Fatalf("enqueued state %+v: want an id, status queued, created_at, attempt 0", st)
	}
	got := get(t, q, st.Job.ID)
	if got.Job.Task != job.Task || got.Job.Model != "m" || got.Job.Seed != 42 ||
		string(got.Job.Params) != `{"prompt":"hi"}` || len(got.Job.Inputs) != 1 ||
		string(got.Job.Inputs[0].Data) != "\x00\x01\x02\xff" || got.Job.Inputs[0].MIME != "image/png" {
		t.Fatalf("get = %+v, want the enqueued job back", got.Job)
	}
	own := enqueue(t, q, queue.Job{ID: "my-id", Task: "text.complete"})
	if own.Job.ID != "my-id" {
		t.Fatalf("caller's id became %q", own.Job.ID)
	}
	if _, _, err := q.Enqueue(t.Context(), queue.Job{ID: "my-id", Task: "text.complete"}); err == nil {
		t.Fatal("enqueue with an existing id: no error")
	}
	if _, err := q.Get(t.Context(), "no-such-job"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("get unknown: %v, want ErrNotFound", err)
	}
	if _, _, err := q.Enqueue(t.Context(), queue.Job{}); err == nil {
		t.Fatal("enqueue without a task: no error")
	}
	if _, _, err := q.Enqueue(t.Context(), queue.Job{Task: "x", Priority: 7}); err == nil {
		t.Fatal("enqueue with priority 7: no error")
	}
	evs := events(t, q, st.Job.ID)
	if len(evs) != 1 || evs[0].Type != queue.EventQueued || evs[0].Seq != 1 || evs[0].Time.IsZero() {
		t.Fatalf("events of a new job = %+v, want one queued event with seq 1", evs)
	}
	wantDepth(t, q, "text.complete", 2)
}

func testDeliveryByTask(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	a := enqueue(t, q, queue.Job{Task: "task.a"})
	b := enqueue(t, q, queue.Job{Task: "task.b"})
	l := dequeue(t, q, "w1", "task.b")
	if l.Job.ID != b.Job.ID || l.Job.Task != "task.b" || l.Attempt != 1 || l.Worker != "w1" || l.Token == "" {
		t.Fatalf("dequeue task.b = %+v, want job %s attempt 1 by w1", l, b.Job.ID)
	}
	if l.MaxAttempts != 3 { // the queue's default
		t.Fatalf("lease max attempts %d, want the default 3", l.MaxAttempts)
	}
	c := enqueue(t, q, queue.Job{Task: "task.c", MaxAttempts: 5})
	if l := dequeue(t, q, "w1", "task.c"); l.Job.ID != c.Job.ID || l.MaxAttempts != 5 {
		t.Fatalf("lease of a job with max_attempts 5: %+v", l)
	}
	dequeueNone(t, q, 150*time.Millisecond, "task.b", "task.c")
	st := wantStatus(t, q, b.Job.ID, queue.StatusRunning)
	if st.Attempt != 1 || st.Worker != "w1" || st.StartedAt.IsZero() {
		t.Fatalf("running state %+v: want attempt 1, worker w1, started_at", st)
	}
	wantDepth(t, q, "task.a", 1)
	wantDepth(t, q, "task.b", 0)
	l = dequeue(t, q, "w2", "task.c", "task.a")
	if l.Job.ID != a.Job.ID {
		t.Fatalf("dequeue task.a = %s, want %s", l.Job.ID, a.Job.ID)
	}
	if _, err := q.Dequeue(t.Context(), "w", nil); err == nil {
		t.Fatal("dequeue with no tasks: no error")
	}
	if _, err := q.Dequeue(t.Context(), "", lanes("task.a")); err == nil {
		t.Fatal("dequeue without a worker id: no error")
	}
}

func testPriorities(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	var want []string
	n1 := enqueue(t, q, queue.Job{Task: "t", Model: "m", Seed: 1})
	h1 := enqueue(t, q, queue.Job{Task: "t", Model: "m", Seed: 2, Priority: queue.PriorityHigh})
	n2 := enqueue(t, q, queue.Job{Task: "t", Model: "m", Seed: 3})
	h2 := enqueue(t, q, queue.Job{Task: "t", Model: "m", Seed: 4, Priority: queue.PriorityHigh})
	want = append(want, h1.Job.ID, h2.Job.ID, n1.Job.ID, n2.Job.ID)
	var got []string
	for range want {
		got = append(got, dequeue(t, q, "w", "t/m").Job.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delivery order %v, want %v (high first, FIFO within)", got, want)
	}
}

func testDequeueContext(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := q.Dequeue(ctx, "w", lanes("t"))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("dequeue after cancel: %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("dequeue took %s to see its context canceled", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("dequeue did not return 3 s after its context was canceled")
	}
	// A blocked Dequeue wakes for a job enqueued later.
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, _, _ = q.Enqueue(context.Background(), queue.Job{Task: "t", Seed: 99})
	}()
	start = time.Now()
	l := dequeue(t, q, "w", "t")
	if l.Job.Seed != 99 {
		t.Fatalf("got %+v", l.Job)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("blocked dequeue took %s to see a new job", d)
	}
}

func testLeaseExpiry(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	st := enqueue(t, q, queue.Job{Task: "t"})
	l1 := dequeue(t, q, "dies", "t")
	// w1 dies: no heartbeat. Within a few lease durations w2 gets the job.
	l2 := dequeue(t, q, "w2", "t")
	if l2.Job.ID != st.Job.ID || l2.Attempt != 2 || l2.Token == l1.Token {
		t.Fatalf("redelivered lease %+v, want job %s attempt 2 with a new token", l2, st.Job.ID)
	}
	if err := q.Heartbeat(t.Context(), l1); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("heartbeat on a lapsed, retaken lease: %v, want ErrLeaseLost", err)
	}
	if err := q.Complete(t.Context(), l1, queue.Result{Output: json.RawMessage(`"stale"`)}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("complete with a stale lease: %v, want ErrLeaseLost", err)
	}
	if err := q.Heartbeat(t.Context(), l2); err != nil {
		t.Fatalf("heartbeat of the live lease: %v", err)
	}
	if err := q.Complete(t.Context(), l2, queue.Result{Output: json.RawMessage(`"fresh"`)}); err != nil {
		t.Fatalf("complete: %v", err)
	}
	got := wantStatus(t, q, st.Job.ID, queue.StatusSucceeded)
	if got.Attempt != 2 || got.Worker != "w2" || string(got.Result.Output) != `"fresh"` {
		t.Fatalf("final state %+v, want attempt 2 by w2 with the fresh result", got)
	}
	want := []string{queue.EventQueued, queue.EventStarted, queue.EventRetry, queue.EventStarted, queue.EventResult}
	if tp := types(events(t, q, st.Job.ID)); !slices.Equal(tp, want) {
		t.Fatalf("events %v, want %v", tp, want)
	}
}

func testHeartbeatKeepsLease(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	enqueue(t, q, queue.Job{Task: "t"})
	l := dequeue(t, q, "w", "t")
	stop := make(chan struct{})
	var hbErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(Lease / 4)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := q.Heartbeat(context.Background(), l); err != nil {
					hbErr = err
					return
				}
			}
		}
	})
	dequeueNone(t, q, 3*Lease, "t")
	close(stop)
	wg.Wait()
	if hbErr != nil {
		t.Fatalf("heartbeat: %v", hbErr)
	}
	if err := q.Complete(t.Context(), l, queue.Result{}); err != nil {
		t.Fatalf("complete after heartbeats: %v", err)
	}
}

func testDeadLetter(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	st := enqueue(t, q, queue.Job{Task: "t", MaxAttempts: 2})
	dequeue(t, q, "dies1", "t")
	l2 := dequeue(t, q, "dies2", "t")
	if l2.Attempt != 2 {
		t.Fatalf("second lease attempt %d, want 2", l2.Attempt)
	}
	// The second lapse is the last attempt: nothing is delivered again and
	// the job ends failed with the lapse as its error.
	dequeueNone(t, q, 4*Lease, "t")
	eventually(t, 3*time.Second, "job not dead-lettered", func() bool {
		return get(t, q, st.Job.ID).Status == queue.StatusFailed
	})
	got := get(t, q, st.Job.ID)
	if got.Error == nil || got.Error.Code == "" || got.Attempt != 2 {
		t.Fatalf("dead-lettered state %+v, want attempt 2 and the last error", got)
	}
	evs := events(t, q, st.Job.ID)
	last := evs[len(evs)-1]
	if last.Type != queue.EventError || !last.Terminal() {
		t.Fatalf("last event %+v, want a terminal error event", last)
	}
	var je queue.JobError
	if err := json.Unmarshal(last.Data, &je); err != nil || je.Code != got.Error.Code {
		t.Fatalf("error event data %s, want the job's error %+v", last.Data, got.Error)
	}
	wantDepth(t, q, "t", 0)
}

func testCompleteOnce(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	st := enqueue(t, q, queue.Job{Task: "t"})
	l := dequeue(t, q, "w", "t")
	res := queue.Result{Output: json.RawMessage(`{"text":"done"}`),
		Artifacts: []queue.Blob{{Name: "out.wav", MIME: "audio/wav", Data: []byte("RIFF\x00\xff")}}}
	if err := q.Complete(t.Context(), l, res); err != nil {
		t.Fatalf("complete: %v", err)
	}
	if err := q.Complete(t.Context(), l, queue.Result{Output: json.RawMessage(`"again"`)}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("second complete: %v, want ErrLeaseLost", err)
	}
	if err := q.Fail(t.Context(), l, queue.JobError{Code: "internal", Message: "late"}, false); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("fail after complete: %v, want ErrLeaseLost", err)
	}
	if err := q.Heartbeat(t.Context(), l); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("heartbeat after complete: %v, want ErrLeaseLost", err)
	}
	got := wantStatus(t, q, st.Job.ID, queue.StatusSucceeded)
	if got.Result == nil || string(got.Result.Output) != `{"text":"done"}` || len(got.Result.Artifacts) != 1 ||
		string(got.Result.Artifacts[0].Data) != "RIFF\x00\xff" || got.FinishedAt.IsZero() || got.Error != nil {
		t.Fatalf("succeeded state %+v, want the first result and finished_at", got)
	}
	evs := events(t, q, st.Job.ID)
	last := evs[len(evs)-1]
	var rd struct {
		Output    json.RawMessage `json:"output"`
		Artifacts []struct {
			Name string `json:"name"`
			Size int    `json:"size"`
		} `json:"artifacts"`
	}
	if last.Type != queue.EventResult || json.Unmarshal(last.Data, &rd) != nil || string(rd.Output) != `{"text":"done"}` ||
		len(rd.Artifacts) != 1 || rd.Artifacts[0].Size != 6 || rd.Artifacts[0].Name != "out.wav" {
		t.Fatalf("result event %s %s", last.Type, last.Data)
	}
	dequeueNone(t, q, 2*Lease, "t")
	big := queue.Result{Artifacts: []queue.Blob{{Data: make([]byte, queue.MaxPayloadBytes+1)}}}
	enqueue(t, q, queue.Job{Task: "t"})
	l = dequeue(t, q, "w", "t")
	if err := q.Complete(t.Context(), l, big); !errors.Is(err, queue.ErrTooLarge) {
		t.Fatalf("complete with %d bytes: %v, want ErrTooLarge", big.Size(), err)
	}
}

func testFailRetry(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	st := enqueue(t, q, queue.Job{Task: "t", MaxAttempts: 2})
	l := dequeue(t, q, "w", "t")
	crash := queue.JobError{Code: "plugin_crashed", Message: "exit status 2"}
	if err := q.Fail(t.Context(), l, crash, true); err != nil {
		t.Fatalf("fail with retry: %v", err)
	}
	got := wantStatus(t, q, st.Job.ID, queue.StatusQueued)
	if got.Error == nil || got.Error.Code != "plugin_crashed" {
		t.Fatalf("requeued state keeps the last error: %+v", got.Error)
	}
	wantDepth(t, q, "t", 1)
	if err := q.Complete(t.Context(), l, queue.Result{}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("complete after fail: %v, want ErrLeaseLost", err)
	}
	l = dequeue(t, q, "w", "t")
	if l.Attempt != 2 {
		t.Fatalf("attempt after retry %d, want 2", l.Attempt)
	}
	// Attempts are used up: retry=true still fails it for good.
	if err := q.Fail(t.Context(), l, queue.JobError{Code: "plugin_crashed", Message: "again"}, true); err != nil {
		t.Fatalf("fail: %v", err)
	}
	got = wantStatus(t, q, st.Job.ID, queue.StatusFailed)
	if got.Error == nil || got.Error.Message != "again" || got.FinishedAt.IsZero() {
		t.Fatalf("failed state %+v, want the last error", got)
	}
	want := []string{queue.EventQueued, queue.EventStarted, queue.EventRetry, queue.EventStarted, queue.EventError}
	evs := events(t, q, st.Job.ID)
	if tp := types(evs); !slices.Equal(tp, want) {
		t.Fatalf("events %v, want %v", tp, want)
	}
	var rd struct {
		Attempt int            `json:"attempt"`
		Reason  string         `json:"reason"`
		Error   queue.JobError `json:"error"`
	}
	if err := json.Unmarshal(evs[2].Data, &rd); err != nil || rd.Attempt != 1 || rd.Reason != queue.RetryFailed || rd.Error.Code != "plugin_crashed" {
		t.Fatalf("retry event data %s", evs[2].Data)
	}
	// No retry asked: fails on the first attempt.
	st = enqueue(t, q, queue.Job{Task: "t"})
	l = dequeue(t, q, "w", "t")
	if err := q.Fail(t.Context(), l, queue.JobError{Code: "invalid_request", Message: "bad", Param: "steps"}, false); err != nil {
		t.Fatal(err)
	}
	// The whole error is kept, the field at fault (Param) too.
	if got := wantStatus(t, q, st.Job.ID, queue.StatusFailed); got.Error.Code != "invalid_request" || got.Error.Param != "steps" || got.Attempt != 1 {
		t.Fatalf("state %+v", got)
	}
}

func testRelease(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	st := enqueue(t, q, queue.Job{Task: "t", MaxAttempts: 1})
	for range 3 { // releasing never uses up the single attempt
		l := dequeue(t, q, "w", "t")
		if l.Attempt != 1 {
			t.Fatalf("attempt after release %d, want 1", l.Attempt)
		}
		if err := q.Release(t.Context(), l); err != nil {
			t.Fatalf("release: %v", err)
		}
		wantStatus(t, q, st.Job.ID, queue.StatusQueued)
		wantDepth(t, q, "t", 1)
		if err := q.Heartbeat(t.Context(), l); !errors.Is(err, queue.ErrLeaseLost) {
			t.Fatalf("heartbeat after release: %v, want ErrLeaseLost", err)
		}
	}
	l := dequeue(t, q, "w", "t")
	if err := q.Complete(t.Context(), l, queue.Result{}); err != nil {
		t.Fatal(err)
	}
	evs := events(t, q, st.Job.ID)
	var rd struct {
		Attempt int    `json:"attempt"`
		Reason  string `json:"reason"`
	}
	if evs[2].Type != queue.EventRetry || json.Unmarshal(evs[2].Data, &rd) != nil || rd.Reason != queue.RetryReleased || rd.Attempt != 1 {
		t.Fatalf("release event %s %s, want retry with reason released", evs[2].Type, evs[2].Data)
	}
}

func testCancelQueued(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	st := enqueue(t, q, queue.Job{Task: "t"})
	got, err := q.Cancel(t.Context(), st.Job.ID)
	if err != nil || got.Status != queue.StatusCanceled || got.FinishedAt.IsZero() {
		t.Fatalf("cancel queued: %+v, %v", got, err)
	}
	wantDepth(t, q, "t", 0)
	dequeueNone(t, q, 2*Lease, "t")
	if got, err := q.Cancel(t.Context(), st.Job.ID); err != nil || got.Status != queue.StatusCanceled {
		t.Fatalf("second cancel: %+v, %v", got, err)
	}
	if tp := types(events(t, q, st.Job.ID)); !slices.Equal(tp, []string{queue.EventQueued, queue.EventCanceled}) {
		t.Fatalf("events %v", tp)
	}
	if _, err := q.Cancel(t.Context(), "no-such-job"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("cancel unknown: %v, want ErrNotFound", err)
	}
	// Cancel of a finished job changes nothing.
	done := enqueue(t, q, queue.Job{Task: "t"})
	l := dequeue(t, q, "w", "t")
	if err := q.Complete(t.Context(), l, queue.Result{Output: json.RawMessage(`1`)}); err != nil {
		t.Fatal(err)
	}
	if got, err := q.Cancel(t.Context(), done.Job.ID); err != nil || got.Status != queue.StatusSucceeded {
		t.Fatalf("cancel finished: %+v, %v", got, err)
	}
}

func testCancelRunning(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	st := enqueue(t, q, queue.Job{Task: "t"})
	l := dequeue(t, q, "w", "t")
	if got, err := q.Cancel(t.Context(), st.Job.ID); err != nil || got.Status != queue.StatusCanceled {
		t.Fatalf("cancel running: %+v, %v", got, err)
	}
	if err := q.Heartbeat(t.Context(), l); !errors.Is(err, queue.ErrCanceled) {
		t.Fatalf("heartbeat of a canceled job: %v, want ErrCanceled", err)
	}
	if err := q.Publish(t.Context(), l, queue.EventProgress, map[string]int{"step": 1, "total": 2}); !errors.Is(err, queue.ErrCanceled) {
		t.Fatalf("publish to a canceled job: %v, want ErrCanceled", err)
	}
	if err := q.Complete(t.Context(), l, queue.Result{Output: json.RawMessage(`1`)}); !errors.Is(err, queue.ErrCanceled) {
		t.Fatalf("complete of a canceled job: %v, want ErrCanceled", err)
	}
	if err := q.Fail(t.Context(), l, queue.JobError{Code: "canceled"}, true); !errors.Is(err, queue.ErrCanceled) {
		t.Fatalf("fail of a canceled job: %v, want ErrCanceled", err)
	}
	got := wantStatus(t, q, st.Job.ID, queue.StatusCanceled)
	if got.Result != nil {
		t.Fatalf("canceled job has a result %+v", got.Result)
	}
	// The lease of a canceled job never lapses into a redelivery.
	dequeueNone(t, q, 4*Lease, "t")
	want := []string{queue.EventQueued, queue.EventStarted, queue.EventCanceled}
	if tp := types(events(t, q, st.Job.ID)); !slices.Equal(tp, want) {
		t.Fatalf("events %v, want %v", tp, want)
	}
}

func testEvents(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	st := enqueue(t, q, queue.Job{Task: "t"})
	l := dequeue(t, q, "w7", "t")
	for i := 1; i <= 3; i++ {
		if err := q.Publish(t.Context(), l, queue.EventProgress, map[string]int{"step": i, "total": 3}); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	if err := q.Publish(t.Context(), l, queue.EventDelta, json.RawMessage(`{"text":"hé"}`)); err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(t.Context(), l, queue.EventResult, nil); err == nil {
		t.Fatal("publish of a terminal event type: no error")
	}
	if err := q.Publish(t.Context(), l, queue.EventDelta, json.RawMessage(`{bad`)); err == nil {
		t.Fatal("publish of invalid JSON: no error")
	}
	if err := q.Complete(t.Context(), l, queue.Result{Output: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	evs := events(t, q, st.Job.ID)
	want := []string{"queued", "started", "progress", "progress", "progress", "delta", "result"}
	if tp := types(evs); !slices.Equal(tp, want) {
		t.Fatalf("events %v, want %v", tp, want)
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.Time.IsZero() {
			t.Fatalf("event %d: seq %d time %v, want seq %d and a time", i, e.Seq, e.Time, i+1)
		}
		if e.Terminal() != (i == len(evs)-1) {
			t.Fatalf("event %d (%s) terminal=%v", i, e.Type, e.Terminal())
		}
	}
	var started struct {
		Attempt int    `json:"attempt"`
		Worker  string `json:"worker"`
	}
	if json.Unmarshal(evs[1].Data, &started) != nil || started.Attempt != 1 || started.Worker != "w7" {
		t.Fatalf("started data %s", evs[1].Data)
	}
	var pr struct{ Step, Total int }
	if json.Unmarshal(evs[3].Data, &pr) != nil || pr.Step != 2 || pr.Total != 3 {
		t.Fatalf("progress data %s", evs[3].Data)
	}
	if string(evs[5].Data) != `{"text":"hé"}` {
		t.Fatalf("delta data %s", evs[5].Data)
	}
	tail, err := q.Events(t.Context(), st.Job.ID, 5, 0)
	if err != nil || len(tail) != 2 || tail[0].Seq != 6 {
		t.Fatalf("events after 5: %+v, %v", tail, err)
	}
	// Everything seen and the job is over: a waiting read returns at once.
	start := time.Now()
	if rest, err := q.Events(t.Context(), st.Job.ID, 7, 5*time.Second); err != nil || len(rest) != 0 {
		t.Fatalf("events after the terminal one: %+v, %v", rest, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waiting on a finished job took %s", d)
	}
	if _, err := q.Events(t.Context(), "no-such-job", 0, 0); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("events of unknown job: %v, want ErrNotFound", err)
	}
}

func testEventsCap(t *testing.T, nq NewQueue) {
	o := opts()
	o.MaxEvents = 5
	q := nq(t, o)
	st := enqueue(t, q, queue.Job{Task: "t"})
	l := dequeue(t, q, "w", "t")
	for i := range 20 {
		if err := q.Publish(t.Context(), l, queue.EventProgress, map[string]int{"step": i, "total": 20}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Complete(t.Context(), l, queue.Result{}); err != nil {
		t.Fatal(err)
	}
	evs := events(t, q, st.Job.ID)
	if len(evs) != 5 {
		t.Fatalf("%d events kept, want the cap of 5", len(evs))
	}
	for i, e := range evs {
		if e.Seq != int64(19+i) {
			t.Fatalf("kept seqs %v, want the newest 19..23", evs)
		}
	}
	if evs[4].Type != queue.EventResult {
		t.Fatalf("newest event %s, want the terminal result", evs[4].Type)
	}
}

func testEventsWait(t *testing.T, nq NewQueue) {
	o := opts()
	o.LeaseDuration = time.Minute // no heartbeats here
	q := nq(t, o)
	st := enqueue(t, q, queue.Job{Task: "t"})
	l := dequeue(t, q, "w", "t")
	start := time.Now()
	evs, err := q.Events(t.Context(), st.Job.ID, 2, 150*time.Millisecond)
	if err != nil || len(evs) != 0 {
		t.Fatalf("wait with nothing new: %+v, %v", evs, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("a 150ms wait took %s", d)
	}
	go func() {
		time.Sleep(150 * time.Millisecond)
		_ = q.Publish(context.Background(), l, queue.EventDelta, map[string]string{"text": "x"})
	}()
	start = time.Now()
	evs, err = q.Events(t.Context(), st.Job.ID, 2, 10*time.Second)
	if err != nil || len(evs) != 1 || evs[0].Type != queue.EventDelta || evs[0].Seq != 3 {
		t.Fatalf("wait for a delta: %+v, %v", evs, err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("waiting read returned %s after it started; the event came at 150ms", d)
	}
	// A canceled context ends a wait promptly.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := q.Events(ctx, st.Job.ID, 3, 10*time.Second); err == nil && ctx.Err() == nil {
		t.Fatal("events wait outlived its context")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("events wait took %s to see its context end", d)
	}
}

func testTTL(t *testing.T, nq NewQueue) {
	o := opts()
	o.ResultTTL = 300 * time.Millisecond
	o.LeaseDuration = time.Minute // no heartbeats here
	q := nq(t, o)
	st := enqueue(t, q, queue.Job{Task: "t", IdempotencyKey: "ttl-key"})
	queued := enqueue(t, q, queue.Job{Task: "other"})
	l := dequeue(t, q, "w", "t")
	time.Sleep(2 * o.ResultTTL) // running and queued jobs do not expire
	if err := q.Complete(t.Context(), l, queue.Result{Output: json.RawMessage(`1`)}); err != nil {
		t.Fatalf("complete after the TTL while running: %v", err)
	}
	wantStatus(t, q, st.Job.ID, queue.StatusSucceeded)
	eventually(t, 5*time.Second, "finished job still there after its TTL", func() bool {
		_, err := q.Get(t.Context(), st.Job.ID)
		return errors.Is(err, queue.ErrNotFound)
	})
	if _, err := q.Events(t.Context(), st.Job.ID, 0, 0); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("events of an expired job: %v, want ErrNotFound", err)
	}
	wantStatus(t, q, queued.Job.ID, queue.StatusQueued)
	// The idempotency key expired with it: the same key makes a new job.
	again, existed, err := q.Enqueue(t.Context(), queue.Job{Task: "t", IdempotencyKey: "ttl-key"})
	if err != nil || existed || again.Job.ID == st.Job.ID {
		t.Fatalf("enqueue with an expired key: %+v existed=%v %v", again, existed, err)
	}
}

func testBackpressure(t *testing.T, nq NewQueue) {
	o := opts()
	o.MaxDepth = 2
	o.RetryAfter = 3 * time.Second
	q := nq(t, o)
	enqueue(t, q, queue.Job{Task: "t"})
	enqueue(t, q, queue.Job{Task: "t", Priority: queue.PriorityHigh})
	_, _, err := q.Enqueue(t.Context(), queue.Job{Task: "t"})
	var full *queue.FullError
	if !errors.Is(err, queue.ErrQueueFull) || !errors.As(err, &full) {
		t.Fatalf("enqueue past MaxDepth: %v, want a *FullError matching ErrQueueFull", err)
	}
	if full.Task != "t" || full.Depth != 2 || full.RetryAfter != 3*time.Second {
		t.Fatalf("full error %+v, want task t, depth 2, retry after 3s", full)
	}
	enqueue(t, q, queue.Job{Task: "u"}) // other tasks have their own depth
	wantDepth(t, q, "t", 2)
	l := dequeue(t, q, "w", "t") // a leased job no longer counts
	wantDepth(t, q, "t", 1)
	enqueue(t, q, queue.Job{Task: "t"})
	// A retry goes back in even when the queue is full: accepted work is never dropped.
	if err := q.Fail(t.Context(), l, queue.JobError{Code: "plugin_crashed"}, true); err != nil {
		t.Fatalf("retry into a full queue: %v", err)
	}
	wantDepth(t, q, "t", 3)
}

func testIdempotency(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	a := enqueue(t, q, queue.Job{Task: "t", IdempotencyKey: "req-1", Seed: 1})
	b, existed, err := q.Enqueue(t.Context(), queue.Job{Task: "t", IdempotencyKey: "req-1", Seed: 2})
	if err != nil || !existed || b.Job.ID != a.Job.ID || b.Job.Seed != 1 {
		t.Fatalf("same key again: %+v existed=%v %v; want job %s back", b, existed, err, a.Job.ID)
	}
	c := enqueue(t, q, queue.Job{Task: "t", IdempotencyKey: "req-2"})
	if c.Job.ID == a.Job.ID {
		t.Fatal("another key gave the same job")
	}
	wantDepth(t, q, "t", 2)
	l := dequeue(t, q, "w", "t")
	if err := q.Complete(t.Context(), l, queue.Result{}); err != nil {
		t.Fatal(err)
	}
	b, existed, err = q.Enqueue(t.Context(), queue.Job{Task: "t", IdempotencyKey: "req-1"})
	if err != nil || !existed || b.Status != queue.StatusSucceeded {
		t.Fatalf("key of a finished job: %+v existed=%v %v; want its finished state", b, existed, err)
	}
}

func testWorkers(t *testing.T, nq NewQueue) {
	o := opts()
	o.WorkerTTL = 300 * time.Millisecond
	q := nq(t, o)
	man := json.RawMessage(`[{"name":"text","tasks":["text.complete"]}]`)
	for _, id := range []string{"w2", "w1"} {
		if err := q.Register(t.Context(), queue.WorkerInfo{ID: id, Tasks: []string{"text.complete"}, Manifests: man}); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	ws, err := q.Workers(t.Context())
	if err != nil || len(ws) != 2 || ws[0].ID != "w1" || ws[1].ID != "w2" {
		t.Fatalf("workers = %+v, %v; want w1, w2", ws, err)
	}
	var m []map[string]any
	if ws[0].SeenAt.IsZero() || !slices.Equal(ws[0].Tasks, []string{"text.complete"}) ||
		json.Unmarshal(ws[0].Manifests, &m) != nil || len(m) != 1 || m[0]["name"] != "text" {
		t.Fatalf("worker info %+v", ws[0])
	}
	// w1 keeps registering; w2 goes quiet and drops out after the TTL.
	eventually(t, 5*time.Second, "silent worker still listed", func() bool {
		if err := q.Register(t.Context(), queue.WorkerInfo{ID: "w1", Tasks: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		ws, err := q.Workers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(ws) == 1 && ws[0].ID == "w1" && slices.Equal(ws[0].Tasks, []string{"a"})
	})
	if err := q.Register(t.Context(), queue.WorkerInfo{}); err == nil {
		t.Fatal("register without an id: no error")
	}
}

func testDeadline(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	past := enqueue(t, q, queue.Job{Task: "t", Deadline: time.Now().Add(-time.Second)})
	live := enqueue(t, q, queue.Job{Task: "t", Deadline: time.Now().Add(time.Hour)})
	l := dequeue(t, q, "w", "t")
	if l.Job.ID != live.Job.ID || !l.Job.Deadline.Equal(live.Job.Deadline) {
		t.Fatalf("dequeued %s (deadline %v), want the job whose deadline is ahead", l.Job.ID, l.Job.Deadline)
	}
	got := wantStatus(t, q, past.Job.ID, queue.StatusFailed)
	if got.Error == nil || got.Error.Code != sdk.CodeTimeout {
		t.Fatalf("expired job error %+v, want code timeout", got.Error)
	}
}

func testConcurrent(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	const jobs, consumers = 60, 4
	want := map[string]bool{}
	for i := range jobs {
		st := enqueue(t, q, queue.Job{Task: "t", Seed: int64(i), Priority: queue.Priority(i % 2)})
		want[st.Job.ID] = true
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, consumers)
	for c := range consumers {
		wg.Go(func() {
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 3*Lease)
				l, err := q.Dequeue(ctx, fmt.Sprintf("c%d", c), lanes("t"))
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[l.Job.ID]++
				mu.Unlock()
				if err := q.Complete(context.Background(), l, queue.Result{Output: json.RawMessage(`true`)}); err != nil {
					errs <- fmt.Errorf("complete %s: %w", l.Job.ID, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != jobs {
		t.Fatalf("%d distinct jobs delivered, want %d", len(seen), jobs)
	}
	for id, n := range seen {
		if n != 1 || !want[id] {
			t.Fatalf("job %s delivered %d times (known=%v)", id, n, want[id])
		}
	}
	wantDepth(t, q, "t", 0)
}

// A job reaches only a worker that leases its model's lane; Depth sums a
// task's lanes; Lanes lists each with its depth and oldest wait, and the
// lanes of registered workers' models even when empty.
func testRoutingByModel(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	a := enqueue(t, q, queue.Job{Task: "t", Model: "a"})
	b := enqueue(t, q, queue.Job{Task: "t", Model: "b"})
	dequeueNone(t, q, 150*time.Millisecond, "t/c", "t", "u/a")
	if l := dequeue(t, q, "wb", "t/b"); l.Job.ID != b.Job.ID {
		t.Fatalf("lane t/b gave %s (model %q), want %s", l.Job.ID, l.Job.Model, b.Job.ID)
	}
	dequeueNone(t, q, 100*time.Millisecond, "t/b")
	wantDepth(t, q, "t", 1)
	if err := q.Register(t.Context(), queue.WorkerInfo{ID: "wc", Tasks: []string{"t"},
		Models: []queue.ServedModel{{ID: "c", Tasks: []string{"t", "v"}}}}); err != nil {
		t.Fatal(err)
	}
	stats, err := q.Lanes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]queue.LaneStats{}
	for _, s := range stats {
		got[s.Task+"/"+s.Model] = s
	}
	if len(got) != 4 || got["t/a"].Depth != 1 || got["t/b"].Depth != 0 || got["t/c"].Depth != 0 || got["v/c"].Depth != 0 {
		t.Fatalf("lanes = %+v, want t/a (1 queued), t/b, t/c and v/c (none)", stats)
	}
	if got["t/a"].Oldest <= 0 || got["t/a"].Oldest > time.Minute || got["t/b"].Oldest != 0 {
		t.Fatalf("oldest waits: t/a %s (want > 0), t/b %s (want 0)", got["t/a"].Oldest, got["t/b"].Oldest)
	}
	if l := dequeue(t, q, "wa", "t/c", "t/a"); l.Job.ID != a.Job.ID {
		t.Fatalf("lanes t/c, t/a gave %s, want %s", l.Job.ID, a.Job.ID)
	}
	for _, bad := range [][]queue.Lane{nil, {{Task: "a:b", Model: "m"}}, {{Task: "t", Model: strings.Repeat("m", queue.MaxModelBytes+1)}}} {
		if _, err := q.Dequeue(t.Context(), "w", bad); err == nil {
			t.Fatalf("dequeue %v: no error", bad)
		}
	}
	if _, _, err := q.Enqueue(t.Context(), queue.Job{Task: "a:b"}); err == nil {
		t.Fatal("enqueue with ':' in the task: no error")
	}
}

// One busy model cannot starve another: a worker serving both lanes gets
// the quiet lane's job within two leases however deep the busy one is, and
// High jumps only its own lane.
func testLanesTakeTurns(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	for i := range 6 {
		enqueue(t, q, queue.Job{Task: "t", Model: "busy", Seed: int64(i)})
	}
	quiet := enqueue(t, q, queue.Job{Task: "t", Model: "quiet"})
	urgent := enqueue(t, q, queue.Job{Task: "t", Model: "busy", Priority: queue.PriorityHigh})
	var got []string
	for range 3 {
		l := dequeue(t, q, "w", "t/busy", "t/quiet")
		got = append(got, l.Job.ID)
	}
	if !slices.Contains(got[:2], quiet.Job.ID) {
		t.Fatalf("first two leases %v: the quiet lane's job %s is not among them", got[:2], quiet.Job.ID)
	}
	if !slices.Contains(got[:2], urgent.Job.ID) {
		t.Fatalf("first two leases %v: the busy lane's High job %s did not jump its lane", got[:2], urgent.Job.ID)
	}
	if l := dequeue(t, q, "w", "t/busy"); l.Job.Seed != 1 {
		t.Fatalf("after the High job the busy lane gave seed %d, want FIFO (seed 1)", l.Job.Seed)
	}
}

// A worker that has the model loaded gets a job first; one that would have
// to load it takes the job only after ColdDelay.
func testWarmBeforeCold(t *testing.T, nq NewQueue) {
	o := opts()
	o.ColdDelay = 400 * time.Millisecond
	o.LeaseDuration = 10 * time.Second // the warm lease must not lapse to the cold worker
	q := nq(t, o)
	cold := []queue.Lane{{Task: "t", Model: "m", Cold: true}}
	first := enqueue(t, q, queue.Job{Task: "t", Model: "m", Seed: 1})
	coldGot := make(chan *queue.Lease, 1)
	start := time.Now()
	go func() {
		l, _ := q.Dequeue(ctxT(t, 5*time.Second), "cold", cold)
		coldGot <- l
	}()
	time.Sleep(100 * time.Millisecond)
	if l := dequeue(t, q, "warm", "t/m"); l.Job.ID != first.Job.ID {
		t.Fatalf("warm worker got %s, want %s", l.Job.ID, first.Job.ID)
	}
	second := enqueue(t, q, queue.Job{Task: "t", Model: "m", Seed: 2})
	queued := time.Now()
	l := <-coldGot
	if l == nil || l.Job.ID != second.Job.ID {
		t.Fatalf("cold worker got %+v, want job %s", l, second.Job.ID)
	}
	if waited := time.Since(queued); waited < 300*time.Millisecond {
		t.Fatalf("cold worker took a job %s after it was queued (%s after it asked), want about the 400ms cold delay", waited, time.Since(start))
	}
}

// A queued job whose deadline passes fails with "timeout" even when no
// worker ever reads its lane.
func testDeadlineUnserved(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	st := enqueue(t, q, queue.Job{Task: "t", Model: "nobody", Deadline: time.Now().Add(300 * time.Millisecond)})
	other := enqueue(t, q, queue.Job{Task: "t", Model: "other"})
	if l := dequeue(t, q, "w", "t/other"); l.Job.ID != other.Job.ID {
		t.Fatal("wrong job")
	} else if err := q.Complete(t.Context(), l, queue.Result{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the unserved job did not fail at its deadline", func() bool {
		if _, err := q.Lanes(t.Context()); err != nil {
			t.Fatal(err)
		}
		return get(t, q, st.Job.ID).Status == queue.StatusFailed
	})
	got := get(t, q, st.Job.ID)
	if got.Error == nil || got.Error.Code != "timeout" {
		t.Fatalf("error %+v, want timeout", got.Error)
	}
	if evs := events(t, q, st.Job.ID); evs[len(evs)-1].Type != queue.EventError {
		t.Fatalf("events %v, want the error last", types(evs))
	}
	wantDepth(t, q, "t", 0)
}

// An owner with OwnerLimit jobs queued or running is refused more until one
// ends (completed, failed, canceled or expired), whichever client enqueued them.
func testOwnerLimit(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	job := func(owner string) queue.Job { return queue.Job{Task: "t", Owner: owner, OwnerLimit: 2} }
	a1 := enqueue(t, q, job("a"))
	enqueue(t, q, job("a"))
	_, _, err := q.Enqueue(t.Context(), job("a"))
	var le *queue.LimitError
	if !errors.Is(err, queue.ErrOwnerLimit) || !errors.As(err, &le) || le.Limit != 2 || le.RetryAfter <= 0 {
		t.Fatalf("third job of owner a: %v, want a LimitError of limit 2 with a retry hint", err)
	}
	enqueue(t, q, job("b"))                         // another owner is not held back
	enqueue(t, q, queue.Job{Task: "t", Owner: "a"}) // no limit on this job: counted, not refused
	if _, _, err := q.Enqueue(t.Context(), queue.Job{Task: "t", OwnerLimit: 1}); err == nil {
		t.Fatal("a limit without an owner: no error")
	}
	// Running still counts; completing frees a slot.
	l := dequeue(t, q, "w", "t")
	if l.Job.ID != a1.Job.ID {
		t.Fatalf("dequeued %s, want %s", l.Job.ID, a1.Job.ID)
	}
	if _, _, err := q.Enqueue(t.Context(), queue.Job{Task: "t", Owner: "a", OwnerLimit: 3}); !errors.Is(err, queue.ErrOwnerLimit) {
		t.Fatalf("owner a with 3 in flight, limit 3: %v, want ErrOwnerLimit", err)
	}
	if err := q.Complete(t.Context(), l, queue.Result{}); err != nil {
		t.Fatal(err)
	}
	a3 := enqueue(t, q, queue.Job{Task: "t", Owner: "a", OwnerLimit: 3})
	if _, err := q.Cancel(t.Context(), a3.Job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Cancel(t.Context(), a3.Job.ID); err != nil { // a second cancel frees nothing more
		t.Fatal(err)
	}
	enqueue(t, q, queue.Job{Task: "t", Owner: "a", OwnerLimit: 3})
	if _, _, err := q.Enqueue(t.Context(), queue.Job{Task: "t", Owner: "a", OwnerLimit: 3}); !errors.Is(err, queue.ErrOwnerLimit) {
		t.Fatalf("after cancel and one more: %v, want ErrOwnerLimit again", err)
	}
}

func listAll(t *testing.T, q queue.Queue, lq queue.ListQuery) (ids []string, pages []int) {
	t.Helper()
	for {
		page, more, err := q.List(t.Context(), lq)
		if err != nil {
			t.Fatalf("list %+v: %v", lq, err)
		}
		pages = append(pages, len(page))
		for _, st := range page {
			if st.Job.Task != lq.Task || st.Job.Owner != lq.Owner {
				t.Fatalf("list %+v returned job %s of task %q, owner %q", lq, st.Job.ID, st.Job.Task, st.Job.Owner)
			}
			ids = append(ids, st.Job.ID)
		}
		if !more {
			return ids, pages
		}
		if len(page) == 0 {
			t.Fatalf("list %+v: an empty page with more after it", lq)
		}
		lq.After = page[len(page)-1].Job.ID
	}
}

func testList(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	var sts []*queue.JobState
	for i := 0; i < 7; i++ {
		sts = append(sts, enqueue(t, q, queue.Job{Task: "v"}))
		if i%3 == 0 {
			time.Sleep(2 * time.Millisecond) // some share a millisecond, some do not
		}
	}
	a1 := enqueue(t, q, queue.Job{Task: "v", Owner: "a"})
	a2 := enqueue(t, q, queue.Job{Task: "v", Owner: "a"})
	enqueue(t, q, queue.Job{Task: "w"})
	// Creation order to the millisecond, then id.
	slices.SortFunc(sts, func(a, b *queue.JobState) int {
		if d := a.CreatedAt.UnixMilli() - b.CreatedAt.UnixMilli(); d != 0 {
			return int(d)
		}
		return strings.Compare(a.Job.ID, b.Job.ID)
	})
	var want []string
	for _, st := range sts {
		want = append(want, st.Job.ID)
	}
	got, pages := listAll(t, q, queue.ListQuery{Task: "v", Limit: 3})
	if !slices.Equal(got, want) || !slices.Equal(pages, []int{3, 3, 1}) {
		t.Fatalf("oldest first, pages of 3: %v in pages %v, want %v", got, pages, want)
	}
	got, _ = listAll(t, q, queue.ListQuery{Task: "v", Limit: 2, Desc: true})
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if !slices.Equal(got, rev) {
		t.Fatalf("newest first: %v, want %v", got, rev)
	}
	got, _ = listAll(t, q, queue.ListQuery{Task: "v", Owner: "a", Limit: 100})
	if len(got) != 2 || !slices.Contains(got, a1.Job.ID) || !slices.Contains(got, a2.Job.ID) {
		t.Fatalf("owner a: %v", got)
	}
	if got, _ := listAll(t, q, queue.ListQuery{Task: "w", Limit: 5}); len(got) != 1 {
		t.Fatalf("task w: %v", got)
	}
	if got, _ := listAll(t, q, queue.ListQuery{Task: "none", Limit: 5}); len(got) != 0 {
		t.Fatalf("unknown task: %v", got)
	}
	// A listed job shows its current state.
	l := dequeue(t, q, "w", "v")
	if err := q.Complete(t.Context(), l, queue.Result{Output: json.RawMessage(`7`)}); err != nil {
		t.Fatal(err)
	}
	page, _, err := q.List(t.Context(), queue.ListQuery{Task: "v", Limit: 1})
	if err != nil || len(page) != 1 || page[0].Job.ID != l.Job.ID || page[0].Status != queue.StatusSucceeded || page[0].Result == nil {
		t.Fatalf("first listed job %+v (%v), want %s succeeded with its result", page, err, l.Job.ID)
	}
	if _, _, err := q.List(t.Context(), queue.ListQuery{Task: "v", Limit: 3, After: "no-such-job"}); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("cursor naming no job: %v, want ErrNotFound", err)
	}
	if _, _, err := q.List(t.Context(), queue.ListQuery{Task: "v", Limit: 3, After: a1.Job.ID}); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("cursor naming another owner's job: %v, want ErrNotFound", err)
	}
	for _, bad := range []queue.ListQuery{{Task: "v"}, {Task: "v", Limit: queue.MaxListLimit + 1}, {Limit: 3}} {
		if _, _, err := q.List(t.Context(), bad); err == nil {
			t.Fatalf("list %+v: no error", bad)
		}
	}
}

func testListExpired(t *testing.T, nq NewQueue) {
	o := opts()
	o.ResultTTL = 300 * time.Millisecond
	q := nq(t, o)
	gone := enqueue(t, q, queue.Job{Task: "v"})
	kept := enqueue(t, q, queue.Job{Task: "v"})
	if _, err := q.Cancel(t.Context(), gone.Job.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "an expired job is still listed", func() bool {
		got, _ := listAll(t, q, queue.ListQuery{Task: "v", Limit: 1})
		return slices.Equal(got, []string{kept.Job.ID})
	})
}

func testDelete(t *testing.T, nq NewQueue) {
	q := nq(t, opts())
	queued := enqueue(t, q, queue.Job{Task: "d", IdempotencyKey: "del-key", Owner: "o", OwnerLimit: 1})
	if err := q.Delete(t.Context(), queued.Job.ID); err != nil {
		t.Fatalf("delete queued: %v", err)
	}
	if _, err := q.Get(t.Context(), queued.Job.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := q.Events(t.Context(), queued.Job.ID, 0, 0); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("events after delete: %v", err)
	}
	dequeueNone(t, q, 100*time.Millisecond, "d")
	if err := q.Delete(t.Context(), queued.Job.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	// Its idempotency key and its owner's slot are free again.
	again, existed, err := q.Enqueue(t.Context(), queue.Job{Task: "d", IdempotencyKey: "del-key", Owner: "o", OwnerLimit: 1})
	if err != nil || existed || again.Job.ID == queued.Job.ID {
		t.Fatalf("enqueue with the deleted job's key: %+v existed=%v %v", again, existed, err)
	}
	// A running job: its holder learns at its next call.
	l := dequeue(t, q, "w", "d")
	if err := q.Delete(t.Context(), l.Job.ID); err != nil {
		t.Fatalf("delete running: %v", err)
	}
	if err := q.Heartbeat(t.Context(), l); !errors.Is(err, queue.ErrCanceled) && !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("heartbeat of a deleted job: %v, want ErrCanceled or ErrLeaseLost", err)
	}
	if err := q.Complete(t.Context(), l, queue.Result{}); err == nil {
		t.Fatal("completed a deleted job")
	}
	if _, err := q.Get(t.Context(), l.Job.ID); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("get after deleting a running job: %v", err)
	}
	// A finished job, and the listing forgets it.
	done := enqueue(t, q, queue.Job{Task: "d"})
	other := enqueue(t, q, queue.Job{Task: "d"})
	l = dequeue(t, q, "w", "d")
	if l.Job.ID != done.Job.ID {
		t.Fatalf("dequeued %s, want %s", l.Job.ID, done.Job.ID)
	}
	if err := q.Complete(t.Context(), l, queue.Result{Output: json.RawMessage(`1`)}); err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(t.Context(), done.Job.ID); err != nil {
		t.Fatalf("delete finished: %v", err)
	}
	if got, _ := listAll(t, q, queue.ListQuery{Task: "d", Limit: 10}); !slices.Equal(got, []string{other.Job.ID}) {
		t.Fatalf("listed after delete: %v, want only %s", got, other.Job.ID)
	}
	if err := q.Delete(t.Context(), "no-such-job"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("delete unknown: %v, want ErrNotFound", err)
	}
}
