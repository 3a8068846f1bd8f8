package gateway

// OpenAI's Responses API over the durable queue. A response is a text.chat
// job (or image.caption when the input holds an image) whose job id is the
// response id: "resp_" + a queue id when store is true (the default, as
// OpenAI's), so GET /v1/responses/{id} and POST /v1/responses/{id}/cancel
// read and cancel that job, kept in the queue's result store for its TTL;
// "resp_x" + a queue id when store is false, which the retrieve and cancel
// endpoints refuse as not stored (the job still runs durably, but nothing is
// served back from it). There is no conversation state:
// previous_response_id is refused, as are tools.

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

const (
	respStoredPrefix   = "resp_"
	respUnstoredPrefix = "resp_x"
)

func (s *Server) registerResponses(g *gin.RouterGroup) {
	g.POST("/responses", s.createResponse)
	g.GET("/responses/:id", s.getResponse)
	g.POST("/responses/:id/cancel", s.cancelResponse)
}

// responseRequest is the part of POST /v1/responses Loom serves.
type responseRequest struct {
	Model              string          `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       string          `json:"instructions"`
	MaxOutputTokens    *int            `json:"max_output_tokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"top_p"`
	Stream             bool            `json:"stream"`
	Store              *bool           `json:"store"`
	Background         bool            `json:"background"`
	Metadata           map[string]any  `json:"metadata"`
	PreviousResponseID string          `json:"previous_response_id"`
	Tools              json.RawMessage `json:"tools"`
	Seed               *int64          `json:"seed"` // Loom's: the sampling seed
}

// responseInput reads input: a string (one user message) or an array of
// messages {"role","content"} whose content is a string or parts
// input_text / input_image ({"image_url": data URL or base64}).
func responseInput(raw json.RawMessage) ([]chatMessageIn, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, errFieldRequired("input")
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return []chatMessageIn{{Role: "user", Content: chatContent{Text: text}}}, nil
	}
	var items []struct {
		Type    string          `json:"type"`
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest("input: expected a string or an array of messages")
	}
	var msgs []chatMessageIn
	for i, it := range items {
		if it.Type != "" && it.Type != "message" {
			return nil, badRequest("input[%d]: item type %q is not supported (message)", i, it.Type)
		}
		m := chatMessageIn{Role: it.Role}
		c := bytes.TrimSpace(it.Content)
		if json.Unmarshal(c, &m.Content.Text) != nil {
			var parts []struct {
				Type     string          `json:"type"`
				Text     string          `json:"text"`
				ImageURL json.RawMessage `json:"image_url"`
			}
			if err := json.Unmarshal(c, &parts); err != nil {
				return nil, badRequest("input[%d].content: expected a string or an array of parts", i)
			}
			var texts []string
			for _, p := range parts {
				switch p.Type {
				case "input_text", "output_text":
					texts = append(texts, p.Text)
				case "input_image":
					var u string
					if json.Unmarshal(p.ImageURL, &u) != nil || u == "" {
						return nil, badRequest("input[%d].content: input_image needs \"image_url\" (a data: URL or base64)", i)
					}
					m.Content.Images = append(m.Content.Images, u)
				default:
					return nil, badRequest("input[%d].content: part type %q is not supported (input_text, input_image)", i, p.Type)
				}
			}
			m.Content.Text = strings.Join(texts, "\n")
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil, badRequest("input: the array is empty")
	}
	return msgs, nil
}

