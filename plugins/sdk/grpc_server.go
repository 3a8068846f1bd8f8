package sdk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/loomhq/loom/plugins/sdk/proto/loom/plugin/v1"
)

// Server adapts an Engine to the loom.plugin.v1 Plugin service. It runs in
// the plugin process; Serve wires it up, tests may register it directly.
//
// It enforces the Run contract at the boundary so the host can rely on it:
// a run ends with exactly one result or exactly one error event, events
// after the result are refused, artifacts are cut into ArtifactChunkBytes
// pieces, and a panic in the engine becomes an "internal" error event
// instead of killing the process with jobs of other callers in flight.
type Server struct {
	pluginv1.UnimplementedPluginServer
	engine Engine
}

// NewServer returns the gRPC service for engine.
func NewServer(engine Engine) *Server { return &Server{engine: engine} }

// Describe implements pluginv1.PluginServer.
func (s *Server) Describe(ctx context.Context, _ *pluginv1.DescribeRequest) (resp *pluginv1.DescribeResponse, _ error) {
	defer func() {
		if r := recover(); r != nil {
			resp = &pluginv1.DescribeResponse{Error: errorToProto(PanicError(r, "describe"))}
		}
	}()
	m, err := s.engine.Describe(ctx)
	if err != nil {
		return &pluginv1.DescribeResponse{Error: errorToProto(asError(err))}, nil
	}
	return &pluginv1.DescribeResponse{Manifest: manifestToProto(m)}, nil
}

// Health implements pluginv1.PluginServer.
func (s *Server) Health(ctx context.Context, _ *pluginv1.HealthRequest) (*pluginv1.HealthResponse, error) {
	if hc, ok := s.engine.(HealthChecker); ok {
		if err := hc.Health(ctx); err != nil {
			return &pluginv1.HealthResponse{Ok: false, Detail: err.Error()}, nil
		}
	}
	return &pluginv1.HealthResponse{Ok: true, Detail: "ok"}, nil
}

// Unload implements pluginv1.PluginServer: UNIMPLEMENTED unless the
// engine is an Unloader.
func (s *Server) Unload(ctx context.Context, req *pluginv1.UnloadRequest) (*pluginv1.UnloadResponse, error) {
	u, ok := s.engine.(Unloader)
	if !ok {
		return nil, status.Error(codes.Unimplemented, ErrUnloadUnsupported.Error())
	}
	if err := u.Unload(ctx, req.GetModel()); err != nil {
		return &pluginv1.UnloadResponse{Error: errorToProto(asError(err))}, nil
	}
	return &pluginv1.UnloadResponse{}, nil
}

// Run implements pluginv1.PluginServer.
func (s *Server) Run(req *pluginv1.RunRequest, stream pluginv1.Plugin_RunServer) error {
	callCtx := stream.Context()
	job := jobFromProto(req)
	var (
		ctx    context.Context
		cancel context.CancelFunc
	)
	if job.Deadline.IsZero() {
		ctx, cancel = context.WithCancel(callCtx)
	} else {
		ctx, cancel = context.WithDeadline(callCtx, job.Deadline)
	}
	defer cancel()

	var (
		mu         sync.Mutex // engines may emit from several goroutines
		resultSent bool
		returned   bool // Run has returned: a stray goroutine must not Send
	)
	emit := func(ev Event) error {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			return fmt.Errorf("plugins: emit after Run returned")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if resultSent {
			return fmt.Errorf("plugins: event of kind %d after the result", ev.Kind)
		}
		if err := sendEvent(stream, ev); err != nil {
			return err
		}
		if ev.Kind == EventResult {
			resultSent = true
		}
		return nil
	}

	err := RunGuarded(ctx, s.engine, job, emit)
	mu.Lock()
	defer mu.Unlock()
	returned = true
	if err == nil && !resultSent {
		err = Errorf(CodeInternal, "plugin returned from %s without a result", job.Task)
	}
	if err == nil {
		return nil
	}
	if cerr := callCtx.Err(); cerr != nil {
		// The host went away or cancelled: nobody reads an error event.
		return status.FromContextError(cerr).Err()
	}
	e := asError(err)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		e = Errorf(CodeTimeout, "job %s passed its deadline %s", job.ID, job.Deadline.Format("2006-01-02T15:04:05.000Z07:00"))
	}
	return stream.Send(&pluginv1.RunEvent{Event: &pluginv1.RunEvent_Error{Error: errorToProto(e)}})
}

