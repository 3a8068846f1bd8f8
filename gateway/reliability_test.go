package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/core/testmodel"
	"github.com/loomhq/loom/queue"
)

// Issue 17 item 2: a timeout_s beyond time.Duration's range was accepted
// (202) and the job failed at once on an overflowed, past deadline.
func TestJobTimeoutBounds(t *testing.T) {
	e := newEnv(t, Config{})
	for _, bad := range []any{1e300, -1, 7*24*3600 + 1} {
		code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": "text.complete", "params": map[string]any{"prompt": "x"}, "timeout_s": bad})
		if code != 400 || errorOf(t, body).Code != "invalid_request" {
			t.Fatalf("timeout_s %v: %d %s, want 400", bad, code, body)
		}
	}
	code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": "text.complete", "params": map[string]any{"prompt": "x"}, "timeout_s": 30})
	if code != 202 {
		t.Fatalf("timeout_s 30: %d %s", code, body)
	}
	st, err := e.q.Get(context.Background(), decode[jobView](t, body).ID)
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(st.Job.Deadline); left < 25*time.Second || left > 31*time.Second {
		t.Fatalf("deadline %s from now, want ~30s", left)
	}
}

// Issue 17 item 9: a wrong type named the Go struct it landed in
// ("samplingRequest.max_tokens: …"); the client wrote "max_tokens".
func TestTypeErrorsNameJSONFields(t *testing.T) {
	e := newEnv(t, Config{})
	for body, want := range map[string]string{
		`{"model":"tiny","prompt":"x","max_tokens":"many"}`:                                "max_tokens: expected an integer, got string",
		`{"model":"tiny","prompt":"x","stream":true,"stream_options":{"include_usage":1}}`: "stream_options.include_usage: expected a boolean, got number",
		`{"task":"text.complete","inputs":[{"name":1}]}`:                                   "inputs.name: expected a string, got number",
	} {
		path := "/v1/completions"
		if strings.Contains(body, `"task"`) {
			path = "/v1/jobs"
		}
		code, _, b := e.do("POST", path, "application/json", []byte(body))
		if msg := errorOf(t, b).Message; code != 400 || msg != want {
			t.Errorf("%s: %d %q, want 400 %q", body, code, msg, want)
		}
	}
}

// Issue 17 item 9: {"prompt": ""} reached the text plugin without its
// prompt (omitempty), which answered `text.complete needs "prompt"`.
func TestEmptyPromptIsSent(t *testing.T) {
	e := newEnv(t, Config{})
	code, hdr, body := e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": ""})
	if code != 200 {
		t.Fatalf("empty prompt: %d %s", code, body)
	}
	st, err := e.q.Get(context.Background(), hdr.Get("X-Loom-Job-Id"))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(st.Job.Params, &p); err != nil {
		t.Fatal(err)
	}
	if v, ok := p["prompt"]; !ok || v != "" {
		t.Fatalf("params %s: want \"prompt\":\"\"", st.Job.Params)
	}
	// A chat job carries no prompt key at all.
	code, hdr, body = e.postJSON("/v1/chat/completions", map[string]any{"model": "tiny", "messages": []map[string]string{{"role": "user", "content": "hi"}}})
	if code != 200 {
		t.Fatalf("chat: %d %s", code, body)
	}
	if st, err = e.q.Get(context.Background(), hdr.Get("X-Loom-Job-Id")); err != nil || strings.Contains(string(st.Job.Params), `"prompt"`) {
		t.Fatalf("chat params %s (%v)", st.Job.Params, err)
	}
}

