package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
)

// modelEntry is one model as the union of live workers' manifests sees it.
type modelEntry struct {
	ID          string
	Plugin      string
	Tasks       map[string]bool
	Description string
	Ready       bool // true when any worker has it ready
	Missing     string
}

// modelIndex caches the model table built from q.Workers(). A lookup that
// misses refreshes at once (a worker may just have registered), so the cache
// only delays noticing that a model went away.
type modelIndex struct {
	q   queue.Queue
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	at      time.Time
	models  map[string]*modelEntry
	tasks   map[string]bool
	workers int
}

func newModelIndex(q queue.Queue, ttl time.Duration, now func() time.Time) *modelIndex {
	return &modelIndex{q: q, ttl: ttl, now: now}
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
	models := map[string]*modelEntry{}
	tasks := map[string]bool{}
	for _, w := range ws {
		for _, t := range w.Tasks {
			tasks[t] = true
		}
		for _, man := range decodeManifests(w.Manifests) {
			for _, mi := range man.Models {
				e := models[mi.ID]
				if e == nil {
					e = &modelEntry{ID: mi.ID, Plugin: man.Name, Tasks: map[string]bool{}, Description: mi.Description, Missing: mi.Missing}
					models[mi.ID] = e
				}
				for _, t := range mi.Tasks {
					e.Tasks[t] = true
				}
				if mi.Ready {
					e.Ready, e.Missing = true, ""
				}
			}
		}
	}
	m.mu.Lock()
	m.models, m.tasks, m.workers, m.at = models, tasks, len(ws), m.now()
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

// resolve checks that model serves task and is ready. An empty model picks
// the first ready model (by id) serving the task.
func (m *modelIndex) resolve(ctx context.Context, task, model string) (*modelEntry, error) {
	e, err := m.lookup(ctx, task, model, false)
	if err == nil {
		return e, nil
	}
	if _, ok := err.(*APIError); !ok {
		return nil, err
	}
	// A miss may be a worker that registered since the last refresh.
	return m.lookup(ctx, task, model, true)
}

func (m *modelIndex) lookup(ctx context.Context, task, model string, force bool) (*modelEntry, error) {
	models, _, err := m.snapshot(ctx, force)
	if err != nil {
		return nil, err
	}
	if model == "" {
		var ready, unready []string
		for id, e := range models {
			switch {
			case e.Tasks[task] && e.Ready:
				ready = append(ready, id)
			case e.Tasks[task]:
				unready = append(unready, id)
			}
		}
		sort.Strings(ready)
		sort.Strings(unready)
		switch {
		case len(ready) > 0:
			return models[ready[0]], nil
		case len(unready) > 0:
			// Say what is missing rather than that nothing exists.
			e := models[unready[0]]
			return nil, apiErrorf(http.StatusServiceUnavailable, "model_unavailable", "no model for %s is ready: %s", task, e.Missing)
		}
		return nil, apiErrorf(http.StatusNotFound, "model_not_found", "no model serves %s (GET /v1/models lists the models of live workers)", task)
	}
	e := models[model]
	if e == nil {
		return nil, apiErrorf(http.StatusNotFound, "model_not_found", "model %q not found (GET /v1/models lists the models of live workers)", model)
	}
	if !e.Tasks[task] {
		return nil, apiErrorf(http.StatusNotFound, "model_not_found", "model %q does not serve %s", model, task)
	}
	if !e.Ready {
		return nil, apiErrorf(http.StatusServiceUnavailable, "model_unavailable", "model %q is not ready: %s", model, e.Missing)
	}
	return e, nil
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

// modelObject is one entry of GET /v1/models (OpenAI's shape plus Loom's fields).
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
}

func (s *Server) listModels(c *gin.Context) {
	models, _, err := s.models.snapshot(c.Request.Context(), false)
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := make([]modelObject, 0, len(models))
	for _, e := range models {
		tasks := make([]string, 0, len(e.Tasks))
		for t := range e.Tasks {
			tasks = append(tasks, t)
		}
		sort.Strings(tasks)
		out = append(out, modelObject{ID: e.ID, Object: "model", OwnedBy: "loom", Plugin: e.Plugin, Tasks: tasks,
			Ready: e.Ready, Missing: e.Missing, Description: e.Description})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": out})
}
