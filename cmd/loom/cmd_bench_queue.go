package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/loomhq/loom/plugins/host"
	"github.com/loomhq/loom/queue"
	"github.com/loomhq/loom/worker"
)

func init() {
	register(command{
		Name:    "bench queue",
		Summary: "enqueue→result latency and throughput of empty echo jobs through a real plugin process",
		Run:     runBenchQueue,
	})
}

// benchQueueResult is the --json line (docs/BENCHMARKS.md, "Queue").
type benchQueueResult struct {
	Op          string  `json:"op"`
	Backend     string  `json:"backend"`
	Jobs        int     `json:"jobs"`
	Concurrency int     `json:"concurrency"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	JobsPerS    float64 `json:"jobs_per_s"`
}

func runBenchQueue(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench queue", stderr)
	redisURL := fs.String("redis", "", "Redis URL; empty: the in-process queue")
	jobs := fs.Int("jobs", 2000, "measured jobs")
	conc := fs.Int("concurrency", 8, "clients in flight, and the worker's echo concurrency")
	warmup := fs.Int("warmup", 100, "jobs run first and not measured")
	pluginDir := fs.String("plugins", filepath.Join(defaultPluginDir(), "examples"), "directory holding loom-plugin-echo (make build puts it in bin/examples)")
	asJSON := fs.Bool("json", false, "print one JSON line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *jobs < 1 || *conc < 1 || *warmup < 0 {
		return usagef("--jobs and --concurrency must be positive, --warmup not negative")
	}
	bin := filepath.Join(*pluginDir, host.BinaryPrefix+"echo")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s missing: go build -o %s ./examples/echo (or pass --plugins DIR)", bin, bin)
	}
	ctx, stop := signalContext(quietLogger(stderr))
	defer stop()

	opts := queue.Options{MaxDepth: max(1000, 2**conc), Prefix: fmt.Sprintf("loombench:%d:", time.Now().UnixNano())}
	var q queue.Queue = queue.NewMemory(opts)
	backend := "memory"
	if *redisURL != "" {
		q.Close()
		rq, err := queue.NewRedis(ctx, *redisURL, opts)
		if err != nil {
			return fmt.Errorf("connect to redis: %w", err)
		}
		q, backend = rq, "redis"
	}
	defer q.Close()

	h, err := host.New(host.Config{Binaries: []string{bin},
		Logger: quietLogger(stderr)})
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.Start(ctx); err != nil {
		return err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	w := worker.New(q, h.Engines(), worker.Config{DefaultConcurrency: *conc,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(wctx) }()
	defer func() { stopWorker(); <-wdone }()

	params := json.RawMessage(`{"text":"x","no_artifact":true}`)
	// one runs a job and returns its enqueue→terminal-event latency.
	one := func() (time.Duration, error) {
		t0 := time.Now()
		st, _, err := q.Enqueue(ctx, queue.Job{Task: "echo.upper", Model: "echo", Params: params})
		if err != nil {
			return 0, err
		}
		var after int64
		for {
			evs, err := q.Events(ctx, st.Job.ID, after, 10*time.Second)
			if err != nil {
				return 0, err
			}
			if len(evs) == 0 {
				return 0, fmt.Errorf("job %s: no event for 10s", st.Job.ID)
			}
			for _, e := range evs {
				after = e.Seq
				switch e.Type {
				case queue.EventResult:
					return time.Since(t0), nil
				case queue.EventError, queue.EventCanceled:
					return 0, fmt.Errorf("job %s ended with %s: %s", st.Job.ID, e.Type, e.Data)
				}
			}
		}
	}
	run := func(n int, lat []time.Duration) (time.Duration, error) {
		start := time.Now()
		err := eachConcurrent(ctx, n, *conc, func(i int) error {
			d, err := one()
			if err == nil && lat != nil {
				lat[i] = d
			}
			return err
		})
		return time.Since(start), err
	}
	if _, err := run(*warmup, nil); err != nil {
		return fmt.Errorf("warmup: %w", err)
	}
	lat := make([]time.Duration, *jobs)
	elapsed, err := run(*jobs, lat)
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	slices.Sort(lat)
	res := benchQueueResult{Op: "queue", Backend: backend, Jobs: *jobs, Concurrency: *conc,
		P50ms: ms(percentile(lat, 0.50)), P99ms: ms(percentile(lat, 0.99)),
		JobsPerS: float64(*jobs) / elapsed.Seconds()}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "queue (%s): %d empty echo jobs, concurrency %d: p50 %.2f ms, p99 %.2f ms, %.0f jobs/s\n",
		res.Backend, res.Jobs, res.Concurrency, res.P50ms, res.P99ms, res.JobsPerS)
	return nil
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
