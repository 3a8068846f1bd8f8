package main

import (
	"context"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// text.embed from a diffusion pipeline: its CLIP text encoder's pooled
// output (the final-normed state at the end-of-text token, as CLIPTextModel's
// pooler_output), L2-normalised — the text side of the space the UNet was
// trained to follow. No projection head: a diffusion pipeline ships none.

func (e *generateEngine) embed(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	p, err := tasks.DecodeTextEmbed(job.Params)
	if err != nil {
		return err
	}
	if len(job.Inputs) > 0 {
		return sdk.Errorf(sdk.CodeInvalidRequest, "text.embed takes no input files (got %q)", job.Inputs[0].Name)
	}
	if err := tasks.RefuseTokens(p, job.Model); err != nil {
		return err
	}
	model, pl, err := e.pipelineFor(job.Model)
	if err != nil {
		return err
	}
	dim := pl.Text.Cfg.HiddenSize
	if err := tasks.CheckEmbedDimensions(p, model, dim); err != nil {
		return err
	}
	ids := make([][]int, len(p.Input))
	res := tasks.TextEmbedResult{Model: model, Dimensions: dim}
	for i, s := range p.Input {
		toks := pl.Tok.Encode(s, false)
		if n := len(toks) + 2; n > pl.CtxLen {
			return sdk.Errorf(sdk.CodeInvalidRequest, "input[%d] is %d tokens with its start and end tokens; the text encoder's context is %d", i, n, pl.CtxLen)
		}
		ids[i] = append(append([]int{pl.Tok.BOS()}, toks...), pl.Tok.EOS())
		res.Usage.PromptTokens += len(ids[i])
	}
	return tasks.RunEmbeddings(ctx, res, len(ids), func(i int, out []float32) error { return pl.Text.Pooled(out, ids[i]) }, emit)
}
