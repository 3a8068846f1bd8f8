package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"

	"github.com/loomhq/loom/gateway"
	"github.com/loomhq/loom/gateway/prom"
)

func init() {
	register(command{
		Name:    "serve",
		Summary: "all in one: HTTP gateway + worker + in-process queue (or --redis URL)",
		Run:     runServe,
	})
}

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var qf queueFlags
	var gf gatewayFlags
	var wf workerFlags
	qf.register(fs, "Redis URL (e.g. redis://127.0.0.1:6379/0); empty: an in-process queue")
	gf.register(fs)
	wf.register(fs)
	var lf logFlags
	lf.register(fs)
	setUsage(fs, stderr, "Usage: loom serve [flags]\n\nServes the HTTP API and runs the jobs in one process: a gateway, a worker\nwith every loom-plugin-* in --plugins, and an in-process queue (or Redis\nwith --redis, so more loom worker processes can join). SIGINT/SIGTERM\ndrains: HTTP stops accepting, running jobs finish (up to --drain-timeout).")
	s, err := openSession(fs, args, &qf, &lf, stderr, true)
	if err != nil {
		return err
	}
	defer s.Close()

	// The worker outlives the HTTP server by its drain, so jobs that sync
	// requests wait on can still finish; it stops when workCtx ends.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(s.ctx))
	defer stopWork()
	// One registry: the gateway's /metrics shows the worker's job counts too.
	reg := prom.NewRegistry()
	r, err := startWorker(workCtx, s.q, &wf, qf.lease, reg, s.logger)
	if err != nil {
		return err
	}
	srv := gateway.New(gf.config(qf.maxAttempts, s.logger), s.q, gateway.WithRegistry(reg))
	httpErr := serveHTTP(s.ctx, gf.addr, srv.HTTPServer(slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn)), wf.grace, func(a net.Addr) {
		s.logger.Info("loom serve: listening", "addr", a.String(), "queue", s.backend, "worker", r.worker.ID(), "plugins", wf.plugins)
	})
	stopWork()
	return errors.Join(httpErr, r.wait())
}
