package kernels

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a persistent set of worker goroutines that run index ranges of a
// parallel loop. Kernels share one process-wide pool (Default) so a tower
// never spawns goroutines per call: steady-state inference does no goroutine
// churn and no allocation for parallelism beyond a closure.
//
// For may be called from inside a For task (a kernel calling a kernel): a
// caller waiting for its chunks runs queued chunks itself — its own or any
// other loop's — instead of blocking, and a full queue runs a chunk inline,
// so nested loops cannot deadlock the pool.
type Pool struct {
	threads  int
	work     chan poolTask
	wg       sync.WaitGroup
	inFlight atomic.Int32 // For calls running now, nested ones included
}

type poolTask struct {
	fn     func(lo, hi int)
	lo, hi int
	loop   *loopState
}

// loopState tracks one For call's outstanding chunks. The last chunk to
// finish sends on done (buffered), so a loopState is reused through
// loopStates and a parallel loop allocates nothing in steady state.
type loopState struct {
	pending atomic.Int32
	done    chan struct{}
}

var loopStates = sync.Pool{New: func() any { return &loopState{done: make(chan struct{}, 1)} }}

func (l *loopState) finish() {
	if l.pending.Add(-1) == 0 {
		l.done <- struct{}{}
	}
}

func (t poolTask) run() {
	t.fn(t.lo, t.hi)
	if t.loop != nil { // nil: a Team member (teamMember), not a loop's chunk
		t.loop.finish()
	}
}

var defaultPool atomic.Pointer[Pool]

// NewPool starts a pool of n workers (n < 1 means runtime.NumCPU()).
func NewPool(n int) *Pool {
	if n < 1 {
		n = runtime.NumCPU()
	}
	p := &Pool{threads: n, work: make(chan poolTask, 4*n)}
	for i := 0; i < n-1; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				t, ok := p.next()
				if !ok {
					return
				}
				t.run()
			}
		}()
	}
	return p
}

// poolSpin is how long an idle worker polls the queue before it blocks, and
// how long a For caller polls for its last chunks before it blocks. A tower
// runs hundreds of short parallel loops per step, one after another; a
// worker that blocked after each paid an OS wake-up (tens of µs on a VM) per
// loop, so two threads ran a UNet step slower than one. OpenMP runtimes
// spin for the same reason (and for longer).
const poolSpin = 100 * time.Microsecond

// next returns the next task, or false once the pool is closed, polling for
// up to poolSpin before blocking.
func (p *Pool) next() (poolTask, bool) {
	for sp := (spinner{yield: true}); sp.more(); {
		select {
		case t, ok := <-p.work:
			return t, ok
		default:
		}
	}
	t, ok := <-p.work
	return t, ok
}

// spinner bounds a polling loop to about poolSpin, reading the clock every
// 64 polls; yield also lets other goroutines run at those points.
type spinner struct {
	deadline time.Time
	polls    int
	yield    bool
}

// more reports whether the loop may poll once more.
func (s *spinner) more() bool {
	s.polls++
	if s.polls%64 != 0 {
		return true
	}
	now := time.Now()
	if s.deadline.IsZero() {
		s.deadline = now.Add(poolSpin)
	} else if now.After(s.deadline) {
		return false
	}
	if s.yield {
		runtime.Gosched()
	}
	return true
}

// Threads reports how many goroutines (including the caller) a loop uses.
func (p *Pool) Threads() int { return p.threads }

// Close stops the workers. The pool must not be used afterwards.
func (p *Pool) Close() {
	close(p.work)
	p.wg.Wait()
}

