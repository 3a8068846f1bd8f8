package main

import (
	"encoding/json"

	"github.com/loomhq/loom/core/sample"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// Defaults follow OpenAI's completions API (and tasks.Sampling's tags).
const (
	defaultMaxTokens   = 256
	defaultTemperature = 1.0
)

// request is validated params ready to run.
type request struct {
	prompt    string          // text.complete
	messages  []tasks.Message // text.chat
	maxTokens int
	n         int // choices
	sampling  sample.Params
	stops     []string
}

// parseParams decodes a job's params for task (tasks.TextCompleteParams or
// tasks.TextChatParams, checked against their schema); errors are
// invalid_request for the user.
func parseParams(task string, raw json.RawMessage, seed int64) (request, error) {
	r := request{maxTokens: defaultMaxTokens, n: 1, sampling: sample.Params{Temperature: defaultTemperature, Seed: seed}}
	var s tasks.Sampling
	switch task {
	case taskComplete:
		var p tasks.TextCompleteParams
		if err := sdk.DecodeParams(raw, &p); err != nil {
			return r, err
		}
		r.prompt, s = p.Prompt, p.Sampling
	case taskChat:
		var p tasks.TextChatParams
		if err := sdk.DecodeParams(raw, &p); err != nil {
			return r, err
		}
		r.messages, s = p.Messages, p.Sampling
	}
	if s.MaxTokens != nil {
		r.maxTokens = *s.MaxTokens
	}
	if s.N != nil {
		r.n = *s.N
	}
	set := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&r.sampling.Temperature, s.Temperature)
	set(&r.sampling.TopP, s.TopP)
	set(&r.sampling.MinP, s.MinP)
	set(&r.sampling.RepetitionPenalty, s.RepetitionPenalty)
	set(&r.sampling.PresencePenalty, s.PresencePenalty)
	set(&r.sampling.FrequencyPenalty, s.FrequencyPenalty)
	if s.TopK != nil {
		r.sampling.TopK = *s.TopK
	}
	if err := r.sampling.Validate(); err != nil {
		return r, sdk.ParamsError(err)
	}
	r.stops = s.Stop
	return r, nil
}
