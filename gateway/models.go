package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/schema"
	"github.com/loomhq/loom/queue"
)

// modelEntry is one model as the union of live workers' manifests and the
// queue's lanes see it.
type modelEntry struct {
	ID          string
	Plugin      string
	Tasks       map[string]bool
	Description string
	Ready       bool // true when any worker has it ready
	Missing     string
	// Serving counts, per task, the live workers that lease the model's lane
	// (draining ones excluded); Loaded, those that have it in memory now.
	Serving map[string]int
	Loaded  int
	Workers int    // live workers serving it for any task
	Created int64  // Unix seconds: the newest any worker reports
	Version string // the plugin's version
	// Specs is what a job of each task takes (the manifest's TaskSpec, or
	// its Params for every task), with the schema compiled.
	Specs map[string]*taskSpec
}

// taskSpec is one task's spec as the gateway checks it.
type taskSpec struct {
	sdk.TaskSpec
	schema     *schema.Schema // nil: any params
	compileErr error          // the schema uses what Loom cannot check: params are not checked here
	declared   bool           // the manifest declared this task's inputs (Specs), so they are checked
}

// serves reports whether a live worker leases the model's lane for task.
func (e *modelEntry) serves(task string) bool { return e.Serving[task] > 0 }

// modelIndex caches the model table built from q.Workers() and q.Lanes().
// A lookup that misses refreshes at once (a worker may just have
// registered), so the cache only delays noticing that a model went away.
type modelIndex struct {
	q   queue.Queue
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	at      time.Time
	schemas map[string]*taskSpec // compiled schemas by their JSON text, kept across refreshes
	models  map[string]*modelEntry
	tasks   map[string]bool
	lanes   []queue.LaneStats
	workers int
}

func newModelIndex(q queue.Queue, ttl time.Duration, now func() time.Time) *modelIndex {
	return &modelIndex{q: q, ttl: ttl, now: now}
}

