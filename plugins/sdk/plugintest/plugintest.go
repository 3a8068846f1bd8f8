// Package plugintest runs a plugin's Engine through Loom's real plugin
// contract, in process, for the plugin author's own go test:
//
//	func TestUpper(t *testing.T) {
//		m := plugintest.Describe(t, newEngine())          // Describe + manifest lint
//		out := plugintest.Run(t, newEngine(), sdk.Job{ID: "j1", Task: "text.upper", Model: m.Models[0].ID,
//			Params: json.RawMessage(`{"text":"hi"}`)})
//		if out.Err != nil || string(out.Result) != `{"text":"HI"}` { t.Fatal(out) }
//		plugintest.Cancel(t, newEngine(), job)             // stops within a second of a cancel
//	}
//
// The engine is served by the SDK's gRPC server adapter and called through
// the host's client over an in-memory connection with the options the real
// host and plugin use, so what the worker would see is what the test sees.
// Beside that, the engine's own calls are watched and every breach of the
// contract fails the test, with the same words `loom plugin check` uses:
// events after the result, a second result, emit after Run returned, a
// nil return without a result, a result that is not JSON, progress past its
// total, an unnamed or repeated artifact, an error without a code, and
// (Cancel) a Run that does not return within a second of its context ending.
// A panic in Run becomes an "internal" error, as it does in production
// (Panics checks that it does not kill the test process).
package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/loomhq/loom/plugins/sdk"
	pluginv1 "github.com/loomhq/loom/plugins/sdk/proto/loom/plugin/v1"
	"github.com/loomhq/loom/plugins/sdk/schema"
)

// CancelWithin is how soon Run must return after its context ends.
const CancelWithin = time.Second

// Outcome is one job's run as the host saw it, and what the engine did
// wrong on its side of the contract.
type Outcome struct {
	Events     []sdk.Event     // every event the host received, in order (the result last)
	Result     json.RawMessage // the result's JSON; nil when the run failed
	Artifacts  []sdk.Event     // the artifact events, reassembled
	Err        error           // the run's error as the worker gets it (*sdk.Error), or nil
	Violations []string        // breaches of the contract, in plain words
}

// Code is the run's error code, or "" when it succeeded.
func (o *Outcome) Code() sdk.Code {
	var e *sdk.Error
	if errors.As(o.Err, &e) {
		return e.Code
	}
	if o.Err != nil {
		return sdk.CodeInternal
	}
	return ""
}

// Artifact returns the artifact named name, or nil.
func (o *Outcome) Artifact(name string) *sdk.Event {
	for i := range o.Artifacts {
		if o.Artifacts[i].Name == name {
			return &o.Artifacts[i]
		}
	}
	return nil
}

// Describe asks the engine for its manifest through the contract and fails
// t on an error or on each problem Lint finds.
func Describe(t testing.TB, engine sdk.Engine) sdk.Manifest {
	t.Helper()
	c, stop := Connect(engine)
	defer stop()
	m, err := c.Describe(t.Context())
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	for _, p := range Lint(m) {
		t.Errorf("manifest: %s", p)
	}
	return m
}

// Run runs job on engine through the contract and fails t on each
// violation. The run's own error is not a failure: check Outcome.Err.
func Run(t testing.TB, engine sdk.Engine, job sdk.Job) *Outcome {
	t.Helper()
	o := Exec(t.Context(), engine, job, 0)
	for _, v := range o.Violations {
		t.Errorf("job %s: %s", job.ID, v)
	}
	return o
}

// Cancel runs job and cancels it once the engine emitted its first event
// (or after 100ms when it emits none first); Run must return within
// CancelWithin of that, with nothing emitted after. It fails t otherwise.
func Cancel(t testing.TB, engine sdk.Engine, job sdk.Job) *Outcome {
	t.Helper()
	o := Exec(t.Context(), engine, job, 100*time.Millisecond)
	for _, v := range o.Violations {
		t.Errorf("job %s (canceled): %s", job.ID, v)
	}
	return o
}

