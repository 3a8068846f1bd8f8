package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/sample"
	"github.com/loomhq/loom/core/tokenizer"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
)

const (
	taskComplete = "text.complete"
	taskChat     = "text.chat"
	version      = "0.1.0"
	// tokenizerEnv names a tokenizer file to use for every model of this
	// process. Only a host the user started by hand sets it (loom generate
	// --tokenizer); the gateway never passes paths to plugins.
	tokenizerEnv = "LOOM_TEXT_TOKENIZER"
)

// engine serves text.complete and text.chat for the models under its dirs.
// Loaded models are cached for the life of the process and shared by
// concurrent jobs; each job has its own KV cache and sampler.
type engine struct {
	dirs      []string
	tokenizer string // override tokenizer file ("" = the model's own)

	mu     sync.Mutex
	models map[string]*loadedModel // by resolved path
}

// loadedModel is a model ready to generate. once guards the load so
// concurrent first jobs load it once.
type loadedModel struct {
	once sync.Once
	err  error
	src  formats.TensorSource
	dec  *towers.Decoder
	tok  tokenizer.Tokenizer
	chat tokenizer.ChatTemplate
}

func newEngine(dirs []string, tokenizerPath string) *engine {
	return &engine{dirs: dirs, tokenizer: tokenizerPath, models: map[string]*loadedModel{}}
}

// Describe lists the models found under the engine's directories.
func (e *engine) Describe(ctx context.Context) (sdk.Manifest, error) {
	m := sdk.Manifest{Name: "text", Version: version, Tasks: []string{taskComplete, taskChat}, Models: []sdk.ModelInfo{}}
	for _, id := range catalog(e.dirs) {
		m.Models = append(m.Models, sdk.ModelInfo{
			ID:          id,
			Tasks:       []string{taskComplete, taskChat},
			Description: "decoder language model (llama family)",
			Params:      json.RawMessage(paramsSchema),
			Ready:       true,
		})
	}
	return m, nil
}

// model returns the loaded model for id, loading it on first use.
func (e *engine) model(id string) (*loadedModel, error) {
	path := resolve(e.dirs, id)
	if path == "" {
		if !validID(id) {
			return nil, sdk.Errorf(sdk.CodeInvalidRequest, "model name %q is not a file or folder name", id)
		}
		return nil, sdk.Errorf(sdk.CodeModelNotFound, "no text model %q under LOOM_MODELS (%s)", id, strings.Join(e.dirs, ", "))
	}
	e.mu.Lock()
	lm, ok := e.models[path]
	if !ok {
		lm = &loadedModel{}
		e.models[path] = lm
	}
	e.mu.Unlock()
	lm.once.Do(func() { lm.err = lm.load(path, e.tokenizer) })
	if lm.err != nil {
		return nil, sdk.Errorf(sdk.CodeModelUnavailable, "model %q: %v", id, lm.err)
	}
	return lm, nil
}

func (lm *loadedModel) load(path, tokPath string) error {
	src, err := formats.Open(path)
	if err != nil {
		return err
	}
	is, ok := src.(formats.InfoSource)
	if !ok {
		src.Close()
		return fmt.Errorf("%s: reader gives no tensor views", path)
	}
	dec, err := towers.LoadDecoder(is)
	if err != nil {
		src.Close()
		return err
	}
	tok, err := tokenizer.FromSource(src, tokPath)
	if err != nil {
		src.Close()
		return err
	}
	if tok.VocabSize() > dec.Config.Vocab {
		src.Close()
		return fmt.Errorf("tokenizer has %d tokens, model %d", tok.VocabSize(), dec.Config.Vocab)
	}
	lm.src, lm.dec, lm.tok = src, dec, tok
	lm.chat = tokenizer.TemplateForTokenizer(src.Meta(), tok)
	return nil
}

