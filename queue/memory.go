package queue

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Memory is the in-process queue `loom serve` uses: everything lives in one
// map under one mutex, and waiters (Dequeue, Events) sleep on a broadcast
// channel that is closed and replaced on every change. Nothing survives the
// process, so it suits one machine; Redis is the durable backend.
type Memory struct {
	opts Options

	mu      sync.Mutex
	changed chan struct{} // closed on every state change, then replaced
	jobs    map[string]*memJob
	ready   map[Lane]*[2][]*memJob // lane → queued jobs, indexed by Priority, FIFO
	lanes   map[Lane]bool          // every known lane (enqueued to or registered for)
	running map[string]*memJob
	idem    map[string]idemEntry
	workers map[string]WorkerInfo
	owners  map[string]int // owner → jobs queued or running
	order   uint64         // stamps queued jobs so FIFO holds within a lane across requeues
	tokens  uint64
	turn    uint64 // Dequeue calls so far: where the next one starts among its lanes
	closed  bool
	done    chan struct{} // stops the janitor
	kept    retention     // finished jobs kept, for the caps (memory_retain.go)
}

type memJob struct {
	st         JobState
	events     []Event // oldest dropped beyond MaxEvents
	seq        int64   // last event's Seq
	token      string  // current lease
	leaseUntil time.Time
	order      uint64
	queuedAt   time.Time // when it was last put in its lane
	expiresAt  time.Time // finished jobs only
	cost       jobCost   // finished jobs only: what keeping it costs
}

type idemEntry struct {
	id        string
	expiresAt time.Time
}

var _ Queue = (*Memory)(nil)

// NewMemory returns an empty in-process queue. Close stops its janitor.
func NewMemory(opts Options) *Memory {
	m := &Memory{
		opts:    opts.WithDefaults(),
		changed: make(chan struct{}),
		jobs:    map[string]*memJob{},
		ready:   map[Lane]*[2][]*memJob{},
		lanes:   map[Lane]bool{},
		running: map[string]*memJob{},
		idem:    map[string]idemEntry{},
		workers: map[string]WorkerInfo{},
		owners:  map[string]int{},
		done:    make(chan struct{}),
	}
	go m.janitor()
	return m
}

// janitor reclaims lapsed leases and drops expired jobs even when no worker
// is dequeuing, so Get shows a dead worker's job going back to queued.
func (m *Memory) janitor() {
	every := min(m.opts.LeaseDuration/4, m.opts.ResultTTL/4, time.Second)
	t := time.NewTicker(max(every, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
			m.mu.Lock()
			now := m.opts.Now()
			m.reclaimLocked(now)
			m.expireLocked(now)
			m.sweepLocked(now)
			m.mu.Unlock()
		}
	}
}

// broadcastLocked wakes every waiter.
func (m *Memory) broadcastLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// lookupLocked returns the job unless it does not exist or its TTL ran out.
func (m *Memory) lookupLocked(id string, now time.Time) *memJob {
	j := m.jobs[id]
	if j == nil {
		return nil
	}
	if !j.expiresAt.IsZero() && !now.Before(j.expiresAt) {
		m.dropLocked(id)
		return nil
	}
	return j
}

func (m *Memory) sweepLocked(now time.Time) {
	for id, j := range m.jobs {
		if !j.expiresAt.IsZero() && !now.Before(j.expiresAt) {
			m.dropLocked(id)
		}
	}
	for k, e := range m.idem {
		if !now.Before(e.expiresAt) {
			delete(m.idem, k)
		}
	}
	for id, w := range m.workers {
		if !now.Before(w.SeenAt.Add(m.opts.WorkerTTL)) {
			delete(m.workers, id)
		}
	}
}

func (m *Memory) appendEventLocked(j *memJob, typ string, data []byte, now time.Time) {
	j.seq++
	j.events = append(j.events, Event{Seq: j.seq, Type: typ, Time: now, Data: data})
	if len(j.events) > m.opts.MaxEvents {
		// The terminal event is always the newest, so the dropped one never is.
		j.events = slices.Delete(j.events, 0, len(j.events)-m.opts.MaxEvents)
	}
	if j.st.Status.Terminal() && (Event{Type: typ}).Terminal() {
		m.retainLocked(j) // the job's last event: it is finished for good
	}
	m.broadcastLocked()
}

