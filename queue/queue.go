// Package queue is Loom's durable job queue: the contract between the gateway
// (which enqueues, reads and cancels jobs) and workers (which lease, run and
// finish them). Two backends implement Queue — the in-process Memory queue and
// the Redis Streams queue — and both pass the one conformance suite in
// queuetest.
package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
)

// Status is where a job stands.
type Status string

const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Terminal reports whether no further transition can happen.
func (s Status) Terminal() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCanceled
}

// Priority orders jobs of one lane (one model's queue): every queued High job
// of a lane is leased before any Normal one of that lane. It does not jump
// other models' lanes: those are served in turn (see Dequeue).
type Priority int

const (
	PriorityNormal Priority = 0
	PriorityHigh   Priority = 1
)

// Blob is a named input or output payload (an image, audio, a video file).
type Blob struct {
	Name string `json:"name"`
	MIME string `json:"mime"`
	Data []byte `json:"data"`
	// spill is the file the Memory queue keeps a large artifact's Data in
	// (then nil in memory), spillSize its length; states it hands out
	// always carry the bytes.
	spill     string
	spillSize int64
}

// Job is what a client asked for. The gateway fills it; the queue assigns ID
// when it is empty.
type Job struct {
	ID             string          `json:"id"`
	Task           string          `json:"task"`  // e.g. "text.complete"
	Model          string          `json:"model"` // model id from a plugin manifest
	Params         json.RawMessage `json:"params,omitempty"`
	Inputs         []Blob          `json:"inputs,omitempty"`
	Seed           int64           `json:"seed"`
	Priority       Priority        `json:"priority"`
	MaxAttempts    int             `json:"max_attempts"`      // 0 means the queue's default
	Deadline       time.Time       `json:"deadline,omitzero"` // zero: none
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	// Owner names who asked (the gateway's API key id). With OwnerLimit > 0
	// Enqueue refuses the job (ErrOwnerLimit) while the owner has that many
	// jobs queued or running, fleet-wide: the count lives in the queue.
	Owner      string `json:"owner,omitempty"`
	OwnerLimit int    `json:"owner_limit,omitempty"`
	// RequestID is the id of the HTTP request that made the job (the
	// gateway's X-Request-Id), so the worker's log lines name it too.
	RequestID string `json:"request_id,omitempty"`
}

// Lane is where a job waits for a worker: the jobs of one task for one
// model. Workers lease only from the lanes of models they have ready, so a
// job never reaches a worker that cannot run it.
type Lane struct {
	Task  string `json:"task"`
	Model string `json:"model"`
	// Cold, in a Dequeue request, says the worker has not loaded the model
	// yet: it takes the lane's queued jobs only once they have waited
	// Options.ColdDelay, so a worker with the model loaded gets them first.
	Cold bool `json:"cold,omitempty"`
}

// Lane is the lane job waits in.
func (j *Job) Lane() Lane { return Lane{Task: j.Task, Model: j.Model} }

// LaneStats is one lane as the gateway's /v1/models and metrics see it.
type LaneStats struct {
	Task   string
	Model  string
	Depth  int           // jobs queued and not leased
	Oldest time.Duration // how long the oldest queued job has waited since it was (re)queued; 0 when none
}

// JobError is the last error of a failed job. Code is the plugin's (or the
// host's, worker's or queue's) code, unchanged; plugins/sdk/codes.go lists
// the codes and the HTTP status each answers.
type JobError struct {
	Code    sdk.Code `json:"code"`
	Message string   `json:"message"`
	Param   string   `json:"param,omitempty"` // the request field at fault (sdk.Error.Param); "" when none
}

func (e *JobError) Error() string { return string(e.Code) + ": " + e.Message }

// Result is what a succeeded job produced: a JSON document for the client and
// any binary artifacts (images, WAV, GIF/MP4), kept with the job for the TTL.
type Result struct {
	Output    json.RawMessage `json:"output,omitempty"`
	Artifacts []Blob          `json:"artifacts,omitempty"`
}

