package gateway

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/gateway/prom"
	"github.com/loomhq/loom/queue"
)

// metrics are the gateway's Prometheus series. Counters and histograms are
// fed as requests pass; queue depth, live workers and plugin restarts are
// read from the queue at scrape time (so every gateway reports the shared
// truth, not its own slice of it).
type metrics struct {
	enqueued *prom.CounterVec   // task
	finished *prom.CounterVec   // task, status
	latency  *prom.HistogramVec // task: created → finished
	wait     *prom.HistogramVec // task: created → started (time in queue)
	http     *prom.HistogramVec // route, method, code
}

// latencyBuckets span an empty job (~1 ms) to a long video (minutes).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

func newMetrics(reg *prom.Registry, q queue.Queue, idx *modelIndex) *metrics {
	m := &metrics{
		enqueued: reg.NewCounterVec("loom_jobs_enqueued_total", "Jobs this gateway enqueued, by task.", "task"),
		finished: reg.NewCounterVec("loom_jobs_finished_total",
			"Jobs this gateway saw finish, by task and final status (succeeded, failed, canceled).", "task", "status"),
		latency: reg.NewHistogramVec("loom_job_duration_seconds", "Enqueue to terminal state, by task.", latencyBuckets, "task"),
		wait:    reg.NewHistogramVec("loom_job_queue_wait_seconds", "Enqueue to first lease, by task.", latencyBuckets, "task"),
		http: reg.NewHistogramVec("loom_http_request_duration_seconds",
			"HTTP request latency (streams: until the stream ends).", latencyBuckets, "route", "method", "code"),
	}
	qc := &queueCollector{q: q, idx: idx}
	reg.Register(qc, depthDesc, workersDesc, restartsDesc, queueUpDesc, laneDepthDesc, laneAgeDesc, modelWorkersDesc)
	return m
}

// observeFinished records a terminal job once the gateway learns it ended.
func (m *metrics) observeFinished(st *queue.JobState) {
	if !st.Status.Terminal() {
		return
	}
	m.finished.Inc(st.Job.Task, string(st.Status))
	if !st.FinishedAt.IsZero() && !st.CreatedAt.IsZero() {
		m.latency.Observe(st.FinishedAt.Sub(st.CreatedAt).Seconds(), st.Job.Task)
	}
	if !st.StartedAt.IsZero() && !st.CreatedAt.IsZero() {
		m.wait.Observe(st.StartedAt.Sub(st.CreatedAt).Seconds(), st.Job.Task)
	}
}

func (m *metrics) middleware(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath() // the pattern, so ids do not explode the label set
	if route == "" {
		route = "unmatched"
	}
	m.http.Observe(time.Since(start).Seconds(), route, c.Request.Method, strconv.Itoa(c.Writer.Status()))
}

// standardTasks always get a depth series, even before a worker serves them.
var standardTasks = []string{taskComplete, taskChat, taskImageGenerate, taskCaption, taskSpeech, taskVideo}

type queueCollector struct {
	q   queue.Queue
	idx *modelIndex
}

var (
	depthDesc    = prom.NewDesc("loom_queue_depth", "Jobs queued and not yet leased, by task.", prom.Gauge, "task")
	workersDesc  = prom.NewDesc("loom_workers", "Live workers registered with the queue.", prom.Gauge)
	restartsDesc = prom.NewDesc("loom_plugin_restarts_total",
		"Plugin process restarts reported by live workers, by worker and plugin.", prom.Counter, "worker", "plugin")
	queueUpDesc = prom.NewDesc("loom_queue_up", "1 when the queue answered the scrape.", prom.Gauge)
	// Per model: what an autoscaler scales a model's worker group on.
	laneDepthDesc = prom.NewDesc("loom_model_queue_depth",
		"Jobs queued for a model and not yet leased, by task and model.", prom.Gauge, "task", "model")
	laneAgeDesc = prom.NewDesc("loom_model_oldest_job_age_seconds",
		"How long the oldest queued job of a model has waited (0: none queued), by task and model.", prom.Gauge, "task", "model")
	modelWorkersDesc = prom.NewDesc("loom_model_workers",
		"Live workers serving a model (draining ones excluded), and of those how many have it loaded.", prom.Gauge, "model", "state")
)

// pluginStats is what a worker may add beside each manifest it advertises.
type pluginStats struct {
	Name     string  `json:"name"`
	Restarts float64 `json:"restarts"`
}

func (qc *queueCollector) Collect(emit func(d *prom.Desc, value float64, labelValues ...string)) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ws, err := qc.q.Workers(ctx)
	if err != nil {
		emit(queueUpDesc, 0)
		return
	}
	emit(queueUpDesc, 1)
	emit(workersDesc, float64(len(ws)))
	tasks := map[string]bool{}
	for _, t := range standardTasks {
		tasks[t] = true
	}
	for _, w := range ws {
		for _, t := range w.Tasks {
			tasks[t] = true
		}
		var stats []pluginStats
		if json.Unmarshal(w.Manifests, &stats) == nil {
			for _, s := range stats {
				if s.Name != "" {
					emit(restartsDesc, s.Restarts, w.ID, s.Name)
				}
			}
		}
	}
	for t := range tasks {
		if d, err := qc.q.Depth(ctx, t); err == nil {
			emit(depthDesc, float64(d), t)
		}
	}
	serving, loaded := map[string]int{}, map[string]int{}
	for _, w := range ws {
		if w.Draining {
			continue
		}
		for _, m := range w.Models {
			serving[m.ID]++
			if m.Loaded {
				loaded[m.ID]++
			}
		}
	}
	lanes, err := qc.q.Lanes(ctx)
	if err != nil {
		return
	}
	for _, l := range lanes {
		emit(laneDepthDesc, float64(l.Depth), l.Task, l.Model)
		emit(laneAgeDesc, l.Oldest.Seconds(), l.Task, l.Model)
		if _, ok := serving[l.Model]; !ok {
			serving[l.Model] = 0 // a model nobody serves: the series an autoscaler starts a worker on
		}
	}
	for m, n := range serving {
		emit(modelWorkersDesc, float64(n), m, "serving")
		emit(modelWorkersDesc, float64(loaded[m]), m, "loaded")
	}
}
