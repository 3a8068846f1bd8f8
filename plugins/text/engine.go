package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/sample"
	"github.com/loomhq/loom/core/tokenizer"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

const (
	taskComplete = tasks.TextComplete
	taskChat     = tasks.TextChat
	version      = "0.1.0"
	// tokenizerEnv names a tokenizer file to use for every model of this
	// process. Only a host the user started by hand sets it (loom generate
	// --tokenizer); the gateway never passes paths to plugins.
	tokenizerEnv = "LOOM_TEXT_TOKENIZER"
)

// engine serves text.complete, text.chat and text.embed for the models
// under its dirs. Loaded models are cached for the life of the process and
// shared by concurrent jobs; each job has its own KV cache and sampler.
type engine struct {
	dirs      []string
	tokenizer string // override tokenizer file ("" = the model's own)

	mu     sync.Mutex
	models map[string]*loadedModel // by resolved path
	kinds  map[string]fileKind     // by resolved path: what Describe read of each file
}

// fileKind is a model file's architecture as Describe last read it, valid
// while the file's size and modification time stay.
type fileKind struct {
	size    int64
	modTime time.Time
	arch    string
	kind    towers.ArchKind
}

// loadedModel is a model ready to generate. once guards the load so
// concurrent first jobs load it once.
type loadedModel struct {
	users int  // jobs using it now (engine.mu); Unload refuses while > 0
	ready bool // loaded without error (engine.mu)
	once  sync.Once
	err   error
	src   formats.TensorSource
	lm    towers.LM       // any family: attention, latent-attention or recurrent; nil for an encoder
	dec   *towers.Decoder // the attention decoder behind lm (embeddings), nil for other families
	enc   *towers.BERT    // a sentence encoder (text.embed only), nil for language models
	info  towers.LMInfo   // Arch, Vocab, Dim, Context of lm or enc
	// pooling is how dec's states become an embedding: the file's
	// ARCH.pooling_type (towers.PoolNone, mean, when it has none).
	pooling int
	tok     tokenizer.Tokenizer
	chat    tokenizer.ChatTemplate
	// maxTextBytes is the longest text that can fit the context: no
	// token covers more than the longest piece, so a text over context ×
	// longest piece is too long without tokenising it (which costs memory
	// and time in proportion to a text the client may make any size).
	maxTextBytes int
}

func newEngine(dirs []string, tokenizerPath string) *engine {
	return &engine{dirs: dirs, tokenizer: tokenizerPath, models: map[string]*loadedModel{}, kinds: map[string]fileKind{}}
}

// Describe lists the models found under the engine's directories, each
// with the tasks its architecture serves: a BERT encoder only text.embed,
// the attention decoders all three, Mamba, RWKV and DeepSeek-V2 text
// generation only. A file whose architecture cannot be read is listed as
// unready, with the reason.
func (e *engine) Describe(ctx context.Context) (sdk.Manifest, error) {
	m := sdk.Manifest{Name: "text", Version: version, Tasks: []string{taskComplete, taskChat, taskEmbed}, Models: []sdk.ModelInfo{}}
	for _, id := range catalog(e.dirs) {
		path := resolve(e.dirs, id)
		info := sdk.ModelInfo{ID: id, Ready: true, Created: sdk.ModelCreated(path), MemoryBytes: sdk.DirBytes(path), Loaded: e.isLoaded(id)}
		k, err := e.kindOf(path)
		switch {
		case err != nil:
			info.Tasks, info.Ready, info.Missing = []string{taskComplete, taskChat}, false, err.Error()
			info.Description = "unreadable model file"
		case k.kind == towers.ArchEncoder:
			info.Tasks, info.Description = []string{taskEmbed}, fmt.Sprintf("sentence encoder (%s)", k.arch)
		case k.kind == towers.ArchLMOnly:
			info.Tasks, info.Description = []string{taskComplete, taskChat}, fmt.Sprintf("language model (%s)", k.arch)
		default:
			// llama2.c checkpoints and HF folders read as llama; an
			// architecture the towers do not know fails at load with its name.
			info.Tasks, info.Description = []string{taskComplete, taskChat, taskEmbed}, fmt.Sprintf("decoder language model (%s)", cmp.Or(k.arch, "llama"))
		}
		info.Specs = tasks.Specs(info.Tasks...)
		m.Models = append(m.Models, info)
	}
	return m, nil
}

