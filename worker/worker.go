// Package worker runs queued jobs on plugin engines: it leases jobs from the
// lanes (task, model) of the models its engines have ready, and only those,
// keeps each lease alive while the engine runs,
// forwards the engine's progress, text and previews as job events, stores
// the result, and turns engine errors into job errors (retrying only what
// may succeed on another try). It never spawns processes itself: the plugin
// host hands it one sdk.Engine per plugin process.
package worker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
)

// Config tunes a Worker; zero values take the defaults.
type Config struct {
	// ID names the worker in leases and the registry (default
	// "<hostname>-<pid>-<random>").
	ID string
	// Concurrency is how many jobs each plugin (by name, the key of the
	// engines map) runs at once; plugins not listed get DefaultConcurrency.
	Concurrency        map[string]int
	DefaultConcurrency int // default 1
	// LeaseDuration must match the queue's (default 30s); an idle lease is
	// renewed every LeaseDuration/3.
	LeaseDuration time.Duration
	// CancelPoll is how often a running job's lease is renewed, which is
	// also how soon a cancel reaches it (default 250ms, at most
	// LeaseDuration/3).
	CancelPoll time.Duration
	// RegisterEvery is how often the worker re-advertises itself (default
	// 5s; keep it under the queue's WorkerTTL).
	RegisterEvery time.Duration
	// ShutdownGrace is how long running jobs may finish after Run's context
	// ends; the rest are released back to the queue (default 30s).
	ShutdownGrace time.Duration
	// Restarts, when set, reports a plugin's restart count; it is advertised
	// beside each manifest as "restarts".
	Restarts func(plugin string) int
	Logger   *slog.Logger
	// OpTimeout bounds each queue call made on a job's behalf (default 10s).
	OpTimeout time.Duration
	// SettleFor is how long storing an attempt's end (result, failure,
	// release) is retried while the queue is unreachable (default
	// LeaseDuration): a short outage must not cost a finished job its
	// result, and after a lease the job may be someone else's anyway.
	SettleFor time.Duration
	// MaxMemory is the budget, in bytes, for the models this worker keeps
	// loaded at once, by the plugins' own estimates (ModelInfo.MemoryBytes).
	// Models load on first use; when the next would not fit, the least
	// recently used idle ones are unloaded (sdk.Unloader) — never one a job
	// is running on; a job whose model cannot fit until running jobs end
	// waits in the queue. A model larger than the budget is not served.
	// 0: no budget.
	MaxMemory int64
	// PoisonAfter is how many attempts of a job may crash its plugin: the
	// attempt that crashes it for the PoisonAfter-th time (or on the job's
	// last permitted attempt, whichever comes first) fails the job with
	// code "poison" instead of queueing it again (default 3).
	PoisonAfter int
	// OnFinish, when set, is told how each attempt this worker ran ended
	// (for metrics): outcome is one of the Outcome* constants, took the
	// attempt's run time.
	OnFinish func(task, outcome string, took time.Duration)
}

// Outcomes of one attempt, as OnFinish reports them.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"     // dead-lettered or not retryable
	OutcomeRetried   = "retried"    // failed, queued again
	OutcomeCanceled  = "canceled"   // the client canceled it
	OutcomeLeaseLost = "lease_lost" // another worker took it over
	OutcomeReleased  = "released"   // handed back at shutdown
	// OutcomeUnsettled: the attempt ended but the queue could not be told
	// within SettleFor (it was unreachable); the lease lapses and the job
	// runs again.
	OutcomeUnsettled = "unsettled"
)

func (c Config) withDefaults() Config {
	if c.ID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.ID = fmt.Sprintf("%s-%d-%s", cmp.Or(host, "worker"), os.Getpid(), hex.EncodeToString(b[:]))
	}
	if c.DefaultConcurrency <= 0 {
		c.DefaultConcurrency = 1
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 30 * time.Second
	}
	if c.CancelPoll <= 0 {
		c.CancelPoll = 250 * time.Millisecond
	}
	c.CancelPoll = min(c.CancelPoll, c.LeaseDuration/3)
	if c.RegisterEvery <= 0 {
		c.RegisterEvery = 5 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 10 * time.Second
	}
	if c.SettleFor <= 0 {
		c.SettleFor = c.LeaseDuration
	}
	if c.PoisonAfter <= 0 {
		c.PoisonAfter = 3
	}
	return c
}

