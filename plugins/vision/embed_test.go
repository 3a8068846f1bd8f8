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

func runEmbed(t *testing.T, e sdk.Engine, model, params string) (tasks.TextEmbedResult, error) {
	t.Helper()
	var res tasks.TextEmbedResult
	err := e.Run(context.Background(), sdk.Job{Task: tasks.TextEmbed, Model: model, Params: json.RawMessage(params)},
		func(ev sdk.Event) error {
			if ev.Kind == sdk.EventResult {
				return json.Unmarshal(ev.Result, &res)
			}
			return nil
		})
	return res, err
}

func dot(a, b []float32) float64 {
	var d float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
	}
	return d
}

// TestEmbedIsCLIPEndOfText: the pipeline's embedding is the state the UNet
// reads at the end-of-text position of the padded prompt (encodePrompts),
// normalised — padding after EOS changes nothing.
func TestEmbedIsCLIPEndOfText(t *testing.T) {
	res, err := runEmbed(t, tinyEngine, "tiny-pipeline", `{"input":["a red circle","a blue square"]}`)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := tinyEngine.gen.get("tiny-pipeline")
	if err != nil {
		t.Fatal(err)
	}
	D, L := pl.Text.Cfg.HiddenSize, pl.CtxLen
	if res.Dimensions != D || len(res.Embeddings) != 2 || res.Model != "tiny-pipeline" {
		t.Fatalf("result %+v", res)
	}
	for i, prompt := range []string{"a red circle", "a blue square"} {
		ctx, err := pl.EncodePrompts(prompt, "")
		if err != nil {
			t.Fatal(err)
		}
		eos := len(pl.Tok.Encode(prompt, false)) + 1
		row := ctx[L*D+eos*D : L*D+(eos+1)*D] // the prompt half, EOS row
		var n float64
		for _, v := range row {
			n += float64(v) * float64(v)
		}
		for k, v := range row {
			if d := math.Abs(float64(v)/math.Sqrt(n) - float64(res.Embeddings[i][k])); d > 1e-5 {
				t.Fatalf("input %d dim %d: embedding differs from the UNet's EOS state by %g", i, k, d)
			}
		}
	}
	if res.Usage.PromptTokens != res.Usage.TotalTokens || res.Usage.PromptTokens < 6 {
		t.Errorf("usage %+v", res.Usage)
	}
}

func TestEmbedShapesSemantics(t *testing.T) {
	e := newVisionEngine([]string{modelsDir})
	if _, ok := e.gen.models()["shapes-diffusion"]; !ok {
		t.Skip("models/shapes-diffusion absent")
	}
	res, err := runEmbed(t, e, "shapes-diffusion", `{"input":["a large red circle on the left","a large red circle on the right","a small blue triangle at the top"]}`)
	if err != nil {
		t.Fatal(err)
	}
	near, far := dot(res.Embeddings[0], res.Embeddings[1]), dot(res.Embeddings[0], res.Embeddings[2])
	t.Logf("cos(red circle left, right) %.4f, cos(red circle, blue triangle) %.4f", near, far)
	if near <= far {
		t.Errorf("captions differing in one attribute are less alike (%.4f) than ones differing in four (%.4f)", near, far)
	}
}

func TestEmbedRefusesBadInput(t *testing.T) {
	for name, params := range map[string]string{
		"empty":      `{"input":[]}`,
		"too long":   `{"input":["` + strings.Repeat("red ", 40) + `"]}`,
		"dimensions": `{"input":["a"],"dimensions":3}`,
		"unknown":    `{"input":["a"],"prompt":"a"}`,
	} {
		_, err := runEmbed(t, tinyEngine, "tiny-pipeline", params)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeInvalidRequest {
			t.Errorf("%s: %v, want invalid_request", name, err)
		}
	}
	if _, err := runEmbed(t, tinyEngine, "nope", `{"input":["a"]}`); err == nil {
		t.Error("unknown model accepted")
	}
}