// spec compiles the schema of model mi's task (once per distinct schema
// text: refreshes run every ModelsTTL).
func (m *modelIndex) spec(mi sdk.ModelInfo, task string) *taskSpec {
	ts := mi.SpecFor(task)
	declared := false
	for _, s := range mi.Specs {
		declared = declared || s.Task == task
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := string(ts.Params)
	c, ok := m.schemas[key]
	if !ok {
		c = &taskSpec{}
		c.schema, c.compileErr = schema.Compile(ts.Params)
		if m.schemas == nil || len(m.schemas) > 1024 {
			m.schemas = map[string]*taskSpec{}
		}
		m.schemas[key] = c
	}
	return &taskSpec{TaskSpec: ts, schema: c.schema, compileErr: c.compileErr, declared: declared}
}

// decodeManifests accepts what a worker advertises: a JSON array of
// manifests (one per plugin) or a single manifest.
func decodeManifests(raw json.RawMessage) []sdk.Manifest {
	if len(raw) == 0 {
		return nil
	}
	var many []sdk.Manifest
	if err := json.Unmarshal(raw, &many); err == nil {
		return many
	}
	var one sdk.Manifest
	if err := json.Unmarshal(raw, &one); err == nil && one.Name != "" {
		return []sdk.Manifest{one}
	}
	return nil
}

func (m *modelIndex) refresh(ctx context.Context) error {
	ws, err := m.q.Workers(ctx)
	if err != nil {
		return err
	}
	lanes, err := m.q.Lanes(ctx)
	if err != nil {
		return err
	}
	models := map[string]*modelEntry{}
	entry := func(id string) *modelEntry {
		e := models[id]
		if e == nil {
			e = &modelEntry{ID: id, Tasks: map[string]bool{}, Serving: map[string]int{}}
			models[id] = e
		}
		return e
	}
	tasks := map[string]bool{}
	live := 0
	for _, w := range ws {
		if !w.Draining {
			live++
			for _, t := range w.Tasks {
				tasks[t] = true
			}
		}
		for _, man := range decodeManifests(w.Manifests) {
			for _, mi := range man.Models {
				e := entry(mi.ID)
				if e.Plugin == "" {
					e.Plugin, e.Description, e.Missing, e.Version = man.Name, mi.Description, mi.Missing, man.Version
				}
				for _, t := range mi.Tasks {
					e.Tasks[t] = true
					if e.Specs[t] == nil {
						if e.Specs == nil {
							e.Specs = map[string]*taskSpec{}
						}
						e.Specs[t] = m.spec(mi, t)
					}
				}
				e.Created = max(e.Created, mi.Created)
				if mi.Ready {
					e.Ready, e.Missing = true, ""
				}
			}
		}
		if w.Draining {
			continue
		}
		for _, sm := range w.Models {
			e := entry(sm.ID)
			e.Ready, e.Missing = true, ""
			e.Workers++
			if sm.Loaded {
				e.Loaded++
			}
			for _, t := range sm.Tasks {
				e.Tasks[t] = true
				e.Serving[t]++
			}
		}
	}
	// A lane with no live worker is a model that was served (or asked
	// for) before: it is known, and unavailable until a worker returns.
	for _, l := range lanes {
		if l.Model == "" {
			continue
		}
		entry(l.Model).Tasks[l.Task] = true
		tasks[l.Task] = true
	}
	m.mu.Lock()
	m.models, m.tasks, m.lanes, m.workers, m.at = models, tasks, lanes, live, m.now()
	m.mu.Unlock()
	return nil
}

// snapshot returns the current table, refreshing it when stale or when force.
func (m *modelIndex) snapshot(ctx context.Context, force bool) (map[string]*modelEntry, map[string]bool, error) {
	m.mu.Lock()
	fresh := m.models != nil && m.now().Sub(m.at) < m.ttl
	models, tasks := m.models, m.tasks
	m.mu.Unlock()
	if fresh && !force {
		return models, tasks, nil
	}
	if err := m.refresh(ctx); err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.models, m.tasks, nil
}

// laneStats returns the lanes read by the last refresh.
func (m *modelIndex) laneStats() []queue.LaneStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lanes
}

// unservedRetryAfter is the Retry-After of a model no live worker serves:
// about how long a starting worker takes to register.
const unservedRetryAfter = 5 * time.Second

// errUnserved is the 503 for a known model that no live worker serves now.
func errUnserved(task, model string) *APIError {
	e := apiErrorf(http.StatusServiceUnavailable, sdk.CodeModelUnavailable,
		"no live worker serves model %q for %s; retry later, or send %s: SECONDS to queue the job until a worker for it starts",
		model, task, waitHeader)
	e.RetryAfter = unservedRetryAfter
	return e
}

// errUnserved reports whether err is errUnserved's answer.
func isUnserved(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == sdk.CodeModelUnavailable && ae.RetryAfter == unservedRetryAfter
}

// resolve checks that model serves task and that a live worker serves it.
// An empty model picks the first served model (by id) for the task. A known
// model with no live worker answers 503 model_unavailable with Retry-After,
// unless the request may wait for a worker (waitHeader or
// Config.WaitForWorker): then it resolves, and submit gives the job a
// deadline so it does not wait forever.
func (m *modelIndex) resolve(ctx context.Context, task, model string) (*modelEntry, error) {
	e, err := m.lookup(ctx, task, model, false)
	if err == nil {
		return e, nil
	}
	if _, ok := err.(*APIError); !ok {
		return nil, err
	}
	// A miss may be a worker that registered since the last refresh.
	e, err = m.lookup(ctx, task, model, true)
	if e != nil && isUnserved(err) {
		if g, ok := ctx.Value(waitGrantKey{}).(*waitGrant); ok && g.wait > 0 {
			g.used = true
			return e, nil
		}
	}
	return e, err
}

