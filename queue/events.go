package queue

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
)

// The event payloads both backends write, so a client sees the same JSON
// whichever queue is behind the gateway.

func queuedData(j *Job) json.RawMessage {
	return mustJSON(map[string]any{"task": j.Task, "priority": j.Priority})
}

func startedData(attempt int, worker string) json.RawMessage {
	return mustJSON(map[string]any{"attempt": attempt, "worker": worker})
}

// Reasons carried by a "retry" event.
const (
	RetryFailed       = "failed"
	RetryLeaseExpired = "lease_expired"
	RetryReleased     = "released"
)

func retryData(attempt int, reason string, jerr *JobError) json.RawMessage {
	m := map[string]any{"attempt": attempt, "reason": reason}
	if jerr != nil {
		m["error"] = jerr
	}
	return mustJSON(m)
}

type artifactRef struct {
	Name string `json:"name"`
	MIME string `json:"mime"`
	Size int    `json:"size"`
}

// resultData is the "result" event: the output document and what artifacts
// exist (their bytes stay in the job state, read with Get).
func resultData(r *Result) json.RawMessage {
	arts := make([]artifactRef, len(r.Artifacts))
	for i, a := range r.Artifacts {
		arts[i] = artifactRef{a.Name, a.MIME, len(a.Data)}
	}
	m := map[string]any{"artifacts": arts}
	if len(r.Output) > 0 {
		m["output"] = r.Output
	}
	return mustJSON(m)
}

func errorData(jerr *JobError) json.RawMessage { return mustJSON(jerr) }

func lapsedError(attempt int, worker string) *JobError {
	return &JobError{Code: sdk.CodeInternal, Message: fmt.Sprintf("attempt %d: lease expired (worker %q stopped heartbeating)", attempt, worker)}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("queue: marshal event data: %v", err)) // only our own plain maps get here
	}
	return b
}

// eventData marshals what a worker publishes.
func eventData(data any) (json.RawMessage, error) {
	switch d := data.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if !json.Valid(d) {
			return nil, fmt.Errorf("event data is not valid JSON")
		}
		return d, nil
	case []byte:
		if !json.Valid(d) {
			return nil, fmt.Errorf("event data is not valid JSON")
		}
		return json.RawMessage(d), nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("event data: %w", err)
	}
	return b, nil
}

// checkPublish rejects the lifecycle event types: those belong to the
// queue's own transitions (Enqueue, Dequeue, Complete, Fail, Cancel).
func checkPublish(typ string) error {
	switch typ {
	case "", EventQueued, EventStarted, EventRetry, EventResult, EventError, EventCanceled:
		return fmt.Errorf("publish: event type %q is reserved for the queue (use progress, delta, preview)", typ)
	}
	return nil
}

// NewID returns a job id: 24 hex digits, the first 12 the Unix time in
// milliseconds and the rest random, as ULIDs are made. Ids from one process
// increase: one made in the same millisecond as the last (or after the clock
// stepped back) is the last plus one, so listing jobs created in one
// millisecond by id lists them in the order they were made.
func NewID() string {
	idMu.Lock()
	defer idMu.Unlock()
	var r [8]byte
	if ms := uint64(time.Now().UnixMilli()); ms > idLast[0] {
		_, _ = rand.Read(r[2:]) // crypto/rand.Read never fails (Go 1.24+)
		idLast = [2]uint64{ms, binary.BigEndian.Uint64(r[:])}
	} else if idLast[1]++; idLast[1] >= 1<<48 {
		idLast = [2]uint64{idLast[0] + 1, 0}
	}
	var t, b [8]byte
	binary.BigEndian.PutUint64(t[:], idLast[0])
	binary.BigEndian.PutUint64(b[:], idLast[1])
	return hex.EncodeToString(t[2:]) + hex.EncodeToString(b[2:])
}

var (
	idMu   sync.Mutex
	idLast [2]uint64 // the last id's milliseconds and random part
)

func (j *Job) maxAttempts(o *Options) int {
	if j.MaxAttempts > 0 {
		return j.MaxAttempts
	}
	return o.MaxAttempts
}

// validate is the check both backends run before storing a job.
func (j *Job) validate() error {
	if j.Task == "" {
		return fmt.Errorf("enqueue: job has no task")
	}
	if err := checkLane(j.Lane()); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	if j.Priority != PriorityNormal && j.Priority != PriorityHigh {
		return fmt.Errorf("enqueue: priority %d is not 0 (normal) or 1 (high)", j.Priority)
	}
	if j.OwnerLimit < 0 || (j.OwnerLimit > 0 && j.Owner == "") {
		return fmt.Errorf("enqueue: owner limit %d needs an owner and may not be negative", j.OwnerLimit)
	}
	if n := j.PayloadSize(); n > MaxPayloadBytes {
		return fmt.Errorf("enqueue: %d bytes of params and inputs: %w (limit %d)", n, ErrTooLarge, MaxPayloadBytes)
	}
	return nil
}

// MaxModelBytes bounds a model id (lane and key names are built from it).
const MaxModelBytes = 256

// checkLane refuses names that would make lane keys ambiguous: a task holds
// no ':' (Redis keys are P q:{task}:{model}:{priority}).
func checkLane(l Lane) error {
	switch {
	case l.Task == "":
		return fmt.Errorf("lane has no task")
	case strings.ContainsAny(l.Task, ": \t\n"):
		return fmt.Errorf("task %q holds ':' or white space", l.Task)
	case len(l.Model) > MaxModelBytes:
		return fmt.Errorf("model id of %d bytes (limit %d)", len(l.Model), MaxModelBytes)
	}
	return nil
}

// checkLanes is what both backends' Dequeue run first.
func checkLanes(worker string, lanes []Lane) error {
	if len(lanes) == 0 {
		return fmt.Errorf("dequeue: no lanes")
	}
	if worker == "" {
		return fmt.Errorf("dequeue: no worker id")
	}
	for _, l := range lanes {
		if err := checkLane(l); err != nil {
			return fmt.Errorf("dequeue: %w", err)
		}
	}
	return nil
}

// deadlineError is how a job whose deadline passed in the queue fails.
func deadlineError() *JobError {
	return &JobError{Code: sdk.CodeTimeout, Message: "deadline passed before a worker took the job"}
}