// Issue 17 item 9: invalid UTF-8 inside a JSON body was accepted, each bad
// byte silently turned into U+FFFD.
func TestInvalidUTF8BodyRefused(t *testing.T) {
	e := newEnv(t, Config{})
	for path, body := range map[string]string{
		"/v1/completions":      "{\"model\":\"tiny\",\"prompt\":\"ok \xff\xfe\"}",
		"/v1/chat/completions": "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\"}]}",
		"/v1/jobs":             "{\"task\":\"text.complete\",\"params\":{\"prompt\":\"\xed\xa0\x80\"}}",
	} {
		code, _, b := e.do("POST", path, "application/json", []byte(body))
		if ed := errorOf(t, b); code != 400 || ed.Code != "invalid_request" || !strings.Contains(ed.Message, "UTF-8") {
			t.Errorf("%s: %d %s, want 400 naming UTF-8", path, code, b)
		}
	}
	// Valid multi-byte text still goes through.
	if code, _, b := e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": "héllo ✓ 🧵"}); code != 200 || !strings.Contains(string(b), "héllo ✓ 🧵") {
		t.Fatalf("valid UTF-8: %d %s", code, b)
	}
}

// Issue 17 item 9: "Authorization: bearer KEY" (the scheme is
// case-insensitive) was refused with 401.
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	e := newEnv(t, Config{APIKeys: []string{"k1"}})
	for _, h := range []string{"Bearer k1", "bearer k1", "BEARER  k1 "} {
		if code, _, b := e.do("GET", "/v1/models", "", nil, "Authorization", h); code != 200 {
			t.Errorf("%q: %d %s", h, code, b)
		}
	}
	for _, h := range []string{"Basic k1", "Bearer", "Bearer k2", "k1", "Bearerk1"} {
		if code, _, _ := e.do("GET", "/v1/models", "", nil, "Authorization", h); code != 401 {
			t.Errorf("%q: %d, want 401", h, code)
		}
	}
}

// Issue 17 item 3: with Redis down, POST /v1/jobs and GET /v1/jobs/{id}
// answered 500 "internal"; they answer 503 queue_unavailable with
// Retry-After, and no Redis detail reaches the client.
func TestQueueDownIs503(t *testing.T) {
	e := newEnv(t, Config{})
	code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": "text.complete", "params": map[string]any{"prompt": "x"}})
	if code != 202 {
		t.Fatalf("enqueue: %d %s", code, body)
	}
	id := decode[jobView](t, body).ID
	e.q.set(fmt.Errorf("get %s: %w: dial tcp 127.0.0.1:6379: connect: connection refused", id, queue.ErrUnavailable), false)
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/jobs", `{"task":"text.complete","params":{"prompt":"x"}}`},
		{"GET", "/v1/jobs/" + id, ""},
		{"POST", "/v1/completions", `{"model":"tiny","prompt":"x"}`},
	} {
		e.srv.models.at = time.Time{} // the model index must ask the queue
		code, hdr, b := e.do(r.method, r.path, "application/json", []byte(r.body))
		if code != 503 || errorOf(t, b).Code != "queue_unavailable" || hdr.Get("Retry-After") != "2" || strings.Contains(string(b), "dial") {
			t.Errorf("%s %s with the queue down: %d Retry-After %q %s", r.method, r.path, code, hdr.Get("Retry-After"), b)
		}
	}
	e.q.set(nil, false)
	if code, _, b := e.do("GET", "/v1/jobs/"+id, "", nil); code != 200 {
		t.Fatalf("after recovery: %d %s", code, b)
	}
}

// serveReal serves e's gateway through HTTPServer (the connection timeouts
// httptest's server lacks) and returns its address.
func serveReal(t *testing.T, e *testEnv) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := e.srv.HTTPServer(nil)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// readAllWithin reads conn until the server closes it, failing after limit.
func readAllWithin(t *testing.T, conn net.Conn, limit time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("connection still open after %s (read %q): %v", limit, b, err)
	}
	return string(b), time.Since(start)
}

