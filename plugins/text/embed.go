package main

import (
	"context"
	"fmt"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// text.embed: a sentence embedding per input from any decoder this plugin
// serves — the final hidden states mean-pooled over the input's tokens (BOS
// included) and L2-normalised (towers.State.MeanPooled).

const taskEmbed = tasks.TextEmbed

// embed runs a text.embed job: every input must fit the model's context
// (checked for all before any is run), then one progress event per input.
func (e *engine) embed(ctx context.Context, job sdk.Job, lm *loadedModel, emit func(sdk.Event) error) error {
	p, err := tasks.DecodeTextEmbed(job.Params)
	if err != nil {
		return err
	}
	if lm.dec == nil {
		return sdk.Errorf(sdk.CodeInvalidRequest, "model %q (%s) does not serve embeddings: they are mean-pooled attention-decoder states", job.Model, lm.lm.Info().Arch)
	}
	dim, ctxLen := lm.dec.Config.Dim, lm.dec.Config.Context
	if err := tasks.CheckEmbedDimensions(p, job.Model, dim); err != nil {
		return err
	}
	ids := make([][]int, len(p.Input))
	res := tasks.TextEmbedResult{Model: job.Model, Dimensions: dim}
	for i, s := range p.Input {
		if err := lm.checkTextBytes(fmt.Sprintf("input[%d]", i), len(s)); err != nil {
			return err
		}
		ids[i] = lm.tok.Encode(s, true)
		if n := len(ids[i]); n > ctxLen {
			return sdk.Errorf(sdk.CodeInvalidRequest, "input[%d] is %d tokens; the model's context is %d", i, n, ctxLen)
		}
		res.Usage.PromptTokens += len(ids[i])
	}
	return tasks.RunEmbeddings(ctx, res, len(ids), func(i int, out []float32) error {
		return lm.dec.NewState(len(ids[i])).MeanPooled(out, ids[i])
	}, emit)
}
