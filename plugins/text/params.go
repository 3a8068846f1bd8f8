package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/loomhq/loom/core/sample"
	"github.com/loomhq/loom/plugins/sdk"
)

// Defaults follow OpenAI's completions API.
const (
	defaultMaxTokens   = 256
	defaultTemperature = 1.0
	maxStops           = 8
	maxChoices         = 16 // n: continuations decoded from one prefill
)

// message is one chat turn.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// textParams are the job params of text.complete and text.chat (the gateway
// builds the same JSON). Pointers tell an absent field from a zero one.
type textParams struct {
	Prompt            *string         `json:"prompt"`
	Messages          []message       `json:"messages"`
	MaxTokens         *int            `json:"max_tokens"`
	Temperature       *float64        `json:"temperature"`
	TopK              *int            `json:"top_k"`
	TopP              *float64        `json:"top_p"`
	MinP              *float64        `json:"min_p"`
	RepetitionPenalty *float64        `json:"repetition_penalty"`
	PresencePenalty   *float64        `json:"presence_penalty"`
	FrequencyPenalty  *float64        `json:"frequency_penalty"`
	Stop              json.RawMessage `json:"stop"` // a string or an array of strings
	N                 *int            `json:"n"`    // choices, 1…16
}

// request is validated params ready to run.
type request struct {
	prompt    string    // text.complete
	messages  []message // text.chat
	maxTokens int
	n         int // choices
	sampling  sample.Params
	stops     []string
}

// parseParams validates a job's params for task; errors are for the user.
func parseParams(task string, raw json.RawMessage, seed int64) (request, error) {
	var p textParams
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &p); err != nil {
			return request{}, fmt.Errorf("params: %v", err)
		}
	}
	r := request{maxTokens: defaultMaxTokens, n: 1, sampling: sample.Params{Temperature: defaultTemperature, Seed: seed}}
	switch task {
	case taskComplete:
		if p.Prompt == nil {
			return r, fmt.Errorf("params: text.complete needs \"prompt\"")
		}
		if p.Messages != nil {
			return r, fmt.Errorf("params: text.complete takes \"prompt\", not \"messages\"")
		}
		r.prompt = *p.Prompt
	case taskChat:
		if len(p.Messages) == 0 {
			return r, fmt.Errorf("params: text.chat needs a non-empty \"messages\" array")
		}
		if p.Prompt != nil {
			return r, fmt.Errorf("params: text.chat takes \"messages\", not \"prompt\"")
		}
		for i, m := range p.Messages {
			switch m.Role {
			case "system", "user", "assistant":
			default:
				return r, fmt.Errorf("params: messages[%d].role %q is not system, user or assistant", i, m.Role)
			}
		}
		r.messages = p.Messages
	}
	if p.MaxTokens != nil {
		if *p.MaxTokens < 1 {
			return r, fmt.Errorf("params: max_tokens must be ≥ 1, got %d", *p.MaxTokens)
		}
		r.maxTokens = *p.MaxTokens
	}
	if p.N != nil {
		if *p.N < 1 || *p.N > maxChoices {
			return r, fmt.Errorf("params: n must be 1…%d, got %d", maxChoices, *p.N)
		}
		r.n = *p.N
	}
	set := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&r.sampling.Temperature, p.Temperature)
	set(&r.sampling.TopP, p.TopP)
	set(&r.sampling.MinP, p.MinP)
	set(&r.sampling.RepetitionPenalty, p.RepetitionPenalty)
	set(&r.sampling.PresencePenalty, p.PresencePenalty)
	set(&r.sampling.FrequencyPenalty, p.FrequencyPenalty)
	if p.TopK != nil {
		r.sampling.TopK = *p.TopK
	}
	if err := r.sampling.Validate(); err != nil {
		return r, fmt.Errorf("params: %v", err)
	}
	if len(bytes.TrimSpace(p.Stop)) > 0 && string(bytes.TrimSpace(p.Stop)) != "null" {
		var one string
		if err := json.Unmarshal(p.Stop, &one); err == nil {
			r.stops = []string{one}
		} else if err := json.Unmarshal(p.Stop, &r.stops); err != nil {
			return r, fmt.Errorf("params: stop must be a string or an array of strings")
		}
		if len(r.stops) > maxStops {
			return r, fmt.Errorf("params: at most %d stop strings, got %d", maxStops, len(r.stops))
		}
	}
	return r, nil
}

// paramsSchema is the JSON Schema of the params, published in the manifest.
var paramsSchema = `{
  "type": "object",
  "properties": {
    "prompt": {"type": "string", "description": "text.complete: the text to continue"},
    "messages": {"type": "array", "description": "text.chat: the conversation",
      "items": {"type": "object", "required": ["role", "content"],
        "properties": {"role": {"enum": ["system", "user", "assistant"]}, "content": {"type": "string"}}}},
    "max_tokens": {"type": "integer", "minimum": 1, "default": 256},
    "n": {"type": "integer", "minimum": 1, "maximum": 16, "default": 1, "description": "continuations from one prefill; choice i samples with seed+i"},
    "temperature": {"type": "number", "minimum": 0, "default": 1, "description": "0 = greedy"},
    "top_k": {"type": "integer", "minimum": 0, "default": 0},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
    "min_p": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
    "repetition_penalty": {"type": "number", "minimum": 0, "default": 1},
    "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2, "default": 0},
    "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2, "default": 0},
    "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 8}]},
    ` + sdk.EmbedParamsSchema + `
  }
}`
