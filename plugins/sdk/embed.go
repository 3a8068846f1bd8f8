package sdk

import (
	"bytes"
	"context"
	"encoding/json"
)

// TaskEmbed is the sentence-embedding task: any plugin may serve it for its
// models (the text plugin for decoders, the vision plugin for a diffusion
// pipeline's CLIP text encoder); the gateway's POST /v1/embeddings sends it.
const TaskEmbed = "text.embed"

// MaxEmbedInputs is OpenAI's limit on inputs per embeddings request.
const MaxEmbedInputs = 2048

// EmbedParams are text.embed's job params.
type EmbedParams struct {
	Input      []string `json:"input"`                // 1…2048 non-empty texts
	Dimensions int      `json:"dimensions,omitempty"` // 0: the model's size; other sizes only where the model was trained for them
}

// EmbedResult is text.embed's output: one unit-length vector per input, in order.
type EmbedResult struct {
	Model      string      `json:"model"`
	Dimensions int         `json:"dimensions"`
	Embeddings [][]float32 `json:"embeddings"`
	Usage      EmbedUsage  `json:"usage"`
}

// EmbedUsage counts the tokens the model read (OpenAI's usage object).
type EmbedUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// EmbedParamsSchema is the JSON Schema fragment of text.embed's params.
const EmbedParamsSchema = `"input": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "maxItems": 2048,
      "description": "text.embed: the texts to embed"},
    "dimensions": {"type": "integer", "description": "text.embed: 0 or the model's embedding size"}`

// ParseEmbedParams decodes and bounds text.embed params (unknown keys
// refused); errors are invalid_request. Whether Dimensions fits is the
// model's to say.
func ParseEmbedParams(raw json.RawMessage) (EmbedParams, error) {
	var p EmbedParams
	bad := func(format string, args ...any) (EmbedParams, error) {
		return p, Errorf(CodeInvalidRequest, "params: "+format, args...)
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return bad("%v", err)
		}
	}
	switch {
	case len(p.Input) == 0:
		return bad("text.embed needs a non-empty \"input\" array")
	case len(p.Input) > MaxEmbedInputs:
		return bad("%d inputs; at most %d per job", len(p.Input), MaxEmbedInputs)
	case p.Dimensions < 0:
		return bad("dimensions must be positive")
	}
	for i, s := range p.Input {
		if s == "" {
			return bad("input[%d] is empty", i)
		}
	}
	return p, nil
}

// CheckEmbedDimensions refuses a dimensions value other than 0 or the
// model's size: truncating a vector a model was not trained to truncate
// (Matryoshka-style) would return a worse embedding without saying so.
func CheckEmbedDimensions(p EmbedParams, model string, size int) error {
	if p.Dimensions != 0 && p.Dimensions != size {
		return Errorf(CodeInvalidRequest, "params: dimensions %d: model %q embeds in %d dimensions and was not trained for shorter vectors", p.Dimensions, model, size)
	}
	return nil
}

// RunEmbeddings fills res.Embeddings with one res.Dimensions-wide vector per
// input (pool(i, out) computes input i), emitting a progress event after
// each and res as the result at the end; it stops when ctx is done. Usage
// is the caller's to fill (TotalTokens follows PromptTokens).
func RunEmbeddings(ctx context.Context, res EmbedResult, n int, pool func(i int, out []float32) error, emit func(Event) error) error {
	res.Embeddings = make([][]float32, n)
	res.Usage.TotalTokens = res.Usage.PromptTokens
	for i := range res.Embeddings {
		if err := ctx.Err(); err != nil {
			return err
		}
		v := make([]float32, res.Dimensions)
		if err := pool(i, v); err != nil {
			return Errorf(CodeInternal, "input[%d]: %v", i, err)
		}
		res.Embeddings[i] = v
		if err := emit(Event{Kind: EventProgress, Step: i + 1, Total: n}); err != nil {
			return err
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return Errorf(CodeInternal, "encode result: %v", err)
	}
	return emit(Event{Kind: EventResult, Result: b})
}