// Worker consumes jobs for a set of plugin engines. Build it with New and
// start it with Run.
type Worker struct {
	q       queue.Queue
	engines map[string]sdk.Engine
	cfg     Config
	log     *slog.Logger

	qs        queueState
	mu        sync.Mutex
	manifests map[string]sdk.Manifest // by plugin name, filled by Run
	running   int
	draining  bool
	resident  map[string]*resident // model id → loaded on this worker (see MaxMemory)
	noUnload  map[string]bool      // plugins that cannot unload: their models are never evicted
	warmAt    map[string]bool      // models another live worker has loaded (read at each register)
	changed   chan struct{}        // closed and replaced when resident changes

	// Set by Run for AddEngines: the contexts slots run under and their group.
	runCtx, hardCtx context.Context
	slots           *sync.WaitGroup
}

// engine returns the named plugin's engine. The engines map is replaced,
// never changed in place (AddEngines), so a reader holds a stable one.
func (w *Worker) engine(name string) sdk.Engine {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.engines[name]
}

// resident is a model loaded in one of the worker's plugins.
type resident struct {
	plugin   string
	bytes    int64
	running  int // jobs on it now: never evicted while > 0
	lastUsed time.Time
	restarts int // the plugin's restart count when it was loaded (a restart unloads everything)
}

// New returns a worker for engines, keyed by plugin name (as the plugin
// host's Engines() returns them). Nothing runs until Run.
func New(q queue.Queue, engines map[string]sdk.Engine, cfg Config) *Worker {
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("worker", cfg.ID)
	return &Worker{q: q, engines: engines, cfg: cfg, log: log, qs: queueState{log: log},
		resident: map[string]*resident{}, noUnload: map[string]bool{}, changed: make(chan struct{})}
}

// ID is the worker's id in leases and the registry.
func (w *Worker) ID() string { return w.cfg.ID }

// Running is how many jobs are running now.
func (w *Worker) Running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running
}

// Serving reports whether the worker takes jobs: Run has described its
// plugins, it is not draining, and some plugin has a model ready (a
// Kubernetes readiness probe asks this).
func (w *Worker) Serving() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.manifests != nil && !w.draining && len(w.servedLocked()) > 0
}

// Why a job's run context ended, besides its deadline.
var (
	errJobCanceled = errors.New("job canceled")
	errLeaseLost   = errors.New("lease lost")
	errShutdown    = errors.New("worker shutting down")
)

// Run asks every engine for its manifest, registers the worker, and runs
// jobs until ctx ends. Then it stops taking jobs, lets running ones finish
// for up to ShutdownGrace, releases the rest to the queue and returns nil.
// It fails early only when an engine cannot describe itself.
func (w *Worker) Run(ctx context.Context) error {
	if len(w.engines) == 0 {
		return errors.New("worker: no plugin engines")
	}
	names := make([]string, 0, len(w.engines))
	for name := range w.engines {
		names = append(names, name)
	}
	slices.Sort(names)
	mans := map[string]sdk.Manifest{}
	for _, name := range names {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := w.engines[name].Describe(dctx)
		cancel()
		if err != nil {
			return fmt.Errorf("worker: describe plugin %s: %w", name, err)
		}
		if len(m.Tasks) == 0 {
			w.log.Warn("plugin declares no tasks; it gets no jobs", "plugin", name)
		}
		mans[name] = m
	}
	w.mu.Lock()
	w.manifests = mans
	for name, m := range mans {
		for _, mi := range m.Models {
			if mi.Ready && mi.Loaded { // the plugin preloaded it
				w.resident[mi.ID] = &resident{plugin: name, bytes: mi.MemoryBytes, lastUsed: time.Now(), restarts: w.restarts(name)}
			}
		}
	}
	w.mu.Unlock()

	w.register(ctx)
	var bg sync.WaitGroup
	defer bg.Wait()
	bg.Go(func() {
		t := time.NewTicker(w.cfg.RegisterEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				w.register(ctx)
			}
		}
	})
	// Draining: say so at once, so gateways stop counting this worker's
	// models as served before it goes quiet; the lanes' other workers (or
	// the next one to start) take the released jobs.
	bg.Go(func() {
		<-ctx.Done()
		w.mu.Lock()
		w.draining = true
		w.mu.Unlock()
		w.register(ctx)
	})

	// hard ends running jobs once the grace period after ctx has passed.
	hard, hardCancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer hardCancel(nil)
	var slots sync.WaitGroup
	w.mu.Lock()
	w.runCtx, w.hardCtx, w.slots = ctx, hard, &slots
	for _, name := range names {
		w.startSlotsLocked(name)
	}
	w.mu.Unlock()
	<-ctx.Done()
	w.log.Info("shutting down: no new jobs", "running", w.Running(), "grace", w.cfg.ShutdownGrace)
	timer := time.AfterFunc(w.cfg.ShutdownGrace, func() { hardCancel(errShutdown) })
	slots.Wait()
	timer.Stop()
	return nil
}