// For splits [0,n) into contiguous chunks whose size is a multiple of grain
// (except the last) and runs fn on each; the caller runs the first chunk
// itself. It returns when every chunk is done. It uses at most Threads()
// less the number of other For calls in flight: when jobs run side by side
// (a worker's slots, concurrent requests) each keeps its loops on its own
// thread instead of splitting every loop across cores the other jobs are
// using, and a loop nested in another's chunk runs where it is.
func (p *Pool) For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	// Every thread already taken (a loop in a Team member's ops): run here
	// without counting this loop in flight. Counting it wrote inFlight's
	// cache line twice per op, and a Team's members running small ops each
	// wrote it a few hundred thousand times a second, handing the line
	// between their cores. (A loop beside fewer others still counts, one
	// chunk or not: a job's small loops are how a job beside it sees that
	// it is running.)
	if p.threads <= 1 || int(p.inFlight.Load()) >= p.threads {
		fn(0, n)
		return
	}
	others := int(p.inFlight.Add(1)) - 1
	defer p.inFlight.Add(-1)
	t := min(p.threads-others, chunks)
	if t <= 1 {
		fn(0, n)
		return
	}
	per := (chunks + t - 1) / t * grain
	loop := loopStates.Get().(*loopState)
	loop.pending.Store(1) // the caller's own chunk
	for lo := per; lo < n; lo += per {
		loop.pending.Add(1)
		task := poolTask{fn: fn, lo: lo, hi: min(lo+per, n), loop: loop}
		select {
		case p.work <- task:
		default:
			task.run() // queue full (nested loops): do it here rather than wait
		}
	}
	fn(0, min(per, n))
	loop.finish()
	// Poll (running queued chunks) until the others are done, then block: a
	// finished count means the last finish is sending on done.
	for sp := (spinner{}); loop.pending.Load() != 0 && sp.more(); {
		select {
		case t := <-p.work:
			t.run()
		default:
		}
	}
	for {
		select {
		case <-loop.done:
			loopStates.Put(loop)
			return
		case t := <-p.work:
			t.run() // help: every queued chunk belongs to some waiting loop
		}
	}
}

// ThreadsEnv names the environment variable that sizes the process-wide pool
// (plugin processes inherit it from the worker or CLI that starts them).
const ThreadsEnv = "LOOM_THREADS"

// Default returns the process-wide pool, started on first use with
// $LOOM_THREADS workers, or runtime.NumCPU() when that is unset or invalid.
func Default() *Pool {
	if p := defaultPool.Load(); p != nil {
		return p
	}
	n, _ := strconv.Atoi(os.Getenv(ThreadsEnv))
	p := NewPool(n)
	if !defaultPool.CompareAndSwap(nil, p) {
		p.Close()
	}
	return defaultPool.Load()
}

// SetThreads replaces the process-wide pool with one of n workers.
func SetThreads(n int) {
	old := defaultPool.Swap(NewPool(n))
	if old != nil {
		old.Close()
	}
}

// Items runs fn over a batch of n independent items, one contiguous share
// of items per thread (fewer threads when other loops are in flight, as in
// For). A tower calls it around its whole forward pass, so the kernels
// inside run on the thread that owns the items and every core keeps its own
// activations in its cache from op to op, where splitting each op over the
// cores would hand them across. With one share (one item, or no free
// thread) fn runs the whole batch here and its kernels may still use every
// thread.
func (p *Pool) Items(n int, fn func(lo, hi int)) {
	parts := min(n, p.threads-int(p.inFlight.Load()))
	if parts <= 1 {
		fn(0, n)
		return
	}
	p.For(n, (n+parts-1)/parts, fn)
}

// Each runs fn(i) for each of n independent items, as Items does, but the
// threads take the next item in turn rather than fixed shares: for items of
// unequal work (sentences), started roughly in order.
func (p *Pool) Each(n int, fn func(i int)) {
	var next atomic.Int64
	p.Items(n, func(int, int) {
		for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
			fn(i)
		}
	})
}