// waitHeader lets one request queue its job for a model no live worker
// serves now, for up to that many seconds (0: do not wait).
const waitHeader = "Loom-Wait-For-Worker"

// maxWaitForWorker bounds waitHeader and Config.WaitForWorker.
const maxWaitForWorker = 24 * time.Hour

type waitGrantKey struct{}

// waitGrant is how long a request may wait for a worker, and whether
// resolve used that to accept an unserved model (submit then sets the
// job's deadline).
type waitGrant struct {
	wait time.Duration
	used bool
}

// waitForWorker reads waitHeader (else Config.WaitForWorker) into the
// request's context for resolve and submit.
func (s *Server) waitForWorker(c *gin.Context) {
	wait := s.cfg.WaitForWorker
	if v := c.GetHeader(waitHeader); v != "" {
		sec, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || sec < 0 || sec > maxWaitForWorker.Seconds() || math.IsNaN(sec) {
			_ = c.Error(badRequest("%s: %q is not a number of seconds in 0..%d", waitHeader, v, int(maxWaitForWorker.Seconds())))
			c.Abort()
			return
		}
		wait = time.Duration(sec * float64(time.Second))
	}
	if wait > 0 {
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), waitGrantKey{}, &waitGrant{wait: wait}))
	}
	c.Next()
}

// waitDeadline is the deadline of a job queued for a model no worker serves:
// its own, or the request's wait from now.
func waitDeadline(c *gin.Context, job *queue.Job, now time.Time) {
	g, ok := c.Request.Context().Value(waitGrantKey{}).(*waitGrant)
	if !ok || !g.used || !job.Deadline.IsZero() {
		return
	}
	job.Deadline = now.Add(g.wait)
}

func (m *modelIndex) lookup(ctx context.Context, task, model string, force bool) (*modelEntry, error) {
	models, _, err := m.snapshot(ctx, force)
	if err != nil {
		return nil, err
	}
	if model == "" {
		var served, unserved, unready []string
		for id, e := range models {
			switch {
			case !e.Tasks[task]:
			case e.serves(task):
				served = append(served, id)
			case e.Ready:
				unserved = append(unserved, id)
			default:
				unready = append(unready, id)
			}
		}
		sort.Strings(served)
		sort.Strings(unserved)
		sort.Strings(unready)
		switch {
		case len(served) > 0:
			return models[served[0]], nil
		case len(unready) > 0 && len(unserved) == 0:
			// Say what is missing rather than that nothing exists.
			e := models[unready[0]]
			return nil, apiErrorf(http.StatusServiceUnavailable, sdk.CodeModelUnavailable, "no model for %s is ready: %s", task, e.Missing)
		case len(unserved) > 0 || len(unready) > 0:
			return nil, errUnserved(task, append(unserved, unready...)[0])
		}
		return nil, apiErrorf(http.StatusNotFound, sdk.CodeModelNotFound, "no model serves %s (GET /v1/models lists the models of live workers)", task)
	}
	e := models[model]
	if e == nil {
		return nil, apiErrorf(http.StatusNotFound, sdk.CodeModelNotFound, "model %q not found (GET /v1/models lists the models of live workers)", model)
	}
	if !e.Tasks[task] {
		return nil, apiErrorf(http.StatusNotFound, sdk.CodeModelNotFound, "model %q does not serve %s", model, task)
	}
	if e.serves(task) {
		return e, nil
	}
	if e.Plugin != "" && !e.Ready {
		return nil, apiErrorf(http.StatusServiceUnavailable, sdk.CodeModelUnavailable, "model %q is not ready: %s", model, e.Missing)
	}
	return e, errUnserved(task, model)
}

// hasTask reports whether any live worker consumes task (refreshing on a miss).
func (m *modelIndex) hasTask(ctx context.Context, task string) (bool, error) {
	for _, force := range []bool{false, true} {
		_, tasks, err := m.snapshot(ctx, force)
		if err != nil {
			return false, err
		}
		if tasks[task] {
			return true, nil
		}
	}
	return false, nil
}

