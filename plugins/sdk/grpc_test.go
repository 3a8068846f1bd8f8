package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pluginv1 "github.com/loomhq/loom/plugins/sdk/proto/loom/plugin/v1"
)

// fakeEngine runs whatever its run func says.
type fakeEngine struct {
	describe func(context.Context) (Manifest, error)
	run      func(context.Context, Job, func(Event) error) error
	health   func(context.Context) error
}

func (f *fakeEngine) Describe(ctx context.Context) (Manifest, error) { return f.describe(ctx) }
func (f *fakeEngine) Run(ctx context.Context, j Job, emit func(Event) error) error {
	return f.run(ctx, j, emit)
}
func (f *fakeEngine) Health(ctx context.Context) error {
	if f.health == nil {
		return nil
	}
	return f.health(ctx)
}

// connect serves e over an in-memory connection with the same options the
// real host and plugin use, and returns the host-side Client.
func connect(t *testing.T, e Engine) *Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(GRPCServerOptions()...)
	pluginv1.RegisterPluginServer(srv, NewServer(e))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	opts := append(GRPCDialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	cc, err := grpc.NewClient("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return NewClient(pluginv1.NewPluginClient(cc))
}

func runAll(c *Client, j Job) ([]Event, error) {
	var evs []Event
	err := c.Run(context.Background(), j, func(ev Event) error { evs = append(evs, ev); return nil })
	return evs, err
}

func result(emit func(Event) error) error {
	return emit(Event{Kind: EventResult, Result: json.RawMessage(`{"ok":true}`)})
}

func TestDescribeRoundTrip(t *testing.T) {
	want := Manifest{Name: "x", Version: "1", Tasks: []string{"a.b"}, Models: []ModelInfo{
		{ID: "m", Tasks: []string{"a.b"}, Description: "d", Params: json.RawMessage(`{"type":"object"}`), Ready: true,
			MemoryBytes: 123 << 20, Loaded: true},
		{ID: "n", Tasks: []string{"a.b"}, Missing: "weights"},
	}}
	c := connect(t, &fakeEngine{describe: func(context.Context) (Manifest, error) { return want, nil }})
	got, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("Describe = %s, want %s", gj, wj)
	}

	c = connect(t, &fakeEngine{describe: func(context.Context) (Manifest, error) {
		return Manifest{}, Errorf(CodeModelUnavailable, "no disk")
	}})
	if _, err := c.Describe(context.Background()); !IsCode(err, CodeModelUnavailable) || !strings.Contains(err.Error(), "no disk") {
		t.Fatalf("Describe error = %v", err)
	}
}

func TestJobFieldsCross(t *testing.T) {
	deadline := time.Now().Add(time.Hour).Round(0)
	want := Job{ID: "j", Task: "t", Model: "m", Params: json.RawMessage(`{"a":1}`), Seed: -7, Attempt: 3, Deadline: deadline,
		Inputs: []Blob{{Name: "img", MIME: "image/png", Data: []byte{1, 2, 3}}, {Name: "empty", MIME: "text/plain"}}}
	var got Job
	c := connect(t, &fakeEngine{run: func(_ context.Context, j Job, emit func(Event) error) error {
		got = j
		return result(emit)
	}})
	if _, err := runAll(c, want); err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Task != want.Task || got.Model != want.Model || string(got.Params) != string(want.Params) ||
		got.Seed != want.Seed || got.Attempt != want.Attempt || !got.Deadline.Equal(want.Deadline) || len(got.Inputs) != 2 ||
		got.Inputs[0].Name != "img" || got.Inputs[0].MIME != "image/png" || !bytes.Equal(got.Inputs[0].Data, []byte{1, 2, 3}) ||
		got.Inputs[1].Name != "empty" || len(got.Inputs[1].Data) != 0 {
		t.Fatalf("plugin got %+v, want %+v", got, want)
	}
}