// Issue 17 item 6: a request that declared 100 kB and sent 10 bytes, and an
// idle keep-alive connection, were held open for ever (only the header had
// a timeout): slowloris. Both are cut now; a stream outlives WriteTimeout.
func TestSlowClientsAreCut(t *testing.T) {
	e := newEnv(t, Config{BodyTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond,
		WriteTimeout: 400 * time.Millisecond, StreamWriteTimeout: time.Second})
	addr := serveReal(t, e)

	// A trickled body: 408, then the connection closes.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"model\":")
	resp, took := readAllWithin(t, conn, 3*time.Second)
	if !strings.HasPrefix(resp, "HTTP/1.1 408") || !strings.Contains(resp, "request_timeout") || took > 2*time.Second {
		t.Fatalf("slow body: after %s got %q", took, resp)
	}

	// An idle keep-alive connection is closed after IdleTimeout.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprint(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, took = readAllWithin(t, idle, 3*time.Second)
	if !strings.HasPrefix(resp, "HTTP/1.1 200") || took > 2*time.Second {
		t.Fatalf("idle connection: after %s got %q", took, resp)
	}

	// A body that arrives in time is served, and a stream lasting longer
	// than WriteTimeout is not cut: each write gets its own deadline.
	ctx := context.Background()
	st, _, err := e.q.Enqueue(ctx, queue.Job{Task: "slow.stream", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		l, err := e.q.Dequeue(ctx, "streamer", []queue.Lane{{Task: "slow.stream", Model: "m"}})
		if err != nil {
			return
		}
		for i := range 6 {
			time.Sleep(150 * time.Millisecond)
			_ = e.q.Publish(ctx, l, queue.EventDelta, map[string]string{"text": strconv.Itoa(i)})
		}
		_ = e.q.Complete(ctx, l, queue.Result{Output: json.RawMessage(`{}`)})
	}()
	r, err := http.Get("http://" + addr + "/v1/jobs/" + st.Job.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	evs := readSSE(t, r.Body)
	r.Body.Close()
	if len(evs) == 0 || evs[len(evs)-1].Event != "result" {
		t.Fatalf("stream over WriteTimeout: %+v", evs)
	}
}

// Issue 17 item 5: the gateway decoded every uploaded image in full to
// check it; eight concurrent 130 KB PNGs that decode to 4096×4096 16-bit
// took it from 29 MB to 1 GB. It reads the header only, and refuses what
// a request's images would decode to beyond sdk.MaxImageBytes.
func TestImageBombRefusedFromHeader(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 64 << 20})
	var bomb bytes.Buffer
	if err := testmodel.WriteBlackPNG(&bomb, 4096, true); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"model": "cap", "image": base64.StdEncoding.EncodeToString(bomb.Bytes())})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code, _, b := e.do("POST", "/v1/images/captions", "application/json", body)
	runtime.ReadMemStats(&after)
	if ed := errorOf(t, b); code != 400 || !strings.Contains(ed.Message, "decodes to 128.0 MiB") {
		t.Fatalf("16-bit 4096² PNG: %d %s", code, b)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("%d MiB allocated to refuse a %d KB upload", alloc>>20, bomb.Len()>>10)
	}
	// Several images are bounded together: two 4096² RGBA are 128 MiB.
	var big bytes.Buffer
	if err := testmodel.WriteBlackPNG(&big, 4096, false); err != nil {
		t.Fatal(err)
	}
	one := base64.StdEncoding.EncodeToString(big.Bytes())
	code, _, b = e.postJSON("/v1/images/edits", map[string]any{"model": "gen", "prompt": "x", "image": []string{one, one}})
	if ed := errorOf(t, b); code != 400 || !strings.Contains(ed.Message, "together") {
		t.Fatalf("two 64 MiB images: %d %s", code, b)
	}
}

