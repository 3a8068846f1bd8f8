package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/loomhq/loom/gateway/prom"
)

func init() {
	register(command{
		Name:    "worker",
		Summary: "run jobs from Redis on the plugins in --plugins (scale out beside loom gateway)",
		Run:     runWorker,
	})
}

func runWorker(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("worker", stderr)
	var qf queueFlags
	var wf workerFlags
	qf.register(fs, "Redis URL, e.g. redis://127.0.0.1:6379/0 (required)")
	wf.register(fs)
	var lf logFlags
	lf.register(fs)
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus /metrics (job outcomes, run times), /healthz and /readyz (200 while serving a model and not draining) on this address, e.g. :9090; empty: off")
	setUsage(fs, stderr, "Usage: loom worker --redis URL [flags]\n\nLeases jobs from Redis and runs them on the plugin processes it starts\n(one per loom-plugin-* binary in --plugins). SIGINT/SIGTERM drains:\nno new jobs, running ones finish or go back to the queue.")
	s, err := openSession(fs, args, &qf, &lf, stderr, false)
	if err != nil {
		return err
	}
	defer s.Close()
	reg := prom.NewRegistry()
	r, err := startWorker(s.ctx, s.q, &wf, qf.lease, reg, s.logger)
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", prom.Handler(reg))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !r.worker.Serving() {
				http.Error(w, "not serving: starting, draining or no model ready", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ready")
		})
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go msrv.Serve(ln)
		defer msrv.Close()
		s.logger.Info("loom worker: metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	s.logger.Info("loom worker: consuming from redis", "worker", r.worker.ID())
	return r.wait()
}
