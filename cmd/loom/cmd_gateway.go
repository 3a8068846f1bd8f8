package main

import (
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/loomhq/loom/gateway"
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
	var lf logFlags
	lf.register(fs)
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long in-flight requests may finish")
	setUsage(fs, stderr, "Usage: loom gateway --redis URL [flags]\n\nServes the HTTP API; workers (loom worker --redis URL) run the jobs.")
	s, err := openSession(fs, args, &qf, &lf, stderr, false)
	if err != nil {
		return err
	}
	defer s.Close()
	srv := gateway.New(gf.config(qf.maxAttempts, s.logger), s.q)
	return serveHTTP(s.ctx, gf.addr, srv.HTTPServer(slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn)), *drain, func(a net.Addr) {
		s.logger.Info("loom gateway: listening", "addr", a.String(), "queue", "redis")
	})
}