// JobState is a job with everything the queue knows about it.
type JobState struct {
	Job        Job       `json:"job"`
	Status     Status    `json:"status"`
	Attempt    int       `json:"attempt"` // 1 on the first lease
	Worker     string    `json:"worker,omitempty"`
	Error      *JobError `json:"error,omitempty"`
	Result     *Result   `json:"result,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Event types on a job's event stream, in the order a client sees them.
// Every attempt after the first is announced by a "retry" event, so a client
// that streams deltas knows to start the text over.
const (
	EventQueued   = "queued"   // Data: {"task","priority"}
	EventStarted  = "started"  // a worker leased it (Data: {"attempt","worker"})
	EventProgress = "progress" // Data: {"step","total"}
	EventDelta    = "delta"    // Data: {"text","index"?} (index: the choice of an n > 1 text job; absent for 0)
	EventPreview  = "preview"  // Data: {"mime","data"(base64)}
	EventRetry    = "retry"    // it will run again. Data: {"attempt","reason","error"?}; reason "failed", "lease_expired" or "released"
	EventResult   = "result"   // terminal: succeeded. Data: {"output","artifacts":[{"name","mime","size"}]}
	EventError    = "error"    // terminal: failed. Data: JobError {"code","message"}
	EventCanceled = "canceled" // terminal. Data: {}
)

// Event is one entry of a job's capped event stream. Seq increases by one per
// event of a job, starting at 1.
type Event struct {
	Seq  int64           `json:"seq"`
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Terminal reports whether no event follows this one.
func (e Event) Terminal() bool {
	return e.Type == EventResult || e.Type == EventError || e.Type == EventCanceled
}

// Lease is a worker's claim on one attempt of a job. It lapses unless renewed
// by Heartbeat within the queue's lease duration; then the job is delivered
// again (attempt + 1) or dead-lettered after MaxAttempts.
type Lease struct {
	Job     Job    `json:"job"`
	Attempt int    `json:"attempt"`
	Worker  string `json:"worker"`
	Token   string `json:"token"` // backend-specific handle (stream entry id, …)
	// MaxAttempts is how many attempts the job has in all (its own
	// max_attempts or the queue's default): a worker tells from it whether
	// a failed attempt runs again.
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// WorkerInfo is what a worker advertises: which tasks it consumes, the
// models it serves (the lanes it leases from) and the plugin manifests
// behind them (JSON, opaque to the queue). The gateway lists models,
// validates requests and routes from the union of live workers' infos.
type WorkerInfo struct {
	ID        string          `json:"id"`
	Tasks     []string        `json:"tasks"`
	Models    []ServedModel   `json:"models,omitempty"`
	Manifests json.RawMessage `json:"manifests,omitempty"`
	// Draining: the worker takes no new jobs (it is shutting down); the
	// gateway counts none of its models as served.
	Draining bool `json:"draining,omitempty"`
	// MemoryBudget is the worker's --max-memory in bytes (0: none) and
	// MemoryUsed what its loaded models take by their own estimates.
	MemoryBudget int64     `json:"memory_budget,omitempty"`
	MemoryUsed   int64     `json:"memory_used,omitempty"`
	SeenAt       time.Time `json:"seen_at"`
}

// ServedModel is one model a worker leases jobs for.
type ServedModel struct {
	ID     string   `json:"id"`
	Tasks  []string `json:"tasks"`
	Loaded bool     `json:"loaded"`          // in memory now: its next job starts without a load
	Bytes  int64    `json:"bytes,omitempty"` // memory it takes when loaded (the plugin's estimate; 0: unknown)
}

// Lanes are the lanes a worker serving these models leases from.
func (w *WorkerInfo) Lanes() []Lane {
	var out []Lane
	for _, m := range w.Models {
		for _, t := range m.Tasks {
			out = append(out, Lane{Task: t, Model: m.ID})
		}
	}
	return out
}

// Queue is implemented by Memory and Redis.
type Queue interface {
	// Enqueue stores a new job (status queued) and returns its state. If
	// job.IdempotencyKey names a job enqueued within the TTL, that job's state
	// is returned with existed=true and nothing is enqueued. A full queue
	// answers an error matching ErrQueueFull (see *FullError for Retry-After).
	Enqueue(ctx context.Context, job Job) (st *JobState, existed bool, err error)
	// Get returns a job's state, or an error matching ErrNotFound.
	Get(ctx context.Context, id string) (*JobState, error)
	// Cancel marks a queued or running job canceled (a running one's next
	// Heartbeat answers ErrCanceled). Canceling a finished job is a no-op.
	Cancel(ctx context.Context, id string) (*JobState, error)
	// Events returns the job's events with Seq > after, waiting up to wait
	// for at least one when there are none yet (wait 0: do not wait).
	Events(ctx context.Context, id string, after int64, wait time.Duration) ([]Event, error)
	// List returns the jobs of one task and owner in creation order (see
	// ListQuery), and whether more follow the last one returned. A cursor
	// that names no listed job answers an error matching ErrNotFound.
	List(ctx context.Context, q ListQuery) (jobs []*JobState, more bool, err error)
	// Delete removes a job with its events and result; a queued or running
	// job is canceled first (its holder's next call answers ErrCanceled or
	// ErrLeaseLost). An unknown id answers an error matching ErrNotFound.
	Delete(ctx context.Context, id string) error
	// Depth reports how many jobs of the task are queued (not yet leased),
	// over all its models.
	Depth(ctx context.Context, task string) (int, error)
	// Lanes reports every known lane (one that a job was queued in or a
	// live worker registered for), sorted by task and model.
	Lanes(ctx context.Context) ([]LaneStats, error)

	// Dequeue leases the next job of one of lanes, blocking until one is
	// available or ctx is done (then it returns ctx.Err()). Lanes take turns:
	// each call starts its search one lane further on, so a busy model
	// cannot starve the others; within a lane High jobs go first, then
	// FIFO. Expired leases of dead workers are reclaimed here too, and
	// queued jobs whose deadline passed are failed (in any lane).
	Dequeue(ctx context.Context, worker string, lanes []Lane) (*Lease, error)
	// Heartbeat renews the lease. It answers ErrCanceled when the job was
	// canceled and ErrLeaseLost when the lease lapsed and was taken over.
	Heartbeat(ctx context.Context, l *Lease) error
	// Publish appends a non-terminal event (progress, delta, preview) to the job's stream.
	Publish(ctx context.Context, l *Lease, typ string, data any) error
	// Complete stores the result and marks the job succeeded.
	Complete(ctx context.Context, l *Lease, res Result) error
	// Fail ends this attempt. With retry and attempts left the job is queued
	// again (event "retry"); otherwise it is failed with jerr (dead-lettered).
	Fail(ctx context.Context, l *Lease, jerr JobError, retry bool) error
	// Release gives the job back without using up an attempt (graceful
	// worker shutdown).
	Release(ctx context.Context, l *Lease) error

	// Register advertises a worker for the worker TTL; call it
	// periodically. Its models' lanes join the known lanes.
	Register(ctx context.Context, w WorkerInfo) error
	// Workers lists the live workers.
	Workers(ctx context.Context) ([]WorkerInfo, error)

	Close() error
}

// ListQuery selects a page of List: the jobs of Task whose Job.Owner is
// Owner ("" lists the jobs enqueued without one), ordered by creation time
// (to the millisecond, then by id), oldest first or, with Desc, newest
// first; after the job After when it is set; at most Limit of them.
type ListQuery struct {
	Task  string
	Owner string
	After string
	Limit int // 1…MaxListLimit
	Desc  bool
}

// MaxListLimit bounds ListQuery.Limit.
const MaxListLimit = 100

func (lq ListQuery) validate() error {
	switch {
	case lq.Task == "":
		return errors.New("list: task is required")
	case lq.Limit < 1 || lq.Limit > MaxListLimit:
		return fmt.Errorf("list: limit %d outside 1…%d", lq.Limit, MaxListLimit)
	}
	return nil
}

// listOrder is List's order: creation time to the millisecond, then id.
func listOrder(a, b *JobState) int {
	if c := cmp.Compare(a.CreatedAt.UnixMilli(), b.CreatedAt.UnixMilli()); c != 0 {
		return c
	}
	return strings.Compare(a.Job.ID, b.Job.ID)
}

// Options configure either backend; zero values take the defaults.
type Options struct {
	LeaseDuration time.Duration // default 30s: a worker that misses heartbeats this long loses its job
	MaxAttempts   int           // default 3
	ResultTTL     time.Duration // default 24h: how long finished jobs, results and events are kept
	MaxDepth      int           // default 1000 queued jobs per task; more answers ErrQueueFull
	MaxEvents     int           // default 1000 events kept per job (oldest non-terminal dropped)
	WorkerTTL     time.Duration // default 15s
	RetryAfter    time.Duration // default 1s: the hint a full queue gives
	// ColdDelay is how long a lane's queued job waits for a worker that has
	// its model loaded before a worker that must load it first may take it
	// (default 500ms).
	ColdDelay time.Duration
	// Retention of finished jobs by the in-process queue (Redis keeps them
	// for ResultTTL; bound its memory with maxmemory): at most MaxFinished
	// jobs (default 10,000) and MaxFinishedBytes of their payloads, events
	// and results in memory (default 64 MiB); beyond either the oldest
	// finished jobs are dropped before their TTL. Artifacts of SpillBytes
	// or more (default 256 KiB) are kept in files under SpillDir (default a
	// temporary folder of the queue's own, removed by Close), at most
	// MaxSpillBytes of them (default 1 GiB).
	MaxFinished      int
	MaxFinishedBytes int64
	SpillBytes       int
	SpillDir         string
	MaxSpillBytes    int64
	// Now is the clock for timestamps and (in Memory) lease and TTL expiry.
	// Redis judges lease expiry by its own stream idle times.
	Now func() time.Time
	// Prefix starts every Redis key (default "loom:"); tests use a unique
	// one per run. Memory ignores it.
	Prefix string
}

// WithDefaults returns o with zero fields filled in.
func (o Options) WithDefaults() Options {
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.ResultTTL <= 0 {
		o.ResultTTL = 24 * time.Hour
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 1000
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 1000
	}
	if o.WorkerTTL <= 0 {
		o.WorkerTTL = 15 * time.Second
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = time.Second
	}
	if o.ColdDelay <= 0 {
		o.ColdDelay = 500 * time.Millisecond
	}
	if o.MaxFinished <= 0 {
		o.MaxFinished = 10_000
	}
	if o.MaxFinishedBytes <= 0 {
		o.MaxFinishedBytes = 64 << 20
	}
	if o.SpillBytes <= 0 {
		o.SpillBytes = 256 << 10
	}
	if o.MaxSpillBytes <= 0 {
		o.MaxSpillBytes = 1 << 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Prefix == "" {
		o.Prefix = "loom:"
	}
	return o
}

var (
	ErrNotFound  = errors.New("job not found")
	ErrQueueFull = errors.New("queue full")
	ErrCanceled  = errors.New("job canceled")
	ErrLeaseLost = errors.New("lease lost")
	ErrClosed    = errors.New("queue closed")
	// ErrUnavailable: the queue's backend could not be reached (Redis down,
	// restarting or still loading); the same call may succeed later.
	ErrUnavailable = errors.New("queue unavailable")
	// ErrTooLarge: a job's inputs or result exceed MaxPayloadBytes.
	ErrTooLarge = errors.New("payload too large")
	// ErrOwnerLimit: the job's owner has OwnerLimit jobs in flight (see *LimitError).
	ErrOwnerLimit = errors.New("owner's concurrency limit reached")
)

// MaxPayloadBytes bounds a job's inputs and, separately, its result (output
// plus artifacts). Both backends keep payloads inside the job record (the
// Redis job hash), so this keeps one job from swamping memory or Redis.
const MaxPayloadBytes = 64 << 20

// PayloadSize is what MaxPayloadBytes is compared with.
func (j *Job) PayloadSize() int {
	n := len(j.Params)
	for _, b := range j.Inputs {
		n += len(b.Data)
	}
	return n
}

// Size is what MaxPayloadBytes is compared with.
func (r *Result) Size() int {
	n := len(r.Output)
	for _, b := range r.Artifacts {
		n += len(b.Data)
	}
	return n
}

// Lease-holder calls (Heartbeat, Publish, Complete, Fail, Release) on a
// canceled job answer ErrCanceled; on a lease that lapsed and was taken over,
// or a job that is gone, ErrLeaseLost. Either way the holder stops work and
// the job's state is left alone.

// FullError is returned by Enqueue when the task's queue is at MaxDepth.
type FullError struct {
	Task       string
	Depth      int
	RetryAfter time.Duration
}

func (e *FullError) Error() string {
	return fmt.Sprintf("queue for %s full (%d jobs queued); retry after %s", e.Task, e.Depth, e.RetryAfter)
}
func (e *FullError) Is(target error) bool { return target == ErrQueueFull }

// LimitError is returned by Enqueue when the job's owner already has
// OwnerLimit jobs queued or running.
type LimitError struct {
	Owner      string
	Limit      int
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%d jobs of this caller are already queued or running (the limit); retry after %s", e.Limit, e.RetryAfter)
}
func (e *LimitError) Is(target error) bool { return target == ErrOwnerLimit }
