// Package gateway is Loom's HTTP front: the gin router with OpenAI-shaped
// endpoints per modality, the generic jobs API, SSE streaming, API keys and
// rate limits, and Prometheus metrics. It turns requests into queue jobs and
// learns which models exist from the manifests live workers advertise; it
// never links model code.
package gateway

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/gateway/prom"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
)

// Config holds the gateway's limits; zero values take the defaults.
type Config struct {
	MaxBodyBytes   int64         // default 32 MiB; larger bodies answer 413
	MaxPromptBytes int           // default 32 KiB per prompt / message text in total
	MaxTokens      int           // default 4096: the largest max_tokens accepted
	MaxImages      int           // default 4 (the vision plugin's limit): the largest n for image generation
	ImageSizes     []string      // accepted "WxH" sizes; default 64x64 … 512x512 squares (the vision plugin's native size and upscales); none given: native
	SyncTimeout    time.Duration // default 60s: how long a sync endpoint waits before answering 202
	ResultTTL      time.Duration // how long the queue keeps finished jobs (videos' expires_at); default the queue's, 24h
	StreamHold     time.Duration // default 30s: how long a stream waits for its job's first output before answering 200 (see holdStream)
	MaxAttempts    int           // per job; 0: the queue's default
	APIKeys        []string      // when set, /v1 requires "Authorization: Bearer KEY"; a job is its key's (another key gets 404)
	AdminKeys      []string      // API keys (accepted as such too) that see, follow and cancel every key's jobs
	URLSecret      string        // HMAC key of signed file URLs; default: derived from APIKeys, else random (see files.go)
	FileURLTTL     time.Duration // default 1h: how long a signed file URL opens
	PublicURL      string        // scheme://host[:port] for signed URLs; default: the request's
	RateLimit      float64       // requests per second per key (or client IP without keys); 0: none
	RateBurst      int           // bucket size; default max(1, 2*RateLimit)
	ModelsTTL      time.Duration // default 1s: how long the model index from Workers() is cached
	// WaitForWorker lets every request queue a job for a model that no live
	// worker serves, for up to this long (the job's deadline unless it has
	// one); 0 answers 503 model_unavailable with Retry-After at once. The
	// Loom-Wait-For-Worker header (seconds) overrides it per request.
	WaitForWorker time.Duration
	// KeyConcurrency caps the jobs each API key (each client IP without
	// keys) has queued or running, across every gateway of the fleet (the
	// count lives in the queue); more answer 429 concurrency_limited. 0: none.
	KeyConcurrency int
	// Connection timeouts against slow or stalled clients (slowloris):
	// HeaderTimeout for the request line and headers (default 10s),
	// BodyTimeout for the request body (default 60s; slower is 408),
	// WriteTimeout for a whole response (default BodyTimeout + SyncTimeout
	// + 30s; SSE streams are exempt, each of their writes gets
	// StreamWriteTimeout, default 30s, so a client that stops reading is
	// dropped), IdleTimeout for a keep-alive connection between requests
	// (default 60s). HTTPServer applies them.
	HeaderTimeout      time.Duration
	BodyTimeout        time.Duration
	WriteTimeout       time.Duration
	StreamWriteTimeout time.Duration
	IdleTimeout        time.Duration
	Logger             *slog.Logger // default: slog.Default()
	Now                func() time.Time
}

