package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

type chatResp struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage tasks.Usage `json:"usage"`
}

func TestChatCompletionSync(t *testing.T) {
	e := newEnv(t, Config{})
	code, hdr, body := e.postJSON("/v1/chat/completions", map[string]any{
		"model": "tiny", "max_tokens": 16, "temperature": 0.5, "stop": "\n", "seed": 7,
		"messages": []map[string]any{{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}},
	})
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	r := decode[chatResp](t, body)
	jobID := hdr.Get("X-Loom-Job-Id")
	if r.Object != "chat.completion" || r.ID != "chatcmpl-"+jobID || r.Model != "tiny" || r.Created == 0 {
		t.Fatalf("bad envelope: %s", body)
	}
	if len(r.Choices) != 1 || r.Choices[0].Message.Role != "assistant" || r.Choices[0].Message.Content != "echo: hello there" || r.Choices[0].FinishReason != "stop" {
		t.Fatalf("bad choice: %s", body)
	}
	if r.Usage.TotalTokens != 5 || r.Usage.PromptTokens != 2 || r.Usage.CompletionTokens != 3 {
		t.Fatalf("bad usage: %+v", r.Usage)
	}
	// The job params are the text plugin's contract.
	st, err := e.q.Get(t.Context(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	_ = json.Unmarshal(st.Job.Params, &p)
	if p["max_tokens"] != 16.0 || p["temperature"] != 0.5 || p["stop"].([]any)[0] != "\n" || len(p["messages"].([]any)) != 2 || st.Job.Seed != 7 || st.Job.Task != taskChat {
		t.Fatalf("bad job params %s seed %d", st.Job.Params, st.Job.Seed)
	}
}

func TestCompletionSyncDefaultModel(t *testing.T) {
	e := newEnv(t, Config{})
	code, _, body := e.postJSON("/v1/completions", map[string]any{"prompt": []string{"once upon"}})
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	r := decode[chatResp](t, body)
	if r.Object != "text_completion" || !strings.HasPrefix(r.ID, "cmpl-") || r.Model != "tiny" || r.Choices[0].Text != "echo: once upon" {
		t.Fatalf("bad completion: %s", body)
	}
}

// streamChunks posts a streaming request and returns the data payloads.
func (e *testEnv) stream(path string, req map[string]any) []string {
	e.t.Helper()
	req["stream"] = true
	b, _ := json.Marshal(req)
	resp, err := http.Post(e.ts.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatalf("stream status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []string
	for _, ev := range readSSE(e.t, resp.Body) {
		out = append(out, ev.Data)
	}
	return out
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Choices []struct {
		Delta struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"delta"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *tasks.Usage `json:"usage"`
}

func TestChatStream(t *testing.T) {
	e := newEnv(t, Config{})
	for _, prompt := range []string{"one two three four", "flaky"} {
		datas := e.stream("/v1/chat/completions", map[string]any{"model": "tiny", "stream_options": map[string]bool{"include_usage": true},
			"messages": []map[string]string{{"role": "user", "content": prompt}}})
		if datas[len(datas)-1] != "[DONE]" {
			t.Fatalf("%s: stream does not end with [DONE]: %q", prompt, datas)
		}
		var text strings.Builder
		var finish string
		var sawUsage bool
		for i, d := range datas[:len(datas)-1] {
			c := decode[chunk](t, []byte(d))
			if c.Object != "chat.completion.chunk" || !strings.HasPrefix(c.ID, "chatcmpl-") {
				t.Fatalf("bad chunk %s", d)
			}
			if c.Usage != nil {
				sawUsage = c.Usage.TotalTokens > 0
				continue
			}
			if i == 0 && c.Choices[0].Delta.Role != "assistant" {
				t.Fatalf("first chunk has no role: %s", d)
			}
			text.WriteString(c.Choices[0].Delta.Content)
			if c.Choices[0].FinishReason != nil {
				finish = *c.Choices[0].FinishReason
			}
		}
		// "flaky" fails its first attempt after one word; the retry replays
		// it and the client must see each word once.
		if want := "echo: " + prompt; text.String() != want || finish != "stop" || !sawUsage {
			t.Fatalf("%s: streamed %q finish %q usage %v", prompt, text.String(), finish, sawUsage)
		}
	}
}

func TestCompletionStream(t *testing.T) {
	e := newEnv(t, Config{})
	datas := e.stream("/v1/completions", map[string]any{"model": "tiny", "prompt": "a b c"})
	var text strings.Builder
	for _, d := range datas[:len(datas)-1] {
		c := decode[chunk](t, []byte(d))
		if c.Object != "text_completion" {
			t.Fatalf("bad chunk %s", d)
		}
		text.WriteString(c.Choices[0].Text)
	}
	if text.String() != "echo: a b c" || datas[len(datas)-1] != "[DONE]" {
		t.Fatalf("streamed %q, %q", text.String(), datas)
	}
}

// TestStreamReportsJobError: a streamed job that fails before its first
// output (a prompt over the context, say) fails the request with the job's
// status and code, not a 200 stream with an error event.
func TestStreamReportsJobError(t *testing.T) {
	e := newEnv(t, Config{})
	for code, status := range map[sdk.Code]int{"model_unavailable": 503, "invalid_request": 400} {
		got, hdr, body := e.postJSON("/v1/chat/completions", map[string]any{"model": "tiny", "stream": true,
			"messages": []map[string]string{{"role": "user", "content": "fail:" + string(code)}}})
		if got != status || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || errorOf(t, body).Code != code {
			t.Errorf("%s: %d %s %s", code, got, hdr.Get("Content-Type"), body)
		}
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 1 << 20, MaxPromptBytes: 100})
	chat := func(extra string) []byte {
		return []byte(`{"model":"tiny","messages":[{"role":"user","content":"hi"}]` + extra + `}`)
	}
	corrupt := pngBytes(8, 8)
	corrupt = corrupt[:len(corrupt)-20]
	cases := []struct {
		name, path, body string
		status           int
		code             sdk.Code
	}{
		{"malformed json", "/v1/chat/completions", `{"model":`, 400, "invalid_request"},
		{"not an object", "/v1/chat/completions", `[1,2]`, 400, "invalid_request"},
		{"trailing data", "/v1/chat/completions", string(chat("")) + `{}`, 400, "invalid_request"},
		{"empty body", "/v1/completions", ``, 400, "invalid_request"},
		{"wrong type", "/v1/chat/completions", string(chat(`,"max_tokens":"ten"`)), 400, "invalid_request"},
		{"wrong content type", "/v1/chat/completions", `{"model":"tiny","messages":[{"role":"user","content":5}]}`, 400, "invalid_request"},
		{"no messages", "/v1/chat/completions", `{"model":"tiny"}`, 400, "invalid_request"},
		{"bad role", "/v1/chat/completions", `{"model":"tiny","messages":[{"role":"robot","content":"x"}]}`, 400, "invalid_request"},
		{"max_tokens too big", "/v1/chat/completions", string(chat(`,"max_tokens":5000`)), 400, "invalid_request"},
		{"temperature", "/v1/chat/completions", string(chat(`,"temperature":3`)), 400, "invalid_request"},
		{"n over 16", "/v1/chat/completions", string(chat(`,"n":17`)), 400, "invalid_request"},
		{"n 0", "/v1/completions", `{"model":"tiny","prompt":"a","n":0}`, 400, "invalid_request"},
		{"prompt too long", "/v1/completions", `{"model":"tiny","prompt":"` + strings.Repeat("x", 101) + `"}`, 400, "invalid_request"},
		{"unknown model", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, 404, "model_not_found"},
		{"model lacks task", "/v1/completions", `{"model":"cap","prompt":"x"}`, 404, "model_not_found"},
		{"model not ready", "/v1/completions", `{"model":"big","prompt":"x"}`, 503, "model_unavailable"},
		{"unknown task", "/v1/jobs", `{"task":"smell.generate","params":{}}`, 404, "model_not_found"},
		{"params not object", "/v1/jobs", `{"task":"text.complete","params":[1]}`, 400, "invalid_request"},
		{"n too big", "/v1/images/generations", `{"model":"gen","prompt":"x","n":5}`, 400, "invalid_request"},
		{"bad scheduler", "/v1/images/generations", `{"model":"gen","prompt":"x","scheduler":"plms"}`, 400, "invalid_request"},
		{"steps too many", "/v1/images/generations", `{"model":"gen","prompt":"x","steps":151}`, 400, "invalid_request"},
		{"bad size", "/v1/images/generations", `{"model":"gen","prompt":"x","size":"100x37"}`, 400, "invalid_request"},
		{"no prompt image", "/v1/images/generations", `{"model":"gen"}`, 400, "invalid_request"},
		{"corrupt image", "/v1/images/captions", `{"model":"cap","image":"` + base64.StdEncoding.EncodeToString(corrupt) + `"}`, 400, "invalid_request"},
		{"not base64 image", "/v1/images/captions", `{"model":"cap","image":"%%%"}`, 400, "invalid_request"},
		{"remote image", "/v1/images/captions", `{"model":"cap","image":"https://example.com/a.png"}`, 400, "invalid_request"},
		{"image on text model", "/v1/chat/completions", `{"model":"tiny","messages":[{"role":"user","content":[{"type":"text","text":"what"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` +
			base64.StdEncoding.EncodeToString(pngBytes(4, 4)) + `"}}]}]}`, 400, "invalid_request"},
		{"speech opus", "/v1/audio/speech", `{"model":"tts","input":"hi","response_format":"opus"}`, 400, "invalid_request"},
		{"speech aac", "/v1/audio/speech", `{"model":"tts","input":"hi","response_format":"aac"}`, 400, "invalid_request"},
		{"speech format", "/v1/audio/speech", `{"model":"tts","input":"hi","response_format":"ogg"}`, 400, "invalid_request"},
		{"speech empty", "/v1/audio/speech", `{"model":"tts","input":""}`, 400, "invalid_request"},
		{"speech too long", "/v1/audio/speech", `{"model":"tts","input":"` + strings.Repeat("a", 4097) + `"}`, 400, "invalid_request"},
		{"video too long", "/v1/videos", `{"model":"vid","prompt":"x","seconds":"60"}`, 400, "invalid_request"},
		{"video bad size", "/v1/videos", `{"model":"vid","prompt":"x","size":"720x1280"}`, 400, "invalid_request"},
		{"oversized body", "/v1/completions", `{"model":"tiny","prompt":"` + strings.Repeat("x", 1<<20) + `"}`, 413, "request_too_large"},
		{"unknown job", "/v1/jobs/nope", "", 404, "job_not_found"},
		{"unknown route", "/v1/nothing", "", 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := "POST"
			if c.body == "" && strings.HasPrefix(c.name, "unknown ") && !strings.Contains(c.name, "model") {
				method = "GET"
			}
			code, _, body := e.do(method, c.path, "application/json", []byte(c.body))
			if code != c.status {
				t.Fatalf("status %d, want %d: %s", code, c.status, body)
			}
			if got := errorOf(t, body); got.Code != c.code {
				t.Fatalf("code %q, want %q (%s)", got.Code, c.code, got.Message)
			}
		})
	}
	// The not-ready model's Missing text reaches the client.
	_, _, body := e.do("POST", "/v1/completions", "application/json", []byte(`{"model":"big","prompt":"x"}`))
	if !strings.Contains(errorOf(t, body).Message, "weights models/big.gguf absent") {
		t.Fatalf("missing text lost: %s", body)
	}
}

func TestJobErrorMapping(t *testing.T) {
	e := newEnv(t, Config{})
	for code, status := range map[sdk.Code]int{"invalid_request": 400, "model_not_found": 404, "model_unavailable": 503,
		"timeout": 504, "canceled": 409, "plugin_crashed": 500, "internal": 500} {
		got, _, body := e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": "fail:" + string(code)})
		if got != status || errorOf(t, body).Code != code {
			t.Errorf("job error %s: status %d body %s, want %d", code, got, body, status)
		}
	}
}

func TestSyncTimeoutAnswers202AndCancel(t *testing.T) {
	e := newEnv(t, Config{SyncTimeout: 50 * time.Millisecond})
	code, hdr, body := e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": "slow"})
	if code != 202 {
		t.Fatalf("status %d: %s", code, body)
	}
	v := decode[jobView](t, body)
	if v.ID == "" || hdr.Get("Location") != "/v1/jobs/"+v.ID || v.StatusURL != hdr.Get("Location") || v.Status.Terminal() {
		t.Fatalf("bad 202: %s", body)
	}
	code, _, body = e.do("GET", v.StatusURL, "", nil)
	if code != 200 || decode[jobView](t, body).Status != queue.StatusRunning {
		t.Fatalf("job should still run: %d %s", code, body)
	}
	code, _, body = e.do("DELETE", v.StatusURL, "", nil)
	if code != 200 || decode[jobView](t, body).Status != queue.StatusCanceled {
		t.Fatalf("cancel: %d %s", code, body)
	}
}

func TestJobsAPIAndEvents(t *testing.T) {
	e := newEnv(t, Config{})
	code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": "text.complete", "params": map[string]any{"prompt": "x y"}, "seed": 3, "priority": "high"})
	if code != 202 {
		t.Fatalf("status %d: %s", code, body)
	}
	v := decode[jobView](t, body)
	if v.Model != "tiny" || v.Task != taskComplete {
		t.Fatalf("bad job: %s", body)
	}
	resp, err := http.Get(e.ts.URL + v.EventsURL)
	if err != nil {
		t.Fatal(err)
	}
	evs := readSSE(t, resp.Body)
	resp.Body.Close()
	var types []string
	for i, ev := range evs {
		if ev.ID != strconv.Itoa(i+1) || !json.Valid([]byte(ev.Data)) {
			t.Fatalf("event %d: %+v", i, ev)
		}
		types = append(types, ev.Event)
	}
	if got := strings.Join(types, ","); got != "queued,started,delta,delta,delta,result" {
		t.Fatalf("events %s", got)
	}
	// Resume after event 4: only the rest.
	req, _ := http.NewRequest("GET", e.ts.URL+v.EventsURL, nil)
	req.Header.Set("Last-Event-ID", "4")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	evs = readSSE(t, resp.Body)
	resp.Body.Close()
	if len(evs) != 2 || evs[0].ID != "5" || evs[1].Event != "result" {
		t.Fatalf("resume: %+v", evs)
	}
	code, _, body = e.do("GET", v.StatusURL, "", nil)
	got := decode[jobView](t, body)
	if code != 200 || got.Status != queue.StatusSucceeded || !strings.Contains(string(got.Output), "echo: x y") || got.Attempt != 1 {
		t.Fatalf("get: %d %s", code, body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t, Config{})
	req := map[string]any{"model": "tiny", "prompt": "same"}
	_, h1, b1 := e.postJSON("/v1/completions", req, "Idempotency-Key", "k1")
	_, h2, b2 := e.postJSON("/v1/completions", req, "Idempotency-Key", "k1")
	_, h3, _ := e.postJSON("/v1/completions", req, "Idempotency-Key", "k2")
	if h1.Get("X-Loom-Job-Id") == "" || h1.Get("X-Loom-Job-Id") != h2.Get("X-Loom-Job-Id") || h3.Get("X-Loom-Job-Id") == h1.Get("X-Loom-Job-Id") {
		t.Fatalf("job ids %q %q %q", h1.Get("X-Loom-Job-Id"), h2.Get("X-Loom-Job-Id"), h3.Get("X-Loom-Job-Id"))
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("replayed answer differs:\n%s\n%s", b1, b2)
	}
	// The key names the job, whatever the body: the jobs API answers the
	// first job (200, idempotent_replay) instead of enqueueing another.
	code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": "text.complete", "params": map[string]any{"prompt": "z"}}, "Idempotency-Key", "k1")
	if v := decode[jobView](t, body); code != 200 || v.ID != h1.Get("X-Loom-Job-Id") || !v.Idempotency {
		t.Fatalf("replay via jobs API: %d %s", code, body)
	}
}

func TestQueueFullIs429(t *testing.T) {
	e := newEnv(t, Config{})
	e.q.set(nil, true)
	code, hdr, body := e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": "x"})
	if code != 429 || hdr.Get("Retry-After") != "2" || errorOf(t, body).Code != "queue_full" {
		t.Fatalf("status %d retry-after %q: %s", code, hdr.Get("Retry-After"), body)
	}
}

func TestAPIKeysAndRateLimit(t *testing.T) {
	now := time.Unix(1000, 0)
	e := newEnv(t, Config{APIKeys: []string{"k-one", "k-two"}, RateLimit: 1, RateBurst: 2, Now: func() time.Time { return now }})
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "k-one"}} {
		code, _, body := e.do("GET", "/v1/models", "", nil, h...)
		if code != 401 || errorOf(t, body).Type != "authentication_error" {
			t.Fatalf("auth %v: %d %s", h, code, body)
		}
	}
	auth := []string{"Authorization", "Bearer k-one"}
	for i := 0; i < 2; i++ {
		if code, _, body := e.do("GET", "/v1/models", "", nil, auth...); code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	code, hdr, body := e.do("GET", "/v1/models", "", nil, auth...)
	if code != 429 || hdr.Get("Retry-After") != "1" || errorOf(t, body).Code != "rate_limited" {
		t.Fatalf("third request: %d %q %s", code, hdr.Get("Retry-After"), body)
	}
	// The other key has its own bucket; health endpoints need no key.
	if code, _, _ := e.do("GET", "/v1/models", "", nil, "Authorization", "Bearer k-two"); code != 200 {
		t.Fatalf("second key limited: %d", code)
	}
	if code, _, _ := e.do("GET", "/healthz", "", nil); code != 200 {
		t.Fatalf("healthz: %d", code)
	}
	now = now.Add(time.Second)
	if code, _, _ := e.do("GET", "/v1/models", "", nil, auth...); code != 200 {
		t.Fatalf("bucket did not refill: %d", code)
	}
}

func TestImagesAudioVideo(t *testing.T) {
	e := newEnv(t, Config{})
	code, _, body := e.postJSON("/v1/images/generations", map[string]any{"model": "gen", "prompt": "a cat", "n": 2, "size": "64x64"})
	var gen struct {
		Data []struct {
			B64 string `json:"b64_json"`
		} `json:"data"`
	}
	gen = decode[struct {
		Data []struct {
			B64 string `json:"b64_json"`
		} `json:"data"`
	}](t, body)
	if code != 200 || len(gen.Data) != 2 {
		t.Fatalf("generations: %d %s", code, body)
	}
	raw, _ := base64.StdEncoding.DecodeString(gen.Data[0].B64)
	if _, err := checkImage(raw); err != nil {
		t.Fatalf("generated image: %v", err)
	}
	// Seeds per image, and an upscale said in the response.
	code, _, body = e.postJSON("/v1/images/generations", map[string]any{"model": "gen", "prompt": "a cat", "n": 2, "size": "128x128",
		"seed": 40, "scheduler": "euler_a"})
	up := decode[struct {
		Data []struct {
			Seed int64 `json:"seed"`
		} `json:"data"`
		UpscaledFrom string `json:"upscaled_from"`
	}](t, body)
	if code != 200 || len(up.Data) != 2 || up.Data[0].Seed != 40 || up.Data[1].Seed != 41 || up.UpscaledFrom != "64x64" {
		t.Fatalf("generations 128x128: %d %s", code, body)
	}

	// Image-to-image: multipart as OpenAI's edits, and JSON with a data: URL.
	edit := pngBytes(20, 10)
	var emp bytes.Buffer
	ew := multipart.NewWriter(&emp)
	for k, v := range map[string]string{"model": "gen", "prompt": "a blue square", "strength": "0.6", "seed": "7", "n": "2"} {
		_ = ew.WriteField(k, v)
	}
	efw, _ := ew.CreateFormFile("image", "in.png")
	_, _ = efw.Write(edit)
	_ = ew.Close()
	type editResp struct {
		Data []struct {
			Seed          int64  `json:"seed"`
			RevisedPrompt string `json:"revised_prompt"`
			B64           string `json:"b64_json"`
		} `json:"data"`
	}
	code, _, body = e.do("POST", "/v1/images/edits", ew.FormDataContentType(), emp.Bytes())
	er := decode[editResp](t, body)
	if code != 200 || len(er.Data) != 2 || er.Data[1].Seed != 8 || er.Data[0].RevisedPrompt != "edit of 20x10 at strength 0.6: a blue square" {
		t.Fatalf("edits multipart: %d %s", code, body)
	}
	code, _, body = e.postJSON("/v1/images/edits", map[string]any{"model": "gen", "prompt": "a red circle",
		"image": "data:image/png;base64," + base64.StdEncoding.EncodeToString(edit)})
	er = decode[editResp](t, body)
	if code != 200 || len(er.Data) != 1 || er.Data[0].RevisedPrompt != "edit of 20x10 at strength 0.8: a red circle" {
		t.Fatalf("edits json (default strength 0.8): %d %s", code, body)
	}
	for name, tc := range map[string]struct {
		body   map[string]any
		wantIn string
	}{
		"no image":      {map[string]any{"model": "gen", "prompt": "x"}, "image"},
		"bad image":     {map[string]any{"model": "gen", "prompt": "x", "image": "aGVsbG8="}, "image"},
		"strength 1.5":  {map[string]any{"model": "gen", "prompt": "x", "image": base64.StdEncoding.EncodeToString(edit), "strength": 1.5}, "strength"},
		"mask":          {map[string]any{"model": "gen", "prompt": "x", "image": base64.StdEncoding.EncodeToString(edit), "mask": "abc"}, "mask"},
		"no prompt":     {map[string]any{"model": "gen", "image": base64.StdEncoding.EncodeToString(edit)}, "prompt"},
		"remote image":  {map[string]any{"model": "gen", "prompt": "x", "image": "https://example.com/a.png"}, "remote"},
		"steps too big": {map[string]any{"model": "gen", "prompt": "x", "image": base64.StdEncoding.EncodeToString(edit), "steps": 500}, "steps"},
	} {
		code, _, body := e.postJSON("/v1/images/edits", tc.body)
		if code != 400 || !strings.Contains(string(body), tc.wantIn) {
			t.Errorf("edits %s: %d %s", name, code, body)
		}
	}
	var bmp bytes.Buffer
	bw := multipart.NewWriter(&bmp)
	_ = bw.WriteField("prompt", "x")
	_ = bw.WriteField("strength", "most")
	bfw, _ := bw.CreateFormFile("image", "in.png")
	_, _ = bfw.Write(edit)
	_ = bw.Close()
	if code, _, body := e.do("POST", "/v1/images/edits", bw.FormDataContentType(), bmp.Bytes()); code != 400 || !strings.Contains(string(body), `strength: \"most\" is not a number`) {
		t.Errorf("edits multipart bad strength: %d %s", code, body)
	}
	if code, _, body := e.postJSON("/v1/images/generations", map[string]any{"model": "gen", "prompt": "x", "strength": 0.5}); code != 400 || !strings.Contains(string(body), "/v1/images/edits") {
		t.Errorf("generations with a strength: %d %s", code, body)
	}

	img := pngBytes(12, 7)
	code, _, body = e.postJSON("/v1/images/captions", map[string]any{"model": "cap", "image": "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)})
	if code != 200 || decode[map[string]any](t, body)["caption"] != "a red dot on 12x7" {
		t.Fatalf("caption json: %d %s", code, body)
	}
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("model", "cap")
	fw, _ := w.CreateFormFile("file", "x.png")
	_, _ = fw.Write(img)
	_ = w.Close()
	code, _, body = e.do("POST", "/v1/images/captions", w.FormDataContentType(), mp.Bytes())
	if code != 200 || decode[map[string]any](t, body)["caption"] != "a red dot on 12x7" {
		t.Fatalf("caption multipart: %d %s", code, body)
	}
	mp.Reset()
	w = multipart.NewWriter(&mp)
	_ = w.WriteField("max_tokens", "many")
	fw, _ = w.CreateFormFile("file", "x.png")
	_, _ = fw.Write(img)
	_ = w.Close()
	if code, _, body = e.do("POST", "/v1/images/captions", w.FormDataContentType(), mp.Bytes()); code != 400 || !strings.Contains(string(body), `max_tokens: \"many\" is not an integer`) {
		t.Fatalf("caption multipart, bad max_tokens: %d %s", code, body)
	}
	// An image part on a chat request with a captioning model becomes image.caption.
	code, _, body = e.postJSON("/v1/chat/completions", map[string]any{"model": "cap", "messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "text", "text": "what is this"},
		map[string]any{"type": "image_url", "image_url": map[string]string{"url": "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)}}}}}})
	if code != 200 || decode[chatResp](t, body).Choices[0].Message.Content != "a red dot on 12x7" {
		t.Fatalf("chat with image: %d %s", code, body)
	}

	code, hdr, body := e.postJSON("/v1/audio/speech", map[string]any{"model": "tts", "input": "hello", "voice": "alto"})
	if code != 200 || hdr.Get("Content-Type") != "audio/wav" || string(body) != "RIFFhello" {
		t.Fatalf("speech: %d %q %q", code, hdr.Get("Content-Type"), body)
	}
	code, hdr, body = e.postJSON("/v1/audio/speech", map[string]any{"model": "tts", "input": "hello", "response_format": "pcm"})
	if code != 200 || hdr.Get("Content-Type") != "audio/pcm" || string(body) != "PCMhello" {
		t.Fatalf("speech pcm: %d %q %q", code, hdr.Get("Content-Type"), body)
	}
	// opus and aac: a 400 that names what Loom does serve.
	code, _, body = e.postJSON("/v1/audio/speech", map[string]any{"model": "tts", "input": "hello", "response_format": "opus"})
	if code != 400 || !strings.Contains(string(body), "use mp3, wav, flac or pcm") {
		t.Fatalf("speech opus: %d %s", code, body)
	}

	code, _, body = e.postJSON("/v1/videos", map[string]any{"model": "vid", "prompt": "waves", "seconds": "1", "size": "64x64"})
	vid := decode[map[string]any](t, body)
	if code != 200 || vid["object"] != "video" || vid["seconds"] != "1" || vid["size"] != "64x64" {
		t.Fatalf("create video: %d %s", code, body)
	}
	id := vid["id"].(string)
	deadline := time.Now().Add(5 * time.Second)
	for vid["status"] != "completed" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		_, _, body = e.do("GET", "/v1/videos/"+id, "", nil)
		vid = decode[map[string]any](t, body)
	}
	if vid["status"] != "completed" || vid["progress"] != 100.0 {
		t.Fatalf("video: %s", body)
	}
	code, hdr, body = e.do("GET", "/v1/videos/"+id+"/content", "", nil)
	if code != 200 || hdr.Get("Content-Type") != "video/mp4" || string(body) != "MP4:waves" {
		t.Fatalf("content: %d %s", code, body)
	}
	// A text job is not a video.
	_, h, _ := e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": "x"})
	if code, _, _ := e.do("GET", "/v1/videos/"+h.Get("X-Loom-Job-Id"), "", nil); code != 404 {
		t.Fatalf("text job as video: %d", code)
	}
}

func TestModelsHealthReady(t *testing.T) {
	e := newEnv(t, Config{})
	code, _, body := e.do("GET", "/v1/models", "", nil)
	var list struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}
	list = decode[struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}](t, body)
	if code != 200 || list.Object != "list" || len(list.Data) != 7 || list.Data[0].ID != "big" || list.Data[0].Ready || list.Data[0].Missing == "" {
		t.Fatalf("models: %d %s", code, body)
	}
	if code, _, body := e.do("GET", "/readyz", "", nil); code != 200 {
		t.Fatalf("readyz: %d %s", code, body)
	}
	e.q.set(errors.New("redis: connection refused"), false)
	code, _, body = e.do("GET", "/readyz", "", nil)
	if code != 503 || errorOf(t, body).Code != "queue_unavailable" || strings.Contains(string(body), "redis") {
		t.Fatalf("readyz with dead queue: %d %s", code, body)
	}
	// Internal errors do not leak details either.
	e.srv.models.at = time.Time{}
	code, _, body = e.do("GET", "/v1/models", "", nil)
	if code != 500 || strings.Contains(string(body), "redis") {
		t.Fatalf("models with dead queue: %d %s", code, body)
	}

	empty := New(Config{}, newTestQueue())
	rec := httpRecorder(empty, "GET", "/readyz")
	if rec.Code != 503 || errorOf(t, rec.Body.Bytes()).Code != "no_workers" {
		t.Fatalf("readyz without workers: %d %s", rec.Code, rec.Body)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, Config{})
	raw, _ := json.Marshal([]map[string]any{{"name": "text", "restarts": 3}})
	_ = e.q.Register(t.Context(), queue.WorkerInfo{ID: "w2", Tasks: []string{taskChat}, Manifests: raw})
	e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": "x"})
	e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": "fail:internal"})
	_, _, body := e.do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`loom_jobs_enqueued_total{task="text.complete"} 2`,
		`loom_jobs_finished_total{status="succeeded",task="text.complete"} 1`,
		`loom_jobs_finished_total{status="failed",task="text.complete"} 1`,
		`loom_job_duration_seconds_count{task="text.complete"} 2`,
		`loom_queue_depth{task="video.generate"} 0`,
		`loom_workers 2`,
		`loom_plugin_restarts_total{plugin="text",worker="w2"} 3`,
		`loom_http_request_duration_seconds_count{code="200",method="POST",route="/v1/completions"} 1`,
		`loom_http_request_duration_seconds_count{code="500",method="POST",route="/v1/completions"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestSeedDefaultsToRandomButIsKept(t *testing.T) {
	e := newEnv(t, Config{})
	seeds := map[int64]bool{}
	for range 3 {
		code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": taskComplete, "params": map[string]any{"prompt": "x"}})
		if code != 202 {
			t.Fatalf("%d %s", code, body)
		}
		v := decode[jobView](t, body)
		st, _ := e.q.Get(t.Context(), v.ID)
		if st.Job.Seed != v.Seed {
			t.Fatalf("view seed %d, job seed %d", v.Seed, st.Job.Seed)
		}
		seeds[v.Seed] = true
	}
	if len(seeds) != 3 {
		t.Fatalf("seeds repeat: %v", seeds)
	}
	_, _, body := e.postJSON("/v1/jobs", map[string]any{"task": taskComplete, "params": map[string]any{"prompt": "x"}, "seed": 0})
	if v := decode[jobView](t, body); v.Seed != 0 {
		t.Fatalf("explicit seed 0 became %d", v.Seed)
	}
}
