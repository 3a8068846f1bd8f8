package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"loom/queue"
)

// fakeQueue is a small in-test queue.Queue: enough semantics for handler
// tests (enqueue, lease, events with waiting, cancel, idempotency, depth
// limit) without depending on the real backends.
type fakeQueue struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	jobs     map[string]*queue.JobState
	events   map[string][]queue.Event
	pending  []string
	idem     map[string]string
	workers  map[string]queue.WorkerInfo
	maxDepth int
	seq      int
	failing  error // when set, every call answers it
}

func newFakeQueue() *fakeQueue {
	return &fakeQueue{changed: make(chan struct{}), jobs: map[string]*queue.JobState{}, events: map[string][]queue.Event{},
		idem: map[string]string{}, workers: map[string]queue.WorkerInfo{}, maxDepth: 1000}
}

func (f *fakeQueue) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeQueue) emitLocked(id, typ string, data any) {
	var raw json.RawMessage
	if data != nil {
		raw, _ = json.Marshal(data)
	}
	evs := f.events[id]
	f.events[id] = append(evs, queue.Event{Seq: int64(len(evs) + 1), Type: typ, Time: time.Now(), Data: raw})
	f.notifyLocked()
}

func (f *fakeQueue) Enqueue(ctx context.Context, job queue.Job) (*queue.JobState, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return nil, false, f.failing
	}
	if id, ok := f.idem[job.IdempotencyKey]; ok && job.IdempotencyKey != "" {
		st := *f.jobs[id]
		return &st, true, nil
	}
	depth := 0
	for _, id := range f.pending {
		if f.jobs[id].Job.Task == job.Task {
			depth++
		}
	}
	if depth >= f.maxDepth {
		return nil, false, &queue.FullError{Task: job.Task, Depth: depth, RetryAfter: 2 * time.Second}
	}
	f.seq++
	job.ID = fmt.Sprintf("job%d", f.seq)
	if job.IdempotencyKey != "" {
		f.idem[job.IdempotencyKey] = job.ID
	}
	st := &queue.JobState{Job: job, Status: queue.StatusQueued, CreatedAt: time.Now()}
	f.jobs[job.ID] = st
	f.pending = append(f.pending, job.ID)
	f.emitLocked(job.ID, queue.EventQueued, nil)
	cp := *st
	return &cp, false, nil
}

func (f *fakeQueue) Get(ctx context.Context, id string) (*queue.JobState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return nil, f.failing
	}
	st, ok := f.jobs[id]
	if !ok {
		return nil, queue.ErrNotFound
	}
	cp := *st
	return &cp, nil
}

func (f *fakeQueue) Cancel(ctx context.Context, id string) (*queue.JobState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.jobs[id]
	if !ok {
		return nil, queue.ErrNotFound
	}
	if !st.Status.Terminal() {
		st.Status, st.FinishedAt = queue.StatusCanceled, time.Now()
		f.pending = slices.DeleteFunc(f.pending, func(p string) bool { return p == id })
		f.emitLocked(id, queue.EventCanceled, nil)
	}
	cp := *st
	return &cp, nil
}

func (f *fakeQueue) Events(ctx context.Context, id string, after int64, wait time.Duration) ([]queue.Event, error) {
	deadline := time.Now().Add(wait)
	for {
		f.mu.Lock()
		if _, ok := f.jobs[id]; !ok {
			f.mu.Unlock()
			return nil, queue.ErrNotFound
		}
		var out []queue.Event
		for _, e := range f.events[id] {
			if e.Seq > after {
				out = append(out, e)
			}
		}
		ch := f.changed
		f.mu.Unlock()
		left := time.Until(deadline)
		if len(out) > 0 || left <= 0 {
			return out, nil
		}
		t := time.NewTimer(left)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
	}
}

func (f *fakeQueue) Depth(ctx context.Context, task string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, id := range f.pending {
		if f.jobs[id].Job.Task == task {
			n++
		}
	}
	return n, nil
}

func (f *fakeQueue) Dequeue(ctx context.Context, worker string, tasks []string) (*queue.Lease, error) {
	for {
		f.mu.Lock()
		for i, id := range f.pending {
			st := f.jobs[id]
			if slices.Contains(tasks, st.Job.Task) {
				f.pending = slices.Delete(f.pending, i, i+1)
				st.Status, st.Attempt, st.Worker, st.StartedAt = queue.StatusRunning, st.Attempt+1, worker, time.Now()
				f.emitLocked(id, queue.EventStarted, map[string]any{"attempt": st.Attempt, "worker": worker})
				l := &queue.Lease{Job: st.Job, Attempt: st.Attempt, Worker: worker, Token: id}
				f.mu.Unlock()
				return l, nil
			}
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (f *fakeQueue) Heartbeat(ctx context.Context, l *queue.Lease) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.jobs[l.Job.ID].Status == queue.StatusCanceled {
		return queue.ErrCanceled
	}
	return nil
}

func (f *fakeQueue) Publish(ctx context.Context, l *queue.Lease, typ string, data any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emitLocked(l.Job.ID, typ, data)
	return nil
}

func (f *fakeQueue) Complete(ctx context.Context, l *queue.Lease, res queue.Result) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.jobs[l.Job.ID]
	if st.Status.Terminal() {
		return queue.ErrCanceled
	}
	st.Status, st.Result, st.FinishedAt = queue.StatusSucceeded, &res, time.Now()
	f.emitLocked(l.Job.ID, queue.EventResult, nil)
	return nil
}

func (f *fakeQueue) Fail(ctx context.Context, l *queue.Lease, jerr queue.JobError, retry bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.jobs[l.Job.ID]
	if retry && st.Attempt < 3 {
		st.Status = queue.StatusQueued
		f.pending = append(f.pending, l.Job.ID)
		f.emitLocked(l.Job.ID, queue.EventRetry, jerr)
		return nil
	}
	st.Status, st.Error, st.FinishedAt = queue.StatusFailed, &jerr, time.Now()
	f.emitLocked(l.Job.ID, queue.EventError, jerr)
	return nil
}

func (f *fakeQueue) Release(ctx context.Context, l *queue.Lease) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[l.Job.ID].Status = queue.StatusQueued
	f.pending = append(f.pending, l.Job.ID)
	f.notifyLocked()
	return nil
}

func (f *fakeQueue) Register(ctx context.Context, w queue.WorkerInfo) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.SeenAt = time.Now()
	f.workers[w.ID] = w
	return nil
}

func (f *fakeQueue) Workers(ctx context.Context) ([]queue.WorkerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing != nil {
		return nil, f.failing
	}
	var out []queue.WorkerInfo
	for _, w := range f.workers {
		out = append(out, w)
	}
	return out, nil
}

func (f *fakeQueue) Close() error { return nil }
