package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// FuzzDecodeRequest drives body decoding and job building for the text
// endpoints: any input must give either a typed 4xx error or a job whose
// params are a JSON object within the configured limits — never a panic.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stop":["a"]}`,
		`{"model":"tiny","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`,
		`{"prompt":["a"],"temperature":1.5,"seed":-1}`,
		`{"prompt":"x","stop":"\n","n":1}`, `{"model":`, `[]`, `null`, `{"max_tokens":1e309}`,
		"{\"prompt\":\"\xff\xfe\"}", `{"stream_options":{"include_usage":1}}`, `{"prompt":""}`,
	} {
		f.Add([]byte(s))
	}
	q := newTestQueue()
	defer q.Close()
	raw, _ := json.Marshal(testManifests)
	_ = q.Register(context.Background(), workerInfo("w", raw))
	s := New(Config{}, q)
	f.Fuzz(func(t *testing.T, body []byte) {
		var chat chatRequest
		if err := decodeBytes(body, &chat); err == nil {
			job, err := s.chatJob(context.Background(), &chat)
			checkJob(t, s, job.Params, err)
		} else if !is4xx(err) {
			t.Fatalf("decode error is not a 4xx APIError: %v", err)
		}
		var comp completionRequest
		if err := decodeBytes(body, &comp); err == nil {
			job, err := s.completionJob(context.Background(), &comp)
			checkJob(t, s, job.Params, err)
		} else if !is4xx(err) {
			t.Fatalf("decode error is not a 4xx APIError: %v", err)
		}
	})
}

func is4xx(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 || ae != nil && ae.Code == "model_unavailable"
}

func checkJob(t *testing.T, s *Server, params json.RawMessage, err error) {
	t.Helper()
	if err != nil {
		if !is4xx(err) {
			t.Fatalf("job error is not a client error: %v", err)
		}
		return
	}
	var p tasks.TextCompleteParams
	if err := json.Unmarshal(params, &p); err != nil {
		t.Fatalf("params not a JSON object: %s", params)
	}
	if (p.MaxTokens != nil && (*p.MaxTokens < 0 || *p.MaxTokens > s.cfg.MaxTokens)) || len(p.Prompt) > s.cfg.MaxPromptBytes || len(p.Stop) > 4 {
		t.Fatalf("params escaped the limits: %s", params)
	}
}