// kindOf reads path's architecture (general.architecture) from its
// header, once per version of the file.
func (e *engine) kindOf(path string) (fileKind, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileKind{}, err
	}
	e.mu.Lock()
	k, ok := e.kinds[path]
	e.mu.Unlock()
	if ok && k.size == st.Size() && k.modTime.Equal(st.ModTime()) {
		return k, nil
	}
	arch, err := formats.Arch(path) // the header only: Open would read the weights
	if err != nil {
		return fileKind{}, err
	}
	k = fileKind{size: st.Size(), modTime: st.ModTime(), arch: arch, kind: towers.KindOf(arch)}
	e.mu.Lock()
	e.kinds[path] = k
	e.mu.Unlock()
	return k, nil
}

// isLoaded reports whether id's model is in memory (loaded without error).
func (e *engine) isLoaded(id string) bool {
	path := resolve(e.dirs, id)
	e.mu.Lock()
	defer e.mu.Unlock()
	lm, ok := e.models[path]
	return ok && lm.ready
}

// Unload implements sdk.Unloader: it drops id's model and unmaps its file.
// A model some job is using is refused (the worker never asks for that).
func (e *engine) Unload(_ context.Context, id string) error {
	path := resolve(e.dirs, id)
	e.mu.Lock()
	lm, ok := e.models[path]
	if ok && lm.users > 0 {
		e.mu.Unlock()
		return sdk.Errorf(sdk.CodeInvalidRequest, "model %q is in use by %d jobs", id, lm.users)
	}
	delete(e.models, path)
	e.mu.Unlock()
	if ok && lm.src != nil {
		return lm.src.Close()
	}
	return nil
}

// done ends a job's use of a model from model().
func (e *engine) done(lm *loadedModel) {
	e.mu.Lock()
	lm.users--
	e.mu.Unlock()
}

// model returns the loaded model for id, loading it on first use.
func (e *engine) model(id string) (*loadedModel, error) {
	path := resolve(e.dirs, id)
	if path == "" {
		if !validID(id) {
			return nil, sdk.Errorf(sdk.CodeInvalidRequest, "model name %q is not a file or folder name", id)
		}
		return nil, sdk.Errorf(sdk.CodeModelNotFound, "no text model %q in a LOOM_MODELS directory", id)
	}
	e.mu.Lock()
	lm, ok := e.models[path]
	if !ok {
		lm = &loadedModel{}
		e.models[path] = lm
	}
	lm.users++
	e.mu.Unlock()
	lm.once.Do(func() { lm.err = lm.load(path, e.tokenizer) })
	if lm.err != nil {
		e.done(lm)
		return nil, sdk.Errorf(sdk.CodeModelUnavailable, "model %q: %v", id, lm.err)
	}
	e.mu.Lock()
	lm.ready = true
	e.mu.Unlock()
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
	var model towers.LM
	var info towers.LMInfo
	if arch := is.Meta().Arch(); towers.KindOf(arch) == towers.ArchEncoder {
		enc, err := towers.LoadBERT(is)
		if err != nil {
			src.Close()
			return err
		}
		c := enc.Config
		lm.enc, info = enc, towers.LMInfo{Arch: arch, Vocab: c.Vocab, Dim: c.Dim, Layers: c.Layers, Context: c.Context}
	} else {
		if model, err = towers.LoadLM(is); err != nil {
			src.Close()
			return err
		}
		info = model.Info()
		lm.pooling = int(is.Meta().IntOr(info.Arch+".pooling_type", towers.PoolNone))
	}
	tok, err := tokenizer.FromSource(src, tokPath)
	if err != nil {
		src.Close()
		return err
	}
	if tok.VocabSize() > info.Vocab {
		src.Close()
		return fmt.Errorf("tokenizer has %d tokens, model %d", tok.VocabSize(), info.Vocab)
	}
	lm.src, lm.lm, lm.info, lm.tok = src, model, info, tok
	if model != nil {
		lm.dec = towers.AsDecoder(model)
	}
	lm.chat = tokenizer.TemplateForTokenizer(src.Meta(), tok)
	// The +16 covers what encoding adds (SentencePiece's dummy prefix).
	lm.maxTextBytes = info.Context*longestPiece(tok) + 16
	return nil
}

