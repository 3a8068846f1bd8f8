package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// TextCompleteParams are text.complete's params: continue Prompt.
type TextCompleteParams struct {
	Prompt string `json:"prompt" schema:"required" doc:"the text to continue (may be empty: start from nothing)"`
	Sampling
}

// TextChatParams are text.chat's params: answer the conversation.
type TextChatParams struct {
	Messages []Message `json:"messages" schema:"required,minItems=1" doc:"the conversation, oldest first"`
	Sampling
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role" schema:"required,enum=system|user|assistant"`
	Content string `json:"content" schema:"required"`
}

// Sampling are the decoding knobs of both text tasks. Absent (nil) fields
// take the defaults named in their tags.
type Sampling struct {
	MaxTokens         *int     `json:"max_tokens,omitempty" schema:"minimum=1,default=256" doc:"most tokens to generate"`
	Temperature       *float64 `json:"temperature,omitempty" schema:"minimum=0,default=1" doc:"0 = greedy"`
	TopK              *int     `json:"top_k,omitempty" schema:"minimum=0,default=0" doc:"keep the k most likely tokens (0 = off)"`
	TopP              *float64 `json:"top_p,omitempty" schema:"minimum=0,maximum=1,default=1" doc:"nucleus mass (1 = off)"`
	MinP              *float64 `json:"min_p,omitempty" schema:"minimum=0,maximum=1,default=0"`
	RepetitionPenalty *float64 `json:"repetition_penalty,omitempty" schema:"minimum=0,default=1"`
	PresencePenalty   *float64 `json:"presence_penalty,omitempty" schema:"minimum=-2,maximum=2,default=0"`
	FrequencyPenalty  *float64 `json:"frequency_penalty,omitempty" schema:"minimum=-2,maximum=2,default=0"`
	Stop              Stop     `json:"stop,omitempty" doc:"stop before any of these strings"`
	N                 *int     `json:"n,omitempty" schema:"minimum=1,maximum=16,default=1" doc:"continuations from one prefill; choice i samples with seed+i"`
}

// MaxChoices bounds Sampling.N.
const MaxChoices = 16

// MaxStops bounds Stop.
const MaxStops = 8

// Stop is a list of stop strings that also accepts a single string.
type Stop []string

// UnmarshalJSON takes "x" or ["x", "y"].
func (s *Stop) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("stop: a string or an array of strings")
	}
	*s = many
	return nil
}

// JSONSchema implements schema.Provider.
func (Stop) JSONSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string"},
		map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "maxItems": MaxStops},
	}}
}

// TextResult is the result of text.complete and text.chat: choice 0's text
// and finish reason, every choice when n > 1, and the usage of all of them;
// the text also streams as delta events while it is made.
type TextResult struct {
	Text         string       `json:"text"`
	FinishReason string       `json:"finish_reason"` // "stop" or "length"
	Choices      []TextChoice `json:"choices,omitempty"`
	Usage        Usage        `json:"usage"`
}

// TextChoice is one of n continuations of the prompt.
type TextChoice struct {
	Text         string `json:"text"`
	FinishReason string `json:"finish_reason"`
}

// Usage counts tokens, as OpenAI's usage object does.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// TextEmbedParams are text.embed's params: one unit-length vector per input
// (Input, or Tokens for models that take their own token ids; exactly one).
type TextEmbedParams struct {
	Input      []string `json:"input,omitempty" schema:"maxItems=2048" doc:"the texts to embed (each non-empty)"`
	Tokens     [][]int  `json:"tokens,omitempty" schema:"maxItems=2048" doc:"or token-id sequences in the model's own vocabulary, used as given (each non-empty)"`
	Dimensions int      `json:"dimensions,omitempty" schema:"minimum=0" doc:"0 or the model's embedding size"`
}

// MaxEmbedInputs is OpenAI's limit on inputs per embeddings request (and
// TextEmbedParams.Input's maxItems).
const MaxEmbedInputs = 2048

// MaxEmbedTokens bounds one token-id input of an embeddings request: OpenAI's
// per-input limit. A model's own context may be shorter; the plugin checks that.
const MaxEmbedTokens = 8192

// TextEmbedResult is text.embed's result: one vector per input, in order.
type TextEmbedResult struct {
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