// TestJobsBelongToTheirKey is issue 17 item 9: with API keys a job is its
// key's — another key gets 404 job_not_found on every way to reach it (as
// for an id that does not exist), and an admin key reaches all of them.
func TestJobsBelongToTheirKey(t *testing.T) {
	e := newEnv(t, Config{APIKeys: []string{"k1", "k2"}, AdminKeys: []string{"root"}})
	auth := func(k string) []string { return []string{"Authorization", "Bearer " + k} }
	code, _, body := e.postJSON("/v1/responses", map[string]any{"model": "tiny", "input": "hello"}, auth("k1")...)
	if code != 200 {
		t.Fatalf("response: %d %s", code, body)
	}
	resp := decode[struct{ ID string }](t, body).ID
	_, _, body = e.postJSON("/v1/videos", map[string]any{"model": "vid", "prompt": "mine"}, auth("k1")...)
	vid := decode[video](t, body).ID
	// A job that runs until canceled.
	code, _, body = e.postJSON("/v1/jobs", map[string]any{"task": taskComplete, "model": "tiny", "params": map[string]any{"prompt": "slow"}}, auth("k1")...)
	if code != 202 {
		t.Fatalf("create: %d %s", code, body)
	}
	job := decode[jobView](t, body).ID
	reaches := []struct{ method, path string }{
		{"GET", "/v1/jobs/" + job}, {"GET", "/v1/jobs/" + job + "/events?after=1000000"},
		{"GET", "/v1/responses/" + resp}, {"POST", "/v1/responses/" + resp + "/cancel"},
		{"DELETE", "/v1/jobs/" + job}, // last: it cancels
	}
	for _, r := range reaches {
		code, _, body := e.do(r.method, r.path, "", nil, auth("k2")...)
		if code != 404 {
			t.Errorf("%s %s with another key: %d %s", r.method, r.path, code, body)
			continue
		}
		// Indistinguishable from an id that does not exist.
		want := errorOf(t, body).Code
		_, _, none := e.do(r.method, strings.Replace(r.path, job, "nojob", 1), "", nil, auth("k2")...)
		if !strings.HasPrefix(r.path, "/v1/responses") && errorOf(t, none).Code != want {
			t.Errorf("%s %s: code %s, a missing job answers %s", r.method, r.path, want, errorOf(t, none).Code)
		}
	}
	if st, err := e.q.Get(context.Background(), job); err != nil || st.Status.Terminal() {
		t.Fatalf("another key's cancel reached the job: %v %v", st.Status, err)
	}
	code, _, body = e.do("GET", "/v1/jobs/"+job, "", nil, auth("k1")...)
	if code != 200 || decode[jobView](t, body).Owner != "" {
		t.Fatalf("its own key: %d %s (the owner is shown to admins only)", code, body)
	}
	code, _, body = e.do("GET", "/v1/jobs/"+job, "", nil, auth("root")...)
	if code != 200 || decode[jobView](t, body).Owner != keyID("k1") {
		t.Fatalf("admin get: %d %s", code, body)
	}
	if code, _, body := e.do("GET", "/v1/responses/"+resp, "", nil, auth("root")...); code != 200 {
		t.Fatalf("admin get response: %d %s", code, body)
	}
	if code, _, body := e.do("DELETE", "/v1/jobs/"+job, "", nil, auth("root")...); code != 200 || decode[jobView](t, body).Status != queue.StatusCanceled {
		t.Fatalf("admin cancel: %d %s", code, body)
	}
	// Videos: listed by owner for an admin only.
	if code, _, body := e.do("GET", "/v1/videos/"+vid, "", nil, auth("root")...); code != 200 {
		t.Fatalf("admin get video: %d %s", code, body)
	}
	if code, _, body := e.do("GET", "/v1/videos?owner="+keyID("k1"), "", nil, auth("k2")...); code != 400 {
		t.Fatalf("owner= from a plain key: %d %s", code, body)
	}
	_, _, body = e.do("GET", "/v1/videos?owner="+keyID("k1"), "", nil, auth("root")...)
	if d := decode[struct{ Data []video }](t, body).Data; len(d) != 1 || d[0].ID != vid {
		t.Fatalf("admin lists k1's videos: %s", body)
	}
}