// laneLocked returns the queued jobs of a lane, making the lane known.
func (m *Memory) laneLocked(l Lane) *[2][]*memJob {
	l.Cold = false
	q := m.ready[l]
	if q == nil {
		q = &[2][]*memJob{}
		m.ready[l] = q
		m.lanes[l] = true
	}
	return q
}

func (m *Memory) pushLocked(j *memJob, now time.Time) {
	q := m.laneLocked(j.st.Job.Lane())
	m.order++
	j.order = m.order
	j.queuedAt = now
	q[j.st.Job.Priority] = append(q[j.st.Job.Priority], j)
}

func (m *Memory) removeQueuedLocked(j *memJob) {
	q := m.ready[j.st.Job.Lane()]
	if q == nil {
		return
	}
	p := j.st.Job.Priority
	if i := slices.Index(q[p], j); i >= 0 {
		q[p] = slices.Delete(q[p], i, i+1)
	}
}

func (m *Memory) depthLocked(task string) int {
	n := 0
	for l, q := range m.ready {
		if l.Task == task {
			n += len(q[0]) + len(q[1])
		}
	}
	return n
}

// expireLocked fails queued jobs whose deadline passed, in every lane: a
// lane no worker serves is never dequeued from, yet its jobs must end.
func (m *Memory) expireLocked(now time.Time) {
	for _, q := range m.ready {
		for p := range q {
			q[p] = slices.DeleteFunc(q[p], func(j *memJob) bool {
				if j.st.Job.Deadline.IsZero() || now.Before(j.st.Job.Deadline) {
					return false
				}
				j.st.Error = deadlineError()
				m.finishLocked(j, StatusFailed, now)
				m.appendEventLocked(j, EventError, errorData(j.st.Error), now)
				return true
			})
		}
	}
}

func (m *Memory) finishLocked(j *memJob, status Status, now time.Time) {
	if o := j.st.Job.Owner; o != "" && !j.st.Status.Terminal() {
		if m.owners[o]--; m.owners[o] <= 0 {
			delete(m.owners, o)
		}
	}
	j.st.Status = status
	j.st.FinishedAt = now
	j.expiresAt = now.Add(m.opts.ResultTTL)
	delete(m.running, j.st.Job.ID)
}

func cloneState(j *memJob) *JobState {
	st := j.st
	if st.Error != nil {
		e := *st.Error
		st.Error = &e
	}
	return &st
}

func (m *Memory) enqueue(ctx context.Context, job Job) (*JobState, bool, error) {
	if err := job.validate(); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	now := m.opts.Now()
	if k := job.IdempotencyKey; k != "" {
		if e, ok := m.idem[k]; ok && now.Before(e.expiresAt) {
			if j := m.lookupLocked(e.id, now); j != nil {
				return cloneState(j), true, nil
			}
		}
	}
	if job.ID == "" {
		job.ID = NewID()
	} else if m.lookupLocked(job.ID, now) != nil {
		return nil, false, fmt.Errorf("enqueue: job id %q already exists", job.ID)
	}
	if d := m.depthLocked(job.Task); d >= m.opts.MaxDepth {
		return nil, false, &FullError{Task: job.Task, Depth: d, RetryAfter: m.opts.RetryAfter}
	}
	if job.OwnerLimit > 0 && m.owners[job.Owner] >= job.OwnerLimit {
		return nil, false, &LimitError{Owner: job.Owner, Limit: job.OwnerLimit, RetryAfter: m.opts.RetryAfter}
	}
	if job.Owner != "" {
		m.owners[job.Owner]++
	}
	j := &memJob{st: JobState{Job: job, Status: StatusQueued, CreatedAt: now}}
	m.jobs[job.ID] = j
	if job.IdempotencyKey != "" {
		m.idem[job.IdempotencyKey] = idemEntry{id: job.ID, expiresAt: now.Add(m.opts.ResultTTL)}
	}
	m.pushLocked(j, now)
	m.appendEventLocked(j, EventQueued, queuedData(&job), now)
	return cloneState(j), false, nil
}

