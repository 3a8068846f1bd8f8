package worker_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
	"github.com/loomhq/loom/worker"
)

// memEngine serves models of given sizes and records Unload calls; a job
// for a model in hold runs until that model's channel closes.
type memEngine struct {
	fakeEngine
	mu       sync.Mutex
	unloads  []string
	running  map[string]int
	violated string // a model unloaded while a job ran on it
}

func (m *memEngine) Unload(_ context.Context, model string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running[model] > 0 {
		m.violated = model
	}
	m.unloads = append(m.unloads, model)
	return nil
}

func (m *memEngine) unloaded() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.unloads)
}

func newMemEngine(sizes map[string]int64, hold map[string]chan struct{}) *memEngine {
	m := &memEngine{running: map[string]int{}}
	m.man = sdk.Manifest{Name: "mem", Tasks: []string{"image.generate"}}
	for _, id := range []string{"a", "b", "c", "huge"} {
		if n, ok := sizes[id]; ok {
			m.man.Models = append(m.man.Models, sdk.ModelInfo{ID: id, Tasks: []string{"image.generate"}, Ready: true, MemoryBytes: n})
		}
	}
	m.run = func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		m.mu.Lock()
		m.running[job.Model]++
		m.mu.Unlock()
		defer func() {
			m.mu.Lock()
			m.running[job.Model]--
			m.mu.Unlock()
		}()
		if ch := hold[job.Model]; ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return result(emit, job.Model)
	}
	return m
}

func advertised(t *testing.T, q queue.Queue) queue.WorkerInfo {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws, err := q.Workers(context.Background())
		if err == nil && len(ws) == 1 {
			return ws[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers %+v %v", ws, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Under --max-memory models load on first use and the least recently used
// idle one is evicted when the next would not fit; a model larger than the
// budget is not served at all.
func TestMaxMemoryEvictsLRU(t *testing.T) {
	eng := newMemEngine(map[string]int64{"a": 60, "b": 60, "c": 30, "huge": 200}, nil)
	h := start(t, map[string]sdk.Engine{"mem": eng}, worker.Config{MaxMemory: 100, RegisterEvery: 20 * time.Millisecond})
	run := func(model string) {
		t.Helper()
		if _, st := h.wait(t, h.enqueue(t, queue.Job{Task: "image.generate", Model: model})); st.Status != queue.StatusSucceeded {
			t.Fatalf("job for %s: %+v", model, st)
		}
	}
	run("a")
	run("b") // 60 + 60 > 100: a goes
	if got := eng.unloaded(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("unloads after a, b: %v, want [a]", got)
	}
	run("c") // b 60 + c 30 fit
	run("a") // 90 + 60 > 100: b, the least recently used, goes (not c)
	if got := eng.unloaded(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("unloads after a, b, c, a: %v, want [a b]", got)
	}
	time.Sleep(100 * time.Millisecond) // a registration after the last job
	w := advertised(t, h.q)
	loaded := map[string]bool{}
	var ids []string
	for _, m := range w.Models {
		ids = append(ids, m.ID)
		loaded[m.ID] = m.Loaded
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) || !loaded["a"] || loaded["b"] || !loaded["c"] ||
		w.MemoryBudget != 100 || w.MemoryUsed != 90 {
		t.Fatalf("advertised %+v: want a, b, c (not huge: larger than the budget) with a and c loaded, 90 of 100 used", w)
	}
	huge := h.enqueue(t, queue.Job{Task: "image.generate", Model: "huge"})
	time.Sleep(300 * time.Millisecond)
	if st, _ := h.q.Get(context.Background(), huge); st.Status != queue.StatusQueued {
		t.Fatalf("job for a model larger than the budget: %+v, want it left queued for a bigger worker", st)
	}
}

// A model a job runs on is never evicted: the job of a model that does not
// fit beside it waits in the queue until the running one ends.
func TestMaxMemoryNeverEvictsRunning(t *testing.T) {
	release := make(chan struct{})
	eng := newMemEngine(map[string]int64{"a": 60, "b": 60}, map[string]chan struct{}{"a": release})
	h := start(t, map[string]sdk.Engine{"mem": eng}, worker.Config{MaxMemory: 100, DefaultConcurrency: 2})
	a := h.enqueue(t, queue.Job{Task: "image.generate", Model: "a"})
	waitRunning(t, h.q, a)
	b := h.enqueue(t, queue.Job{Task: "image.generate", Model: "b"})
	time.Sleep(400 * time.Millisecond)
	if st, _ := h.q.Get(context.Background(), b); st.Status != queue.StatusQueued {
		t.Fatalf("b while a runs and both cannot fit: %+v, want queued", st)
	}
	close(release)
	if _, st := h.wait(t, b); st.Status != queue.StatusSucceeded {
		t.Fatalf("b after a finished: %+v", st)
	}
	if got := eng.unloaded(); !slices.Equal(got, []string{"a"}) || eng.violated != "" {
		t.Fatalf("unloads %v (violated %q), want a once, after its job ended", got, eng.violated)
	}
}