// result is the EventResult JSON of a text job.
type result struct {
	Text         string `json:"text"`
	FinishReason string `json:"finish_reason"` // "stop" or "length"
	Usage        usage  `json:"usage"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Run generates for one job, streaming an EventDelta per piece of text.
func (e *engine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	if job.Task != taskComplete && job.Task != taskChat {
		return sdk.Errorf(sdk.CodeInvalidRequest, "text plugin serves %s and %s, not %q", taskComplete, taskChat, job.Task)
	}
	req, err := parseParams(job.Task, job.Params, job.Seed)
	if err != nil {
		return sdk.Errorf(sdk.CodeInvalidRequest, "%v", err)
	}
	lm, err := e.model(job.Model)
	if err != nil {
		return err
	}
	if !job.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, job.Deadline)
		defer cancel()
	}
	prompt := req.prompt
	var stopIDs []int
	if job.Task == taskChat {
		msgs := make([]tokenizer.Message, len(req.messages))
		for i, m := range req.messages {
			msgs[i] = tokenizer.Message{Role: m.Role, Content: m.Content}
		}
		prompt = lm.chat.Render(msgs, true)
		req.stops = append(req.stops, lm.chat.Stops()...)
		stopIDs = lm.chat.StopIDs(lm.tok)
	}
	res, err := generate(ctx, lm, prompt, req, stopIDs, func(delta string) error {
		return emit(sdk.Event{Kind: sdk.EventDelta, Text: delta})
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && !job.Deadline.IsZero() && time.Now().After(job.Deadline) {
			return sdk.Errorf(sdk.CodeDeadlineExceeded, "job ran past its deadline")
		}
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return sdk.Errorf(sdk.CodeInternal, "encode result: %v", err)
	}
	return emit(sdk.Event{Kind: sdk.EventResult, Result: b})
}

// generate runs the prompt through the decoder and samples up to
// req.maxTokens tokens, calling onDelta with each piece of text that is safe
// to show (stop strings are never shown, even in part). Generation ends at
// EOS, at any of stopIDs (a chat template's end-of-turn tokens), at a stop
// string, or after req.maxTokens tokens.
func generate(ctx context.Context, lm *loadedModel, prompt string, req request, stopIDs []int, onDelta func(string) error) (result, error) {
	tok, dec := lm.tok, lm.dec
	ids := tok.Encode(prompt, true)
	if len(ids) == 0 {
		ids = []int{tok.BOS()}
	}
	ctxLen := dec.Config.Context
	if len(ids) >= ctxLen {
		return result{}, sdk.Errorf(sdk.CodeInvalidRequest, "prompt is %d tokens; the model's context is %d", len(ids), ctxLen)
	}
	maxNew := min(req.maxTokens, ctxLen-len(ids))
	smp, err := sample.New(req.sampling, dec.Config.Vocab)
	if err != nil {
		return result{}, sdk.Errorf(sdk.CodeInvalidRequest, "%v", err)
	}
	smp.Prime(ids)
	st := dec.NewState(len(ids) + maxNew)
	stream := sample.NewStream(req.stops)
	res := result{FinishReason: "length", Usage: usage{PromptTokens: len(ids)}}
	logits, err := st.Forward(ids, 0)
	if err != nil {
		return res, sdk.Errorf(sdk.CodeInternal, "forward: %v", err)
	}
	// SentencePiece drops the leading space of the piece right after BOS.
	afterBOS := len(ids) == 1 && ids[0] == tok.BOS()
	for n := 0; n < maxNew; n++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		next := smp.Sample(logits)
		smp.Accept(next)
		if next == tok.EOS() || next == tok.BOS() || slices.Contains(stopIDs, next) {
			res.FinishReason = "stop"
			break
		}
		res.Usage.CompletionTokens++
		piece := tok.Decode(next)
		if afterBOS {
			piece = strings.TrimPrefix(piece, " ")
			afterBOS = false
		}
		delta, stop := stream.Push(piece)
		if delta != "" {
			if err := onDelta(delta); err != nil {
				return res, err
			}
		}
		if stop {
			res.FinishReason = "stop"
			break
		}
		if n+1 == maxNew {
			break
		}
		if logits, err = st.Forward([]int{next}, len(ids)+n); err != nil {
			return res, sdk.Errorf(sdk.CodeInternal, "forward: %v", err)
		}
	}
	if rest := stream.Flush(); rest != "" {
		if err := onDelta(rest); err != nil {
			return res, err
		}
	}
	res.Text = stream.Text()
	res.Usage.TotalTokens = res.Usage.PromptTokens + res.Usage.CompletionTokens
	return res, nil
}
