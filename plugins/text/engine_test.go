package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// sharedModels is ../shared/models beside the repository, or a skip.
func sharedModels(t *testing.T) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "models")
	if _, err := os.Stat(filepath.Join(p, "stories260K", "stories260K.bin")); err != nil {
		t.Skipf("shared models not present (%v): tests on real models need ../shared/models next to the repository", err)
	}
	return p
}

type run struct {
	deltas []string
	res    tasks.TextResult
	err    error
}

func runJob(t *testing.T, e *engine, ctx context.Context, job sdk.Job) run {
	t.Helper()
	var r run
	r.err = e.Run(ctx, job, func(ev sdk.Event) error {
		switch ev.Kind {
		case sdk.EventDelta:
			r.deltas = append(r.deltas, ev.Text)
		case sdk.EventResult:
			if err := json.Unmarshal(ev.Result, &r.res); err != nil {
				t.Fatalf("result JSON %s: %v", ev.Result, err)
			}
		default:
			t.Fatalf("unexpected event kind %v", ev.Kind)
		}
		return nil
	})
	return r
}

const wantContinuation = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily"

func TestCompleteGreedyMatchesLlama2C(t *testing.T) {
	dir := sharedModels(t)
	e := newEngine([]string{dir}, "")
	for _, id := range []string{"stories260K"} {
		r := runJob(t, e, context.Background(), sdk.Job{Task: taskComplete, Model: id,
			Params: json.RawMessage(`{"prompt":"Once upon a time","max_tokens":60,"temperature":0}`)})
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.res.Text != wantContinuation || strings.Join(r.deltas, "") != wantContinuation {
			t.Fatalf("%s: text %q, deltas %q", id, r.res.Text, strings.Join(r.deltas, ""))
		}
		if len(r.deltas) != 60 {
			t.Errorf("%d deltas, want one per token (60)", len(r.deltas))
		}
		want := tasks.Usage{PromptTokens: 5, CompletionTokens: 60, TotalTokens: 65}
		if r.res.Usage != want || r.res.FinishReason != "length" {
			t.Fatalf("usage %+v finish %q, want %+v length", r.res.Usage, r.res.FinishReason, want)
		}
	}
	// The llama2.c file by its exact name, in its own folder.
	e = newEngine([]string{filepath.Join(dir, "stories260K")}, "")
	r := runJob(t, e, context.Background(), sdk.Job{Task: taskComplete, Model: "stories260K.bin",
		Params: json.RawMessage(`{"prompt":"Once upon a time","max_tokens":60,"temperature":0}`)})
	if r.err != nil || r.res.Text != wantContinuation {
		t.Fatalf("stories260K.bin: %v %q", r.err, r.res.Text)
	}
}

func TestStopStringIsNeverStreamed(t *testing.T) {
	e := newEngine([]string{sharedModels(t)}, "")
	r := runJob(t, e, context.Background(), sdk.Job{Task: taskComplete, Model: "stories260K",
		Params: json.RawMessage(`{"prompt":"Once upon a time","max_tokens":60,"temperature":0,"stop":["named Li"]}`)})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.Text != ", there was a little girl " || r.res.FinishReason != "stop" {
		t.Fatalf("text %q finish %q", r.res.Text, r.res.FinishReason)
	}
	if all := strings.Join(r.deltas, ""); all != r.res.Text || strings.Contains(all, "named") {
		t.Fatalf("streamed %q", all)
	}
}

func TestSeededSamplingIsRepeatable(t *testing.T) {
	e := newEngine([]string{sharedModels(t)}, "")
	job := sdk.Job{Task: taskComplete, Model: "stories260K", Seed: 42,
		Params: json.RawMessage(`{"prompt":"Once upon a time","max_tokens":40,"temperature":1,"top_p":0.9,"top_k":40}`)}
	a := runJob(t, e, context.Background(), job)
	b := runJob(t, e, context.Background(), job)
	job.Seed = 43
	c := runJob(t, e, context.Background(), job)
	if a.err != nil || b.err != nil || c.err != nil {
		t.Fatal(a.err, b.err, c.err)
	}
	if a.res.Text != b.res.Text {
		t.Fatalf("same seed, different text:\n%q\n%q", a.res.Text, b.res.Text)
	}
	if a.res.Text == c.res.Text {
		t.Fatalf("seeds 42 and 43 gave the same text %q", a.res.Text)
	}
}

func TestChat(t *testing.T) {
	e := newEngine([]string{sharedModels(t)}, "")
	r := runJob(t, e, context.Background(), sdk.Job{Task: taskChat, Model: "stories260K",
		Params: json.RawMessage(`{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":20,"temperature":0}`)})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.Usage.CompletionTokens == 0 || r.res.Usage.PromptTokens < 5 || r.res.Text == "" {
		t.Fatalf("chat result %+v", r.res)
	}
	// stories260K has no template: the plain one, which stops before the
	// model writes the user's next turn.
	if strings.Contains(r.res.Text, "User:") {
		t.Fatalf("chat text runs into the user's turn: %q", r.res.Text)
	}
}

