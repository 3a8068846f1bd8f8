package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/loomhq/loom/queue"
)

// faultyQueue wraps the real in-process queue with switches for the
// failures handler tests need: an unreachable backend and a full queue.
type faultyQueue struct {
	*queue.Memory
	mu      sync.Mutex
	failing error // when set, Enqueue, Get and Workers answer it
	full    bool  // when set, Enqueue answers a *queue.FullError
}

func newTestQueue() *faultyQueue { return &faultyQueue{Memory: queue.NewMemory(queue.Options{})} }

func (f *faultyQueue) set(failing error, full bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing, f.full = failing, full
}

func (f *faultyQueue) fault() (error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failing, f.full
}

func (f *faultyQueue) Enqueue(ctx context.Context, job queue.Job) (*queue.JobState, bool, error) {
	if err, full := f.fault(); err != nil {
		return nil, false, err
	} else if full {
		return nil, false, &queue.FullError{Task: job.Task, Depth: 1000, RetryAfter: 2 * time.Second}
	}
	return f.Memory.Enqueue(ctx, job)
}

func (f *faultyQueue) Get(ctx context.Context, id string) (*queue.JobState, error) {
	if err, _ := f.fault(); err != nil {
		return nil, err
	}
	return f.Memory.Get(ctx, id)
}

func (f *faultyQueue) Workers(ctx context.Context) ([]queue.WorkerInfo, error) {
	if err, _ := f.fault(); err != nil {
		return nil, err
	}
	return f.Memory.Workers(ctx)
}
