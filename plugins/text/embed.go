package main

import (
	"context"
	"fmt"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// text.embed: a sentence embedding per input, L2-normalised, from
//
//   - a BERT-family encoder (bge, MiniLM, e5 as llama.cpp converts them):
//     its last layer's states pooled by mean or [CLS] as the file's
//     bert.pooling_type says (towers.BERT.Pooled), the text wrapped in
//     [CLS] … [SEP] — what llama-embedding prints for the same file;
//   - an attention decoder: its final hidden states pooled as the file's
//     ARCH.pooling_type says (last token for Qwen3-Embedding's files), by
//     mean over every token, BOS included, when it says nothing
//     (towers.State.Pooled).
//
// Mamba, RWKV and DeepSeek-V2 files serve no embeddings (Describe does not
// list the task for them). Token-id inputs are the model's own ids, used as
// given: nothing is added around them.

const taskEmbed = tasks.TextEmbed

// embed runs a text.embed job: every input must fit the model's context
// (checked for all before any is run), then one progress event per input.
func (e *engine) embed(ctx context.Context, job sdk.Job, lm *loadedModel, emit func(sdk.Event) error) error {
	p, err := tasks.DecodeTextEmbed(job.Params)
	if err != nil {
		return err
	}
	var pool func(out []float32, ids []int) error
	switch {
	case lm.enc != nil:
		pool = lm.enc.Pooled
	case lm.dec != nil:
		pool = func(out []float32, ids []int) error { return lm.dec.NewState(len(ids)).Pooled(out, ids, lm.pooling) }
	default:
		return sdk.Errorf(sdk.CodeInvalidRequest, "model %q (%s) does not serve embeddings: they come from a BERT encoder or an attention decoder's states", job.Model, lm.info.Arch)
	}
	dim, ctxLen := lm.info.Dim, lm.info.Context
	if err := tasks.CheckEmbedDimensions(p, job.Model, dim); err != nil {
		return err
	}
	ids := p.Tokens
	for i, toks := range ids {
		for _, id := range toks {
			if id < 0 || id >= lm.info.Vocab {
				return sdk.Errorf(sdk.CodeInvalidRequest, "tokens[%d]: id %d is outside the model's vocabulary of %d", i, id, lm.info.Vocab)
			}
		}
	}
	for i, s := range p.Input {
		if err := lm.checkTextBytes(fmt.Sprintf("input[%d]", i), len(s)); err != nil {
			return err
		}
		ids = append(ids, lm.tok.Encode(s, true))
	}
	what := "input"
	if len(p.Tokens) > 0 {
		what = "tokens"
	}
	res := tasks.TextEmbedResult{Model: job.Model, Dimensions: dim}
	for i, toks := range ids {
		if n := len(toks); n > ctxLen {
			return sdk.Errorf(sdk.CodeInvalidRequest, "%s[%d] is %d tokens; the model's context is %d", what, i, n, ctxLen)
		}
		res.Usage.PromptTokens += len(toks)
	}
	return tasks.RunEmbeddings(ctx, res, len(ids), func(i int, out []float32) error { return pool(out, ids[i]) }, emit)
}
