package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"

	"loom/gateway"
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom serve [flags]\n\nServes the HTTP API and runs the jobs in one process: a gateway, a worker\nwith every loom-plugin-* in --plugins, and an in-process queue (or Redis\nwith --redis, so more loom worker processes can join). SIGINT/SIGTERM\ndrains: HTTP stops accepting, running jobs finish (up to --drain-timeout).\nEvery flag can also be set by the LOOM_* variable named beside it.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseServeFlags(fs, args); err != nil {
		return err
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	logger := log.New(stderr, "", log.LstdFlags)
	q, backend, err := qf.open(ctx, true)
	if err != nil {
		return err
	}
	defer q.Close()

	// The worker outlives the HTTP server by its drain, so jobs that sync
	// requests wait on can still finish; it stops when workCtx ends.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	r, err := startWorker(workCtx, q, &wf, qf.lease, stderr)
	if err != nil {
		return err
	}
	srv := gateway.New(gf.config(qf.maxAttempts, logger), q)
	httpErr := serveHTTP(ctx, gf.addr, srv.Handler(), wf.grace, logger, func(a net.Addr) {
		logger.Printf("loom serve: listening on %s (queue: %s, worker %s, plugins from %s)", a, backend, r.worker.ID(), wf.plugins)
	})
	stopWork()
	return errors.Join(httpErr, r.wait())
}