// longestPiece is the most bytes of text one token can stand for: its
// decoded text, or for a control token the text form that encodes to it
// ("<|im_end|>" in a rendered chat template).
func longestPiece(tok tokenizer.Tokenizer) int {
	pieces, _ := tok.(interface{ Piece(int) string })
	n := 1
	for id := range tok.VocabSize() {
		n = max(n, len(tok.Decode(id)))
		if pieces != nil && tok.IsControl(id) {
			n = max(n, len(pieces.Piece(id)))
		}
	}
	return n
}

// checkTextBytes refuses a text that cannot fit the model's context before
// it is tokenised; what is the text's name in the error.
func (lm *loadedModel) checkTextBytes(what string, n int) error {
	if n > lm.maxTextBytes {
		return sdk.Errorf(sdk.CodeInvalidRequest, "%s is %d bytes; no more than %d bytes can fit the model's context of %d tokens",
			what, n, lm.maxTextBytes, lm.info.Context)
	}
	return nil
}

// Run generates for one job, streaming an EventDelta per piece of text.
func (e *engine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	if job.Task == taskEmbed {
		lm, err := e.model(job.Model)
		if err != nil {
			return err
		}
		defer e.done(lm)
		return e.embed(ctx, job, lm, emit)
	}
	if job.Task != taskComplete && job.Task != taskChat {
		return sdk.Errorf(sdk.CodeInvalidRequest, "text plugin serves %s, %s and %s, not %q", taskComplete, taskChat, taskEmbed, job.Task)
	}
	req, err := parseParams(job.Task, job.Params, job.Seed)
	if err != nil {
		return err
	}
	lm, err := e.model(job.Model)
	if err != nil {
		return err
	}
	defer e.done(lm)
	if lm.lm == nil {
		return sdk.Errorf(sdk.CodeInvalidRequest, "model %q is a sentence encoder (%s): it serves %s, not %s", job.Model, lm.info.Arch, taskEmbed, job.Task)
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
		total := 0
		for i, m := range req.messages {
			msgs[i] = tokenizer.Message{Role: m.Role, Content: m.Content}
			total += len(m.Content)
		}
		if err := lm.checkTextBytes("messages' content", total); err != nil {
			return err
		}
		prompt = lm.chat.Render(msgs, true)
		req.stops = append(req.stops, lm.chat.Stops()...)
		stopIDs = lm.chat.StopIDs(lm.tok)
	}
	if err := lm.checkTextBytes("prompt", len(prompt)); err != nil {
		return err
	}
	res, err := generate(ctx, lm, prompt, req, stopIDs, func(i int, delta string) error {
		return emit(sdk.Event{Kind: sdk.EventDelta, Text: delta, Choice: i})
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && !job.Deadline.IsZero() && time.Now().After(job.Deadline) {
			return sdk.Errorf(sdk.CodeTimeout, "job ran past its deadline")
		}
		return err
	}
	b, err := json.Marshal(res)
	if err != nil {
		return sdk.Errorf(sdk.CodeInternal, "encode result: %v", err)
	}
	return emit(sdk.Event{Kind: sdk.EventResult, Result: b})
}

// generate runs the prompt through the decoder once and samples req.n
// continuations of up to req.maxTokens tokens from it (choice i with seed
// seed+i, so choice 0 is what n = 1 gives), calling onDelta(i, text) with each
// piece of choice i's text that is safe to show (stop strings are never shown,
// even in part). The choices take turns one token at a time, so every stream
// moves together. A choice ends at EOS, at any of stopIDs (a chat template's
// end-of-turn tokens), at a stop string, or after req.maxTokens tokens.
func generate(ctx context.Context, lm *loadedModel, prompt string, req request, stopIDs []int, onDelta func(int, string) error) (tasks.TextResult, error) {
	tok, info := lm.tok, lm.lm.Info()
	ids := tok.Encode(prompt, true)
	if len(ids) == 0 {
		ids = []int{tok.BOS()}
	}
	ctxLen := info.Context
	if len(ids) >= ctxLen {
		return tasks.TextResult{}, sdk.Errorf(sdk.CodeInvalidRequest, "prompt is %d tokens; the model's context is %d", len(ids), ctxLen)
	}
	maxNew := min(req.maxTokens, ctxLen-len(ids))
	n := max(1, req.n)
	res := tasks.TextResult{Usage: tasks.Usage{PromptTokens: len(ids)}}
	st := lm.lm.NewSession(len(ids) + maxNew)
	logits, err := st.Forward(ids, 0)
	if err != nil {
		return res, sdk.Errorf(sdk.CodeInternal, "forward: %v", err)
	}
	type decoding struct {
		st     towers.Session
		smp    *sample.Sampler
		stream *sample.Stream
		logits []float32
		out    tasks.TextChoice
		done   bool
		made   int
		bos    bool // SentencePiece drops the leading space of the piece right after BOS
	}
	cs := make([]*decoding, n)
	for i := range cs {
		p := req.sampling
		p.Seed += int64(i)
		smp, err := sample.New(p, info.Vocab)
		if err != nil {
			return res, sdk.Errorf(sdk.CodeInvalidRequest, "%v", err)
		}
		smp.Prime(ids)
		d := &decoding{st: st, smp: smp, stream: sample.NewStream(req.stops), logits: logits,
			out: tasks.TextChoice{FinishReason: "length"}, bos: len(ids) == 1 && ids[0] == tok.BOS()}
		if i > 0 {
			d.st = st.Fork()
			d.logits = d.st.Logits()
		}
		cs[i] = d
	}
	// Forks copy the prefill logits before choice 0 samples from them.
	for live := n; live > 0; {
		for i, d := range cs {
			if d.done {
				continue
			}
			if err := ctx.Err(); err != nil {
				return res, err
			}
			next := d.smp.Sample(d.logits)
			d.smp.Accept(next)
			stop := next == tok.EOS() || next == tok.BOS() || slices.Contains(stopIDs, next)
			if !stop {
				res.Usage.CompletionTokens++
				d.made++
				piece := tok.Decode(next)
				if d.bos {
					piece = strings.TrimPrefix(piece, " ")
					d.bos = false
				}
				delta, hit := d.stream.Push(piece)
				if delta != "" {
					if err := onDelta(i, delta); err != nil {
						return res, err
					}
				}
				stop = hit
			}
			if stop {
				d.out.FinishReason = "stop"
			}
			if stop || d.made == maxNew {
				d.done = true
				live--
				continue
			}
			if d.logits, err = d.st.Forward([]int{next}, len(ids)+d.made-1); err != nil {
				return res, sdk.Errorf(sdk.CodeInternal, "forward: %v", err)
			}
		}
	}
	for i, d := range cs {
		if rest := d.stream.Flush(); rest != "" {
			if err := onDelta(i, rest); err != nil {
				return res, err
			}
		}
		d.out.Text = d.stream.Text()
	}
	res.Text, res.FinishReason = cs[0].out.Text, cs[0].out.FinishReason
	if n > 1 {
		for _, d := range cs {
			res.Choices = append(res.Choices, d.out)
		}
	}
	res.Usage.TotalTokens = res.Usage.PromptTokens + res.Usage.CompletionTokens
	return res, nil
}
