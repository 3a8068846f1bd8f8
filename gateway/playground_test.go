package gateway

import (
	"strings"
	"testing"
	"time"
)

// TestPlaygroundServed: the page at / and its files under /ui/ are served
// without a key (the page asks for one), with their types; the page names
// only its own files (nothing from a CDN).
func TestPlaygroundServed(t *testing.T) {
	e := newEnv(t, Config{APIKeys: []string{"k1"}})
	code, hdr, body := e.do("GET", "/", "", nil)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `<script src="/ui/app.js">`) {
		t.Fatalf("GET /: %d %s %.200s", code, hdr.Get("Content-Type"), body)
	}
	if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") {
		t.Error("the page links outside the server")
	}
	for path, ctype := range map[string]string{"/ui/app.js": "javascript", "/ui/app.css": "text/css"} {
		code, hdr, body := e.do("GET", path, "", nil)
		if code != 200 || !strings.Contains(hdr.Get("Content-Type"), ctype) || len(body) < 1000 {
			t.Errorf("GET %s: %d %q, %d bytes", path, code, hdr.Get("Content-Type"), len(body))
		}
	}
	if code, _, _ := e.do("GET", "/ui/nope.js", "", nil); code != 404 {
		t.Errorf("a missing file: %d", code)
	}
	if code, _, _ := e.do("GET", "/v1/jobs", "", nil); code != 401 {
		t.Errorf("the API still wants a key: %d", code)
	}
}

// TestListJobs: GET /v1/jobs lists the caller's jobs of every task, newest
// first, within limit; another key's jobs are not listed; a bad limit is a
// 400 naming it.
func TestListJobs(t *testing.T) {
	e := newEnv(t, Config{APIKeys: []string{"k1", "k2"}})
	k1, k2 := []string{"Authorization", "Bearer k1"}, []string{"Authorization", "Bearer k2"}
	var ids []string
	for _, body := range []string{
		`{"task":"text.complete","params":{"prompt":"one"}}`,
		`{"task":"text.chat","params":{"messages":[{"role":"user","content":"two"}]}}`,
		`{"task":"text.complete","params":{"prompt":"three"}}`,
	} {
		code, _, resp := e.do("POST", "/v1/jobs", "application/json", []byte(body), k1...)
		if code != 202 {
			t.Fatalf("submit: %d %s", code, resp)
		}
		ids = append(ids, decode[jobView](t, resp).ID)
		time.Sleep(2 * time.Millisecond)
	}
	if code, _, resp := e.do("POST", "/v1/jobs", "application/json", []byte(`{"task":"text.complete","params":{"prompt":"other"}}`), k2...); code != 202 {
		t.Fatalf("submit k2: %d %s", code, resp)
	}
	type list struct {
		Object  string `json:"object"`
		HasMore bool   `json:"has_more"`
		Data    []struct {
			jobView
			Progress *progressView `json:"progress"`
		} `json:"data"`
	}
	code, _, body := e.do("GET", "/v1/jobs", "", nil, k1...)
	l := decode[list](t, body)
	if code != 200 || l.Object != "list" || len(l.Data) != 3 || l.HasMore {
		t.Fatalf("list: %d %s", code, body)
	}
	for i, d := range l.Data {
		if d.ID != ids[len(ids)-1-i] || d.Artifacts != nil && d.Artifacts[0].Data != nil {
			t.Fatalf("list order/contents: %s", body)
		}
	}
	_, _, body = e.do("GET", "/v1/jobs?limit=2", "", nil, k1...)
	if l := decode[list](t, body); len(l.Data) != 2 || !l.HasMore || l.Data[0].ID != ids[2] {
		t.Fatalf("limit 2: %s", body)
	}
	_, _, body = e.do("GET", "/v1/jobs?task=text.chat", "", nil, k1...)
	if l := decode[list](t, body); len(l.Data) != 1 || l.Data[0].ID != ids[1] {
		t.Fatalf("task filter: %s", body)
	}
	_, _, body = e.do("GET", "/v1/jobs", "", nil, k2...)
	if l := decode[list](t, body); len(l.Data) != 1 || l.Data[0].ID == ids[0] {
		t.Fatalf("k2 sees: %s", body)
	}
	for _, bad := range []string{"0", "101", "x"} {
		code, _, body := e.do("GET", "/v1/jobs?limit="+bad, "", nil, k1...)
		if code != 400 || !strings.Contains(errorOf(t, body).Message, "limit") {
			t.Errorf("limit=%s: %d %s", bad, code, body)
		}
	}
}
