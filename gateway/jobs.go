package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
)

func (s *Server) registerJobs(g *gin.RouterGroup) {
	g.POST("/jobs", s.createJob)
	g.GET("/jobs", s.listJobs)
	g.GET("/jobs/:id", s.getJob)
	g.GET("/jobs/:id/events", s.jobEvents)
	g.GET("/jobs/:id/artifacts/:name", s.jobArtifact)
	g.DELETE("/jobs/:id", s.cancelJob)
}

// maxJobTimeoutS is the longest timeout_s a job may ask for: a week.
const maxJobTimeoutS = 7 * 24 * 3600

// jobRequest is POST /v1/jobs: any task, params passed to the plugin as is.
type jobRequest struct {
	Task        string          `json:"task"`
	Model       string          `json:"model"`
	Params      json.RawMessage `json:"params"`
	Inputs      []blobJSON      `json:"inputs"`
	Seed        *int64          `json:"seed"`
	Priority    string          `json:"priority"` // "normal" (default) or "high"
	MaxAttempts int             `json:"max_attempts"`
	TimeoutS    float64         `json:"timeout_s"` // > 0: the job's deadline, from now
}

type blobJSON struct {
	Name string `json:"name"`
	MIME string `json:"mime"`
	Data []byte `json:"data"` // base64 in JSON
	Size int    `json:"size,omitempty"`
}