func (s *Server) createResponse(c *gin.Context) {
	var req responseRequest
	if err := decodeJSON(c, &req); err != nil {
		_ = c.Error(err)
		return
	}
	job, err := s.responseJob(c, &req)
	if err != nil {
		_ = c.Error(err)
		return
	}
	st, _, err := s.submit(c, job)
	if err == nil && req.Stream {
		err = s.holdStream(c, st)
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	switch {
	case req.Stream:
		s.streamResponse(c, st, &req)
	case req.Background:
		c.JSON(http.StatusOK, responseObject(st, &req))
	default:
		// A failed job is the HTTP error it maps to, as for chat; one still
		// running at the sync timeout is answered in_progress, to poll by id.
		final, err := s.awaitJob(c, st)
		if err != nil && !errors.Is(err, errStillRunning) {
			_ = c.Error(err)
			return
		}
		c.JSON(http.StatusOK, responseObject(final, &req))
	}
}

// responseJob validates a request and builds its chat (or caption) job.
func (s *Server) responseJob(c *gin.Context, req *responseRequest) (queue.Job, error) {
	if req.PreviousResponseID != "" {
		return queue.Job{}, badRequest("previous_response_id: Loom keeps no conversation state; send the whole conversation as input")
	}
	if t := bytes.TrimSpace(req.Tools); len(t) > 0 && !bytes.Equal(t, []byte("null")) && !bytes.Equal(t, []byte("[]")) {
		return queue.Job{}, badRequest("tools: not supported")
	}
	store := req.Store == nil || *req.Store
	if req.Background && !store {
		return queue.Job{}, badRequest("background: needs store true (a background response is read back by id)")
	}
	if req.Background && req.Stream {
		return queue.Job{}, badRequest("background and stream: choose one")
	}
	msgs, err := responseInput(req.Input)
	if err != nil {
		return queue.Job{}, err
	}
	if req.Instructions != "" {
		msgs = append([]chatMessageIn{{Role: "system", Content: chatContent{Text: req.Instructions}}}, msgs...)
	}
	chat := chatRequest{Messages: msgs}
	chat.Model, chat.MaxTokens, chat.Temperature, chat.TopP, chat.Seed = req.Model, req.MaxOutputTokens, req.Temperature, req.TopP, req.Seed
	job, err := s.chatJob(c.Request.Context(), &chat)
	if err != nil {
		return queue.Job{}, err
	}
	job.ID = respStoredPrefix + queue.NewID()
	if !store {
		job.ID = respUnstoredPrefix + queue.NewID()
	}
	return job, nil
}

// respStatus is OpenAI's response status vocabulary.
var respStatus = map[queue.Status]string{
	queue.StatusQueued: "queued", queue.StatusRunning: "in_progress", queue.StatusSucceeded: "completed",
	queue.StatusFailed: "failed", queue.StatusCanceled: "cancelled",
}

// responseObject is OpenAI's Response for a job in any state. req is the
// request when at hand (create), else nil (retrieve: the job's own params).
func responseObject(st *queue.JobState, req *responseRequest) gin.H {
	var p tasks.TextChatParams
	_ = json.Unmarshal(st.Job.Params, &p)
	status := respStatus[st.Status]
	r := gin.H{
		"id": st.Job.ID, "object": "response", "created_at": st.CreatedAt.Unix(), "status": status,
		"model": st.Job.Model, "output": []gin.H{}, "error": nil, "incomplete_details": nil,
		"instructions": nil, "metadata": map[string]any{}, "parallel_tool_calls": false, "tool_choice": "auto",
		"tools": []any{}, "text": gin.H{"format": gin.H{"type": "text"}}, "usage": nil,
		"temperature": p.Temperature, "top_p": p.TopP, "max_output_tokens": nil,
		"store": strings.HasPrefix(st.Job.ID, respStoredPrefix) && !strings.HasPrefix(st.Job.ID, respUnstoredPrefix),
	}
	if p.MaxTokens != nil {
		r["max_output_tokens"] = *p.MaxTokens
	}
	if len(p.Messages) > 0 && p.Messages[0].Role == "system" {
		r["instructions"] = p.Messages[0].Content
	}
	if req != nil {
		if req.Instructions != "" {
			r["instructions"] = req.Instructions
		}
		if req.Metadata != nil {
			r["metadata"] = req.Metadata
		}
		r["background"] = req.Background
	}
	switch st.Status {
	case queue.StatusSucceeded:
		out := parseTextOutput(st)
		r["output"] = []gin.H{responseMessage(st.Job.ID, out.Text, "completed")}
		r["usage"] = gin.H{"input_tokens": out.Usage.PromptTokens, "output_tokens": out.Usage.CompletionTokens,
			"total_tokens": out.Usage.TotalTokens, "input_tokens_details": gin.H{"cached_tokens": 0},
			"output_tokens_details": gin.H{"reasoning_tokens": 0}}
		if out.FinishReason == "length" {
			r["status"] = "incomplete"
			r["incomplete_details"] = gin.H{"reason": "max_output_tokens"}
		}
	case queue.StatusFailed, queue.StatusCanceled:
		if err := jobOutcome(st); err != nil {
			ae := toAPIError(err)
			r["error"] = gin.H{"code": ae.Code, "message": ae.Message}
		}
	}
	return r
}

// responseMessage is the one output item: the assistant's message.
func responseMessage(id, text, status string) gin.H {
	content := []gin.H{}
	if status == "completed" {
		content = append(content, gin.H{"type": "output_text", "text": text, "annotations": []any{}, "logprobs": []any{}})
	}
	return gin.H{"type": "message", "id": "msg_" + strings.TrimPrefix(id, respStoredPrefix), "status": status,
		"role": "assistant", "content": content}
}

// responseJobFor reads a stored response's job.
func (s *Server) responseJobFor(c *gin.Context) (*queue.JobState, error) {
	id := c.Param("id")
	if strings.HasPrefix(id, respUnstoredPrefix) {
		return nil, apiErrorf(http.StatusNotFound, sdk.CodeNotFound, "response %s was created with store false; it is not kept", id)
	}
	if !strings.HasPrefix(id, respStoredPrefix) {
		return nil, apiErrorf(http.StatusNotFound, sdk.CodeNotFound, "no response %q", id)
	}
	st, err := s.jobOf(c, id)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, apiErrorf(http.StatusNotFound, sdk.CodeNotFound, "no response %q (responses are kept for the queue's result TTL)", id)
	}
	return st, err
}

