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
	setUsage(fs, stderr, "Usage: loom worker --redis URL [flags]\n\nLeases jobs from Redis and runs them on the plugin processes it starts\n(one per loom-plugin-* binary in --plugins). SIGINT/SIGTERM drains:\nno new jobs, running ones finish or go back to the queue.")
	s, err := openSession(fs, args, &qf, stderr, false)
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := startWorker(s.ctx, s.q, &wf, qf.lease, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "loom worker %s: consuming from redis\n", r.worker.ID())
	return r.wait()
}