// jobView is how the jobs API shows a job.
type jobView struct {
	ID          string          `json:"id"`
	Object      string          `json:"object"`
	Task        string          `json:"task"`
	Model       string          `json:"model"`
	Status      queue.Status    `json:"status"`
	Attempt     int             `json:"attempt"`
	Worker      string          `json:"worker,omitempty"` // the worker holding (or that last held) the job
	Owner       string          `json:"owner,omitempty"`  // the id of the key that made it; shown to admin keys
	Seed        int64           `json:"seed"`
	CreatedAt   int64           `json:"created_at"`
	StartedAt   int64           `json:"started_at,omitempty"`
	FinishedAt  int64           `json:"finished_at,omitempty"`
	Error       *queue.JobError `json:"error,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
	Artifacts   []blobJSON      `json:"artifacts,omitempty"`
	StatusURL   string          `json:"status_url"`
	EventsURL   string          `json:"events_url"`
	Idempotency bool            `json:"idempotent_replay,omitempty"`
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func viewJob(st *queue.JobState, withData bool) jobView {
	v := jobView{
		ID: st.Job.ID, Object: "job", Task: st.Job.Task, Model: st.Job.Model, Status: st.Status,
		Attempt: st.Attempt, Worker: st.Worker, Seed: st.Job.Seed, CreatedAt: unixOrZero(st.CreatedAt), StartedAt: unixOrZero(st.StartedAt),
		FinishedAt: unixOrZero(st.FinishedAt), Error: st.Error,
		StatusURL: "/v1/jobs/" + st.Job.ID, EventsURL: "/v1/jobs/" + st.Job.ID + "/events",
	}
	if st.Result != nil {
		v.Output = st.Result.Output
		for _, a := range st.Result.Artifacts {
			b := blobJSON{Name: a.Name, MIME: a.MIME, Size: len(a.Data)}
			if withData {
				b.Data = a.Data
			}
			v.Artifacts = append(v.Artifacts, b)
		}
	}
	return v
}

func (s *Server) createJob(c *gin.Context) {
	req, err := readJobRequest(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if req.Task == "" {
		_ = c.Error(errFieldRequired("task"))
		return
	}
	if ok, err := s.models.hasTask(c.Request.Context(), req.Task); err != nil {
		_ = c.Error(err)
		return
	} else if !ok {
		_ = c.Error(apiErrorf(http.StatusNotFound, sdk.CodeModelNotFound, "no live worker serves task %q", req.Task))
		return
	}
	m, err := s.models.resolve(c.Request.Context(), req.Task, req.Model)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if len(req.Params) > 0 && !json.Valid(req.Params) {
		_ = c.Error(badRequest("params: not valid JSON"))
		return
	}
	if len(req.Params) > 0 && req.Params[0] != '{' && string(req.Params) != "null" {
		_ = c.Error(badRequest("params: must be a JSON object"))
		return
	}
	job := queue.Job{Task: req.Task, Model: m.ID, Params: req.Params, MaxAttempts: req.MaxAttempts}
	job.Seed = seedOr(req.Seed)
	switch req.Priority {
	case "", "normal":
	case "high":
		job.Priority = queue.PriorityHigh
	default:
		_ = c.Error(badRequest("priority: %q is not normal or high", req.Priority))
		return
	}
	if req.MaxAttempts < 0 || req.MaxAttempts > 20 {
		_ = c.Error(badRequest("max_attempts: %d is outside 0..20", req.MaxAttempts))
		return
	}
	// A float seconds count beyond ~292 years overflows time.Duration; no
	// job needs more than a week.
	if req.TimeoutS < 0 || req.TimeoutS > maxJobTimeoutS {
		_ = c.Error(badRequest("timeout_s: %g is outside 0..%d (seconds; 0 or absent: no deadline)", req.TimeoutS, maxJobTimeoutS))
		return
	}
	if req.TimeoutS > 0 {
		job.Deadline = s.cfg.Now().Add(time.Duration(req.TimeoutS * float64(time.Second)))
	}
	if err := checkInputs(req.Inputs); err != nil {
		_ = c.Error(err)
		return
	}
	for _, b := range req.Inputs {
		job.Inputs = append(job.Inputs, queue.Blob{Name: b.Name, MIME: b.MIME, Data: b.Data})
	}
	st, existed, err := s.submit(c, job)
	if err != nil {
		_ = c.Error(err)
		return
	}
	v := viewJob(st, false)
	v.Idempotency = existed
	c.Header("Location", v.StatusURL)
	status := http.StatusAccepted
	if existed {
		status = http.StatusOK
	}
	c.JSON(status, v)
}

func (s *Server) getJob(c *gin.Context) {
	st, err := s.jobOf(c, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	v := viewJob(st, true)
	if c.GetBool(ctxAdmin) {
		v.Owner = st.Job.Owner
	}
	c.JSON(http.StatusOK, v)
}

func (s *Server) cancelJob(c *gin.Context) {
	if _, err := s.jobOf(c, c.Param("id")); err != nil {
		_ = c.Error(err)
		return
	}
	st, err := s.q.Cancel(c.Request.Context(), c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, viewJob(st, false))
}

// submit fills the gateway-wide job fields and enqueues. The idempotency key
// is scoped to the caller so two tenants never share a job.
func (s *Server) submit(c *gin.Context, job queue.Job) (*queue.JobState, bool, error) {
	if k := strings.TrimSpace(c.GetHeader("Idempotency-Key")); k != "" {
		if len(k) > 255 {
			return nil, false, badRequest("Idempotency-Key longer than 255 bytes")
		}
		job.IdempotencyKey = c.GetString(ctxKeyID) + "/" + k
	}
	if job.MaxAttempts == 0 {
		job.MaxAttempts = s.cfg.MaxAttempts
	}
	job.RequestID = c.GetString(ctxRequestID)
	waitDeadline(c, &job, s.cfg.Now())
	job.Owner = c.GetString(ctxKeyID)
	job.OwnerLimit = max(s.cfg.KeyConcurrency, 0)
	if job.Owner == "" {
		job.OwnerLimit = 0
	}
	if err := s.checkAgainstSpec(c.Request.Context(), &job); err != nil {
		return nil, false, err
	}
	st, existed, err := s.q.Enqueue(c.Request.Context(), job)
	if err != nil {
		return nil, false, err
	}
	if !existed {
		s.metrics.enqueued.Inc(job.Task)
	}
	c.Header("X-Loom-Job-Id", st.Job.ID)
	return st, existed, nil
}

// seedOr is the client's seed, or a random one: requests without a seed
// vary as OpenAI's do, yet the seed is fixed in the job, so a retried
// attempt replays the same bytes (streams rely on it) and GET /v1/jobs shows
// the seed that reproduces the output.
func seedOr(seed *int64) int64 {
	if seed != nil {
		return *seed
	}
	return rand.Int64N(1 << 53) // exact in JSON numbers
}

// errStillRunning is what awaitJob answers when the sync timeout passed
// first; respond turns it into 202 with the job's status URL.
var errStillRunning = errors.New("job still running")

// awaitJob waits up to the sync timeout for the job to end and returns its
// final state. A failed or canceled job comes back as an error for the
// error middleware.
func (s *Server) awaitJob(c *gin.Context, st *queue.JobState) (*queue.JobState, error) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.SyncTimeout)
	defer cancel()
	id := st.Job.ID
	var after int64
	for !st.Status.Terminal() {
		wait := 5 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		evs, err := s.q.Events(ctx, id, after, max(wait, time.Millisecond))
		if ctx.Err() != nil {
			if c.Request.Context().Err() != nil {
				return nil, c.Request.Context().Err() // the client left; the job keeps running
			}
			cur, gerr := s.q.Get(context.WithoutCancel(ctx), id)
			if gerr != nil {
				return nil, gerr
			}
			if cur.Status.Terminal() {
				st = cur
				break
			}
			return cur, errStillRunning
		}
		if err != nil {
			return nil, err
		}
		terminal := false
		for _, e := range evs {
			after = e.Seq
			terminal = terminal || e.Terminal()
		}
		if terminal || len(evs) == 0 {
			// An empty wait re-reads the state: a capped event stream or a
			// job finished before we subscribed must not hang us.
			if st, err = s.q.Get(ctx, id); err != nil {
				return nil, err
			}
		}
	}
	s.metrics.observeFinished(st)
	return st, jobOutcome(st)
}

// jobOutcome is nil for a succeeded job, else the error the client sees.
func jobOutcome(st *queue.JobState) error {
	switch st.Status {
	case queue.StatusSucceeded:
		if st.Result == nil {
			return &queue.JobError{Code: sdk.CodeInternal, Message: "job succeeded without a result"}
		}
		return nil
	case queue.StatusCanceled:
		return &queue.JobError{Code: sdk.CodeCanceled, Message: "job " + st.Job.ID + " was canceled"}
	default:
		if st.Error != nil {
			return st.Error
		}
		return &queue.JobError{Code: sdk.CodeInternal, Message: "job " + st.Job.ID + " failed"}
	}
}

// runSync enqueues job, waits, and hands a succeeded job to ok. A job still
// running at the sync timeout answers 202 with where to find it.
func (s *Server) runSync(c *gin.Context, job queue.Job, ok func(*queue.JobState)) {
	st, _, err := s.submit(c, job)
	if err != nil {
		_ = c.Error(err)
		return
	}
	st, err = s.awaitJob(c, st)
	switch {
	case errors.Is(err, errStillRunning):
		v := viewJob(st, false)
		c.Header("Location", v.StatusURL)
		c.JSON(http.StatusAccepted, v)
	case err != nil:
		_ = c.Error(err)
	default:
		ok(st)
	}
}

// jobEvents streams every event of a job as SSE (id: seq, event: type,
// data: JSON) until the terminal one. Last-Event-ID (or ?after=) resumes.
func (s *Server) jobEvents(c *gin.Context) {
	id := c.Param("id")
	after, err := resumePoint(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if _, err := s.jobOf(c, id); err != nil {
		_ = c.Error(err)
		return
	}
	sse := s.newSSE(c)
	s.follow(c.Request.Context(), sse, id, after, func(e queue.Event) bool {
		data := e.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		sse.event(strconv.FormatInt(e.Seq, 10), e.Type, data)
		return e.Terminal()
	})
}

// follow feeds the job's events after seq after to fn until fn returns true,
// the client leaves, or the queue fails (reported in the stream). Quiet
// stretches send SSE comments so proxies keep the connection open.
func (s *Server) follow(ctx context.Context, sse *sseWriter, id string, after int64, fn func(queue.Event) bool) {
	for {
		evs, err := s.q.Events(ctx, id, after, 15*time.Second)
		if ctx.Err() != nil {
			return // the client left; the job keeps running
		}
		if err != nil {
			sse.error(toAPIError(err))
			return
		}
		if len(evs) == 0 {
			sse.comment("keep-alive")
			continue
		}
		for _, e := range evs {
			after = e.Seq
			if fn(e) {
				return
			}
		}
	}
}

func resumePoint(c *gin.Context) (int64, error) {
	raw := c.GetHeader("Last-Event-ID")
	if raw == "" {
		raw = c.Query("after")
	}
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest("Last-Event-ID / after: %q is not an event sequence number", raw)
	}
	return n, nil
}

// sseWriter writes Server-Sent Events in the exact framing OpenAI clients
// parse ("data: {...}\n\n").
type sseWriter struct {
	w       gin.ResponseWriter
	flusher http.Flusher
	rc      *http.ResponseController
	timeout time.Duration
}

func (s *Server) newSSE(c *gin.Context) *sseWriter {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	w := &sseWriter{w: c.Writer, flusher: c.Writer, rc: http.NewResponseController(c.Writer), timeout: s.cfg.StreamWriteTimeout}
	w.extend()
	c.Writer.WriteHeaderNow()
	return w
}

// extend moves the write deadline StreamWriteTimeout past now: a stream
// outlives the server's WriteTimeout, but each write still has a bound.
func (w *sseWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout)) }

func (w *sseWriter) event(id, typ string, data []byte) {
	var b strings.Builder
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	if typ != "" {
		b.WriteString("event: " + typ + "\n")
	}
	b.WriteString("data: ")
	b.Write(data)
	b.WriteString("\n\n")
	w.extend()
	_, _ = io.WriteString(w.w, b.String())
	w.flusher.Flush()
}

func (w *sseWriter) data(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"error":{"message":%q,"type":"server_error","code":"internal"}}`, err.Error()))
	}
	w.event("", "", b)
}

func (w *sseWriter) done() {
	w.extend()
	_, _ = io.WriteString(w.w, "data: [DONE]\n\n")
	w.flusher.Flush()
}

func (w *sseWriter) comment(text string) {
	w.extend()
	_, _ = io.WriteString(w.w, ": "+text+"\n\n")
	w.flusher.Flush()
}

// error reports an error inside a stream that already answered 200; it uses
// the same body the error middleware writes.
func (w *sseWriter) error(ae *APIError) { w.data(ae.body()) }

// b64 is the standard base64 of data (for image results).
func b64(data []byte) string { return base64.StdEncoding.EncodeToString(data) }