// startSlotsLocked starts the job slots of one described plugin.
func (w *Worker) startSlotsLocked(name string) {
	if len(w.manifests[name].Tasks) == 0 || w.runCtx.Err() != nil {
		return
	}
	n := w.cfg.DefaultConcurrency
	if c, ok := w.cfg.Concurrency[name]; ok && c > 0 {
		n = c
	}
	w.log.Info("consuming", "plugin", name, "concurrency", n)
	ctx, hard := w.runCtx, w.hardCtx
	for range n {
		w.slots.Go(func() { w.slot(ctx, hard, name) })
	}
}

// AddEngines adds plugins to a running worker (a plugins folder rescan
// found new binaries): it describes each, starts its slots and
// re-advertises the worker, so the gateway routes their models here at
// once. A name the worker already has is refused, as is a call before Run
// has described the first plugins.
func (w *Worker) AddEngines(ctx context.Context, engines map[string]sdk.Engine) error {
	mans := map[string]sdk.Manifest{}
	for name, e := range engines {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		m, err := e.Describe(dctx)
		cancel()
		if err != nil {
			return fmt.Errorf("worker: describe plugin %s: %w", name, err)
		}
		mans[name] = m
	}
	w.mu.Lock()
	if w.runCtx == nil {
		w.mu.Unlock()
		return errors.New("worker: AddEngines before Run")
	}
	for name := range engines {
		if _, dup := w.engines[name]; dup {
			w.mu.Unlock()
			return fmt.Errorf("worker: plugin %s is already served", name)
		}
	}
	allE, allM := maps.Clone(w.engines), maps.Clone(w.manifests)
	maps.Copy(allE, engines)
	maps.Copy(allM, mans)
	w.engines, w.manifests = allE, allM
	for name := range engines {
		w.startSlotsLocked(name)
	}
	w.notifyLocked()
	w.mu.Unlock()
	w.register(ctx)
	return nil
}

// modelTasks are the tasks a manifest's model serves (all of the plugin's
// when it names none).
func modelTasks(m *sdk.Manifest, mi *sdk.ModelInfo) []string {
	if len(mi.Tasks) > 0 {
		return mi.Tasks
	}
	return m.Tasks
}

// lanes are the queue lanes a plugin's slots lease from: one per task of
// each model the plugin has ready, cold (queue.Lane.Cold) when the model is
// not loaded here. A model that is not ready gets no lane, so its jobs wait
// for a worker that has it; under MaxMemory, neither does a model that
// cannot fit until running jobs end (held is then true, and changed is
// closed when that may have changed) nor one larger than the budget.
func (w *Worker) lanes(plugin string) (out []queue.Lane, held bool, changed <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.forgetRestartedLocked()
	m := w.manifests[plugin]
	pinned := w.pinnedLocked()
	for i := range m.Models {
		mi := &m.Models[i]
		if !mi.Ready || !w.fitsLocked(mi) {
			continue
		}
		loaded := w.resident[mi.ID] != nil
		if !loaded && w.cfg.MaxMemory > 0 && mi.MemoryBytes > w.cfg.MaxMemory-pinned {
			held = true
			continue
		}
		// Cold only when a worker that has it loaded exists to go first.
		cold := !loaded && w.warmAt[mi.ID]
		for _, t := range modelTasks(&m, mi) {
			out = append(out, queue.Lane{Task: t, Model: mi.ID, Cold: cold})
		}
	}
	return out, held, w.changed
}

// fitsLocked: the model fits the budget at all.
func (w *Worker) fitsLocked(mi *sdk.ModelInfo) bool {
	return w.cfg.MaxMemory <= 0 || mi.MemoryBytes <= w.cfg.MaxMemory
}

// pinnedLocked is the memory of loaded models that cannot be evicted now:
// a job runs on them, or their plugin cannot unload.
func (w *Worker) pinnedLocked() int64 {
	var n int64
	for _, r := range w.resident {
		if r.running > 0 || w.noUnload[r.plugin] {
			n += r.bytes
		}
	}
	return n
}