// Team runs fn on parts goroutines at once, part 0 on the caller, for work
// that keeps one partition through many ops and meets at barriers (each
// member owns a band of a vocoder's frames through every layer, reading its
// neighbours' edge rows after a barrier) where splitting each op anew would
// hand every op's output across the cores and pay a pool round per op.
// parts is min(want, the threads no other loop is using); with one part fn
// runs alone with a barrier of one, and its kernels may still use every
// thread, unless want > 1 and other loops hold the threads: then it counts
// as one loop in flight while it runs, as For does. With more, the team
// counts as in flight, so the loops its kernels start run on the member's
// own thread. Every member must call bar.Wait the
// same number of times (a member that fails keeps meeting the barriers).
// Each member other than part 0 is offered to the pool's workers and also
// handed to a goroutine of its own, and whichever comes first runs it: a
// worker still polling the queue after its last loop takes it at once on
// its own core, where a new goroutine would wait in the caller's run queue
// (a polling worker yields only to itself, and steals nothing) and run
// beside part 0 on the caller's core; the goroutine makes sure a member
// never waits for a worker held elsewhere.
func (p *Pool) Team(want int, fn func(part, parts int, bar *Barrier)) {
	parts := min(want, p.threads-int(p.inFlight.Load()))
	if parts <= 1 {
		if want > 1 {
			// Other jobs hold the threads: this one runs on one of its own
			// and says so, or the next team of a job beside it would take
			// every thread again and the two would share cores.
			p.inFlight.Add(1)
			defer p.inFlight.Add(-1)
		}
		fn(0, 1, &Barrier{})
		return
	}
	p.inFlight.Add(int32(parts))
	defer p.inFlight.Add(-int32(parts))
	bar := &Barrier{n: int32(parts)}
	bar.cond.L = &bar.mu
	var wg sync.WaitGroup
	for i := 1; i < parts; i++ {
		wg.Add(1)
		m := &teamMember{fn: fn, part: i, parts: parts, bar: bar, wg: &wg}
		select {
		case p.work <- poolTask{fn: m.run}:
		default: // queue full: the goroutine alone
		}
		go m.run(0, 0)
	}
	fn(0, parts, bar)
	wg.Wait()
}

// teamMember is one Team part offered to both a pool worker and a goroutine
// of its own: the first to call run runs it, the other returns at once.
type teamMember struct {
	claimed     atomic.Bool
	fn          func(part, parts int, bar *Barrier)
	part, parts int
	bar         *Barrier
	wg          *sync.WaitGroup
}

func (m *teamMember) run(int, int) {
	if m.claimed.CompareAndSwap(false, true) {
		defer m.wg.Done()
		m.fn(m.part, m.parts, m.bar)
	}
}

// Barrier makes a Team's members wait for each other: Wait returns once all
// parts have called it (as often as each other). Waiters poll for about
// poolSpin, as pool workers do, then block.
type Barrier struct {
	n     int32 // members; 0 or 1: Wait returns at once
	count atomic.Int32
	gen   atomic.Uint32
	mu    sync.Mutex
	cond  sync.Cond
}

// Wait blocks until every member has reached this barrier.
func (b *Barrier) Wait() {
	if b.n <= 1 {
		return
	}
	g := b.gen.Load()
	if b.count.Add(1) == b.n {
		b.count.Store(0) // before gen moves: a member let through arrives at the next barrier
		b.mu.Lock()
		b.gen.Add(1)
		b.cond.Broadcast()
		b.mu.Unlock()
		return
	}
	for sp := (spinner{yield: true}); sp.more(); {
		if b.gen.Load() != g {
			return
		}
	}
	b.mu.Lock()
	for b.gen.Load() == g {
		b.cond.Wait()
	}
	b.mu.Unlock()
}

// Band returns part's share [lo, hi) of n rows split into parts contiguous
// bands whose inner edges fall on multiples of align rows (align ≥ 1).
// Aligning to 8 rows keeps every band of a row-major array starting on a
// multiple of 8 floats, so vector kernels with a scalar tail treat each
// element as they do on the whole array and a band's results are bit for
// bit the whole's.
func Band(n, align, part, parts int) (lo, hi int) {
	edge := func(p int) int {
		if p >= parts {
			return n
		}
		return n * p / parts / align * align
	}
	return edge(part), edge(part + 1)
}

// ParallelItems runs fn over a batch of n items on the default pool (see
// Pool.Items).
func ParallelItems(n int, fn func(lo, hi int)) { Default().Items(n, fn) }

// ParallelFor runs fn over [0,n) on the default pool (see Pool.For).
func ParallelFor(n, grain int, fn func(lo, hi int)) { Default().For(n, grain, fn) }

// oneChunk reports that ParallelFor(n, grain, …) would run its whole range
// as one call on the caller's goroutine (one chunk, or one thread). Kernels
// on a decode step's path then call their loop body directly: a func value
// handed to the pool escapes, so building one costs a heap allocation per
// call even when the pool runs it inline, and those allocations (≈ 14 KB a
// token in a 134M decode) were garbage that grew the heap between GCs.
func oneChunk(n, grain int) bool { return n <= max(grain, 1) || Default().Threads() <= 1 }