func (c Config) withDefaults() Config {
	// An admin key is an API key: everything that asks whether keys are
	// on, or whether a key is live, counts it.
	for _, k := range c.AdminKeys {
		if !slices.Contains(c.APIKeys, k) {
			c.APIKeys = append(slices.Clip(c.APIKeys), k)
		}
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.MaxPromptBytes <= 0 {
		c.MaxPromptBytes = 32 << 10
	}
	if c.MaxTokens <= 0 {
		c.MaxTokens = 4096
	}
	if c.MaxImages <= 0 {
		c.MaxImages = 4
	}
	if len(c.ImageSizes) == 0 {
		c.ImageSizes = []string{"64x64", "128x128", "256x256", "512x512"}
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = 60 * time.Second
	}
	if c.ResultTTL <= 0 {
		c.ResultTTL = queue.Options{}.WithDefaults().ResultTTL
	}
	if c.FileURLTTL <= 0 {
		c.FileURLTTL = time.Hour
	}
	if c.StreamHold <= 0 {
		c.StreamHold = 30 * time.Second
	}
	if c.RateBurst <= 0 {
		c.RateBurst = max(1, int(2*c.RateLimit))
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = 60 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = c.BodyTimeout + c.SyncTimeout + 30*time.Second
	}
	if c.StreamWriteTimeout <= 0 {
		c.StreamWriteTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	c.WaitForWorker = min(max(c.WaitForWorker, 0), maxWaitForWorker)
	if c.ModelsTTL <= 0 {
		c.ModelsTTL = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Server holds what the handlers need: the queue, the limits, the model
// index and the metrics. Handlers are its methods.
type Server struct {
	cfg     Config
	q       queue.Queue
	models  *modelIndex
	limiter *keyLimiter
	metrics *metrics
	reg     *prom.Registry
	engine  *gin.Engine
	urlKey  []byte // HMAC key of signed file URLs
}

// Option adjusts a Server beyond its Config.
type Option func(*Server)

// WithRegistry makes /metrics serve reg (with the gateway's collectors added)
// instead of a fresh registry, so a process can add its own metrics.
func WithRegistry(reg *prom.Registry) Option { return func(s *Server) { s.reg = reg } }

// New builds a gateway over q.
func New(cfg Config, q queue.Queue, opts ...Option) *Server {
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, q: q, urlKey: urlSecret(cfg)}
	for _, o := range opts {
		o(s)
	}
	if s.reg == nil {
		s.reg = prom.NewRegistry()
		prom.RegisterRuntime(s.reg)
	}
	s.models = newModelIndex(q, cfg.ModelsTTL, cfg.Now)
	s.limiter = newKeyLimiter(cfg.RateLimit, cfg.RateBurst, cfg.Now)
	s.metrics = newMetrics(s.reg, q, s.models)
	s.engine = s.routes()
	return s
}

// Handler is the HTTP handler serving every endpoint.
func (s *Server) Handler() http.Handler { return s.engine }

// HTTPServer is an http.Server for Handler with the configured connection
// timeouts; errorLog may be nil. Serve it with Serve(listener).
func (s *Server) HTTPServer(errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		// No ReadTimeout: it would also end long sync waits and streams
		// (net/http cancels a request whose connection read times out);
		// bodyDeadline bounds the body read alone.
		WriteTimeout: s.cfg.WriteTimeout,
		IdleTimeout:  s.cfg.IdleTimeout,
		ErrorLog:     errorLog,
	}
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(s.requestLog, gin.CustomRecoveryWithWriter(io.Discard, s.recovered), s.metrics.middleware, s.errorMiddleware, s.bodyDeadline, s.bodyLimit)
	r.NoRoute(func(c *gin.Context) {
		_ = c.Error(apiErrorf(http.StatusNotFound, sdk.CodeNotFound, "no route for %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		_ = c.Error(apiErrorf(http.StatusMethodNotAllowed, sdk.CodeMethodNotAllowed, "%s not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(prom.Handler(s.reg)))

	s.registerFiles(r)
	s.registerPlayground(r)
	v1 := r.Group("/v1", s.auth, s.waitForWorker)
	v1.GET("/models", s.listModels)
	v1.GET("/models/:id", s.getModel)
	s.registerText(v1)
	s.registerEmbeddings(v1)
	s.registerResponses(v1)
	s.registerImages(v1)
	s.registerAudio(v1)
	s.registerVideo(v1)
	s.registerJobs(v1)
	return r
}

// bodyDeadline gives reading the request body BodyTimeout: a client that
// declares a body and trickles it (or never sends it) gets 408 instead of
// holding a connection and a goroutine forever. Once the body has been read
// (or failed) the deadline is lifted, so the wait for a job and a stream are
// not bounded by it. Requests without a body have nothing to read.
func (s *Server) bodyDeadline(c *gin.Context) {
	if c.Request.Body == nil || c.Request.Body == http.NoBody || c.Request.ContentLength == 0 {
		c.Next()
		return
	}
	rc := http.NewResponseController(c.Writer)
	if err := rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)); err != nil {
		c.Next() // a writer without deadlines (tests' recorders)
		return
	}
	c.Request.Body = &deadlineBody{ReadCloser: c.Request.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }}
	c.Next()
}

// deadlineBody lifts the read deadline once the whole body is read. After
// a failed read it stays: net/http would otherwise wait, with no deadline,
// to discard the rest of a trickled body before answering.
type deadlineBody struct {
	io.ReadCloser
	lift func()
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.lift()
	}
	return n, err
}

// bodyLimit caps every request body; a decoder hitting the cap gets an
// *http.MaxBytesError, which the error middleware answers with 413.
func (s *Server) bodyLimit(c *gin.Context) {
	if c.Request.ContentLength > s.cfg.MaxBodyBytes {
		_ = c.Error(apiErrorf(http.StatusRequestEntityTooLarge, sdk.CodeRequestTooLarge, "request body larger than %d bytes", s.cfg.MaxBodyBytes))
		c.Abort()
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	c.Next()
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz answers 200 when the queue answers and at least one worker is live.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	ws, err := s.q.Workers(ctx)
	if err != nil {
		s.log(c).Warn("readyz: queue unreachable", "err", err)
		_ = c.Error(apiErrorf(http.StatusServiceUnavailable, sdk.CodeQueueUnavailable, "queue unreachable"))
		return
	}
	if len(ws) == 0 {
		_ = c.Error(apiErrorf(http.StatusServiceUnavailable, sdk.CodeNoWorkers, "no worker registered"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "workers": len(ws)})
}
