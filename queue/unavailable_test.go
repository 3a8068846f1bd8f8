package queue_test

import (
	"context"
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/loomhq/loom/queue"
)

// Issue 17 item 3: with Redis down every call failed with a plain error the
// gateway could only answer as 500 "internal". A failure to reach Redis now
// matches queue.ErrUnavailable (503 queue_unavailable upstream); calls work
// again once Redis is back.
func TestRedisDownIsUnavailable(t *testing.T) {
	redisURL(t) // same skip/fail rule as the other Redis tests
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH")
	}
	dir, port := t.TempDir(), freePort(t)
	url, stop := startRedis(t, dir, port)
	ctx := t.Context()
	q, err := queue.NewRedis(ctx, url, queue.Options{LeaseDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	st, _, err := q.Enqueue(ctx, queue.Job{Task: "t", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := q.Dequeue(ctx, "w1", []queue.Lane{{Task: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	stop()

	lanes := []queue.Lane{{Task: "t"}}
	calls := map[string]func(context.Context) error{
		"enqueue":   func(c context.Context) error { _, _, err := q.Enqueue(c, queue.Job{Task: "t"}); return err },
		"get":       func(c context.Context) error { _, err := q.Get(c, st.Job.ID); return err },
		"events":    func(c context.Context) error { _, err := q.Events(c, st.Job.ID, 0, 0); return err },
		"cancel":    func(c context.Context) error { _, err := q.Cancel(c, st.Job.ID); return err },
		"workers":   func(c context.Context) error { _, err := q.Workers(c); return err },
		"register":  func(c context.Context) error { return q.Register(c, queue.WorkerInfo{ID: "w1", Tasks: []string{"t"}}) },
		"dequeue":   func(c context.Context) error { _, err := q.Dequeue(c, "w2", lanes); return err },
		"heartbeat": func(c context.Context) error { return q.Heartbeat(c, l) },
		"publish":   func(c context.Context) error { return q.Publish(c, l, queue.EventProgress, map[string]int{"step": 1}) },
		"complete":  func(c context.Context) error { return q.Complete(c, l, queue.Result{}) },
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := call(cctx)
		cancel()
		if !errors.Is(err, queue.ErrUnavailable) {
			t.Errorf("%s with redis down: %v, want ErrUnavailable", name, err)
		}
	}

	_, stop2 := startRedis(t, dir, port)
	defer stop2()
	var got *queue.JobState
	for i := 0; i < 50; i++ { // the first calls may meet the dropped connections
		if got, err = q.Get(ctx, st.Job.ID); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || got.Status != queue.StatusRunning {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	// A reply Redis gives on purpose is not an outage.
	if err := q.Complete(ctx, &queue.Lease{Job: queue.Job{ID: "nope", Task: "t"}, Token: "x"}, queue.Result{}); errors.Is(err, queue.ErrUnavailable) || !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("complete of an unknown job: %v, want ErrLeaseLost", err)
	}
}
