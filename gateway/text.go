package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

const (
	taskComplete = tasks.TextComplete
	taskChat     = tasks.TextChat
	taskCaption  = tasks.ImageCaption
)

func (s *Server) registerText(g *gin.RouterGroup) {
	g.POST("/chat/completions", s.chatCompletions)
	g.POST("/completions", s.completions)
}

// samplingRequest is the part of OpenAI's chat and completion bodies that
// becomes text job params.
type samplingRequest struct {
	Model               string       `json:"model"`
	MaxTokens           *int         `json:"max_tokens"`
	MaxCompletionTokens *int         `json:"max_completion_tokens"`
	Temperature         *float64     `json:"temperature"`
	TopK                *int         `json:"top_k"`
	TopP                *float64     `json:"top_p"`
	MinP                *float64     `json:"min_p"`
	RepetitionPenalty   *float64     `json:"repetition_penalty"`
	PresencePenalty     *float64     `json:"presence_penalty"`
	FrequencyPenalty    *float64     `json:"frequency_penalty"`
	Stop                stringOrList `json:"stop"`
	Seed                *int64       `json:"seed"`
	N                   *int         `json:"n"`
	Stream              bool         `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// maxChoices is the largest n for chat and completions (the text plugin's).
const maxChoices = tasks.MaxChoices

// textOutput is a text job's result; image.caption jobs (chat with an
// image) name their text "caption".
type textOutput struct {
	tasks.TextResult
	Caption string `json:"caption"`
}

// sampling validates the sampling fields and returns them as job params.
func (s *Server) sampling(r *samplingRequest) (tasks.Sampling, error) {
	var p tasks.Sampling
	if r.MaxCompletionTokens != nil && r.MaxTokens == nil {
		r.MaxTokens = r.MaxCompletionTokens
	}
	if err := checkIntRange("max_tokens", r.MaxTokens, 1, s.cfg.MaxTokens); err != nil {
		return p, err
	}
	if err := checkIntRange("n", r.N, 1, maxChoices); err != nil {
		return p, err
	}
	p.N = r.N
	for _, c := range []struct {
		name   string
		v      *float64
		lo, hi float64
	}{
		{"temperature", r.Temperature, 0, 2}, {"top_p", r.TopP, 0, 1}, {"min_p", r.MinP, 0, 1},
		{"repetition_penalty", r.RepetitionPenalty, 0, 10},
		{"presence_penalty", r.PresencePenalty, -2, 2}, {"frequency_penalty", r.FrequencyPenalty, -2, 2},
	} {
		if err := checkRange(c.name, c.v, c.lo, c.hi); err != nil {
			return p, err
		}
	}
	if err := checkIntRange("top_k", r.TopK, 0, 100000); err != nil {
		return p, err
	}
	if len(r.Stop) > 4 {
		return p, badRequest("stop: at most 4 sequences")
	}
	for _, st := range r.Stop {
		if st == "" || len(st) > 256 {
			return p, badRequest("stop: each sequence must be 1..256 bytes")
		}
	}
	p.MaxTokens = r.MaxTokens
	p.Temperature, p.TopK, p.TopP, p.MinP = r.Temperature, r.TopK, r.TopP, r.MinP
	p.RepetitionPenalty, p.PresencePenalty, p.FrequencyPenalty = r.RepetitionPenalty, r.PresencePenalty, r.FrequencyPenalty
	p.Stop = tasks.Stop(r.Stop)
	return p, nil
}

// chatRequest is OpenAI's POST /v1/chat/completions body.
type chatRequest struct {
	samplingRequest
	Messages []chatMessageIn `json:"messages"`
}

// chatMessageIn accepts content as a string or as OpenAI's array of parts
// ({"type":"text","text"} / {"type":"image_url","image_url":{"url"}} /
// {"type":"input_audio","input_audio":{"data":BASE64,"format":"wav"|"mp3"}}).
type chatMessageIn struct {
	Role    string      `json:"role"`
	Content chatContent `json:"content"`
}

type chatContent struct {
	Text   string
	Images []string // image URLs (data: URLs or raw base64)
	// Audio parts, in order; each becomes its transcript in Text where it
	// stood (chatAudio.go) before the text job is built.
	Audio []chatAudio
	parts []chatPart
}

// chatPart is one text or audio part of a message, in the order sent.
type chatPart struct {
	text  string
	audio int // index in Audio, or -1 for text
}

func (cc *chatContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &cc.Text)
	}
	var parts []struct {
		Type       string          `json:"type"`
		Text       string          `json:"text"`
		ImageURL   json.RawMessage `json:"image_url"`
		InputAudio *struct {
			Data   string `json:"data"`
			Format string `json:"format"`
		} `json:"input_audio"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return badRequest("messages[].content: expected a string or an array of content parts")
	}
	for _, p := range parts {
		switch p.Type {
		case "text":
			cc.parts = append(cc.parts, chatPart{text: p.Text, audio: -1})
		case "input_audio":
			if p.InputAudio == nil || p.InputAudio.Data == "" {
				return badRequest("messages[].content: input_audio part needs {\"data\": base64 audio, \"format\": \"wav\" or \"mp3\"}")
			}
			cc.parts = append(cc.parts, chatPart{audio: len(cc.Audio)})
			cc.Audio = append(cc.Audio, chatAudio{Data: p.InputAudio.Data, Format: p.InputAudio.Format})
		case "image_url":
			var u struct {
				URL string `json:"url"`
			}
			if err := json.Unmarshal(p.ImageURL, &u); err != nil || u.URL == "" {
				var plain string
				if json.Unmarshal(p.ImageURL, &plain) != nil || plain == "" {
					return badRequest("messages[].content: image_url part needs {\"url\": ...}")
				}
				u.URL = plain
			}
			cc.Images = append(cc.Images, u.URL)
		default:
			return badRequest("messages[].content: part type %q is not supported (text, image_url, input_audio)", p.Type)
		}
	}
	cc.join(nil)
	return nil
}

