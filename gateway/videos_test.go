package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/png"
	"math/rand/v2"
	"mime/multipart"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// video is the object POST/GET /v1/videos answer.
type video struct {
	ID          string `json:"id"`
	Object      string `json:"object"`
	Model       string `json:"model"`
	Status      string `json:"status"`
	Progress    int    `json:"progress"`
	CreatedAt   int64  `json:"created_at"`
	CompletedAt *int64 `json:"completed_at"`
	ExpiresAt   *int64 `json:"expires_at"`
	Prompt      string `json:"prompt"`
	Size        string `json:"size"`
	Seconds     string `json:"seconds"`
	Error       *struct {
		Code, Message string
	} `json:"error"`
}

// multipartBody builds a form with fields and, when file is set, a file
// part named input_reference.
func multipartBody(t *testing.T, fields map[string]string, file []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if file != nil {
		fw, _ := w.CreateFormFile("input_reference", "first.png")
		fw.Write(file)
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

func (e *testEnv) awaitVideo(id string) video {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, body := e.do("GET", "/v1/videos/"+id, "", nil)
		if code != 200 {
			e.t.Fatalf("get video %s: %d %s", id, code, body)
		}
		v := decode[video](e.t, body)
		if v.Status == "completed" || v.Status == "failed" || time.Now().After(deadline) {
			return v
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dataURL(b []byte) string { return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b) }

// TestVideoLifecycle: create (JSON and multipart, with and without an input
// reference), poll to completed, fetch every variant, list, delete.
func TestVideoLifecycle(t *testing.T) {
	e := newEnv(t, Config{})
	ref := pngBytes(8, 8)

	code, hdr, body := e.postJSON("/v1/videos", map[string]any{"model": "vid", "prompt": "a small red circle moving up",
		"seconds": 2, "size": "128x128", "candidates": 3, "input_reference": map[string]string{"image_url": dataURL(ref)}})
	v := decode[video](t, body)
	if code != 200 || v.Object != "video" || v.Model != "vid" || v.Prompt != "a small red circle moving up" || v.Size != "128x128" ||
		v.Seconds != "2" || hdr.Get("Location") != "/v1/videos/"+v.ID || v.CreatedAt == 0 || v.Error != nil {
		t.Fatalf("create: %d %s", code, body)
	}
	v = e.awaitVideo(v.ID)
	if v.Status != "completed" || v.Progress != 100 || v.CompletedAt == nil || v.ExpiresAt == nil || *v.ExpiresAt-*v.CompletedAt != 24*3600 {
		t.Fatalf("completed video: %+v", v)
	}
	for _, c := range []struct{ query, mime, body string }{
		{"", "video/mp4", "MP4:a small red circle moving up+ref"}, {"?variant=video", "video/mp4", "MP4:a small red circle moving up+ref"},
		{"?variant=video&format=gif", "image/gif", "GIF:a small red circle moving up+ref"},
		{"?variant=thumbnail", "image/png", "THUMB:a small red circle moving up+ref"},
		{"?variant=spritesheet", "image/png", "SHEET:a small red circle moving up+ref"},
	} {
		code, hdr, body := e.do("GET", "/v1/videos/"+v.ID+"/content"+c.query, "", nil)
		if code != 200 || hdr.Get("Content-Type") != c.mime || string(body) != c.body {
			t.Errorf("content%s: %d %q %q", c.query, code, hdr.Get("Content-Type"), body)
		}
	}
	// The job carries the request as video.generate params.
	st, err := e.q.Get(t.Context(), v.ID)
	if err != nil {
		t.Fatal(err)
	}
	var p tasks.VideoGenerateParams
	json.Unmarshal(st.Job.Params, &p)
	if p.Frames != 16 || p.FPS != 8 || p.Width != 128 || p.Height != 128 || p.Format != "both" || p.Candidates != 3 || len(st.Job.Inputs) != 1 ||
		st.Job.Inputs[0].Name != "image" || !bytes.Equal(st.Job.Inputs[0].Data, ref) {
		t.Fatalf("job params %+v, inputs %d", p, len(st.Job.Inputs))
	}

	// Multipart, as the SDKs send it: the file part, and the image URL form.
	for _, c := range []struct {
		fields map[string]string
		file   []byte
		tag    string
	}{
		{map[string]string{"model": "vid", "prompt": "mp", "seconds": "1"}, ref, "mp+ref"},
		{map[string]string{"model": "vid", "prompt": "mu", "input_reference[image_url]": dataURL(ref)}, nil, "mu+ref"},
		{map[string]string{"model": "vid", "prompt": "mn", "fps": "4", "frames": "8", "steps": "3"}, nil, "mn"},
	} {
		b, ct := multipartBody(t, c.fields, c.file)
		code, _, body := e.do("POST", "/v1/videos", ct, b)
		if code != 200 {
			t.Fatalf("multipart %v: %d %s", c.fields, code, body)
		}
		mv := e.awaitVideo(decode[video](t, body).ID)
		_, _, content := e.do("GET", "/v1/videos/"+mv.ID+"/content", "", nil)
		if mv.Status != "completed" || string(content) != "MP4:"+c.tag {
			t.Fatalf("multipart %v: %+v, content %q", c.fields, mv, content)
		}
		if c.fields["frames"] == "8" && mv.Seconds != "2" {
			t.Fatalf("8 frames at 4 fps: seconds %q", mv.Seconds)
		}
		if c.fields["seconds"] == "" && c.fields["frames"] == "" && (mv.Seconds != "2" || mv.Size != "64x64") {
			t.Fatalf("the model's defaults: seconds %q, size %q", mv.Seconds, mv.Size)
		}
		// List orders by creation millisecond, then by (random) id: the
		// order asserted below needs each video in a later millisecond.
		time.Sleep(2 * time.Millisecond)
	}

	// List: newest first by default, pages, order, after.
	code, _, body = e.do("GET", "/v1/videos?limit=2", "", nil)
	type list struct {
		Object  string  `json:"object"`
		Data    []video `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}
	l := decode[list](t, body)
	if code != 200 || l.Object != "list" || len(l.Data) != 2 || !l.HasMore || l.Data[0].Prompt != "mn" || *l.FirstID != l.Data[0].ID || *l.LastID != l.Data[1].ID {
		t.Fatalf("list: %d %s", code, body)
	}
	_, _, body = e.do("GET", "/v1/videos?limit=2&after="+*l.LastID, "", nil)
	l2 := decode[list](t, body)
	if len(l2.Data) != 2 || l2.HasMore || l2.Data[1].ID != v.ID {
		t.Fatalf("second page: %s", body)
	}
	_, _, body = e.do("GET", "/v1/videos?order=asc", "", nil)
	var prompts []string
	for _, d := range decode[list](t, body).Data {
		prompts = append(prompts, d.Prompt)
	}
	if !slices.Equal(prompts, []string{"a small red circle moving up", "mp", "mu", "mn"}) {
		t.Fatalf("oldest first: %v", prompts)
	}

	// Delete: gone from GET, content and the list.
	code, _, body = e.do("DELETE", "/v1/videos/"+v.ID, "", nil)
	if code != 200 || string(body) != `{"deleted":true,"id":"`+v.ID+`","object":"video.deleted"}` {
		t.Fatalf("delete: %d %s", code, body)
	}
	for _, path := range []string{"/v1/videos/" + v.ID, "/v1/videos/" + v.ID + "/content"} {
		if code, _, body := e.do("GET", path, "", nil); code != 404 || errorOf(t, body).Code != "video_not_found" {
			t.Errorf("GET %s after delete: %d %s", path, code, body)
		}
	}
	if code, _, body := e.do("DELETE", "/v1/videos/"+v.ID, "", nil); code != 404 {
		t.Errorf("second delete: %d %s", code, body)
	}
	_, _, body = e.do("GET", "/v1/videos", "", nil)
	if l := decode[list](t, body); len(l.Data) != 3 {
		t.Fatalf("list after delete: %s", body)
	}
}

// TestVideoRunningAndFailed: a running video reports its progress and has
// no content yet; deleting it cancels it; a failed one carries its error.
func TestVideoRunningAndFailed(t *testing.T) {
	e := newEnv(t, Config{})
	_, _, body := e.postJSON("/v1/videos", map[string]any{"model": "vid", "prompt": "slow"})
	id := decode[video](t, body).ID
	var v video
	deadline := time.Now().Add(5 * time.Second)
	for v.Status != "in_progress" || v.Progress != 25 {
		if time.Now().After(deadline) {
			t.Fatalf("running video: %+v", v)
		}
		_, _, body = e.do("GET", "/v1/videos/"+id, "", nil)
		v = decode[video](t, body)
	}
	if v.CompletedAt != nil || v.Seconds != "" || v.Size != "" {
		t.Fatalf("running video: %s", body)
	}
	code, _, body := e.do("GET", "/v1/videos/"+id+"/content", "", nil)
	if code != 409 || errorOf(t, body).Code != "video_not_ready" || !strings.Contains(string(body), "25%") {
		t.Fatalf("content while running: %d %s", code, body)
	}
	if code, _, body := e.do("DELETE", "/v1/videos/"+id, "", nil); code != 200 {
		t.Fatalf("delete running: %d %s", code, body)
	}
	// The worker is free again: the next video runs.
	_, _, body = e.postJSON("/v1/videos", map[string]any{"model": "vid", "prompt": "fail:model_unavailable"})
	f := e.awaitVideo(decode[video](t, body).ID)
	if f.Status != "failed" || f.Error == nil || f.Error.Code != "model_unavailable" || f.Error.Message != "asked to fail" || f.CompletedAt == nil {
		t.Fatalf("failed video: %+v", f)
	}
	if code, _, body := e.do("GET", "/v1/videos/"+f.ID+"/content", "", nil); code != 503 || errorOf(t, body).Code != "model_unavailable" {
		t.Fatalf("content of a failed video: %d %s", code, body)
	}
}

// pngBomb is a valid PNG header claiming 100000×100000 pixels.
func pngBomb() []byte {
	raw := pngBytes(1, 1)
	copy(raw[16:24], []byte{0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0})
	binary.BigEndian.PutUint32(raw[29:], crc32.ChecksumIEEE(raw[12:29]))
	return raw
}

// bigPNG is a valid 2400×2400 RGB PNG of noise: within the side limit,
// over 16 MiB.
func bigPNG() []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 2400, 2400))
	r := rand.New(rand.NewPCG(1, 1))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// TestVideoBadInput: every mistake is a 4xx JSON error that names the
// field, and nothing is queued.
func TestVideoBadInput(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 24 << 20})
	before, _ := e.q.Depth(t.Context(), taskVideo)
	for _, c := range []struct {
		name, body string
		status     int
		code       sdk.Code
		says       string
	}{
		{"no prompt", `{"model":"vid"}`, 400, "invalid_request", "prompt"},
		{"blank prompt", `{"model":"vid","prompt":"  "}`, 400, "invalid_request", "prompt"},
		{"unknown model", `{"model":"sora-2","prompt":"x"}`, 404, "model_not_found", "sora-2"},
		{"model of another task", `{"model":"gen","prompt":"x"}`, 404, "model_not_found", "gen"},
		{"seconds too long", `{"model":"vid","prompt":"x","seconds":"12"}`, 400, "invalid_request", "seconds"},
		{"seconds zero", `{"model":"vid","prompt":"x","seconds":0}`, 400, "invalid_request", "seconds"},
		{"seconds negative", `{"model":"vid","prompt":"x","seconds":"-1"}`, 400, "invalid_request", "seconds"},
		{"seconds not a number", `{"model":"vid","prompt":"x","seconds":"four"}`, 400, "invalid_request", "seconds"},
		{"seconds and frames", `{"model":"vid","prompt":"x","seconds":1,"frames":8}`, 400, "invalid_request", "seconds"},
		{"frames too many", `{"model":"vid","prompt":"x","frames":65}`, 400, "invalid_request", "frames"},
		{"frames zero", `{"model":"vid","prompt":"x","frames":0}`, 400, "invalid_request", "frames"},
		{"fps too high", `{"model":"vid","prompt":"x","fps":61}`, 400, "invalid_request", "fps"},
		{"steps too many", `{"model":"vid","prompt":"x","steps":151}`, 400, "invalid_request", "steps"},
		{"steps zero", `{"model":"vid","prompt":"x","steps":0}`, 400, "invalid_request", "steps"},
		{"guidance", `{"model":"vid","prompt":"x","guidance_scale":31}`, 400, "invalid_request", "guidance_scale"},
		{"candidates too many", `{"model":"vid","prompt":"x","candidates":5}`, 400, "invalid_request", "candidates"},
		{"candidates zero", `{"model":"vid","prompt":"x","candidates":0}`, 400, "invalid_request", "candidates"},
		{"scheduler", `{"model":"vid","prompt":"x","scheduler":"plms"}`, 400, "invalid_request", "scheduler"},
		{"size", `{"model":"vid","prompt":"x","size":"1280x720"}`, 400, "invalid_request", "size"},
		{"size garbage", `{"model":"vid","prompt":"x","size":"big"}`, 400, "invalid_request", "size"},
		{"reference not an image", `{"model":"vid","prompt":"x","input_reference":"` + dataURL([]byte("hello")) + `"}`, 400, "invalid_request", "input_reference"},
		{"reference not base64", `{"model":"vid","prompt":"x","input_reference":"%%%"}`, 400, "invalid_request", "input_reference"},
		{"reference remote", `{"model":"vid","prompt":"x","input_reference":{"image_url":"https://example.com/a.png"}}`, 400, "invalid_request", "input_reference"},
		{"reference file id", `{"model":"vid","prompt":"x","input_reference":{"file_id":"file-1"}}`, 400, "invalid_request", "input_reference"},
		{"reference empty", `{"model":"vid","prompt":"x","input_reference":{}}`, 400, "invalid_request", "input_reference"},
		{"reference a number", `{"model":"vid","prompt":"x","input_reference":7}`, 400, "invalid_request", "input_reference"},
		{"reference bomb", `{"model":"vid","prompt":"x","input_reference":"` + dataURL(pngBomb()) + `"}`, 400, "invalid_request", "input_reference"},
		{"body too large", `{"model":"vid","prompt":"x","input_reference":"` + strings.Repeat("A", 24<<20) + `"}`, 413, "request_too_large", "larger"},
		{"not JSON", `{"model":`, 400, "invalid_request", "JSON"},
	} {
		code, _, body := e.do("POST", "/v1/videos", "application/json", []byte(c.body))
		if code != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, code, c.status, body)
			continue
		}
		got := errorOf(t, body)
		if got.Code != c.code || !strings.Contains(got.Message, c.says) {
			t.Errorf("%s: %s %q, want %s naming %q", c.name, got.Code, got.Message, c.code, c.says)
		}
		// The field at fault is also the OpenAI error's param (SDKs read err.param).
		if c.code == "invalid_request" && c.says != "JSON" && (got.Param == nil || *got.Param != c.says) {
			t.Errorf("%s: param %v, want %q", c.name, got.Param, c.says)
		}
	}
	// Multipart mistakes.
	for _, c := range []struct {
		name   string
		fields map[string]string
		file   []byte
		says   string
	}{
		{"file not an image", map[string]string{"model": "vid", "prompt": "x"}, []byte("GIF89a nothing"), "input_reference"},
		{"file bomb", map[string]string{"model": "vid", "prompt": "x"}, pngBomb(), "input_reference"},
		{"file and URL", map[string]string{"model": "vid", "prompt": "x", "input_reference[image_url]": dataURL(pngBytes(2, 2))}, pngBytes(2, 2), "input_reference"},
		{"file id", map[string]string{"model": "vid", "prompt": "x", "input_reference[file_id]": "file-1"}, nil, "input_reference"},
		{"file too large", map[string]string{"model": "vid", "prompt": "x"}, bigPNG(), "byte limit"},
		{"seconds", map[string]string{"model": "vid", "prompt": "x", "seconds": "4s"}, nil, "seconds"},
		{"steps", map[string]string{"model": "vid", "prompt": "x", "steps": "many"}, nil, "steps"},
		{"no prompt", map[string]string{"model": "vid"}, nil, "prompt"},
	} {
		b, ct := multipartBody(t, c.fields, c.file)
		code, _, body := e.do("POST", "/v1/videos", ct, b)
		if code != 400 || !strings.Contains(errorOf(t, body).Message, c.says) {
			t.Errorf("multipart %s: %d %s, want 400 naming %q", c.name, code, body, c.says)
		}
	}
	if after, _ := e.q.Depth(t.Context(), taskVideo); after != before {
		t.Fatalf("bad requests queued %d jobs", after-before)
	}
	// Reads.
	_, _, body := e.postJSON("/v1/videos", map[string]any{"model": "vid", "prompt": "ok"})
	id := e.awaitVideo(decode[video](t, body).ID).ID
	_, h, _ := e.postJSON("/v1/completions", map[string]any{"model": "tiny", "prompt": "x"})
	for _, c := range []struct {
		method, path string
		status       int
		code         sdk.Code
		says         string
	}{
		{"GET", "/v1/videos/nope", 404, "video_not_found", "nope"},
		{"GET", "/v1/videos/" + h.Get("X-Loom-Job-Id"), 404, "video_not_found", "no video"},
		{"DELETE", "/v1/videos/nope", 404, "video_not_found", "nope"},
		{"GET", "/v1/videos/nope/content", 404, "video_not_found", "nope"},
		{"GET", "/v1/videos/" + id + "/content?variant=audio", 400, "invalid_request", "variant"},
		{"GET", "/v1/videos/" + id + "/content?format=webm", 400, "invalid_request", "format"},
		{"GET", "/v1/videos/" + id + "/content?variant=thumbnail&format=gif", 400, "invalid_request", "format"},
		{"GET", "/v1/videos?limit=0", 400, "invalid_request", "limit"},
		{"GET", "/v1/videos?limit=101", 400, "invalid_request", "limit"},
		{"GET", "/v1/videos?order=up", 400, "invalid_request", "order"},
		{"GET", "/v1/videos?after=nope", 400, "invalid_request", "after"},
	} {
		code, _, body := e.do(c.method, c.path, "", nil)
		if code != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, code, c.status, body)
			continue
		}
		if got := errorOf(t, body); got.Code != c.code || !strings.Contains(got.Message, c.says) {
			t.Errorf("%s %s: %s %q, want %s naming %q", c.method, c.path, got.Code, got.Message, c.code, c.says)
		}
	}
	// A video made through /v1/jobs as MP4 only has no GIF.
	code, _, body := e.postJSON("/v1/jobs", map[string]any{"task": "video.generate", "model": "vid",
		"params": map[string]any{"prompt": "only mp4", "format": "mp4"}})
	if code != 202 {
		t.Fatalf("job: %d %s", code, body)
	}
	mp4 := e.awaitVideo(decode[map[string]any](t, body)["id"].(string))
	if code, _, body := e.do("GET", "/v1/videos/"+mp4.ID+"/content?format=gif", "", nil); code != 404 || !strings.Contains(errorOf(t, body).Message, "format gif") {
		t.Fatalf("gif of an mp4-only video: %d %s", code, body)
	}
}

// TestVideosBelongToTheirKey: with API keys, a key sees, lists, fetches and
// deletes only its own videos.
func TestVideosBelongToTheirKey(t *testing.T) {
	e := newEnv(t, Config{APIKeys: []string{"k1", "k2"}})
	auth := func(k string) []string { return []string{"Authorization", "Bearer " + k} }
	_, _, body := e.postJSON("/v1/videos", map[string]any{"model": "vid", "prompt": "mine"}, auth("k1")...)
	id := decode[video](t, body).ID
	for _, c := range []struct{ method, path string }{{"GET", "/v1/videos/" + id}, {"GET", "/v1/videos/" + id + "/content"}, {"DELETE", "/v1/videos/" + id}} {
		if code, _, body := e.do(c.method, c.path, "", nil, auth("k2")...); code != 404 {
			t.Errorf("%s %s with another key: %d %s", c.method, c.path, code, body)
		}
	}
	_, _, body = e.do("GET", "/v1/videos", "", nil, auth("k2")...)
	if n := len(decode[struct{ Data []video }](t, body).Data); n != 0 {
		t.Fatalf("another key lists %d videos", n)
	}
	_, _, body = e.do("GET", "/v1/videos", "", nil, auth("k1")...)
	if d := decode[struct{ Data []video }](t, body).Data; len(d) != 1 || d[0].ID != id {
		t.Fatalf("its key lists %s", body)
	}
	if code, _, _ := e.do("GET", "/v1/videos/"+id, "", nil, auth("k1")...); code != 200 {
		t.Fatalf("its own key: %d", code)
	}
	if code, _, _ := e.do("DELETE", "/v1/videos/"+id, "", nil, auth("k1")...); code != 200 {
		t.Fatalf("its own key deletes: %d", code)
	}
}