func (w *Worker) usedLocked() int64 {
	var n int64
	for _, r := range w.resident {
		n += r.bytes
	}
	return n
}

func (w *Worker) restarts(plugin string) int {
	if w.cfg.Restarts == nil {
		return 0
	}
	return w.cfg.Restarts(plugin)
}

// forgetRestartedLocked drops the idle models of plugins that restarted
// since they were loaded: the new process has none loaded.
func (w *Worker) forgetRestartedLocked() {
	for id, r := range w.resident {
		if r.running == 0 && w.restarts(r.plugin) != r.restarts {
			delete(w.resident, id)
		}
	}
}

func (w *Worker) notifyLocked() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// admit marks job's model in use on plugin before it runs, making room
// under MaxMemory: it unloads least recently used idle models until the
// model fits. It answers false when it cannot fit (another slot took the
// memory since the lanes were read); the caller gives the job back.
func (w *Worker) admit(ctx context.Context, plugin string, job *queue.Job) bool {
	w.mu.Lock()
	if r := w.resident[job.Model]; r != nil {
		r.running++
		r.lastUsed = time.Now()
		w.mu.Unlock()
		return true
	}
	var bytes int64
	for _, mi := range w.manifests[plugin].Models {
		if mi.ID == job.Model {
			bytes = mi.MemoryBytes
		}
	}
	var victims []string
	if w.cfg.MaxMemory > 0 {
		over := w.usedLocked() + bytes - w.cfg.MaxMemory
		idle := make([]string, 0, len(w.resident))
		for id, r := range w.resident {
			if r.running == 0 && !w.noUnload[r.plugin] {
				idle = append(idle, id)
			}
		}
		slices.SortFunc(idle, func(a, b string) int { return w.resident[a].lastUsed.Compare(w.resident[b].lastUsed) })
		for _, id := range idle {
			if over <= 0 {
				break
			}
			victims = append(victims, id)
			over -= w.resident[id].bytes
		}
		if over > 0 {
			w.mu.Unlock()
			return false
		}
	}
	evicted := make(map[string]*resident, len(victims))
	for _, id := range victims {
		evicted[id] = w.resident[id]
		delete(w.resident, id)
	}
	w.resident[job.Model] = &resident{plugin: plugin, bytes: bytes, running: 1, lastUsed: time.Now(), restarts: w.restarts(plugin)}
	w.notifyLocked()
	w.mu.Unlock()
	for _, id := range victims {
		r := evicted[id]
		u, ok := w.engine(r.plugin).(sdk.Unloader)
		err := sdk.ErrUnloadUnsupported
		if ok {
			uctx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
			err = u.Unload(uctx, id)
			cancel()
		}
		if err == nil {
			w.log.Info("model evicted (least recently used)", "model", id, "plugin", r.plugin, "bytes", r.bytes, "for", job.Model)
			continue
		}
		// Still in memory: keep counting it; a plugin that cannot unload
		// keeps its models for good.
		w.log.Warn("evict model", "model", id, "plugin", r.plugin, "err", err)
		w.mu.Lock()
		if errors.Is(err, sdk.ErrUnloadUnsupported) {
			w.noUnload[r.plugin] = true
		}
		if w.resident[id] == nil {
			w.resident[id] = r
		}
		w.mu.Unlock()
	}
	return true
}

// release ends a job's use of its model; a model that failed to load is
// forgotten (it is not in memory).
func (w *Worker) release(model string, loadFailed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.resident[model]; r != nil {
		r.running--
		r.lastUsed = time.Now()
		if loadFailed && r.running == 0 {
			delete(w.resident, model)
		}
	}
	w.notifyLocked()
}