func TestEventsAndArtifactSizes(t *testing.T) {
	// Chunk edges: empty, one byte, exactly one chunk, one over, several.
	sizes := []int{0, 1, ArtifactChunkBytes, ArtifactChunkBytes + 1, 3*ArtifactChunkBytes + 17}
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + i>>12)
		}
		return b
	}
	c := connect(t, &fakeEngine{run: func(_ context.Context, _ Job, emit func(Event) error) error {
		if err := emit(Event{Kind: EventProgress, Step: 1, Total: 2}); err != nil {
			return err
		}
		if err := emit(Event{Kind: EventDelta, Text: "hi"}); err != nil {
			return err
		}
		if err := emit(Event{Kind: EventPreview, MIME: "image/png", Data: []byte("png")}); err != nil {
			return err
		}
		for _, n := range sizes {
			if err := emit(Event{Kind: EventArtifact, Name: "a", MIME: "application/x", Data: data(n)}); err != nil {
				return err
			}
		}
		return result(emit)
	}})
	evs, err := runAll(c, Job{ID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 4+len(sizes) {
		t.Fatalf("%d events", len(evs))
	}
	if e := evs[0]; e.Kind != EventProgress || e.Step != 1 || e.Total != 2 {
		t.Fatalf("progress = %+v", e)
	}
	if e := evs[1]; e.Kind != EventDelta || e.Text != "hi" {
		t.Fatalf("delta = %+v", e)
	}
	if e := evs[2]; e.Kind != EventPreview || e.MIME != "image/png" || string(e.Data) != "png" {
		t.Fatalf("preview = %+v", e)
	}
	for i, n := range sizes {
		e := evs[3+i]
		if e.Kind != EventArtifact || e.Name != "a" || e.MIME != "application/x" || !bytes.Equal(e.Data, data(n)) || e.Data == nil {
			t.Fatalf("artifact of %d bytes came back as kind %d with %d bytes", n, e.Kind, len(e.Data))
		}
	}
	if e := evs[len(evs)-1]; e.Kind != EventResult || string(e.Result) != `{"ok":true}` {
		t.Fatalf("result = %+v", e)
	}
}

func TestRunFailuresBecomeCodedErrors(t *testing.T) {
	cases := []struct {
		name string
		run  func(context.Context, Job, func(Event) error) error
		code Code
		msg  string
	}{
		{"coded", func(context.Context, Job, func(Event) error) error { return Errorf("custom_code", "why") }, "custom_code", "why"},
		{"wrapped coded", func(context.Context, Job, func(Event) error) error {
			return errors.Join(errors.New("ctx"), Errorf(CodeModelUnavailable, "no weights"))
		}, CodeModelUnavailable, "no weights"},
		{"plain", func(context.Context, Job, func(Event) error) error { return errors.New("boom") }, CodeInternal, "boom"},
		{"panic", func(context.Context, Job, func(Event) error) error { panic("kaput") }, CodeInternal, "plugin panic: kaput"},
		{"no result", func(_ context.Context, _ Job, emit func(Event) error) error {
			return emit(Event{Kind: EventProgress, Step: 1, Total: 1})
		}, CodeInternal, "without a result"},
		{"empty result", func(_ context.Context, _ Job, emit func(Event) error) error {
			return emit(Event{Kind: EventResult})
		}, CodeInternal, "result event without JSON"},
		{"unknown kind", func(_ context.Context, _ Job, emit func(Event) error) error {
			return emit(Event{Kind: 99})
		}, CodeInternal, "unknown event kind 99"},
		{"deadline", func(ctx context.Context, _ Job, _ func(Event) error) error {
			<-ctx.Done()
			return ctx.Err()
		}, CodeTimeout, "passed its deadline"},
	}
	for _, tc := range cases {
		c := connect(t, &fakeEngine{run: tc.run})
		job := Job{ID: "j"}
		if tc.code == CodeTimeout { // only there: a loaded machine may pass it anywhere
			job.Deadline = time.Now().Add(200 * time.Millisecond)
		}
		_, err := runAll(c, job)
		var e *Error
		if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
			t.Errorf("%s: err = %v, want %s containing %q", tc.name, err, tc.code, tc.msg)
		}
	}
}