// join sets Text from the parts, each audio part replaced by its
// transcript (none yet: nil).
func (cc *chatContent) join(transcripts []string) {
	var texts []string
	for _, p := range cc.parts {
		switch {
		case p.audio < 0:
			texts = append(texts, p.text)
		case p.audio < len(transcripts):
			texts = append(texts, transcripts[p.audio])
		}
	}
	cc.Text = strings.Join(texts, "\n")
}

// chatJob validates a chat body and builds its job. A message with an image
// part makes it an image.caption job when the model captions; otherwise 400.
func (s *Server) chatJob(ctx context.Context, req *chatRequest) (queue.Job, error) {
	p, err := s.sampling(&req.samplingRequest)
	if err != nil {
		return queue.Job{}, err
	}
	if len(req.Messages) == 0 {
		return queue.Job{}, errFieldRequired("messages")
	}
	total := 0
	var images []string
	var lastUser string
	var msgs []tasks.Message
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant":
		default:
			return queue.Job{}, badRequest("messages[%d].role: %q is not system, user or assistant", i, m.Role)
		}
		total += len(m.Content.Text)
		images = append(images, m.Content.Images...)
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		if role == "user" {
			lastUser = m.Content.Text
		}
		msgs = append(msgs, tasks.Message{Role: role, Content: m.Content.Text})
	}
	if total > s.cfg.MaxPromptBytes {
		return queue.Job{}, fieldTooLong("messages", total, s.cfg.MaxPromptBytes)
	}
	job := queue.Job{Task: taskChat}
	job.Seed = seedOr(req.Seed)
	if len(images) > 0 {
		if p.N != nil && *p.N > 1 {
			return queue.Job{}, badRequest("n: a captioning model gives one caption per image; send n 1")
		}
		if len(images) > 1 {
			return queue.Job{}, badRequest("messages: at most one image per request")
		}
		m, err := s.models.resolve(ctx, taskCaption, req.Model)
		if err != nil {
			if ae, ok := err.(*APIError); ok && ae.Code == sdk.CodeModelNotFound {
				return queue.Job{}, badRequest("model %q does not accept images (use a vision model: GET /v1/models, task image.caption)", req.Model)
			}
			return queue.Job{}, err
		}
		img, err := decodeImageURL(images[0])
		if err != nil {
			return queue.Job{}, err
		}
		job.Task, job.Model = taskCaption, m.ID
		job.Inputs = []queue.Blob{img}
		cp := tasks.ImageCaptionParams{Prompt: lastUser}
		if p.MaxTokens != nil {
			cp.MaxTokens = *p.MaxTokens
		}
		job.Params, _ = json.Marshal(cp)
		return job, nil
	}
	m, err := s.models.resolve(ctx, taskChat, req.Model)
	if err != nil {
		return queue.Job{}, err
	}
	job.Model = m.ID
	job.Params, _ = json.Marshal(tasks.TextChatParams{Messages: msgs, Sampling: p})
	return job, nil
}

