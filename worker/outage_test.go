package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
	"github.com/loomhq/loom/worker"
)

// outageQueue is the memory queue behind a switch: while down, every call
// a worker makes answers ErrUnavailable, as the Redis backend does when
// Redis is unreachable.
type outageQueue struct {
	*queue.Memory
	mu   sync.Mutex
	down bool
}

func (o *outageQueue) set(down bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down = down
}

func (o *outageQueue) fault(op string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.down {
		return fmt.Errorf("%s: %w: dial tcp 127.0.0.1:6379: connect: connection refused", op, queue.ErrUnavailable)
	}
	return nil
}

func (o *outageQueue) Dequeue(ctx context.Context, w string, lanes []queue.Lane) (*queue.Lease, error) {
	if err := o.fault("dequeue"); err != nil {
		return nil, err
	}
	return o.Memory.Dequeue(ctx, w, lanes)
}
func (o *outageQueue) Heartbeat(ctx context.Context, l *queue.Lease) error {
	if err := o.fault("heartbeat"); err != nil {
		return err
	}
	return o.Memory.Heartbeat(ctx, l)
}
func (o *outageQueue) Publish(ctx context.Context, l *queue.Lease, typ string, data any) error {
	if err := o.fault("publish"); err != nil {
		return err
	}
	return o.Memory.Publish(ctx, l, typ, data)
}
func (o *outageQueue) Complete(ctx context.Context, l *queue.Lease, r queue.Result) error {
	if err := o.fault("complete"); err != nil {
		return err
	}
	return o.Memory.Complete(ctx, l, r)
}
func (o *outageQueue) Register(ctx context.Context, w queue.WorkerInfo) error {
	if err := o.fault("register"); err != nil {
		return err
	}
	return o.Memory.Register(ctx, w)
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

type outcomes struct {
	mu  sync.Mutex
	got []string
}

func (o *outcomes) add(_, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, outcome)
}

func (o *outcomes) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.got...)
}

// Issue 17 item 3: during an outage each worker logged a warning for every
// failed heartbeat and dequeue (four a second per job); the outage is now
// logged once when it begins and once when it ends. A result that could not
// be stored at first is retried through the outage and stored once.
func TestOutageLoggedOnceAndResultKept(t *testing.T) {
	q := &outageQueue{Memory: queue.NewMemory(queue.Options{LeaseDuration: 3 * time.Second, MaxAttempts: 3})}
	t.Cleanup(func() { _ = q.Close() })
	logs := &logBuffer{}
	var oc outcomes
	release := make(chan struct{})
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		<-release
		return result(emit, "kept")
	})
	h := startOn(t, q, map[string]sdk.Engine{"text": eng}, worker.Config{
		DefaultConcurrency: 3, CancelPoll: 20 * time.Millisecond, SettleFor: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), OnFinish: oc.add})
	id := h.enqueue(t, queue.Job{})
	waitRunning(t, q, id)
	q.set(true) // heartbeats, the idle slots' dequeues and then the result all fail
	time.Sleep(300 * time.Millisecond)
	close(release)
	time.Sleep(700 * time.Millisecond)
	q.set(false)
	_, st := h.wait(t, id)
	if st.Status != queue.StatusSucceeded || st.Attempt != 1 {
		t.Fatalf("job %+v: want succeeded on its first attempt", st)
	}
	h.stop(t)
	if got := oc.list(); len(got) != 1 || got[0] != worker.OutcomeSucceeded {
		t.Fatalf("outcomes %v, want one succeeded", got)
	}
	if n, m := logs.count("queue unreachable"), logs.count("queue reachable again"); n != 1 || m != 1 {
		t.Fatalf("%d 'unreachable' and %d 'reachable again' lines, want 1 and 1:\n%s", n, m, logs.b.String())
	}
	if n := logs.count("level=WARN"); n != 1 {
		t.Fatalf("%d warnings, want the one at the outage's start:\n%s", n, logs.b.String())
	}
}

// Issue 17 item 3: a worker that failed to store a result logged "job
// succeeded" and counted it in loom_worker_jobs_total; it now reports the
// attempt unsettled, and the job runs again once the lease lapses.
func TestUnstoredResultIsNoSuccess(t *testing.T) {
	q := &outageQueue{Memory: queue.NewMemory(queue.Options{LeaseDuration: 300 * time.Millisecond, MaxAttempts: 3})}
	t.Cleanup(func() { _ = q.Close() })
	logs := &logBuffer{}
	var oc outcomes
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		if job.Attempt == 1 {
			q.set(true) // Redis goes away just as the result is ready
		}
		return result(emit, "again")
	})
	h := startOn(t, q, map[string]sdk.Engine{"text": eng}, worker.Config{SettleFor: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), OnFinish: oc.add})
	id := h.enqueue(t, queue.Job{})
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && len(oc.list()) == 0; time.Sleep(10 * time.Millisecond) {
	}
	if got := oc.list(); len(got) != 1 || got[0] != worker.OutcomeUnsettled {
		t.Fatalf("outcomes %v, want [unsettled]", got)
	}
	if logs.count("job succeeded") != 0 {
		t.Fatalf("logged a success it did not store:\n%s", logs.b.String())
	}
	q.set(false)
	_, st := h.wait(t, id)
	if st.Status != queue.StatusSucceeded || st.Attempt != 2 {
		t.Fatalf("job %+v: want succeeded on its second attempt", st)
	}
}