func TestEventAfterResultIsRefused(t *testing.T) {
	var second error
	c := connect(t, &fakeEngine{run: func(_ context.Context, _ Job, emit func(Event) error) error {
		if err := result(emit); err != nil {
			return err
		}
		second = emit(Event{Kind: EventDelta, Text: "late"})
		return nil
	}})
	evs, err := runAll(c, Job{})
	if err != nil || len(evs) != 1 || evs[0].Kind != EventResult {
		t.Fatalf("events %+v, err %v", evs, err)
	}
	// The client returns at the result; the server has refused the extra
	// event by the time its handler returns, which the next call orders.
	if _, err := runAll(c, Job{}); err != nil {
		t.Fatal(err)
	}
	if second == nil || !strings.Contains(second.Error(), "after the result") {
		t.Fatalf("second emit = %v", second)
	}
}

func TestCancelReachesEngine(t *testing.T) {
	stopped := make(chan error, 1)
	c := connect(t, &fakeEngine{run: func(ctx context.Context, _ Job, emit func(Event) error) error {
		if err := emit(Event{Kind: EventProgress, Step: 1, Total: 100}); err != nil {
			return err
		}
		<-ctx.Done()
		stopped <- ctx.Err()
		return ctx.Err()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	err := c.Run(ctx, Job{}, func(ev Event) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("engine saw %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("engine never saw the cancel")
	}
}

func TestEmitErrorCancelsPluginJob(t *testing.T) {
	stopped := make(chan struct{})
	c := connect(t, &fakeEngine{run: func(ctx context.Context, _ Job, emit func(Event) error) error {
		for i := 0; ; i++ {
			if err := emit(Event{Kind: EventProgress, Step: i}); err != nil {
				close(stopped)
				return err
			}
			time.Sleep(time.Millisecond)
		}
	}})
	sentinel := errors.New("client gone")
	var n atomic.Int32
	err := c.Run(context.Background(), Job{}, func(Event) error {
		if n.Add(1) == 3 {
			return sentinel
		}
		return nil
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("Run = %v, want the emit error", err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("plugin job kept running after the host stopped reading")
	}
}

func TestLargeInputAndLimit(t *testing.T) {
	c := connect(t, &fakeEngine{run: func(_ context.Context, j Job, emit func(Event) error) error {
		return emit(Event{Kind: EventResult, Result: json.RawMessage(`{"n":` + itoa(len(j.Inputs[0].Data)) + `}`)})
	}})
	big := make([]byte, 32<<20) // 8× gRPC's default limit
	evs, err := runAll(c, Job{Inputs: []Blob{{Name: "x", Data: big}}})
	if err != nil || string(evs[0].Result) != `{"n":33554432}` {
		t.Fatalf("32 MiB input: %v %v", evs, err)
	}
}

// An over-limit message is refused by gRPC with ResourceExhausted; sending
// 256 MiB in a test is too slow, so the mapping is checked directly.
func TestTransportErrorMapping(t *testing.T) {
	bg := context.Background()
	cases := []struct {
		err  error
		code Code
	}{
		{status.Error(codes.ResourceExhausted, "grpc: received message larger than max"), CodeInvalidRequest},
		{status.Error(codes.Unavailable, "error reading from server: EOF"), CodePluginCrashed},
		{status.Error(codes.Canceled, "the server went away"), CodePluginCrashed},
		{status.Error(codes.Unknown, "odd"), CodeInternal},
		{errors.New("not a status"), CodeInternal},
	}
	for _, c := range cases {
		if got := rpcError(bg, "run", c.err); !IsCode(got, c.code) {
			t.Errorf("rpcError(%v) = %v, want code %s", c.err, got, c.code)
		}
	}
	if got := rpcError(bg, "run", status.Error(codes.ResourceExhausted, "x")); !strings.Contains(got.Error(), "256 MiB") {
		t.Errorf("limit error does not name the limit: %v", got)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if got := rpcError(ctx, "run", status.Error(codes.Canceled, "x")); !errors.Is(got, context.Canceled) {
		t.Errorf("our own cancel = %v, want context.Canceled", got)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestHealth(t *testing.T) {
	sick := errors.New("device lost")
	var fail atomic.Bool
	c := connect(t, &fakeEngine{health: func(context.Context) error {
		if fail.Load() {
			return sick
		}
		return nil
	}})
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := c.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "device lost") {
		t.Fatalf("Health = %v", err)
	}
}

func TestBrokenConnectionIsPluginCrashed(t *testing.T) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(GRPCServerOptions()...)
	started := make(chan struct{})
	pluginv1.RegisterPluginServer(srv, NewServer(&fakeEngine{run: func(ctx context.Context, _ Job, emit func(Event) error) error {
		emit(Event{Kind: EventProgress, Step: 1})
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}}))
	go srv.Serve(lis)
	cc, err := grpc.NewClient("passthrough:///bufnet", append(GRPCDialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c := NewClient(pluginv1.NewPluginClient(cc))
	go func() { <-started; srv.Stop() }() // the "process" vanishes mid-job
	_, err = runAll(c, Job{})
	if !IsCode(err, CodePluginCrashed) {
		t.Fatalf("Run = %v, want %s", err, CodePluginCrashed)
	}
}

// Issue 17 item 1: a delta or error message with invalid UTF-8 failed the
// stream's marshal ("string field contains invalid UTF-8") and killed the
// job; the server repairs both at the boundary.
func TestInvalidUTF8CrossesTheBoundary(t *testing.T) {
	c := connect(t, &fakeEngine{run: func(_ context.Context, _ Job, emit func(Event) error) error {
		if err := emit(Event{Kind: EventDelta, Text: "ok \xe2\x82"}); err != nil {
			return err
		}
		return result(emit)
	}})
	evs, err := runAll(c, Job{ID: "j", Task: "t"})
	if err != nil || len(evs) != 2 || evs[0].Text != "ok \uFFFD" || evs[1].Kind != EventResult {
		t.Fatalf("events %+v, err %v", evs, err)
	}
	c = connect(t, &fakeEngine{run: func(context.Context, Job, func(Event) error) error {
		return Errorf(CodeInvalidRequest, "bad input %s…", "\xff")
	}})
	if _, err := runAll(c, Job{ID: "j", Task: "t"}); !IsCode(err, CodeInvalidRequest) {
		t.Fatalf("error with invalid UTF-8: %v, want invalid_request", err)
	}
	// The field at fault crosses the process boundary with the code and message.
	c = connect(t, &fakeEngine{run: func(context.Context, Job, func(Event) error) error {
		return Errorf(CodeInvalidRequest, "params: voice %q is not one of alloy", "x").WithParam("voice")
	}})
	_, err = runAll(c, Job{ID: "j", Task: "t"})
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeInvalidRequest || pe.Param != "voice" || pe.Message != `params: voice "x" is not one of alloy` {
		t.Fatalf("error %#v, want invalid_request with Param voice", err)
	}
}

// unloadEngine is an Engine that can unload.
type unloadEngine struct {
	fakeEngine
	unloaded []string
}

func (u *unloadEngine) Unload(_ context.Context, model string) error {
	if model == "busy" {
		return Errorf(CodeInvalidRequest, "model busy is in use")
	}
	u.unloaded = append(u.unloaded, model)
	return nil
}

func TestUnloadCrosses(t *testing.T) {
	u := &unloadEngine{}
	c := connect(t, u)
	if err := c.Unload(context.Background(), "m"); err != nil || len(u.unloaded) != 1 || u.unloaded[0] != "m" {
		t.Fatalf("Unload(m) = %v, engine saw %v", err, u.unloaded)
	}
	if err := c.Unload(context.Background(), "busy"); !IsCode(err, CodeInvalidRequest) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Unload(busy) = %v, want its coded error", err)
	}
	// A plugin whose engine cannot unload answers UNIMPLEMENTED, as one
	// built before the RPC existed does.
	plain := connect(t, &fakeEngine{})
	if err := plain.Unload(context.Background(), "m"); !errors.Is(err, ErrUnloadUnsupported) {
		t.Fatalf("Unload on a plain engine = %v, want ErrUnloadUnsupported", err)
	}
}

// A panic reaches the caller as a short "internal" message with an error
// id; the stack goes to the log under that id, never to the caller.
func TestPanicIsShortForTheClientAndLoggedWithStack(t *testing.T) {
	var logged bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&logged, nil)))
	defer slog.SetDefault(prev)
	c := connect(t, &fakeEngine{run: func(context.Context, Job, func(Event) error) error {
		var m map[string]int
		m["x"]++ // assignment to entry in nil map
		return nil
	}})
	_, err := runAll(c, Job{ID: "j7"})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInternal {
		t.Fatalf("err = %v", err)
	}
	_, id, _ := strings.Cut(e.Message, "error id ")
	id, _, _ = strings.Cut(id, ";")
	if len(id) != 12 || strings.Contains(e.Message, "goroutine") || strings.Contains(e.Message, ".go:") ||
		!strings.HasPrefix(e.Message, "plugin panic: assignment to entry in nil map (error id ") {
		t.Fatalf("client message %q", e.Message)
	}
	var line struct {
		Msg     string `json:"msg"`
		ErrorID string `json:"error_id"`
		Stack   string `json:"stack"`
	}
	if err := json.Unmarshal(logged.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", logged.String(), err)
	}
	if line.ErrorID != id || !strings.Contains(line.Msg, "job j7") || !strings.Contains(line.Stack, "grpc_test.go") {
		t.Fatalf("log line %+v, want error id %s and the stack", line, id)
	}
}

// TestNoServerPathsCrossTheBoundary is issue 17 item 9: what a plugin
// says reaches API clients, so no absolute server path may cross — not in
// a model's Missing text, an error message (an os error naming a file
// under LOOM_MODELS), nor a panic's (its stack holds source paths).
func TestNoServerPathsCrossTheBoundary(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(ModelsEnv, dir)
	wd, _ := os.Getwd()
	missing := filepath.Join(dir, "tiny", "model.gguf")
	c := connect(t, &fakeEngine{
		describe: func(context.Context) (Manifest, error) {
			return Manifest{Name: "p", Tasks: []string{"t"}, Models: []ModelInfo{{ID: "tiny", Tasks: []string{"t"},
				Missing: "weights " + missing + " absent (searched " + dir + ")"}}}, nil
		},
		run: func(_ context.Context, j Job, _ func(Event) error) error {
			switch j.Task {
			case "panic":
				panic("kaput")
			case "wd":
				return Errorf(CodeInternal, "open %s: denied", filepath.Join(wd, "cache"))
			}
			_, err := os.Open(missing)
			return err
		},
	})
	m, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Models[0].Missing, "weights tiny/model.gguf absent (searched LOOM_MODELS)"; got != want {
		t.Fatalf("missing %q, want %q", got, want)
	}
	for task, want := range map[string]string{"open": "open tiny/model.gguf: no such file or directory", "panic": "plugin panic: kaput (", "wd": "open cache: denied"} {
		_, err := runAll(c, Job{ID: "j", Task: task})
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(e.Message, want) || strings.Contains(e.Message, dir) || strings.Contains(e.Message, wd) || strings.Contains(e.Message, ".go:") {
			t.Errorf("%s: %v, want %q", task, err, want)
		}
	}
	// A longer name that only starts like a server directory stays.
	if got := redactPaths(dir+"2/x and "+dir, []serverDir{{dir, "LOOM_MODELS"}}); got != dir+"2/x and LOOM_MODELS" {
		t.Fatalf("redactPaths: %q", got)
	}
}