// Exec is Run without a testing.TB (loom plugin check uses it). With
// cancelAfter > 0 the job is canceled at its first event or after
// cancelAfter, whichever comes first, and a late return is a violation.
func Exec(ctx context.Context, engine sdk.Engine, job sdk.Job, cancelAfter time.Duration) *Outcome {
	w := &watched{Engine: engine}
	c, stop := Connect(w)
	defer stop()
	o := &Outcome{}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var canceledAt time.Time
	var once sync.Once
	doCancel := func() { once.Do(func() { canceledAt = time.Now(); cancel() }) }
	if cancelAfter > 0 {
		timer := time.AfterFunc(cancelAfter, doCancel)
		defer timer.Stop()
	}
	var total, step int
	o.Err = c.Run(runCtx, job, func(ev sdk.Event) error {
		o.Events = append(o.Events, ev)
		switch ev.Kind {
		case sdk.EventProgress:
			if ev.Total > 0 && ev.Step > ev.Total {
				o.add("progress step %d is past its total %d", ev.Step, ev.Total)
			}
			if ev.Total == total && ev.Step < step {
				o.add("progress went back from step %d to %d of %d", step, ev.Step, ev.Total)
			}
			step, total = ev.Step, ev.Total
		case sdk.EventArtifact:
			if o.Artifact(ev.Name) != nil {
				o.add("artifact %q emitted twice", ev.Name)
			}
			if ev.MIME == "" {
				o.add("artifact %q has no MIME type", ev.Name)
			}
			o.Artifacts = append(o.Artifacts, ev)
		case sdk.EventResult:
			o.Result = ev.Result
			if !json.Valid(ev.Result) {
				o.add("the result is not valid JSON: %.80q", ev.Result)
			}
		}
		if cancelAfter > 0 {
			doCancel()
		}
		return nil
	})
	// The host's call returns at once on cancel; the engine's Run must
	// follow within CancelWithin.
	once.Do(func() {}) // no cancel from here on: canceledAt is settled
	if canceledAt.IsZero() {
		<-w.returned()
	} else {
		select {
		case <-w.returned():
		case <-time.After(time.Until(canceledAt.Add(CancelWithin + 100*time.Millisecond))):
		}
		if at := w.returnedAt(); at.IsZero() || at.Sub(canceledAt) > CancelWithin {
			o.add("Run did not return within %s of its context being canceled", CancelWithin)
		}
	}
	time.Sleep(10 * time.Millisecond) // a stray goroutine's emit right after Run returned
	o.Violations = append(o.Violations, w.violations()...)
	if o.Err != nil && !errors.As(o.Err, new(*sdk.Error)) && !errors.Is(o.Err, context.Canceled) {
		o.add("the run failed without an error code: %v (return an *sdk.Error)", o.Err)
	}
	return o
}

func (o *Outcome) add(format string, args ...any) {
	o.Violations = append(o.Violations, fmt.Sprintf(format, args...))
}

// Connect serves engine through the SDK's gRPC server adapter on an
// in-memory connection and returns the host's client for it; stop closes
// both.
func Connect(engine sdk.Engine) (c *sdk.Client, stop func()) {
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(sdk.GRPCServerOptions()...)
	pluginv1.RegisterPluginServer(srv, sdk.NewServer(engine))
	go func() { _ = srv.Serve(lis) }()
	opts := append(sdk.GRPCDialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	cc, err := grpc.NewClient("passthrough:///plugintest", opts...)
	if err != nil {
		srv.Stop()
		panic(fmt.Sprintf("plugintest: dial in-memory server: %v", err)) // cannot happen: passthrough never fails
	}
	return sdk.NewClient(pluginv1.NewPluginClient(cc)), func() { cc.Close(); srv.Stop() }
}

// watched wraps the engine on the plugin side of the connection to see
// what the server adapter hides from the host: emits it refused, a nil
// return without a result.
type watched struct {
	sdk.Engine
	mu     sync.Mutex
	probs  []string
	done   chan struct{}
	doneAt time.Time
}

func (w *watched) returned() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done == nil {
		w.done = make(chan struct{})
	}
	return w.done
}

func (w *watched) returnedAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.doneAt
}

func (w *watched) violations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.probs)
}

func (w *watched) problem(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.probs = append(w.probs, fmt.Sprintf(format, args...))
}

