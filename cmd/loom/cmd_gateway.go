package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"loom/gateway"
)

func init() {
	register(command{
		Name:    "gateway",
		Summary: "HTTP gateway only: enqueue to Redis, answer from results (scale out with loom worker)",
		Run:     runGateway,
	})
}

func runGateway(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gateway", stderr)
	var qf queueFlags
	var gf gatewayFlags
	qf.register(fs, "Redis URL, e.g. redis://127.0.0.1:6379/0 (required)")
	gf.register(fs)
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long in-flight requests may finish")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom gateway --redis URL [flags]\n\nServes the HTTP API; workers (loom worker --redis URL) run the jobs.\nEvery flag can also be set by the LOOM_* variable named beside it.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseServeFlags(fs, args); err != nil {
		return err
	}
	ctx, stop := signalContext(stderr)
	defer stop()
	logger := log.New(stderr, "", log.LstdFlags)
	q, _, err := qf.open(ctx, false)
	if err != nil {
		return err
	}
	defer q.Close()
	srv := gateway.New(gf.config(qf.maxAttempts, logger), q)
	return serveHTTP(ctx, gf.addr, srv.Handler(), *drain, logger, func(a net.Addr) {
		logger.Printf("loom gateway: listening on %s (queue: redis)", a)
	})
}