// servedLocked is what register advertises: every ready model that fits
// the memory budget, with its tasks, merged over plugins, sorted by id.
func (w *Worker) servedLocked() []queue.ServedModel {
	byID := map[string]*queue.ServedModel{}
	for _, m := range w.manifests {
		for i := range m.Models {
			mi := &m.Models[i]
			if !mi.Ready || !w.fitsLocked(mi) {
				continue
			}
			sm := byID[mi.ID]
			if sm == nil {
				sm = &queue.ServedModel{ID: mi.ID, Bytes: mi.MemoryBytes, Loaded: w.resident[mi.ID] != nil}
				byID[mi.ID] = sm
			}
			for _, t := range modelTasks(&m, mi) {
				if !slices.Contains(sm.Tasks, t) {
					sm.Tasks = append(sm.Tasks, t)
				}
			}
		}
	}
	out := make([]queue.ServedModel, 0, len(byID))
	for _, sm := range byID {
		slices.Sort(sm.Tasks)
		out = append(out, *sm)
	}
	slices.SortFunc(out, func(a, b queue.ServedModel) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (w *Worker) register(ctx context.Context) {
	w.mu.Lock()
	mans := w.manifests
	draining := w.draining
	var served []queue.ServedModel
	if !draining {
		w.forgetRestartedLocked()
		served = w.servedLocked()
	}
	used := w.usedLocked()
	w.mu.Unlock()
	names := make([]string, 0, len(mans))
	for n := range mans {
		names = append(names, n)
	}
	slices.Sort(names)
	type advertised struct {
		sdk.Manifest
		Restarts int `json:"restarts"`
	}
	var tasks []string
	list := make([]advertised, 0, len(names))
	for _, n := range names {
		a := advertised{Manifest: mans[n]}
		if w.cfg.Restarts != nil {
			a.Restarts = w.cfg.Restarts(n)
		}
		list = append(list, a)
		for _, t := range mans[n].Tasks {
			if !slices.Contains(tasks, t) {
				tasks = append(tasks, t)
			}
		}
	}
	slices.Sort(tasks)
	raw, err := json.Marshal(list)
	if err != nil {
		w.log.Error("register: marshal manifests", "err", err)
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.OpTimeout)
	defer cancel()
	info := queue.WorkerInfo{ID: w.cfg.ID, Tasks: tasks, Models: served, Manifests: raw, Draining: draining,
		MemoryBudget: max(w.cfg.MaxMemory, 0), MemoryUsed: used}
	if err := w.q.Register(rctx, info); err != nil {
		w.qs.failed(w.log, "register", err)
		return
	}
	w.qs.ok()
	// Which models other workers have loaded: this worker's lanes for them
	// are cold, so those workers get the jobs first.
	ws, err := w.q.Workers(rctx)
	if err != nil {
		return
	}
	warm := map[string]bool{}
	for _, o := range ws {
		for _, m := range o.Models {
			if o.ID != w.cfg.ID && !o.Draining && m.Loaded {
				warm[m.ID] = true
			}
		}
	}
	w.mu.Lock()
	w.warmAt = warm
	w.mu.Unlock()
}

// slot is one unit of a plugin's concurrency: lease, run, repeat.
func (w *Worker) slot(ctx, hard context.Context, plugin string) {
	backoff := 100 * time.Millisecond
	pause := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for ctx.Err() == nil {
		if hc, ok := w.engine(plugin).(sdk.HealthChecker); ok {
			hctx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
			err := hc.Health(hctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				w.log.Warn("plugin unhealthy: not taking its jobs", "plugin", plugin, "err", err)
				if !pause(time.Second) {
					return
				}
				continue
			}
		}
		lanes, held, changed := w.lanes(plugin)
		if len(lanes) == 0 {
			// No model ready (yet), or none fits until running jobs end:
			// nothing to lease. Look again when that changes.
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-time.After(time.Second):
			}
			continue
		}
		dctx, cancel := context.WithCancel(ctx)
		if held {
			// A model left out for memory may fit once a running job ends:
			// stop waiting on the narrower lanes then.
			go func() {
				select {
				case <-changed:
					cancel()
				case <-dctx.Done():
				}
			}()
		}
		l, err := w.q.Dequeue(dctx, w.cfg.ID, lanes)
		relook := err != nil && dctx.Err() != nil && ctx.Err() == nil
		cancel()
		if relook {
			continue // the memory picture changed: read the lanes again
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, queue.ErrClosed) {
				return
			}
			w.qs.failed(w.log.With("lanes", lanes), "dequeue", err)
			if !pause(backoff) {
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		w.qs.ok()
		backoff = 100 * time.Millisecond
		if ctx.Err() != nil {
			// Leased just as shutdown began: give it straight back.
			w.settle(w.log.With("job", l.Job.ID, "request_id", l.Job.RequestID), "release", func(c context.Context) error { return w.q.Release(c, l) })
			return
		}
		w.run(hard, plugin, l)
	}
}

// engineFor picks the engine that lists the job's model for its task,
// preferring the plugin whose slot leased it; with none, the leasing plugin
// runs it and answers model_not_found itself.
func (w *Worker) engineFor(plugin string, job *queue.Job) (string, sdk.Engine) {
	w.mu.Lock()
	defer w.mu.Unlock()
	serves := func(name string) bool {
		for _, m := range w.manifests[name].Models {
			if m.ID == job.Model && (len(m.Tasks) == 0 || slices.Contains(m.Tasks, job.Task)) {
				return true
			}
		}
		return false
	}
	if serves(plugin) {
		return plugin, w.engines[plugin]
	}
	names := make([]string, 0, len(w.manifests))
	for n := range w.manifests {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if slices.Contains(w.manifests[n].Tasks, job.Task) && serves(n) {
			return n, w.engines[n]
		}
	}
	return plugin, w.engines[plugin]
}

// run executes one leased attempt and records how it ended.
func (w *Worker) run(hard context.Context, plugin string, l *queue.Lease) {
	w.mu.Lock()
	w.running++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running--
		w.mu.Unlock()
	}()
	name, eng := w.engineFor(plugin, &l.Job)
	log := w.log.With("job", l.Job.ID, "request_id", l.Job.RequestID, "task", l.Job.Task, "model", l.Job.Model, "attempt", l.Attempt, "plugin", name)
	if !w.admit(hard, name, &l.Job) {
		log.Info("model does not fit beside the running jobs' models: giving the job back")
		w.settle(log, "release", func(c context.Context) error { return w.q.Release(c, l) })
		return
	}
	loadFailed := false
	defer func() { w.release(l.Job.Model, loadFailed) }()
	log.Info("job started")
	start := time.Now()

	runCtx, stop := context.WithCancelCause(hard)
	defer stop(nil)
	if !l.Job.Deadline.IsZero() {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(runCtx, l.Job.Deadline)
		defer cancel()
	}

	// The lease is renewed every CancelPoll; the answer also carries a
	// cancel, which is how it reaches the engine within a second.
	hbDone := make(chan struct{})
	var hb sync.WaitGroup
	hb.Go(func() {
		t := time.NewTicker(w.cfg.CancelPoll)
		defer t.Stop()
		for {
			select {
			case <-hbDone:
				return
			case <-t.C:
			}
			err := w.queueOp(func(c context.Context) error { return w.q.Heartbeat(c, l) })
			switch {
			case errors.Is(err, queue.ErrCanceled):
				stop(errJobCanceled)
				return
			case errors.Is(err, queue.ErrLeaseLost):
				stop(errLeaseLost)
				return
			case err != nil:
				w.qs.failed(log, "heartbeat", err) // transient: the lease outlives a few misses
			default:
				w.qs.ok()
			}
		}
	})

	var (
		output    json.RawMessage
		gotResult bool
		artifacts []queue.Blob
	)
	emit := func(ev sdk.Event) error {
		var typ string
		var data any
		switch ev.Kind {
		case sdk.EventProgress:
			typ, data = queue.EventProgress, struct {
				Step  int `json:"step"`
				Total int `json:"total"`
			}{ev.Step, ev.Total}
		case sdk.EventDelta:
			typ, data = queue.EventDelta, struct {
				Text  string `json:"text"`
				Index int    `json:"index,omitempty"` // the choice, when a job has n > 1
			}{ev.Text, ev.Choice}
		case sdk.EventPreview:
			typ, data = queue.EventPreview, struct {
				MIME string `json:"mime"`
				Data []byte `json:"data"` // base64 in JSON
			}{ev.MIME, ev.Data}
		case sdk.EventArtifact:
			artifacts = append(artifacts, queue.Blob{Name: ev.Name, MIME: ev.MIME, Data: ev.Data})
			return nil
		case sdk.EventResult:
			if gotResult {
				return sdk.Errorf(sdk.CodeInternal, "plugin emitted a second result")
			}
			if len(ev.Result) > 0 && !json.Valid(ev.Result) {
				return sdk.Errorf(sdk.CodeInternal, "plugin result is not valid JSON")
			}
			output, gotResult = ev.Result, true
			return nil
		default:
			return sdk.Errorf(sdk.CodeInternal, "plugin emitted unknown event kind %d", ev.Kind)
		}
		err := w.queueOp(func(c context.Context) error { return w.q.Publish(c, l, typ, data) })
		switch {
		case errors.Is(err, queue.ErrCanceled):
			stop(errJobCanceled)
			return err
		case errors.Is(err, queue.ErrLeaseLost):
			stop(errLeaseLost)
			return err
		case err != nil:
			w.qs.failed(log.With("type", typ), "publish event", err) // a lost progress event does not fail the job
		default:
			w.qs.ok()
		}
		return nil
	}

	err := runEngine(runCtx, eng, toPluginJob(l), emit)
	close(hbDone)
	hb.Wait()

	cause := context.Cause(runCtx)
	outcome := ""
	defer func() {
		if w.cfg.OnFinish != nil && outcome != "" {
			w.cfg.OnFinish(l.Job.Task, outcome, time.Since(start))
		}
	}()
	switch {
	case errors.Is(cause, errJobCanceled):
		outcome = OutcomeCanceled
		log.Info("job canceled", "after", time.Since(start))
	case errors.Is(cause, errLeaseLost):
		outcome = OutcomeLeaseLost
		log.Warn("lease lost; another worker has the job", "after", time.Since(start))
	case errors.Is(cause, errShutdown):
		log.Info("shutdown grace passed: releasing job")
		outcome = settled(OutcomeReleased, w.settle(log, "release", func(c context.Context) error { return w.q.Release(c, l) }))
	case err == nil && gotResult:
		res := queue.Result{Output: output, Artifacts: artifacts}
		cerr := w.settle(log, "complete", func(c context.Context) error { return w.q.Complete(c, l, res) })
		if errors.Is(cerr, queue.ErrTooLarge) {
			jerr := queue.JobError{Code: sdk.CodeInternal, Message: cerr.Error()}
			outcome = settled(OutcomeFailed, w.settle(log, "fail", func(c context.Context) error { return w.q.Fail(c, l, jerr, false) }))
			return
		}
		// Only a stored result is a success: a worker that could not
		// store it must not count or log one (the job runs again).
		if outcome = settled(OutcomeSucceeded, cerr); outcome == OutcomeSucceeded {
			log.Info("job succeeded", "took", time.Since(start), "artifacts", len(artifacts))
		}
	default:
		if err == nil {
			err = sdk.Errorf(sdk.CodeInternal, "plugin returned without a result")
		}
		if errors.Is(cause, context.DeadlineExceeded) {
			err = sdk.Errorf(sdk.CodeTimeout, "job ran past its deadline %s", l.Job.Deadline.Format(time.RFC3339))
		}
		jerr, retry := Classify(err)
		loadFailed = jerr.Code == sdk.CodeModelUnavailable || jerr.Code == sdk.CodeModelNotFound
		retry, jerr = w.poison(l, name, retry, jerr)
		outcome = OutcomeFailed
		if retry {
			outcome = OutcomeRetried
		}
		log.Warn("job attempt failed: "+whatNext(l, retry, jerr), "code", jerr.Code, "err", jerr.Message, "took", time.Since(start))
		outcome = settled(outcome, w.settle(log, "fail", func(c context.Context) error { return w.q.Fail(c, l, jerr, retry) }))
	}
}

// poison turns a crash on the job's last crash-permitted attempt into the
// code "poison": every earlier attempt ended in a crash too (only crashes
// are retried) or in a lost worker, so another one would crash the plugin
// again.
func (w *Worker) poison(l *queue.Lease, plugin string, retry bool, jerr queue.JobError) (bool, queue.JobError) {
	if jerr.Code != sdk.CodePluginCrashed {
		return retry, jerr
	}
	limit := w.cfg.PoisonAfter
	if l.MaxAttempts > 0 {
		limit = min(limit, l.MaxAttempts)
	}
	if l.Attempt < limit {
		return retry, jerr
	}
	return false, queue.JobError{Code: sdk.CodePoison, Message: fmt.Sprintf(
		"job crashed plugin %s on attempt %d, and no earlier attempt finished (each crashed it or lost its worker); not run again. Last crash: %s",
		plugin, l.Attempt, jerr.Message)}
}

// whatNext says, for the log, what becomes of a job whose attempt failed.
func whatNext(l *queue.Lease, retry bool, jerr queue.JobError) string {
	switch {
	case jerr.Code == sdk.CodePoison:
		return "it crashed its plugin on every attempt; failing it as poison, not running it again"
	case !retry:
		return fmt.Sprintf("failing the job (%s is not retried)", jerr.Code)
	case l.MaxAttempts > 0 && l.Attempt >= l.MaxAttempts:
		return fmt.Sprintf("failing the job: attempt %d was its last (max_attempts %d)", l.Attempt, l.MaxAttempts)
	case l.MaxAttempts > 0:
		return fmt.Sprintf("queueing it again for attempt %d of %d", l.Attempt+1, l.MaxAttempts)
	default:
		return "queueing it again if it has attempts left"
	}
}

// settled is the outcome of an attempt whose end was meant to be stored as
// want, given how storing it went.
func settled(want string, err error) string {
	switch {
	case err == nil:
		return want
	case errors.Is(err, queue.ErrCanceled):
		return OutcomeCanceled
	case errors.Is(err, queue.ErrLeaseLost):
		return OutcomeLeaseLost
	default:
		return OutcomeUnsettled
	}
}

// runEngine calls eng.Run, turning a panic of an in-process engine into an
// internal error (short, with an error id; the stack is logged) instead of
// a dead worker.
func runEngine(ctx context.Context, eng sdk.Engine, job sdk.Job, emit func(sdk.Event) error) error {
	return sdk.RunGuarded(ctx, eng, job, emit)
}

// queueOp runs a queue call on the job's behalf with its own timeout: it
// must work after Run's context ended (shutdown still completes and
// releases jobs).
func (w *Worker) queueOp(op func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.OpTimeout)
	defer cancel()
	return op(ctx)
}