// completionRequest is OpenAI's POST /v1/completions body.
type completionRequest struct {
	samplingRequest
	Prompt stringOrList `json:"prompt"`
}

func (s *Server) completionJob(ctx context.Context, req *completionRequest) (queue.Job, error) {
	p, err := s.sampling(&req.samplingRequest)
	if err != nil {
		return queue.Job{}, err
	}
	switch len(req.Prompt) {
	case 0:
		return queue.Job{}, errFieldRequired("prompt")
	case 1:
	default:
		return queue.Job{}, badRequest("prompt: one prompt per request (batches are not supported)")
	}
	// An empty prompt is a prompt: the model continues from its start token.
	prompt := req.Prompt[0]
	if len(prompt) > s.cfg.MaxPromptBytes {
		return queue.Job{}, fieldTooLong("prompt", len(prompt), s.cfg.MaxPromptBytes)
	}
	m, err := s.models.resolve(ctx, taskComplete, req.Model)
	if err != nil {
		return queue.Job{}, err
	}
	job := queue.Job{Task: taskComplete, Model: m.ID}
	job.Seed = seedOr(req.Seed)
	job.Params, _ = json.Marshal(tasks.TextCompleteParams{Prompt: prompt, Sampling: p})
	return job, nil
}

func (s *Server) chatCompletions(c *gin.Context) {
	var req chatRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	if err := s.transcribeChatAudio(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	job, err := s.chatJob(c.Request.Context(), &req)
	if err != nil {
		_ = c.Error(err)
		return
	}
	s.serveText(c, job, &req.samplingRequest, "chatcmpl-", "chat.completion")
}

func (s *Server) completions(c *gin.Context) {
	var req completionRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	job, err := s.completionJob(c.Request.Context(), &req)
	if err != nil {
		_ = c.Error(err)
		return
	}
	s.serveText(c, job, &req.samplingRequest, "cmpl-", "text_completion")
}

// serveText answers a text job synchronously or as an SSE stream, in the
// chat (object "chat.completion") or completion ("text_completion") shape.
func (s *Server) serveText(c *gin.Context, job queue.Job, req *samplingRequest, idPrefix, object string) {
	if req.Stream {
		st, _, err := s.submit(c, job)
		if err == nil {
			err = s.holdStream(c, st)
		}
		if err != nil {
			_ = c.Error(err)
			return
		}
		s.streamText(c, st, req, idPrefix, object)
		return
	}
	s.runSync(c, job, func(st *queue.JobState) {
		out := parseTextOutput(st)
		c.JSON(http.StatusOK, textResponse(st, out, idPrefix, object))
	})
}

func parseTextOutput(st *queue.JobState) textOutput {
	var out textOutput
	if st.Result != nil && len(st.Result.Output) > 0 {
		_ = json.Unmarshal(st.Result.Output, &out)
	}
	if out.Text == "" {
		out.Text = out.Caption
	}
	if out.FinishReason == "" {
		out.FinishReason = "stop"
	}
	if len(out.Choices) == 0 {
		out.Choices = []tasks.TextChoice{{Text: out.Text, FinishReason: out.FinishReason}}
	}
	for i := range out.Choices {
		if out.Choices[i].FinishReason == "" {
			out.Choices[i].FinishReason = "stop"
		}
	}
	return out
}

func textResponse(st *queue.JobState, out textOutput, idPrefix, object string) gin.H {
	choices := make([]gin.H, len(out.Choices))
	for i, ch := range out.Choices {
		choice := gin.H{"index": i, "finish_reason": ch.FinishReason, "logprobs": nil}
		if object == "chat.completion" {
			choice["message"] = gin.H{"role": "assistant", "content": ch.Text, "refusal": nil}
		} else {
			choice["text"] = ch.Text
		}
		choices[i] = choice
	}
	return gin.H{
		"id": idPrefix + st.Job.ID, "object": object, "created": st.CreatedAt.Unix(), "model": st.Job.Model,
		"choices": choices, "usage": out.Usage, "system_fingerprint": "loom",
	}
}

// streamText relays a text job's delta events as OpenAI chunks and ends with
// "data: [DONE]". After a retry the new attempt replays the same tokens (same
// seed, same bytes), so the text already sent is skipped rather than repeated.
// With n > 1 each delta names its choice and is sent with that index.
func (s *Server) streamText(c *gin.Context, st *queue.JobState, req *samplingRequest, idPrefix, object string) {
	chunkObject := "chat.completion.chunk"
	if object == "text_completion" {
		chunkObject = "text_completion"
	}
	n := 1
	if req.N != nil {
		n = *req.N
	}
	id, created, model := idPrefix+st.Job.ID, st.CreatedAt.Unix(), st.Job.Model
	chunk := func(index int, text string, role bool, finish any) gin.H {
		choice := gin.H{"index": index, "finish_reason": finish, "logprobs": nil}
		if chunkObject == "chat.completion.chunk" {
			delta := gin.H{}
			if role {
				delta["role"] = "assistant"
			}
			if text != "" || role {
				delta["content"] = text
			}
			choice["delta"] = delta
		} else {
			choice["text"] = text
		}
		return gin.H{"id": id, "object": chunkObject, "created": created, "model": model, "choices": []gin.H{choice}}
	}
	sse := s.newSSE(c)
	if chunkObject == "chat.completion.chunk" {
		for i := 0; i < n; i++ {
			sse.data(chunk(i, "", true, nil))
		}
	}
	ctx := c.Request.Context()
	sent := make([]strings.Builder, n) // text each choice's client has
	attemptPos := make([]int, n)       // bytes of text the current attempt produced, per choice
	s.follow(ctx, sse, st.Job.ID, 0, func(e queue.Event) bool {
		switch e.Type {
		case queue.EventRetry:
			clear(attemptPos)
		case queue.EventDelta:
			var d struct {
				Text  string `json:"text"`
				Index int    `json:"index"`
			}
			if json.Unmarshal(e.Data, &d) != nil || d.Text == "" || d.Index < 0 || d.Index >= n {
				return false
			}
			i := d.Index
			start, end := attemptPos[i], attemptPos[i]+len(d.Text)
			attemptPos[i] = end
			if end <= sent[i].Len() {
				return false // replayed by a retried attempt
			}
			fresh := d.Text[max(0, sent[i].Len()-start):]
			sent[i].WriteString(fresh)
			sse.data(chunk(i, fresh, false, nil))
		case queue.EventResult, queue.EventError, queue.EventCanceled:
			final, err := s.q.Get(ctx, st.Job.ID)
			if err == nil {
				s.metrics.observeFinished(final)
				err = jobOutcome(final)
			}
			if err != nil {
				sse.error(toAPIError(err))
				return true
			}
			out := parseTextOutput(final)
			for i, ch := range out.Choices {
				if i >= n {
					break
				}
				// A plugin that streamed nothing (or less than its result)
				// still gets its whole text to the client.
				if rest, ok := strings.CutPrefix(ch.Text, sent[i].String()); ok && rest != "" {
					sse.data(chunk(i, rest, false, nil))
				}
				sse.data(chunk(i, "", false, ch.FinishReason))
			}
			if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
				sse.data(gin.H{"id": id, "object": chunkObject, "created": created, "model": model,
					"choices": []gin.H{}, "usage": out.Usage})
			}
			sse.done()
			return true
		}
		return false
	})
}