func TestDescribeListsModels(t *testing.T) {
	dir := sharedModels(t)
	m, err := newEngine([]string{dir, filepath.Join(dir, "stories260K")}, "").Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, mi := range m.Models {
		ids[mi.ID] = mi.Ready && len(mi.SpecFor(taskComplete).Params) > 0 && len(mi.SpecFor(taskChat).Params) > 0
	}
	if !ids["stories260K"] {
		t.Fatalf("manifest models %+v", m.Models)
	}
	if m.Name != "text" || strings.Join(m.Tasks, ",") != "text.complete,text.chat,text.embed" || !json.Valid(m.Models[0].SpecFor(taskEmbed).Params) {
		t.Fatalf("manifest %+v", m)
	}
}

func TestErrors(t *testing.T) {
	e := newEngine([]string{sharedModels(t)}, "")
	cases := []struct {
		task, model, params string
		code                sdk.Code
	}{
		{taskComplete, "nope", `{"prompt":"x"}`, sdk.CodeModelNotFound},
		{taskComplete, "../stories260K", `{"prompt":"x"}`, sdk.CodeInvalidRequest},
		{taskComplete, "stories260K", `{"prompt":"x","temperature":-1}`, sdk.CodeInvalidRequest},
		{taskComplete, "stories260K", `{"prompt":"x","max_tokens":0}`, sdk.CodeInvalidRequest},
		{taskComplete, "stories260K", `{"prompt":"x","top_p":2}`, sdk.CodeInvalidRequest},
		{taskComplete, "stories260K", `{"prompt":"x","stop":5}`, sdk.CodeInvalidRequest},
		{taskComplete, "stories260K", `{"max_tokens":3}`, sdk.CodeInvalidRequest},
		{taskComplete, "stories260K", `{"prompt":`, sdk.CodeInvalidRequest},
		{taskComplete, "stories260K", `{"prompt":"` + strings.Repeat("word ", 600) + `"}`, sdk.CodeInvalidRequest},
		{taskChat, "stories260K", `{"messages":[]}`, sdk.CodeInvalidRequest},
		{taskChat, "stories260K", `{"messages":[{"role":"robot","content":"x"}]}`, sdk.CodeInvalidRequest},
		{"image.generate", "stories260K", `{}`, sdk.CodeInvalidRequest},
	}
	for _, c := range cases {
		r := runJob(t, e, context.Background(), sdk.Job{Task: c.task, Model: c.model, Params: json.RawMessage(c.params)})
		var pe *sdk.Error
		if !errors.As(r.err, &pe) || pe.Code != c.code {
			t.Errorf("%s %s %.60s: error %v, want code %s", c.task, c.model, c.params, r.err, c.code)
		}
	}
}

func TestCancelStops(t *testing.T) {
	e := newEngine([]string{sharedModels(t)}, "")
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := e.Run(ctx, sdk.Job{Task: taskComplete, Model: "stories260K",
		Params: json.RawMessage(`{"prompt":"Once","max_tokens":400,"temperature":0.8}`)}, func(ev sdk.Event) error {
		if ev.Kind == sdk.EventResult {
			t.Fatal("result after cancel")
		}
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n > 4 {
		t.Fatalf("err %v after %d deltas", err, n)
	}
}

// TestChoicesFromOnePrefill: n = 3 gives three continuations of one prompt;
// choice 0 is exactly the n = 1 answer of the same seed and choice i that of
// seed+i, every delta names its choice, and usage counts every choice's tokens.
func TestChoicesFromOnePrefill(t *testing.T) {
	e := newEngine([]string{sharedModels(t)}, "")
	one := func(seed int64) tasks.TextResult {
		r := runJob(t, e, context.Background(), sdk.Job{Task: taskComplete, Model: "stories260K", Seed: seed,
			Params: json.RawMessage(`{"prompt":"Once upon a time","max_tokens":24,"temperature":1}`)})
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.res
	}
	var res tasks.TextResult
	texts := make([]strings.Builder, 3)
	err := e.Run(context.Background(), sdk.Job{Task: taskComplete, Model: "stories260K", Seed: 40,
		Params: json.RawMessage(`{"prompt":"Once upon a time","max_tokens":24,"temperature":1,"n":3}`)},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventDelta:
				texts[ev.Choice].WriteString(ev.Text)
			case sdk.EventResult:
				return json.Unmarshal(ev.Result, &res)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Choices) != 3 || res.Text != res.Choices[0].Text {
		t.Fatalf("result %+v", res)
	}
	completion := 0
	for i, c := range res.Choices {
		want := one(40 + int64(i))
		if c.Text != want.Text || c.FinishReason != want.FinishReason || texts[i].String() != c.Text {
			t.Errorf("choice %d: %q (%s), streamed %q; seed %d alone gives %q (%s)", i, c.Text, c.FinishReason, texts[i].String(), 40+i, want.Text, want.FinishReason)
		}
		completion += want.Usage.CompletionTokens
	}
	if res.Choices[0].Text == res.Choices[1].Text && res.Choices[1].Text == res.Choices[2].Text {
		t.Error("three choices at temperature 1 are identical")
	}
	if res.Usage.CompletionTokens != completion || res.Usage.TotalTokens != res.Usage.PromptTokens+completion {
		t.Errorf("usage %+v, want %d completion tokens", res.Usage, completion)
	}
	if r := runJob(t, e, context.Background(), sdk.Job{Task: taskComplete, Model: "stories260K",
		Params: json.RawMessage(`{"prompt":"a","n":17}`)}); r.err == nil {
		t.Error("n 17 accepted")
	}
}