// settle stores how an attempt ended (op: complete, fail or release). While
// the queue is unreachable it retries with backoff for up to SettleFor; the
// error it returns is the last one, already logged.
func (w *Worker) settle(log *slog.Logger, what string, op func(context.Context) error) error {
	deadline := time.Now().Add(w.cfg.SettleFor)
	backoff := 100 * time.Millisecond
	for {
		err := w.queueOp(op)
		switch {
		case err == nil:
			w.qs.ok()
			return nil
		case errors.Is(err, queue.ErrCanceled), errors.Is(err, queue.ErrLeaseLost):
			w.qs.ok()
			log.Info(what+": job no longer ours", "err", err)
			return err
		case !unreachable(err) || time.Now().Add(backoff).After(deadline):
			// The lease lapses and the job is redelivered.
			log.Error(what+": not stored; the job will run again", "err", err)
			return err
		}
		w.qs.failed(log, what, err)
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// unreachable tells an outage of the queue (or a call that hung past
// OpTimeout) from an answer.
func unreachable(err error) bool {
	return errors.Is(err, queue.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// queueState remembers whether the queue answers, so that an outage is
// logged once when it starts and once when it ends, not by every slot,
// heartbeat and retry (several times a second for each running job).
type queueState struct {
	log *slog.Logger

	mu    sync.Mutex
	since time.Time // when the outage began; zero while the queue answers
}

// failed records a failed queue call: an outage is logged when it begins;
// any other error is logged as it comes.
func (s *queueState) failed(log *slog.Logger, what string, err error) {
	if !unreachable(err) {
		log.Warn(what, "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.since.IsZero() {
		s.since = time.Now()
		log.Warn("queue unreachable: retrying with backoff until it answers", "op", what, "err", err)
	}
}

// ok records an answered queue call: an outage ends.
func (s *queueState) ok() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.since.IsZero() {
		s.log.Info("queue reachable again", "down_for", time.Since(s.since).Round(time.Millisecond))
		s.since = time.Time{}
	}
}

func toPluginJob(l *queue.Lease) sdk.Job {
	in := make([]sdk.Blob, len(l.Job.Inputs))
	for i, b := range l.Job.Inputs {
		in[i] = sdk.Blob{Name: b.Name, MIME: b.MIME, Data: b.Data}
	}
	return sdk.Job{ID: l.Job.ID, Task: l.Job.Task, Model: l.Job.Model, Params: l.Job.Params, Inputs: in,
		Seed: l.Job.Seed, Attempt: l.Attempt, Deadline: l.Job.Deadline}
}

// Classify turns an engine's error into the job's error and whether another
// attempt may succeed. A *sdk.Error keeps its code unchanged and is retried
// when the code is (sdk.Code.Retryable: only a crashed plugin process). An
// error that is not a *sdk.Error comes from the transport, i.e. the plugin
// process died mid-job.
func Classify(err error) (queue.JobError, bool) {
	var pe *sdk.Error
	if !errors.As(err, &pe) {
		return queue.JobError{Code: sdk.CodePluginCrashed, Message: err.Error()}, true
	}
	code := pe.Code
	if code == "" {
		code = sdk.CodeInternal
	}
	return queue.JobError{Code: code, Message: pe.Message, Param: pe.Param}, code.Retryable()
}
