package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/loomhq/loom/gateway/prom"
	"github.com/loomhq/loom/plugins/host"
	"github.com/loomhq/loom/queue"
	"github.com/loomhq/loom/worker"
)

// workerFlags are the settings of the job-running side (serve and worker).
type workerFlags struct {
	plugins     string
	models      string
	concurrency int
	id          string
	grace       time.Duration
	maxMemory   byteSize
	poisonAfter int
	watch       bool
}

// byteSize is a flag of bytes: a number with an optional unit, 1024-based
// (KiB, MiB, GiB, TiB; K, M, G, T and KB, MB, GB, TB mean the same).
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(v string) error {
	s := strings.TrimSpace(v)
	num := strings.TrimRightFunc(s, func(r rune) bool { return r >= 'A' && r <= 'z' })
	unit := strings.ToUpper(strings.TrimSpace(s[len(num):]))
	shift := map[string]uint{"": 0, "B": 0, "K": 10, "KB": 10, "KIB": 10, "M": 20, "MB": 20, "MIB": 20,
		"G": 30, "GB": 30, "GIB": 30, "T": 40, "TB": 40, "TIB": 40}
	sh, ok := shift[unit]
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || err != nil || f < 0 || math.IsNaN(f) || f*float64(uint64(1)<<sh) > 1<<62 {
		return fmt.Errorf("%q is not a size like 512MiB, 6GiB or 1073741824", v)
	}
	*b = byteSize(f * float64(uint64(1)<<sh))
	return nil
}

func (wf *workerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&wf.plugins, "plugins", defaultPluginDir(), "directory holding the loom-plugin-* binaries")
	fs.StringVar(&wf.models, "models", modelDirsDefault(), "model directories, colon-separated (passed to plugins as LOOM_MODELS)")
	fs.IntVar(&wf.concurrency, "concurrency", 1, "jobs each plugin runs at once in this worker")
	fs.StringVar(&wf.id, "id", "", "worker id in leases and /v1/models (default host-pid-random)")
	fs.DurationVar(&wf.grace, "drain-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long running jobs may finish before they are handed back to the queue")
	fs.BoolVar(&wf.watch, "watch", false, "development: look in --plugins every 2s and start new plugin binaries (SIGHUP does that on demand)")
	fs.IntVar(&wf.poisonAfter, "poison-after", 3, "a job that crashes its plugin on this many attempts (or on its last one) fails with code poison instead of running again")
	fs.Var(&wf.maxMemory, "max-memory", "memory budget for the models loaded at once, e.g. 6GiB (by the plugins' estimates): models load on first use and the least recently used idle one is unloaded when the next would not fit; a larger model is not served; 0: no budget")
}

// jobRunner is a started plugin host and the worker consuming for it.
type jobRunner struct {
	host   *host.Host
	worker *worker.Worker
	done   chan error
}

// startWorker launches every plugin in --plugins and starts a worker on q.
// The worker drains when ctx ends; wait for it with stop.
// Its job outcomes are counted on reg (nil: not counted).
func startWorker(ctx context.Context, q queue.Queue, wf *workerFlags, lease time.Duration, reg *prom.Registry, logger *slog.Logger) (*jobRunner, error) {
	if wf.concurrency < 1 {
		return nil, usagef("--concurrency must be at least 1")
	}
	if wf.poisonAfter < 1 {
		return nil, usagef("--poison-after must be at least 1")
	}
	h, err := host.New(host.Config{
		Dir:       wf.plugins,
		ModelDirs: absDirs(wf.models),
		Logger:    logger,
	})
	if err != nil {
		return nil, err
	}
	if err := h.Start(ctx); err != nil {
		if len(h.Engines()) == 0 {
			h.Close()
			return nil, fmt.Errorf("start plugins from %s: %w", wf.plugins, err)
		}
		logger.Warn("some plugins did not start; serving the rest", "err", err)
	}
	w := worker.New(q, h.Engines(), worker.Config{
		ID:                 wf.id,
		DefaultConcurrency: wf.concurrency,
		LeaseDuration:      lease,
		ShutdownGrace:      wf.grace,
		Restarts:           h.RestartCount,
		MaxMemory:          int64(wf.maxMemory),
		PoisonAfter:        wf.poisonAfter,
		Logger:             logger,
		OnFinish:           workerMetrics(reg),
	})
	r := &jobRunner{host: h, worker: w, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	go rescanPlugins(ctx, h, w, wf, logger)
	return r, nil
}

// rescanPlugins starts the plugin binaries added to --plugins after start:
// on SIGHUP, and with --watch whenever the folder's listing changes. Running
// plugins are left alone; a new one that fails to start or clashes with a
// running one's model ids is logged and left out.
func rescanPlugins(ctx context.Context, h *host.Host, w *worker.Worker, wf *workerFlags, logger *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if wf.watch {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		tick = t.C
	}
	last := listing(wf.plugins)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			logger.Info("SIGHUP: looking for new plugins", "dir", wf.plugins)
		case <-tick:
			now := listing(wf.plugins)
			if now == last {
				continue
			}
			last = now
			logger.Info("plugins folder changed: looking for new plugins", "dir", wf.plugins)
		}
		added, err := h.Rescan(ctx)
		if err != nil {
			logger.Warn("plugins rescan: some new plugins were not started; the others serve", "err", err)
		}
		if len(added) == 0 {
			logger.Info("plugins rescan: no new plugin to start")
			continue
		}
		if err := w.AddEngines(ctx, added); err != nil {
			logger.Error("plugins rescan: the worker did not take the new plugins", "err", err)
			continue
		}
		names := make([]string, 0, len(added))
		for n := range added {
			names = append(names, n)
		}
		logger.Info("plugins rescan: serving new plugins", "plugins", strings.Join(names, ","))
	}
}

// listing is the plugin binaries of dir with their sizes and times, to see
// that it changed.
func listing(dir string) string {
	paths, _ := host.Discover(dir)
	var b strings.Builder
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, st.Size(), st.ModTime().UnixNano())
		}
	}
	return b.String()
}

// wait blocks until the worker has drained (ctx ended) or failed, then
// stops the plugin processes.
func (r *jobRunner) wait() error {
	err := <-r.done
	if cerr := r.host.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("stop plugins: %w", cerr)
	}
	return err
}

// workerMetrics counts every attempt the worker runs, whoever submitted it
// and whether or not a gateway waited on it: loom_worker_jobs_total{task,
// outcome} and loom_worker_job_run_seconds{task} (the plugin's run time).
func workerMetrics(reg *prom.Registry) func(task, outcome string, took time.Duration) {
	if reg == nil {
		return nil
	}
	jobs := reg.NewCounterVec("loom_worker_jobs_total",
		"Job attempts this worker ran, by task and outcome (succeeded, failed, retried, canceled, lease_lost, released, unsettled).",
		"task", "outcome")
	run := reg.NewHistogramVec("loom_worker_job_run_seconds", "Run time of job attempts on this worker.",
		prom.ExponentialBuckets(0.001, 2.5, 14), "task")
	return func(task, outcome string, took time.Duration) {
		jobs.Inc(task, outcome)
		run.Observe(took.Seconds(), task)
	}
}