// modelObject is one entry of GET /v1/models (OpenAI's shape plus Loom's
// fields: which live workers serve it and how much waits for them).
type modelObject struct {
	ID          string   `json:"id"`
	Object      string   `json:"object"`
	Created     int64    `json:"created"`
	OwnedBy     string   `json:"owned_by"`
	Plugin      string   `json:"plugin"`
	Tasks       []string `json:"tasks"`
	Ready       bool     `json:"ready"`
	Missing     string   `json:"missing,omitempty"`
	Description string   `json:"description,omitempty"`
	// Workers is how many live workers serve the model, Loaded how many of
	// those have it in memory; QueueDepth its queued jobs over all tasks and
	// OldestQueuedS how long the oldest of them has waited.
	Workers       int     `json:"workers"`
	Loaded        int     `json:"loaded"`
	QueueDepth    int     `json:"queue_depth"`
	OldestQueuedS float64 `json:"oldest_queued_s"`
	// PluginVersion is the serving plugin's version; Specs, per task, the
	// JSON Schema of the params and the named inputs a job takes (the
	// gateway refuses a job that breaks them with 400).
	PluginVersion string       `json:"plugin_version,omitempty"`
	Specs         []specObject `json:"specs"`
}

// specObject is one task's entry of modelObject.Specs.
type specObject struct {
	Task   string          `json:"task"`
	Params json.RawMessage `json:"params"` // JSON Schema; {} when the plugin gave none
	Inputs []sdk.InputSpec `json:"inputs"`
}

// object is the model as GET /v1/models shows it, with its queued jobs from lanes.
func (e *modelEntry) object(lanes []queue.LaneStats) modelObject {
	tasks := make([]string, 0, len(e.Tasks))
	for t := range e.Tasks {
		tasks = append(tasks, t)
	}
	sort.Strings(tasks)
	o := modelObject{ID: e.ID, Object: "model", Created: e.Created, OwnedBy: "loom", Plugin: e.Plugin, Tasks: tasks,
		Ready: e.Ready, Missing: e.Missing, Description: e.Description, Workers: e.Workers, Loaded: e.Loaded,
		PluginVersion: e.Version, Specs: []specObject{}}
	for _, t := range tasks {
		so := specObject{Task: t, Params: json.RawMessage("{}"), Inputs: []sdk.InputSpec{}}
		if sp := e.Specs[t]; sp != nil {
			if len(sp.Params) > 0 {
				so.Params = sp.Params
			}
			if sp.Inputs != nil {
				so.Inputs = sp.Inputs
			}
		}
		o.Specs = append(o.Specs, so)
	}
	for _, l := range lanes {
		if l.Model == e.ID {
			o.QueueDepth += l.Depth
			o.OldestQueuedS = max(o.OldestQueuedS, l.Oldest.Seconds())
		}
	}
	return o
}

func (s *Server) listModels(c *gin.Context) {
	models, _, err := s.models.snapshot(c.Request.Context(), false)
	if err != nil {
		_ = c.Error(err)
		return
	}
	lanes := s.models.laneStats()
	out := make([]modelObject, 0, len(models))
	for _, e := range models {
		out = append(out, e.object(lanes))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
}

// getModel is OpenAI's GET /v1/models/{model}: one entry of the list, or 404
// model_not_found (after a refresh, as a worker may just have registered).
func (s *Server) getModel(c *gin.Context) {
	id := c.Param("id")
	for _, force := range []bool{false, true} {
		models, _, err := s.models.snapshot(c.Request.Context(), force)
		if err != nil {
			_ = c.Error(err)
			return
		}
		if e := models[id]; e != nil {
			c.JSON(http.StatusOK, e.object(s.models.laneStats()))
			return
		}
	}
	_ = c.Error(apiErrorf(http.StatusNotFound, sdk.CodeModelNotFound, "model %q not found (GET /v1/models lists the models of live workers)", id))
}
