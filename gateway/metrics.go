package gateway

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loomhq/loom/queue"
)

// metrics are the gateway's Prometheus series. Counters and histograms are
// fed as requests pass; queue depth, live workers and plugin restarts are
// read from the queue at scrape time (so every gateway reports the shared
// truth, not its own slice of it).
type metrics struct {
	enqueued *prometheus.CounterVec   // task
	finished *prometheus.CounterVec   // task, status
	latency  *prometheus.HistogramVec // task: created → finished
	wait     *prometheus.HistogramVec // task: created → started (time in queue)
	http     *prometheus.HistogramVec // route, method, code
}

// latencyBuckets span an empty job (~1 ms) to a long video (minutes).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

func newMetrics(reg prometheus.Registerer, q queue.Queue, idx *modelIndex) *metrics {
	m := &metrics{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loom_jobs_enqueued_total",
			Help: "Jobs this gateway enqueued, by task."}, []string{"task"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loom_jobs_finished_total",
			Help: "Jobs this gateway saw finish, by task and final status (succeeded, failed, canceled)."}, []string{"task", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "loom_job_duration_seconds",
			Help: "Enqueue to terminal state, by task.", Buckets: latencyBuckets}, []string{"task"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "loom_job_queue_wait_seconds",
			Help: "Enqueue to first lease, by task.", Buckets: latencyBuckets}, []string{"task"}),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "loom_http_request_duration_seconds",
			Help: "HTTP request latency (streams: until the stream ends).", Buckets: latencyBuckets}, []string{"route", "method", "code"}),
	}
	reg.MustRegister(m.enqueued, m.finished, m.latency, m.wait, m.http, &queueCollector{q: q, idx: idx})
	return m
}

// observeFinished records a terminal job once the gateway learns it ended.
func (m *metrics) observeFinished(st *queue.JobState) {
	if !st.Status.Terminal() {
		return
	}
	m.finished.WithLabelValues(st.Job.Task, string(st.Status)).Inc()
	if !st.FinishedAt.IsZero() && !st.CreatedAt.IsZero() {
		m.latency.WithLabelValues(st.Job.Task).Observe(st.FinishedAt.Sub(st.CreatedAt).Seconds())
	}
	if !st.StartedAt.IsZero() && !st.CreatedAt.IsZero() {
		m.wait.WithLabelValues(st.Job.Task).Observe(st.StartedAt.Sub(st.CreatedAt).Seconds())
	}
}

func (m *metrics) middleware(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath() // the pattern, so ids do not explode the label set
	if route == "" {
		route = "unmatched"
	}
	m.http.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Observe(time.Since(start).Seconds())
}

// standardTasks always get a depth series, even before a worker serves them.
var standardTasks = []string{taskComplete, taskChat, taskImageGenerate, taskCaption, taskSpeech, taskVideo}

type queueCollector struct {
	q   queue.Queue
	idx *modelIndex
}

var (
	depthDesc    = prometheus.NewDesc("loom_queue_depth", "Jobs queued and not yet leased, by task.", []string{"task"}, nil)
	workersDesc  = prometheus.NewDesc("loom_workers", "Live workers registered with the queue.", nil, nil)
	restartsDesc = prometheus.NewDesc("loom_plugin_restarts_total",
		"Plugin process restarts reported by live workers, by worker and plugin.", []string{"worker", "plugin"}, nil)
	queueUpDesc = prometheus.NewDesc("loom_queue_up", "1 when the queue answered the scrape.", nil, nil)
	// Per model: what an autoscaler scales a model's worker group on.
	laneDepthDesc = prometheus.NewDesc("loom_model_queue_depth",
		"Jobs queued for a model and not yet leased, by task and model.", []string{"task", "model"}, nil)
	laneAgeDesc = prometheus.NewDesc("loom_model_oldest_job_age_seconds",
		"How long the oldest queued job of a model has waited (0: none queued), by task and model.", []string{"task", "model"}, nil)
	modelWorkersDesc = prometheus.NewDesc("loom_model_workers",
		"Live workers serving a model (draining ones excluded), and of those how many have it loaded.", []string{"model", "state"}, nil)
)

func (qc *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- workersDesc
	ch <- restartsDesc
	ch <- queueUpDesc
	ch <- laneDepthDesc
	ch <- laneAgeDesc
	ch <- modelWorkersDesc
}

// pluginStats is what a worker may add beside each manifest it advertises.
type pluginStats struct {
	Name     string  `json:"name"`
	Restarts float64 `json:"restarts"`
}

func (qc *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ws, err := qc.q.Workers(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(queueUpDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(len(ws)))
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
					ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, s.Restarts, w.ID, s.Name)
				}
			}
		}
	}
	for t := range tasks {
		if d, err := qc.q.Depth(ctx, t); err == nil {
			ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(d), t)
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
		ch <- prometheus.MustNewConstMetric(laneDepthDesc, prometheus.GaugeValue, float64(l.Depth), l.Task, l.Model)
		ch <- prometheus.MustNewConstMetric(laneAgeDesc, prometheus.GaugeValue, l.Oldest.Seconds(), l.Task, l.Model)
		if _, ok := serving[l.Model]; !ok {
			serving[l.Model] = 0 // a model nobody serves: the series an autoscaler starts a worker on
		}
	}
	for m, n := range serving {
		ch <- prometheus.MustNewConstMetric(modelWorkersDesc, prometheus.GaugeValue, float64(n), m, "serving")
		ch <- prometheus.MustNewConstMetric(modelWorkersDesc, prometheus.GaugeValue, float64(loaded[m]), m, "loaded")
	}
}