func (m *Memory) get(ctx context.Context, id string) (*JobState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.lookupLocked(id, m.opts.Now())
	if j == nil {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	return cloneState(j), nil
}

func (m *Memory) cancel(ctx context.Context, id string) (*JobState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	j := m.lookupLocked(id, now)
	if j == nil {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	m.cancelLocked(j, now)
	return cloneState(j), nil
}

// cancelLocked ends a queued or running job as canceled; a finished one is
// left as it is.
func (m *Memory) cancelLocked(j *memJob, now time.Time) {
	switch j.st.Status {
	case StatusQueued:
		m.removeQueuedLocked(j)
	case StatusRunning:
		// The token stays, so the holder's next call answers ErrCanceled.
	default:
		return
	}
	m.finishLocked(j, StatusCanceled, now)
	m.appendEventLocked(j, EventCanceled, []byte("{}"), now)
}

func (m *Memory) list(ctx context.Context, lq ListQuery) ([]*JobState, bool, error) {
	if err := lq.validate(); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	var all []*JobState
	for id, j := range m.jobs {
		if j.st.Job.Task == lq.Task && j.st.Job.Owner == lq.Owner && m.lookupLocked(id, now) != nil {
			all = append(all, &j.st)
		}
	}
	slices.SortFunc(all, listOrder)
	if lq.Desc {
		slices.Reverse(all)
	}
	if lq.After != "" {
		i := slices.IndexFunc(all, func(st *JobState) bool { return st.Job.ID == lq.After })
		if i < 0 {
			return nil, false, fmt.Errorf("list after %s: %w", lq.After, ErrNotFound)
		}
		all = all[i+1:]
	}
	more := len(all) > lq.Limit
	all = all[:min(len(all), lq.Limit)]
	out := make([]*JobState, len(all))
	for i, st := range all {
		out[i] = cloneState(m.jobs[st.Job.ID])
	}
	return out, more, nil
}

func (m *Memory) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	j := m.lookupLocked(id, now)
	if j == nil {
		return fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	m.cancelLocked(j, now)
	m.dropLocked(id)
	for k, e := range m.idem {
		if e.id == id {
			delete(m.idem, k)
		}
	}
	m.broadcastLocked()
	return nil
}

func (m *Memory) Events(ctx context.Context, id string, after int64, wait time.Duration) ([]Event, error) {
	deadline := time.Now().Add(wait)
	for {
		m.mu.Lock()
		j := m.lookupLocked(id, m.opts.Now())
		if j == nil {
			m.mu.Unlock()
			return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
		}
		var out []Event
		for _, e := range j.events {
			if e.Seq > after {
				out = append(out, e)
			}
		}
		if len(out) > 0 || wait <= 0 || j.st.Status.Terminal() || m.closed {
			m.mu.Unlock()
			return out, nil
		}
		changed := m.changed
		m.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		t := time.NewTimer(left)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
			return nil, nil
		case <-changed:
			t.Stop()
		}
	}
}

func (m *Memory) Depth(ctx context.Context, task string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.depthLocked(task), nil
}

// reclaimLocked ends the attempts whose lease lapsed: back to the front of
// the queue (they are older than anything queued) or dead-lettered.
func (m *Memory) reclaimLocked(now time.Time) {
	for _, j := range m.running {
		if now.Before(j.leaseUntil) {
			continue
		}
		jerr := lapsedError(j.st.Attempt, j.st.Worker)
		j.st.Error = jerr
		j.token = ""
		if j.st.Attempt >= j.st.Job.maxAttempts(&m.opts) {
			m.finishLocked(j, StatusFailed, now)
			m.appendEventLocked(j, EventError, errorData(jerr), now)
			continue
		}
		delete(m.running, j.st.Job.ID)
		j.st.Status = StatusQueued
		q := m.laneLocked(j.st.Job.Lane())
		p := j.st.Job.Priority
		j.order = 0 // older than anything queued
		j.queuedAt = now
		q[p] = slices.Insert(q[p], 0, j)
		m.appendEventLocked(j, EventRetry, retryData(j.st.Attempt, RetryLeaseExpired, jerr), now)
	}
}

// popLocked takes the next job of lanes: the lanes take turns from start,
// High before Normal within a lane. A cold lane's job is taken only once
// it waited ColdDelay; coldWait is how long until the first one has.
func (m *Memory) popLocked(lanes []Lane, start int, now time.Time) (j *memJob, coldWait time.Duration) {
	for k := range lanes {
		l := lanes[(start+k)%len(lanes)]
		q := m.ready[Lane{Task: l.Task, Model: l.Model}]
		if q == nil {
			continue
		}
		for p := PriorityHigh; p >= PriorityNormal; p-- {
			if len(q[p]) == 0 {
				continue
			}
			head := q[p][0]
			if wait := head.queuedAt.Add(m.opts.ColdDelay).Sub(now); l.Cold && wait > 0 {
				if coldWait == 0 || wait < coldWait {
					coldWait = wait
				}
				continue
			}
			q[p] = q[p][1:]
			return head, 0
		}
	}
	return nil, coldWait
}

func (m *Memory) Dequeue(ctx context.Context, worker string, lanes []Lane) (*Lease, error) {
	if err := checkLanes(worker, lanes); err != nil {
		return nil, err
	}
	m.mu.Lock()
	start := int(m.turn % uint64(len(lanes)))
	m.turn++
	m.mu.Unlock()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		now := m.opts.Now()
		m.reclaimLocked(now)
		j, coldWait := m.popLocked(lanes, start, now)
		if j != nil {
			if !j.st.Job.Deadline.IsZero() && !now.Before(j.st.Job.Deadline) {
				jerr := deadlineError()
				j.st.Error = jerr
				m.finishLocked(j, StatusFailed, now)
				m.appendEventLocked(j, EventError, errorData(jerr), now)
				m.mu.Unlock()
				continue
			}
			m.tokens++
			j.token = strconv.FormatUint(m.tokens, 10)
			j.leaseUntil = now.Add(m.opts.LeaseDuration)
			j.st.Status = StatusRunning
			j.st.Attempt++
			j.st.Worker = worker
			j.st.StartedAt = now
			m.running[j.st.Job.ID] = j
			m.appendEventLocked(j, EventStarted, startedData(j.st.Attempt, worker), now)
			l := &Lease{Job: j.st.Job, Attempt: j.st.Attempt, Worker: worker, Token: j.token, MaxAttempts: j.st.Job.maxAttempts(&m.opts)}
			m.mu.Unlock()
			return l, nil
		}
		// Sleep until something changes, the next lease may lapse or a cold
		// lane's job has waited long enough.
		wait := time.Second
		if coldWait > 0 {
			wait = coldWait
		}
		for _, j := range m.running {
			wait = min(wait, j.leaseUntil.Sub(now))
		}
		changed := m.changed
		m.mu.Unlock()
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// heldLocked returns the job l still holds.
func (m *Memory) heldLocked(l *Lease, now time.Time) (*memJob, error) {
	j := m.lookupLocked(l.Job.ID, now)
	switch {
	case j == nil:
		return nil, fmt.Errorf("job %s: %w", l.Job.ID, ErrLeaseLost)
	case j.st.Status == StatusCanceled:
		return nil, fmt.Errorf("job %s: %w", l.Job.ID, ErrCanceled)
	case j.st.Status != StatusRunning || j.token != l.Token:
		return nil, fmt.Errorf("job %s attempt %d: %w", l.Job.ID, l.Attempt, ErrLeaseLost)
	}
	return j, nil
}

func (m *Memory) Heartbeat(ctx context.Context, l *Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	j, err := m.heldLocked(l, now)
	if err != nil {
		return err
	}
	j.leaseUntil = now.Add(m.opts.LeaseDuration)
	return nil
}

func (m *Memory) Publish(ctx context.Context, l *Lease, typ string, data any) error {
	if err := checkPublish(typ); err != nil {
		return err
	}
	raw, err := eventData(data)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	j, err := m.heldLocked(l, now)
	if err != nil {
		return err
	}
	m.appendEventLocked(j, typ, raw, now)
	return nil
}

func (m *Memory) Complete(ctx context.Context, l *Lease, res Result) error {
	if n := res.Size(); n > MaxPayloadBytes {
		return fmt.Errorf("complete %s: result of %d bytes: %w (limit %d)", l.Job.ID, n, ErrTooLarge, MaxPayloadBytes)
	}
	// Large artifacts go to files first, outside the lock.
	resEvent := resultData(&res)
	res, err := m.spill(l.Job.ID, res)
	if err != nil {
		return fmt.Errorf("complete %s: %w", l.Job.ID, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	j, err := m.heldLocked(l, now)
	if err != nil {
		removeSpilled(res)
		return err
	}
	j.st.Result = &res
	j.st.Error = nil
	m.finishLocked(j, StatusSucceeded, now)
	m.appendEventLocked(j, EventResult, resEvent, now)
	return nil
}

func (m *Memory) Fail(ctx context.Context, l *Lease, jerr JobError, retry bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	j, err := m.heldLocked(l, now)
	if err != nil {
		return err
	}
	j.st.Error = &jerr
	j.token = ""
	if retry && j.st.Attempt < j.st.Job.maxAttempts(&m.opts) {
		delete(m.running, j.st.Job.ID)
		j.st.Status = StatusQueued
		m.pushLocked(j, now)
		m.appendEventLocked(j, EventRetry, retryData(j.st.Attempt, RetryFailed, &jerr), now)
		return nil
	}
	m.finishLocked(j, StatusFailed, now)
	m.appendEventLocked(j, EventError, errorData(&jerr), now)
	return nil
}

func (m *Memory) Release(ctx context.Context, l *Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	j, err := m.heldLocked(l, now)
	if err != nil {
		return err
	}
	j.token = ""
	delete(m.running, j.st.Job.ID)
	j.st.Status = StatusQueued
	j.st.Attempt-- // the next lease gets the same attempt number back
	m.pushLocked(j, now)
	m.appendEventLocked(j, EventRetry, retryData(l.Attempt, RetryReleased, nil), now)
	return nil
}

func (m *Memory) Register(ctx context.Context, w WorkerInfo) error {
	if w.ID == "" {
		return fmt.Errorf("register: worker has no id")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w.SeenAt = m.opts.Now()
	m.workers[w.ID] = w
	for _, l := range w.Lanes() {
		if checkLane(l) == nil {
			m.lanes[l] = true
		}
	}
	return nil
}

func (m *Memory) Lanes(ctx context.Context) ([]LaneStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	m.expireLocked(now)
	out := make([]LaneStats, 0, len(m.lanes))
	for l := range m.lanes {
		s := LaneStats{Task: l.Task, Model: l.Model}
		if q := m.ready[l]; q != nil {
			s.Depth = len(q[0]) + len(q[1])
			for p := range q {
				if len(q[p]) > 0 {
					s.Oldest = max(s.Oldest, now.Sub(q[p][0].queuedAt))
				}
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b LaneStats) int { return cmp.Or(cmp.Compare(a.Task, b.Task), cmp.Compare(a.Model, b.Model)) })
	return out, nil
}

func (m *Memory) Workers(ctx context.Context) ([]WorkerInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	out := []WorkerInfo{}
	for _, w := range m.workers {
		if now.Before(w.SeenAt.Add(m.opts.WorkerTTL)) {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b WorkerInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Close wakes every waiter; Dequeue then answers ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		close(m.done)
		m.broadcastLocked()
		m.kept.close()
	}
	return nil
}
