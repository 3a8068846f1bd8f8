package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func runEmbed(t *testing.T, e *engine, params string) (tasks.TextEmbedResult, int, error) {
	t.Helper()
	return runEmbedModel(t, e, "stories260K", params)
}

func runEmbedModel(t *testing.T, e *engine, model, params string) (tasks.TextEmbedResult, int, error) {
	t.Helper()
	var res tasks.TextEmbedResult
	progress := 0
	err := e.Run(context.Background(), sdk.Job{Task: taskEmbed, Model: model, Params: json.RawMessage(params)},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventProgress:
				progress++
			case sdk.EventResult:
				return json.Unmarshal(ev.Result, &res)
			default:
				t.Fatalf("unexpected event %v", ev.Kind)
			}
			return nil
		})
	return res, progress, err
}

func cosine(a, b []float32) float64 {
	var d float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
	}
	return d
}

func TestEmbed(t *testing.T) {
	e := newEngine([]string{sharedModels(t)}, "")
	texts := []string{"Once upon a time, there was a little girl named Lily.",
		"Once upon a time, there was a little boy named Tim.", "The big red ball went up the hill."}
	in, _ := json.Marshal(map[string]any{"input": append(texts, texts[0])})
	res, progress, err := runEmbed(t, e, string(in))
	if err != nil {
		t.Fatal(err)
	}
	if res.Dimensions != 64 || len(res.Embeddings) != 4 || progress != 4 || res.Model != "stories260K" {
		t.Fatalf("result: dims %d, %d vectors, %d progress events, model %q", res.Dimensions, len(res.Embeddings), progress, res.Model)
	}
	for i, v := range res.Embeddings {
		if len(v) != 64 || math.Abs(cosine(v, v)-1) > 1e-5 {
			t.Fatalf("vector %d: length %d, ‖v‖² %g", i, len(v), cosine(v, v))
		}
	}
	if cosine(res.Embeddings[0], res.Embeddings[3]) < 1-1e-6 {
		t.Error("the same text embedded twice differs")
	}
	near, far := cosine(res.Embeddings[0], res.Embeddings[1]), cosine(res.Embeddings[0], res.Embeddings[2])
	t.Logf("cos(girl, boy) %.4f, cos(girl, ball) %.4f", near, far)
	if near <= far {
		t.Errorf("two story openings are less alike (%.4f) than an opening and a ball sentence (%.4f)", near, far)
	}
	// Tokens: each input with its BOS.
	if res.Usage.PromptTokens < 4*5 || res.Usage.TotalTokens != res.Usage.PromptTokens {
		t.Errorf("usage %+v", res.Usage)
	}
	// dimensions equal to the width is accepted.
	if _, _, err := runEmbed(t, e, `{"input":["a cat"],"dimensions":64}`); err != nil {
		t.Errorf("dimensions 64: %v", err)
	}
}

func TestEmbedRefusesBadParams(t *testing.T) {
	e := newEngine([]string{sharedModels(t)}, "")
	long := strings.Repeat("cat ", 600)
	for name, params := range map[string]string{
		"no input":         `{}`,
		"empty text":       `{"input":["a",""]}`,
		"unknown field":    `{"input":["a"],"prompt":"b"}`,
		"short dims":       `{"input":["a"],"dimensions":32}`,
		"over context":     `{"input":["a","` + long + `"]}`,
		"negative dims":    `{"input":["a"],"dimensions":-1}`,
		"string not list":  `{"input":"a"}`,
		"both":             `{"input":["a"],"tokens":[[1]]}`,
		"empty tokens":     `{"tokens":[[1],[]]}`,
		"token over vocab": `{"tokens":[[1,512]]}`,
	} {
		_, _, err := runEmbed(t, e, params)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeInvalidRequest {
			t.Errorf("%s: %v, want invalid_request", name, err)
		}
	}
}