func (w *watched) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) (err error) {
	done := w.returned()
	var (
		mu       sync.Mutex
		results  int
		over     bool
		reported = map[string]bool{}
	)
	once := func(key, format string, args ...any) {
		if !reported[key] {
			reported[key] = true
			w.problem(format, args...)
		}
	}
	watch := func(ev sdk.Event) error {
		mu.Lock()
		switch {
		case over:
			once("after-return", "emitted an event (kind %d) after Run returned", ev.Kind)
		case results > 0 && ev.Kind == sdk.EventResult:
			once("second-result", "emitted a second result")
		case results > 0:
			once("after-result", "emitted an event (kind %d) after the result", ev.Kind)
		}
		if ev.Kind == sdk.EventResult {
			results++
		}
		mu.Unlock()
		return emit(ev)
	}
	defer func() {
		mu.Lock()
		over = true
		gotResult := results > 0
		mu.Unlock()
		if err == nil && !gotResult {
			w.problem("Run returned nil without emitting a result")
		}
		if err != nil && gotResult && ctx.Err() == nil {
			w.problem("Run returned an error (%v) after emitting its result", err)
		}
		w.mu.Lock()
		w.doneAt = time.Now()
		w.mu.Unlock()
		close(done)
	}()
	return sdk.RunGuarded(ctx, w.Engine, job, watch)
}

// Lint returns what is wrong with a manifest, in plain words (none: it is
// fine).
func Lint(m sdk.Manifest) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if m.Name == "" {
		add("the manifest has no name (it should be NAME of the binary loom-plugin-NAME)")
	}
	if m.Version == "" {
		add("the manifest has no version (GET /v1/models shows it as plugin_version)")
	}
	if len(m.Tasks) == 0 {
		add("the manifest lists no tasks, so the plugin gets no jobs")
	}
	for _, t := range m.Tasks {
		if !validTask(t) {
			add("task %q is not named like modality.verb (lower case letters, digits and '_', one dot)", t)
		}
	}
	if len(m.Models) == 0 {
		add("the manifest lists no models; jobs name a model, so the plugin gets none")
	}
	seen := map[string]bool{}
	for i, mi := range m.Models {
		where := fmt.Sprintf("model %q", mi.ID)
		switch {
		case mi.ID == "":
			add("models[%d] has no id", i)
			continue
		case seen[mi.ID]:
			add("%s is listed twice", where)
		case strings.ContainsAny(mi.ID, "/\\ \t\n") || mi.ID == "." || mi.ID == "..":
			add("%s: an id is one name (no slashes or spaces)", where)
		}
		seen[mi.ID] = true
		if len(mi.Tasks) == 0 {
			add("%s serves no task", where)
		}
		for _, t := range mi.Tasks {
			if !slices.Contains(m.Tasks, t) {
				add("%s serves %q, which the manifest's tasks do not list", where, t)
			}
		}
		if !mi.Ready && mi.Missing == "" {
			add("%s is not ready but its missing text says nothing: tell the user what to install", where)
		}
		for _, t := range mi.Tasks {
			sp := mi.SpecFor(t)
			if len(sp.Params) == 0 {
				add("%s, task %s: no params schema (set ModelInfo.Params or Specs from schema.For); the gateway cannot check params", where, t)
			} else if _, err := schema.Compile(sp.Params); err != nil {
				add("%s, task %s: the params schema does not compile: %v", where, t, err)
			}
			names := map[string]bool{}
			for _, in := range sp.Inputs {
				switch {
				case in.Name == "":
					add("%s, task %s: an input has no name", where, t)
				case names[in.Name]:
					add("%s, task %s: input %q declared twice", where, t, in.Name)
				case !validMIMEPattern(in.MIME):
					add("%s, task %s: input %q has MIME pattern %q; use type/subtype, type/* or */*", where, t, in.Name, in.MIME)
				}
				names[in.Name] = true
			}
		}
		for _, sp := range mi.Specs {
			if !slices.Contains(mi.Tasks, sp.Task) {
				add("%s has a spec for %q, which it does not serve", where, sp.Task)
			}
		}
	}
	return out
}

func validTask(t string) bool {
	a, b, ok := strings.Cut(t, ".")
	return ok && a != "" && b != "" && !strings.Contains(b, ".") && strings.Trim(t, "abcdefghijklmnopqrstuvwxyz0123456789_.") == ""
}

func validMIMEPattern(p string) bool {
	typ, sub, ok := strings.Cut(p, "/")
	return ok && typ != "" && sub != "" && !strings.ContainsAny(p, " ;,") && (typ != "*" || sub == "*")
}
