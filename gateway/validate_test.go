package gateway

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/loomhq/loom/plugins/sdk"
)

// Params and inputs that break the model's published spec are refused with
// 400 naming the key, and nothing is queued.
func TestJobsCheckedAgainstTheManifestSpec(t *testing.T) {
	e := newEnv(t, Config{})
	png := base64.StdEncoding.EncodeToString(pngBytes(4, 4))
	for _, c := range []struct {
		name  string
		body  map[string]any
		says  string
		param string // the error's param; "" for null
	}{
		{"steps over the maximum", map[string]any{"task": "image.generate", "model": "gen", "params": map[string]any{"prompt": "x", "steps": 500}},
			"params: steps: 500 is above the maximum 150", "steps"},
		{"unknown key", map[string]any{"task": "image.generate", "model": "gen", "params": map[string]any{"prompt": "x", "colour": "red"}},
			"params: colour: unknown key", "colour"},
		{"missing required", map[string]any{"task": "image.generate", "model": "gen", "params": map[string]any{}},
			`params: "prompt" is required`, "prompt"},
		{"wrong type", map[string]any{"task": "image.caption", "model": "cap", "params": map[string]any{"beam": "two"},
			"inputs": []map[string]any{{"name": "image", "mime": "image/png", "data": png}}}, "params: beam: expected integer, got string", "beam"},
		{"required input missing", map[string]any{"task": "image.caption", "model": "cap"}, `needs an input named "image"`, ""},
		{"undeclared input", map[string]any{"task": "image.caption", "model": "cap",
			"inputs": []map[string]any{{"name": "image", "mime": "image/png", "data": png}, {"name": "photo", "mime": "image/png", "data": png}}},
			`takes no input named "photo" (it takes image)`, ""},
		{"input of the wrong type", map[string]any{"task": "image.caption", "model": "cap",
			"inputs": []map[string]any{{"name": "image", "mime": "text/plain", "data": png}}}, `"image" is text/plain; image.caption wants image/*`, ""},
		{"input repeated past its max", map[string]any{"task": "image.caption", "model": "cap",
			"inputs": []map[string]any{{"name": "image", "mime": "image/png", "data": png}, {"name": "image", "mime": "image/png", "data": png}}},
			`"image" sent 2 times; image.caption takes at most 1`, ""},
	} {
		before, _ := e.q.Depth(t.Context(), c.body["task"].(string))
		code, _, body := e.postJSON("/v1/jobs", c.body)
		ae := errorOf(t, body)
		if code != 400 || ae.Code != sdk.CodeInvalidRequest || !strings.Contains(ae.Message, c.says) {
			t.Errorf("%s: %d %s, want 400 saying %q", c.name, code, body, c.says)
		}
		if c.param != "" && (ae.Param == nil || *ae.Param != c.param) {
			t.Errorf("%s: param %v, want %q", c.name, ae.Param, c.param)
		}
		if after, _ := e.q.Depth(t.Context(), c.body["task"].(string)); after != before {
			t.Errorf("%s: queued anyway", c.name)
		}
	}
	// A valid job passes.
	code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": "image.caption", "model": "cap", "params": map[string]any{"beam": 2},
		"inputs": []map[string]any{{"name": "image", "mime": "image/png", "data": png}}})
	if code != 202 {
		t.Fatalf("valid job: %d %s", code, body)
	}
}

// GET /v1/models and /v1/models/{id} publish each task's params schema,
// declared inputs and the plugin's version.
func TestModelsPublishSpecs(t *testing.T) {
	e := newEnv(t, Config{})
	code, _, body := e.do("GET", "/v1/models/cap", "", nil)
	var m struct {
		PluginVersion string `json:"plugin_version"`
		Specs         []struct {
			Task   string          `json:"task"`
			Params json.RawMessage `json:"params"`
			Inputs []sdk.InputSpec `json:"inputs"`
		} `json:"specs"`
	}
	if err := json.Unmarshal(body, &m); err != nil || code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if m.PluginVersion != "test" || len(m.Specs) != 1 || m.Specs[0].Task != "image.caption" ||
		!strings.Contains(string(m.Specs[0].Params), `"beam"`) || len(m.Specs[0].Inputs) != 1 ||
		m.Specs[0].Inputs[0] != (sdk.InputSpec{Name: "image", MIME: "image/*", Required: true, Description: m.Specs[0].Inputs[0].Description}) {
		t.Fatalf("model cap: %s", body)
	}
	// A model whose plugin gave no schema lists {} and no inputs.
	_, _, body = e.do("GET", "/v1/models", "", nil)
	if !strings.Contains(string(body), `"specs":[{"task":"text.chat","params":{},"inputs":[]},{"task":"text.complete","params":{},"inputs":[]}]`) {
		t.Fatalf("list: %s", body)
	}
}
