package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/loomhq/loom/gateway"
	"github.com/loomhq/loom/queue"
)

// envName is the LOOM_* variable that sets flag name ("max-attempts" →
// LOOM_MAX_ATTEMPTS).
func envName(flagName string) string {
	return "LOOM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// bindEnv lets every flag of fs also come from its LOOM_* variable (the
// command line wins) and names that variable in --help.
func bindEnv(fs *flag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		f.Usage += " [$" + env + "]"
		if v, ok := os.LookupEnv(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// parseServeFlags binds env vars, then parses args.
func parseServeFlags(fs *flag.FlagSet, args []string) error {
	if err := bindEnv(fs); err != nil {
		return usagef("%v", err)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return nil
}

// queueFlags are the queue options shared by serve, gateway and worker.
type queueFlags struct {
	redis          string
	lease          time.Duration
	maxAttempts    int
	maxDepth       int
	resultTTL      time.Duration
	maxResults     int
	maxResultBytes int64
	spillDir       string
}

func (qf *queueFlags) register(fs *flag.FlagSet, redisHelp string) {
	fs.StringVar(&qf.redis, "redis", "", redisHelp)
	fs.DurationVar(&qf.lease, "lease", 30*time.Second, "lease duration: a worker silent this long loses its job to another")
	fs.IntVar(&qf.maxAttempts, "max-attempts", 3, "attempts per job before it fails for good (dead-letter)")
	fs.IntVar(&qf.maxDepth, "max-depth", 1000, "queued jobs per task before new ones answer 429")
	fs.DurationVar(&qf.resultTTL, "result-ttl", 24*time.Hour, "how long finished jobs, their results and events are kept")
	fs.IntVar(&qf.maxResults, "max-results", 10_000, "in-process queue: finished jobs kept at most (the oldest go first)")
	fs.Int64Var(&qf.maxResultBytes, "max-result-bytes", 64<<20, "in-process queue: bytes of finished jobs' events and results kept in memory at most (the oldest go first)")
	fs.StringVar(&qf.spillDir, "spill-dir", "", "in-process queue: folder for artifacts of 256 KiB or more (at most 1 GiB of them); empty: a temporary folder removed at exit")
}

func (qf *queueFlags) options() queue.Options {
	return queue.Options{LeaseDuration: qf.lease, MaxAttempts: qf.maxAttempts, MaxDepth: qf.maxDepth, ResultTTL: qf.resultTTL,
		MaxFinished: qf.maxResults, MaxFinishedBytes: qf.maxResultBytes, SpillDir: qf.spillDir}
}

// open connects to Redis, or builds the in-process queue when no URL is set
// and memoryOK.
func (qf *queueFlags) open(ctx context.Context, memoryOK bool) (queue.Queue, string, error) {
	if qf.redis == "" {
		if !memoryOK {
			return nil, "", usagef("--redis URL (or LOOM_REDIS) is required")
		}
		return queue.NewMemory(qf.options()), "memory", nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	q, err := queue.NewRedis(cctx, qf.redis, qf.options())
	if err != nil {
		return nil, "", fmt.Errorf("connect to redis: %w", err)
	}
	return q, "redis", nil
}

// gatewayFlags are the HTTP side's settings.
type gatewayFlags struct {
	addr        string
	apiKeys     string
	adminKeys   string
	rateLimit   float64
	rateBurst   int
	syncTimeout time.Duration
	maxBody     int64
	waitWorker  time.Duration
	keyConc     int
	bodyTimeout time.Duration
	idleTimeout time.Duration
	urlSecret   string
	urlTTL      time.Duration
	publicURL   string
}

func (gf *gatewayFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&gf.addr, "addr", ":8080", "HTTP listen address")
	fs.StringVar(&gf.apiKeys, "api-keys", "", "comma-separated API keys; when set, /v1 requires Authorization: Bearer KEY, and a job is seen and canceled only with the key that made it")
	fs.StringVar(&gf.adminKeys, "admin-keys", "", "comma-separated admin API keys: accepted as API keys, and they see, follow and cancel every key's jobs (GET /v1/videos?owner=KEY_ID lists another key's videos)")
	fs.Float64Var(&gf.rateLimit, "rate-limit", 0, "requests per second per API key (per client IP without keys); 0: unlimited")
	fs.IntVar(&gf.rateBurst, "rate-burst", 0, "token bucket size for --rate-limit (default 2× the rate)")
	fs.DurationVar(&gf.syncTimeout, "sync-timeout", 60*time.Second, "how long sync endpoints wait for a job before answering 202 with its id")
	fs.Int64Var(&gf.maxBody, "max-body", 32<<20, "largest request body in bytes (413 beyond)")
	fs.DurationVar(&gf.bodyTimeout, "body-timeout", 60*time.Second, "how long a request body may take to arrive (408 beyond); a whole response may take this + --sync-timeout + 30s, except SSE streams")
	fs.DurationVar(&gf.idleTimeout, "idle-timeout", 60*time.Second, "how long an idle keep-alive connection stays open")
	fs.IntVar(&gf.keyConc, "key-concurrency", 0, "jobs each API key (each client IP without keys) may have queued or running across the whole fleet (counted in the queue); more answer 429 concurrency_limited; 0: unlimited")
	fs.StringVar(&gf.urlSecret, "url-secret", "", "HMAC secret of signed file URLs (response_format=url); default: derived from --api-keys, else random per process (give every gateway of a fleet the same one)")
	fs.DurationVar(&gf.urlTTL, "url-ttl", time.Hour, "how long a signed file URL opens")
	fs.StringVar(&gf.publicURL, "public-url", "", "scheme://host[:port] that signed file URLs start with (default: the request's own)")
	fs.DurationVar(&gf.waitWorker, "wait-for-worker", 0, "queue a job for a model no live worker serves for up to this long (its deadline) instead of answering 503 model_unavailable at once; the Loom-Wait-For-Worker header (seconds) sets it per request")
}

// splitKeys reads a comma-separated key list.
func splitKeys(list string) []string {
	var keys []string
	for _, k := range strings.Split(list, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

func (gf *gatewayFlags) config(maxAttempts int, logger *slog.Logger) gateway.Config {
	return gateway.Config{APIKeys: splitKeys(gf.apiKeys), AdminKeys: splitKeys(gf.adminKeys), RateLimit: gf.rateLimit, RateBurst: gf.rateBurst, SyncTimeout: gf.syncTimeout,
		MaxBodyBytes: gf.maxBody, MaxAttempts: maxAttempts, WaitForWorker: gf.waitWorker,
		KeyConcurrency: gf.keyConc, BodyTimeout: gf.bodyTimeout, IdleTimeout: gf.idleTimeout,
		URLSecret: gf.urlSecret, FileURLTTL: gf.urlTTL, PublicURL: gf.publicURL, Logger: logger}
}

// signalContext is cancelled by the first SIGINT or SIGTERM; a second one
// exits at once (the operator means it).
func signalContext(logger *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		logger.Info("draining: no new work; running jobs and requests may finish (send the signal again to exit now)", "signal", sig.String())
		cancel()
		<-ch
		logger.Warn("second signal: exiting without drain")
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// serveHTTP runs srv on addr until ctx ends, then shuts down gracefully:
// in-flight requests (sync waits, streams) get up to drain to finish.
func serveHTTP(ctx context.Context, addr string, srv *http.Server, drain time.Duration, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// setUsage makes --help print text, the env-var note and the flags.
func setUsage(fs *flag.FlagSet, stderr io.Writer, text string) {
	fs.Usage = func() {
		fmt.Fprintln(stderr, text+"\nEvery flag can also be set by the LOOM_* variable named beside it.\n\nFlags:")
		fs.PrintDefaults()
	}
}

// serveSession is what serve, gateway and worker share once flags are
// parsed: a context cancelled by SIGINT/SIGTERM, the logger and the queue.
type serveSession struct {
	ctx     context.Context
	stop    context.CancelFunc
	logger  *slog.Logger
	q       queue.Queue
	backend string
}

func openSession(fs *flag.FlagSet, args []string, qf *queueFlags, lf *logFlags, stderr io.Writer, memoryOK bool) (*serveSession, error) {
	if err := parseServeFlags(fs, args); err != nil {
		return nil, err
	}
	logger, err := lf.logger(stderr)
	if err != nil {
		return nil, err
	}
	slog.SetDefault(logger)
	ctx, stop := signalContext(logger)
	q, backend, err := qf.open(ctx, memoryOK)
	if err != nil {
		stop()
		return nil, err
	}
	return &serveSession{ctx: ctx, stop: stop, logger: logger, q: q, backend: backend}, nil
}

func (s *serveSession) Close() {
	s.q.Close()
	s.stop()
}
