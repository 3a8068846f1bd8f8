package plugintest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/schema"
)

type engine struct {
	man sdk.Manifest
	run func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error
}

func (e *engine) Describe(context.Context) (sdk.Manifest, error) { return e.man, nil }
func (e *engine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	return e.run(ctx, job, emit)
}

func good() *engine {
	return &engine{
		man: sdk.Manifest{Name: "t", Version: "1", Tasks: []string{"text.upper"}, Models: []sdk.ModelInfo{{
			ID: "m", Tasks: []string{"text.upper"}, Ready: true, Params: schema.For(struct {
				Text string `json:"text" schema:"required"`
			}{})}}},
		run: func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
			for i := 1; i <= 3; i++ {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
				if err := emit(sdk.Event{Kind: sdk.EventProgress, Step: i, Total: 3}); err != nil {
					return err
				}
			}
			if err := emit(sdk.Event{Kind: sdk.EventArtifact, Name: "a.bin", MIME: "application/octet-stream", Data: make([]byte, 3<<20)}); err != nil {
				return err
			}
			return emit(sdk.Event{Kind: sdk.EventResult, Result: json.RawMessage(`{"ok":true}`)})
		},
	}
}

var job = sdk.Job{ID: "j", Task: "text.upper", Model: "m", Params: json.RawMessage(`{"text":"x"}`)}

func TestGoodEnginePasses(t *testing.T) {
	if m := Describe(t, good()); m.Name != "t" {
		t.Fatalf("manifest %+v", m)
	}
	o := Run(t, good(), job)
	if o.Err != nil || string(o.Result) != `{"ok":true}` || len(o.Events) != 5 || o.Artifact("a.bin") == nil || len(o.Artifact("a.bin").Data) != 3<<20 {
		t.Fatalf("outcome %+v", o)
	}
	if o := Cancel(t, good(), job); o.Code() != sdk.CodeInternal && o.Err == nil {
		t.Fatalf("canceled run: %v", o.Err)
	}
}

// Each breach of the contract is named.
func TestViolationsAreNamed(t *testing.T) {
	for _, c := range []struct {
		name   string
		run    func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error
		cancel bool
		want   string
		code   sdk.Code
	}{
		{"no result", func(context.Context, sdk.Job, func(sdk.Event) error) error { return nil },
			false, "Run returned nil without emitting a result", sdk.CodeInternal},
		{"event after result", func(_ context.Context, _ sdk.Job, emit func(sdk.Event) error) error {
			_ = emit(sdk.Event{Kind: sdk.EventResult, Result: json.RawMessage(`{}`)})
			_ = emit(sdk.Event{Kind: sdk.EventProgress, Step: 1, Total: 1})
			return nil
		}, false, "emitted an event (kind 1) after the result", ""},
		{"two results", func(_ context.Context, _ sdk.Job, emit func(sdk.Event) error) error {
			_ = emit(sdk.Event{Kind: sdk.EventResult, Result: json.RawMessage(`{}`)})
			_ = emit(sdk.Event{Kind: sdk.EventResult, Result: json.RawMessage(`{}`)})
			return nil
		}, false, "emitted a second result", ""},
		{"progress past total", func(_ context.Context, _ sdk.Job, emit func(sdk.Event) error) error {
			_ = emit(sdk.Event{Kind: sdk.EventProgress, Step: 4, Total: 3})
			return emit(sdk.Event{Kind: sdk.EventResult, Result: json.RawMessage(`{}`)})
		}, false, "progress step 4 is past its total 3", ""},
		{"emit after return", func(_ context.Context, _ sdk.Job, emit func(sdk.Event) error) error {
			_ = emit(sdk.Event{Kind: sdk.EventResult, Result: json.RawMessage(`{}`)})
			go func() { _ = emit(sdk.Event{Kind: sdk.EventDelta, Text: "late"}) }()
			return nil
		}, false, "after", ""},
		{"ignores cancel", func(ctx context.Context, _ sdk.Job, emit func(sdk.Event) error) error {
			_ = emit(sdk.Event{Kind: sdk.EventProgress, Step: 1, Total: 2})
			time.Sleep(1500 * time.Millisecond)
			return ctx.Err()
		}, true, "did not return within 1s of its context being canceled", ""},
	} {
		o := Exec(t.Context(), &engine{man: good().man, run: c.run}, job, map[bool]time.Duration{true: 50 * time.Millisecond}[c.cancel])
		if !strings.Contains(strings.Join(o.Violations, "; "), c.want) {
			t.Errorf("%s: violations %q, want one saying %q", c.name, o.Violations, c.want)
		}
		if c.code != "" && o.Code() != c.code {
			t.Errorf("%s: code %q, want %q", c.name, o.Code(), c.code)
		}
	}
}

// A panic is an internal error with a short message, not a dead test.
func TestPanicIsInternal(t *testing.T) {
	o := Run(t, &engine{man: good().man, run: func(context.Context, sdk.Job, func(sdk.Event) error) error { panic("oops") }}, job)
	if o.Code() != sdk.CodeInternal || !strings.Contains(o.Err.Error(), "plugin panic: oops (error id ") {
		t.Fatalf("err %v", o.Err)
	}
}

func TestLint(t *testing.T) {
	m := sdk.Manifest{Tasks: []string{"Upper"}, Models: []sdk.ModelInfo{
		{ID: "a/b", Tasks: []string{"text.x"}, Params: json.RawMessage(`{"type":"nope"}`),
			Specs: []sdk.TaskSpec{{Task: "text.x", Params: json.RawMessage(`{}`), Inputs: []sdk.InputSpec{{Name: "i", MIME: "image"}}}}},
		{ID: "a/b"},
	}}
	got := strings.Join(Lint(m), "\n")
	for _, want := range []string{
		"the manifest has no name", "the manifest has no version", `task "Upper" is not named like modality.verb`,
		`model "a/b": an id is one name`, `model "a/b" serves "text.x", which the manifest's tasks do not list`,
		`model "a/b" is not ready but its missing text says nothing`, `input "i" has MIME pattern "image"`,
		`model "a/b" is listed twice`, `model "a/b" serves no task`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lint does not say %q:\n%s", want, got)
		}
	}
	if p := Lint(good().man); len(p) != 0 {
		t.Errorf("good manifest: %q", p)
	}
}
