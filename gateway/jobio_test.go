package gateway

import (
	"bytes"
	"mime/multipart"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
)

// part is one part of a multipart body built by partsBody.
type part struct {
	field, filename, ctype string
	data                   []byte
}

func partsBody(t *testing.T, parts ...part) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		disp := `form-data; name="` + p.field + `"`
		if p.filename != "" {
			disp += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", disp)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write(p.data)
	}
	_ = w.Close()
	return w.FormDataContentType(), b.Bytes()
}

// waitJobDone polls GET /v1/jobs/{id} until the job ends.
func (e *testEnv) waitJobDone(id string, hdr ...string) jobView {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, _, body := e.do("GET", "/v1/jobs/"+id, "", nil, hdr...)
		if code != 200 {
			e.t.Fatalf("GET job %s: %d %s", id, code, body)
		}
		v := decode[jobView](e.t, body)
		if v.Status.Terminal() {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("job %s did not finish", id)
	return jobView{}
}

// A multipart job: params as a JSON part, the input as a file part (its
// MIME type sniffed when sent as octet-stream); the plugin sees both.
func TestJobsMultipart(t *testing.T) {
	e := newEnv(t, Config{})
	ctype, body := partsBody(t,
		part{field: "task", data: []byte("image.caption")},
		part{field: "model", data: []byte("cap")},
		part{field: "seed", data: []byte("7")},
		part{field: "params", filename: "params.json", ctype: "application/json", data: []byte(`{"beam":2}`)},
		part{field: "image", filename: "dot.png", ctype: "application/octet-stream", data: pngBytes(5, 3)})
	code, _, resp := e.do("POST", "/v1/jobs", ctype, body)
	if code != 202 {
		t.Fatalf("multipart job: %d %s", code, resp)
	}
	v := e.waitJobDone(decode[jobView](t, resp).ID)
	if v.Status != "succeeded" || v.Seed != 7 || !strings.Contains(string(v.Output), "a red dot on 5x3") {
		t.Fatalf("job: %+v %s", v, v.Output)
	}
	// The params part is checked against the schema like a JSON body's.
	ctype, body = partsBody(t,
		part{field: "task", data: []byte("image.caption")},
		part{field: "params", data: []byte(`{"beam":"two"}`)},
		part{field: "image", filename: "dot.png", ctype: "image/png", data: pngBytes(5, 3)})
	code, _, resp = e.do("POST", "/v1/jobs", ctype, body)
	if ae := errorOf(t, resp); code != 400 || !strings.Contains(ae.Message, "beam: expected integer, got string") {
		t.Fatalf("bad params part: %d %s", code, resp)
	}
}

// Bad multipart bodies get 400 (or 413/415) naming what is wrong, and
// nothing is queued.
func TestJobsMultipartRefused(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 64 << 10})
	img := part{field: "image", filename: "dot.png", ctype: "image/png", data: pngBytes(4, 4)}
	task := part{field: "task", data: []byte("image.caption")}
	many := []part{task}
	for range maxJobInputs + 2 {
		many = append(many, img)
	}
	for _, c := range []struct {
		name  string
		parts []part
		ctype string
		code  int
		says  string
	}{
		{"unknown field", []part{task, {field: "colour", data: []byte("red")}, img}, "", 400, `unknown field "colour"`},
		{"task twice", []part{task, task, img}, "", 400, `field "task" sent 2 times`},
		{"bad seed", []part{task, {field: "seed", data: []byte("x")}, img}, "", 400, `seed: "x" is not an integer`},
		{"params not JSON", []part{task, {field: "params", data: []byte("{")}, img}, "", 400, "params: not valid JSON"},
		{"too many inputs", many, "", 400, "a job takes at most 16 inputs"},
		{"bad input name", []part{task, {field: "im age", filename: "x", ctype: "image/png", data: pngBytes(2, 2)}}, "", 400, `name "im age"`},
		{"over max-body", []part{task, {field: "image", filename: "big", ctype: "image/png", data: make([]byte, 100<<10)}}, "", 413, ""},
		{"mixed, not form-data", []part{task, img}, "multipart/mixed", 415, "multipart/mixed"},
	} {
		ctype, body := partsBody(t, c.parts...)
		if c.ctype != "" {
			ctype = strings.Replace(ctype, "multipart/form-data", c.ctype, 1)
		}
		before, _ := e.q.Depth(t.Context(), "image.caption")
		code, _, resp := e.do("POST", "/v1/jobs", ctype, body)
		if ae := errorOf(t, resp); code != c.code || !strings.Contains(ae.Message, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, code, resp, c.code, c.says)
		}
		if after, _ := e.q.Depth(t.Context(), "image.caption"); after != before {
			t.Errorf("%s: queued anyway", c.name)
		}
	}
}

