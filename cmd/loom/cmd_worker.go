package main

import (
	"fmt"
	"io"
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom worker --redis URL [flags]\n\nLeases jobs from Redis and runs them on the plugin processes it starts\n(one per loom-plugin-* binary in --plugins). SIGINT/SIGTERM drains:\nno new jobs, running ones finish or go back to the queue.\nEvery flag can also be set by the LOOM_* variable named beside it.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseServeFlags(fs, args); err != nil {
		return err
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	q, _, err := qf.open(ctx, false)
	if err != nil {
		return err
	}
	defer q.Close()
	r, err := startWorker(ctx, q, &wf, qf.lease, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "loom worker %s: consuming from redis\n", r.worker.ID())
	return r.wait()
}