func (s *Server) getResponse(c *gin.Context) {
	st, err := s.responseJobFor(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, responseObject(st, nil))
}

// cancelResponse cancels a queued or running response; one already finished
// is answered as it is (OpenAI's cancel of a finished response is a no-op).
func (s *Server) cancelResponse(c *gin.Context) {
	if _, err := s.responseJobFor(c); err != nil {
		_ = c.Error(err)
		return
	}
	st, err := s.q.Cancel(c.Request.Context(), c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, responseObject(st, nil))
}

// streamResponse sends the Responses API's semantic events: response.created,
// response.in_progress, the message item and its text part opening, one
// response.output_text.delta per delta, the closings, and response.completed
// (or response.incomplete / response.failed).
func (s *Server) streamResponse(c *gin.Context, st *queue.JobState, req *responseRequest) {
	sse := s.newSSE(c)
	seq := 0
	send := func(typ string, body gin.H) {
		body["type"], body["sequence_number"] = typ, seq
		seq++
		b, _ := json.Marshal(body)
		sse.event("", typ, b)
	}
	itemID := "msg_" + strings.TrimPrefix(st.Job.ID, respStoredPrefix)
	running := *st
	running.Status = queue.StatusRunning
	send("response.created", gin.H{"response": responseObject(&running, req)})
	send("response.in_progress", gin.H{"response": responseObject(&running, req)})
	send("response.output_item.added", gin.H{"output_index": 0, "item": responseMessage(st.Job.ID, "", "in_progress")})
	part := gin.H{"type": "output_text", "text": "", "annotations": []any{}, "logprobs": []any{}}
	send("response.content_part.added", gin.H{"item_id": itemID, "output_index": 0, "content_index": 0, "part": part})
	ctx := c.Request.Context()
	var sent strings.Builder
	attemptPos := 0
	s.follow(ctx, sse, st.Job.ID, 0, func(e queue.Event) bool {
		switch e.Type {
		case queue.EventRetry:
			attemptPos = 0
		case queue.EventDelta:
			var d struct {
				Text string `json:"text"`
			}
			if json.Unmarshal(e.Data, &d) != nil || d.Text == "" {
				return false
			}
			start, end := attemptPos, attemptPos+len(d.Text)
			attemptPos = end
			if end <= sent.Len() {
				return false
			}
			fresh := d.Text[max(0, sent.Len()-start):]
			sent.WriteString(fresh)
			send("response.output_text.delta", gin.H{"item_id": itemID, "output_index": 0, "content_index": 0, "delta": fresh, "logprobs": []any{}})
		case queue.EventResult, queue.EventError, queue.EventCanceled:
			final, err := s.q.Get(ctx, st.Job.ID)
			if err != nil {
				sse.error(toAPIError(err))
				return true
			}
			s.metrics.observeFinished(final)
			obj := responseObject(final, req)
			if final.Status != queue.StatusSucceeded {
				send("response.failed", gin.H{"response": obj})
				return true
			}
			out := parseTextOutput(final)
			if rest, ok := strings.CutPrefix(out.Text, sent.String()); ok && rest != "" {
				send("response.output_text.delta", gin.H{"item_id": itemID, "output_index": 0, "content_index": 0, "delta": rest, "logprobs": []any{}})
			}
			done := gin.H{"type": "output_text", "text": out.Text, "annotations": []any{}, "logprobs": []any{}}
			send("response.output_text.done", gin.H{"item_id": itemID, "output_index": 0, "content_index": 0, "text": out.Text, "logprobs": []any{}})
			send("response.content_part.done", gin.H{"item_id": itemID, "output_index": 0, "content_index": 0, "part": done})
			send("response.output_item.done", gin.H{"output_index": 0, "item": responseMessage(st.Job.ID, out.Text, "completed")})
			typ := "response.completed"
			if obj["status"] == "incomplete" {
				typ = "response.incomplete"
			}
			send(typ, gin.H{"response": obj})
			return true
		}
		return false
	})
}