// RunGuarded calls engine.Run, turning a panic into an "internal" *Error
// (see PanicError). The gRPC server adapter, the worker's in-process
// engines and plugintest all run engines through it.
func RunGuarded(ctx context.Context, engine Engine, job Job, emit func(Event) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = PanicError(r, "job "+job.ID)
		}
	}()
	return engine.Run(ctx, job, emit)
}

// PanicError is what a recovered panic becomes: an "internal" error whose
// message is short — the panic value (cut to 200 bytes) and an error id —
// because it reaches the HTTP client, while the goroutine stack, with its
// build paths, is logged (slog's default logger: in a plugin process the
// host's log) under the same error id. Call it inside the deferred recover,
// so the stack is the panicking goroutine's.
func PanicError(r any, during string) *Error {
	id := NewErrorID()
	val := fmt.Sprint(r)
	slog.Error("panic: "+during+" failed with an internal error", "error_id", id, "panic", val, "stack", string(debug.Stack()))
	if len(val) > 200 {
		val = strings.ToValidUTF8(val[:200], "") + "…"
	}
	return Errorf(CodeInternal, "plugin panic: %s (error id %s; the server log has the stack)", val, id)
}

// NewErrorID returns a short random id that ties what a client is told to
// the server's log line with the details.
func NewErrorID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// asError gives any error a code: *Error keeps its own, everything else is
// "internal" with its text.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// sendEvent writes one contract event as one or more wire events.
func sendEvent(stream pluginv1.Plugin_RunServer, ev Event) error {
	var pe pluginv1.RunEvent
	switch ev.Kind {
	case EventProgress:
		pe.Event = &pluginv1.RunEvent_Progress{Progress: &pluginv1.Progress{Step: int64(ev.Step), Total: int64(ev.Total)}}
	case EventDelta:
		// proto3 strings must be valid UTF-8 or the stream fails to
		// marshal and the job dies; a model may sample bytes that never
		// form UTF-8 (sample.Stream repairs its own, this is the backstop).
		pe.Event = &pluginv1.RunEvent_TextDelta{TextDelta: strings.ToValidUTF8(ev.Text, "\uFFFD")}
		pe.Choice = int64(ev.Choice)
	case EventPreview:
		pe.Event = &pluginv1.RunEvent_Preview{Preview: &pluginv1.Preview{Mime: ev.MIME, Data: ev.Data}}
	case EventResult:
		if len(ev.Result) == 0 {
			return fmt.Errorf("plugins: result event without JSON")
		}
		pe.Event = &pluginv1.RunEvent_Result{Result: &pluginv1.Result{Json: ev.Result}}
	case EventArtifact:
		if ev.Name == "" {
			return fmt.Errorf("plugins: artifact event without a name")
		}
		for _, c := range chunkArtifact(ev.Name, ev.MIME, ev.Data, ArtifactChunkBytes) {
			if err := stream.Send(&pluginv1.RunEvent{Event: &pluginv1.RunEvent_ArtifactChunk{ArtifactChunk: c}}); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("plugins: unknown event kind %d", ev.Kind)
	}
	return stream.Send(&pe)
}

// chunkArtifact cuts data into pieces of at most size bytes; the last piece
// is marked. An empty artifact is one empty, last piece. The pieces alias data.
func chunkArtifact(name, mime string, data []byte, size int) []*pluginv1.ArtifactChunk {
	n := (len(data) + size - 1) / size
	if n == 0 {
		n = 1
	}
	chunks := make([]*pluginv1.ArtifactChunk, 0, n)
	for i := 0; i < n; i++ {
		lo, hi := i*size, min((i+1)*size, len(data))
		chunks = append(chunks, &pluginv1.ArtifactChunk{Name: name, Mime: mime, Data: data[lo:hi], Last: i == n-1})
	}
	return chunks
}
