package tasks

import (
	"context"
	"encoding/json"

	"github.com/loomhq/loom/plugins/sdk"
)

// text.embed may be served by any plugin for its models (the text plugin for
// decoders, the vision plugin for a diffusion pipeline's CLIP text
// encoder); these helpers keep them alike.

// DecodeTextEmbed decodes text.embed params (schema-checked, then exactly
// one of input and tokens given, every entry non-empty); errors are
// invalid_request. Whether Dimensions fits is the model's to say
// (CheckEmbedDimensions), and so is whether it takes token ids.
func DecodeTextEmbed(raw json.RawMessage) (TextEmbedParams, error) {
	var p TextEmbedParams
	if err := sdk.DecodeParams(raw, &p); err != nil {
		return p, err
	}
	switch {
	case len(p.Input) == 0 && len(p.Tokens) == 0:
		return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: input is required (texts, or tokens: token-id sequences)").WithParam("input")
	case len(p.Input) > 0 && len(p.Tokens) > 0:
		return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: input and tokens are both given; send one").WithParam("input")
	}
	for i, s := range p.Input {
		if s == "" {
			return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: input[%d] is empty", i).WithParam("input")
		}
	}
	for i, ids := range p.Tokens {
		if len(ids) == 0 {
			return p, sdk.Errorf(sdk.CodeInvalidRequest, "params: tokens[%d] is empty", i).WithParam("tokens")
		}
	}
	return p, nil
}

// Count is the number of inputs: texts or token-id sequences.
func (p TextEmbedParams) Count() int { return len(p.Input) + len(p.Tokens) }

// RefuseTokens is the answer of a model that reads text only.
func RefuseTokens(p TextEmbedParams, model string) error {
	if len(p.Tokens) > 0 {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: model %q embeds text only; send input as a string or an array of strings, not token ids", model).WithParam("model")
	}
	return nil
}

// CheckEmbedDimensions refuses a dimensions value other than 0 or the
// model's size: truncating a vector a model was not trained to truncate
// (Matryoshka-style) would return a worse embedding without saying so.
func CheckEmbedDimensions(p TextEmbedParams, model string, size int) error {
	if p.Dimensions != 0 && p.Dimensions != size {
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: dimensions %d: model %q embeds in %d dimensions and was not trained for shorter vectors", p.Dimensions, model, size).WithParam("dimensions")
	}
	return nil
}

// RunEmbeddings fills res.Embeddings with one res.Dimensions-wide vector per
// input (pool(i, out) computes input i), emitting a progress event after
// each and res as the result at the end; it stops when ctx is done. Usage
// is the caller's to fill (TotalTokens follows PromptTokens).
func RunEmbeddings(ctx context.Context, res TextEmbedResult, n int, pool func(i int, out []float32) error, emit func(sdk.Event) error) error {
	res.Embeddings = make([][]float32, n)
	res.Usage.TotalTokens = res.Usage.PromptTokens
	for i := range res.Embeddings {
		if err := ctx.Err(); err != nil {
			return err
		}
		v := make([]float32, res.Dimensions)
		if err := pool(i, v); err != nil {
			return sdk.Errorf(sdk.CodeInternal, "input[%d]: %v", i, err)
		}
		res.Embeddings[i] = v
		if err := emit(sdk.Event{Kind: sdk.EventProgress, Step: i + 1, Total: n}); err != nil {
			return err
		}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return sdk.Errorf(sdk.CodeInternal, "encode result: %v", err)
	}
	return emit(sdk.Event{Kind: sdk.EventResult, Result: b})
}