// GET /v1/jobs/{id}/artifacts/{name} answers the artifact's bytes with its
// MIME type; another API key, an unknown name or an unfinished job do not
// get them.
func TestJobArtifactDownload(t *testing.T) {
	e := newEnv(t, Config{APIKeys: []string{"k1", "k2"}})
	k1, k2 := []string{"Authorization", "Bearer k1"}, []string{"Authorization", "Bearer k2"}
	code, _, resp := e.postJSON("/v1/jobs", map[string]any{"task": "image.generate", "model": "gen",
		"params": map[string]any{"prompt": "dot", "n": 2, "width": 8, "height": 6}}, k1...)
	if code != 202 {
		t.Fatalf("%d %s", code, resp)
	}
	id := decode[jobView](t, resp).ID
	if v := e.waitJobDone(id, k1...); v.Status != "succeeded" || len(v.Artifacts) != 2 {
		t.Fatalf("job: %+v", v)
	}
	code, hdr, got := e.do("GET", "/v1/jobs/"+id+"/artifacts/image1", "", nil, k1...)
	if code != 200 || hdr.Get("Content-Type") != "image/png" || !bytes.Equal(got, pngBytes(8, 6)) ||
		hdr.Get("Content-Disposition") != `attachment; filename=image1` {
		t.Fatalf("download: %d %v %d bytes", code, hdr, len(got))
	}
	for _, c := range []struct {
		path string
		hdr  []string
		code int
		err  sdk.Code
		says string
	}{
		{"/v1/jobs/" + id + "/artifacts/image1", nil, 401, sdk.CodeInvalidAPIKey, ""},
		{"/v1/jobs/" + id + "/artifacts/image1", k2, 404, sdk.CodeJobNotFound, "no job"},
		{"/v1/jobs/" + id + "/artifacts/image7", k1, 404, sdk.CodeArtifactNotFound, `no artifact "image7" (it has image0, image1)`},
		{"/v1/jobs/nope/artifacts/image1", k1, 404, sdk.CodeJobNotFound, ""},
	} {
		code, _, body := e.do("GET", c.path, "", nil, c.hdr...)
		if ae := errorOf(t, body); code != c.code || ae.Code != c.err || !strings.Contains(ae.Message, c.says) {
			t.Errorf("GET %s %v: %d %s", c.path, c.hdr, code, body)
		}
	}
	// A job still running has no artifacts yet: 409.
	code, _, resp = e.postJSON("/v1/jobs", map[string]any{"task": "text.complete", "model": "tiny", "params": map[string]any{"prompt": "slow"}}, k1...)
	if code != 202 {
		t.Fatalf("%d %s", code, resp)
	}
	slow := decode[jobView](t, resp).ID
	code, _, body := e.do("GET", "/v1/jobs/"+slow+"/artifacts/x", "", nil, k1...)
	if ae := errorOf(t, body); code != 409 || ae.Code != sdk.CodeJobNotReady {
		t.Errorf("running job: %d %s", code, body)
	}
	e.do("DELETE", "/v1/jobs/"+slow, "", nil, k1...) // the fake worker runs one job at a time
	// A failed job answers its error.
	code, _, resp = e.postJSON("/v1/jobs", map[string]any{"task": "text.complete", "model": "tiny", "params": map[string]any{"prompt": "fail:internal"}}, k1...)
	failed := decode[jobView](t, resp).ID
	e.waitJobDone(failed, k1...)
	code, _, body = e.do("GET", "/v1/jobs/"+failed+"/artifacts/x", "", nil, k1...)
	if ae := errorOf(t, body); code != 500 || ae.Code != sdk.CodeInternal || !strings.Contains(ae.Message, "asked to fail") {
		t.Errorf("failed job: %d %s", code, body)
	}
}

// FuzzJobMultipart feeds readJobRequest arbitrary multipart bodies: any
// input gives a 4xx error or a request whose inputs pass checkInputs' bounds
// — never a panic.
func FuzzJobMultipart(f *testing.F) {
	seedT := &testing.T{}
	for _, parts := range [][]part{
		{{field: "task", data: []byte("image.caption")}, {field: "image", filename: "a.png", ctype: "image/png", data: pngBytes(2, 2)}},
		{{field: "params", data: []byte(`{"beam":2}`)}, {field: "params", filename: "p.json", data: []byte(`{}`)}},
		{{field: "seed", data: []byte("-9")}, {field: "x", filename: "x", data: []byte("\x00\xff")}},
	} {
		ctype, body := partsBody(seedT, parts...)
		_, boundary, _ := strings.Cut(ctype, "boundary=")
		f.Add(boundary, body)
	}
	f.Add("b", []byte("--b\r\nContent-Disposition: form-data; name=\"task\"\r\n\r\nx\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		req := httptest.NewRequest("POST", "/v1/jobs", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = req
		r, err := readJobRequest(c)
		if err != nil {
			if !is4xx(err) {
				t.Fatalf("not a 4xx: %v", err)
			}
			return
		}
		if len(r.Inputs) > maxJobInputs+1 {
			t.Fatalf("%d inputs passed", len(r.Inputs))
		}
		_ = checkInputs(r.Inputs)
	})
}
