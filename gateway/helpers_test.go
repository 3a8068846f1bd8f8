package gateway

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

// testManifests is what the fake worker advertises: one plugin per modality,
// a text model that is not ready, and tasks the fake worker serves.
var testManifests = []sdk.Manifest{
	{Name: "text", Version: "test", Tasks: []string{taskComplete, taskChat}, Models: []sdk.ModelInfo{
		{ID: "tiny", Tasks: []string{taskComplete, taskChat}, Ready: true},
		{ID: "big", Tasks: []string{taskComplete, taskChat}, Ready: false, Missing: "weights models/big.gguf absent"},
	}},
	{Name: "vision", Version: "test", Tasks: []string{taskCaption, taskImageGenerate}, Models: []sdk.ModelInfo{
		{ID: "cap", Tasks: []string{taskCaption}, Ready: true, Specs: tasks.Specs(taskCaption)},
		{ID: "gen", Tasks: []string{taskImageGenerate}, Ready: true, Specs: tasks.Specs(taskImageGenerate)},
	}},
	{Name: "audio", Version: "test", Tasks: []string{taskSpeech, taskTranscribe}, Models: []sdk.ModelInfo{{ID: "tts", Tasks: []string{taskSpeech}, Ready: true},
		{ID: "whisper", Tasks: []string{taskTranscribe}, Ready: true, Specs: tasks.Specs(taskTranscribe)}}},
	{Name: "video", Version: "test", Tasks: []string{taskVideo}, Models: []sdk.ModelInfo{{ID: "vid", Tasks: []string{taskVideo}, Ready: true}}},
}

var allTasks = []string{taskComplete, taskChat, taskCaption, taskImageGenerate, taskSpeech, taskTranscribe, taskVideo}

// servedModels and testLanes are what a worker with testManifests serves:
// every ready model, for each of its tasks.
func servedModels(mans []sdk.Manifest) []queue.ServedModel {
	var out []queue.ServedModel
	for _, m := range mans {
		for _, mi := range m.Models {
			if mi.Ready {
				out = append(out, queue.ServedModel{ID: mi.ID, Tasks: mi.Tasks, Loaded: true})
			}
		}
	}
	return out
}

func testLanes() []queue.Lane {
	w := queue.WorkerInfo{Models: servedModels(testManifests)}
	return w.Lanes()
}

type testEnv struct {
	t   *testing.T
	q   *faultyQueue
	srv *Server
	ts  *httptest.Server
}

// newEnv starts a gateway over a fake queue with a fake worker loop.
func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	q := newTestQueue()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv := New(cfg, q)
	ts := httptest.NewServer(srv.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	raw, _ := json.Marshal(testManifests)
	if err := q.Register(ctx, queue.WorkerInfo{ID: "w1", Tasks: allTasks, Models: servedModels(testManifests), Manifests: raw}); err != nil {
		t.Fatal(err)
	}
	done, announced := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); fakeWorker(ctx, q) }()
	// Announce again well inside the worker TTL (15 s), as a real worker
	// does every 5 s: on a loaded machine a test may outlive one TTL.
	go func() {
		defer close(announced)
		for tick := time.NewTicker(2 * time.Second); ; {
			select {
			case <-ctx.Done():
				tick.Stop()
				return
			case <-tick.C:
				_ = q.Register(ctx, queue.WorkerInfo{ID: "w1", Tasks: allTasks, Models: servedModels(testManifests), Manifests: raw})
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; <-announced; ts.Close(); q.Close() })
	return &testEnv{t: t, q: q, srv: srv, ts: ts}
}

func pngBytes(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// fakeWorker runs jobs like a plugin would. Text answers "echo: PROMPT" word
// by word; prompts starting with "fail:CODE" fail with that code, "slow"
// runs until canceled, "flaky" fails its first attempt mid-stream.
func fakeWorker(ctx context.Context, q queue.Queue) {
	for {
		l, err := q.Dequeue(ctx, "w1", testLanes())
		if err != nil {
			return
		}
		runFakeJob(ctx, q, l)
	}
}

func runFakeJob(ctx context.Context, q queue.Queue, l *queue.Lease) {
	var p struct { // either text task's params
		Prompt   string          `json:"prompt"`
		Messages []tasks.Message `json:"messages"`
	}
	var ip tasks.ImageGenerateParams
	var sp tasks.AudioSpeechParams
	_ = json.Unmarshal(l.Job.Params, &p)
	_ = json.Unmarshal(l.Job.Params, &ip)
	_ = json.Unmarshal(l.Job.Params, &sp)
	prompt := p.Prompt
	if len(p.Messages) > 0 {
		prompt = p.Messages[len(p.Messages)-1].Content
	}
	switch l.Job.Task {
	case taskComplete, taskChat:
		switch {
		case strings.HasPrefix(prompt, "fail:"):
			_ = q.Fail(ctx, l, queue.JobError{Code: sdk.Code(strings.TrimPrefix(prompt, "fail:")), Message: "asked to fail"}, false)
			return
		case prompt == "slow":
			for ctx.Err() == nil {
				if q.Heartbeat(ctx, l) != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			return
		}
		text := "echo: " + prompt
		words := strings.SplitAfter(text, " ")
		for i, w := range words {
			if prompt == "flaky" && l.Attempt == 1 && i == 1 {
				_ = q.Fail(ctx, l, queue.JobError{Code: "plugin_crashed", Message: "boom"}, true)
				return
			}
			_ = q.Publish(ctx, l, queue.EventDelta, map[string]string{"text": w})
		}
		out, _ := json.Marshal(tasks.TextResult{Text: text, FinishReason: "stop", Usage: tasks.Usage{PromptTokens: 2, CompletionTokens: len(words), TotalTokens: 2 + len(words)}})
		_ = q.Complete(ctx, l, queue.Result{Output: out})
	case taskCaption:
		// Like the vision plugin, the one place an image is decoded: a
		// corrupt one behind a sound header fails here.
		img, _, err := image.Decode(bytes.NewReader(l.Job.Inputs[0].Data))
		if err != nil {
			_ = q.Fail(ctx, l, queue.JobError{Code: "invalid_request", Message: err.Error()}, false)
			return
		}
		out, _ := json.Marshal(map[string]string{"text": "a red dot on " + itoa(img.Bounds().Dx()) + "x" + itoa(img.Bounds().Dy())})
		_ = q.Complete(ctx, l, queue.Result{Output: out})
	case taskImageGenerate:
		var res queue.Result
		for i := 0; i < ip.N; i++ {
			res.Artifacts = append(res.Artifacts, queue.Blob{Name: "image" + itoa(i), MIME: "image/png", Data: pngBytes(ip.Width, ip.Height)})
		}
		// Like the vision plugin: a 64×64 model, seeds job.Seed+i, larger
		// sizes upscaled.
		out := map[string]any{"images": []map[string]any{}}
		for i := 0; i < ip.N; i++ {
			out["images"] = append(out["images"].([]map[string]any), map[string]any{"seed": l.Job.Seed + int64(i)})
		}
		if ip.Width > 64 {
			out["upscaled_from"] = []int{64, 64}
		}
		// Image-to-image: say what arrived, so tests see the input and strength.
		if len(l.Job.Inputs) > 0 {
			var sp struct{ Strength *float64 }
			_ = json.Unmarshal(l.Job.Params, &sp)
			cfg, _, err := image.DecodeConfig(bytes.NewReader(l.Job.Inputs[0].Data))
			if err != nil || sp.Strength == nil || l.Job.Inputs[0].Name != "image" {
				_ = q.Fail(ctx, l, queue.JobError{Code: "invalid_request", Message: "edit without a decodable image or a strength"}, false)
				return
			}
			out["revised_prompt"] = fmt.Sprintf("edit of %dx%d at strength %g: %s", cfg.Width, cfg.Height, *sp.Strength, ip.Prompt)
		}
		res.Output, _ = json.Marshal(out)
		_ = q.Complete(ctx, l, res)
	case taskSpeech:
		blob := queue.Blob{Name: "speech.wav", MIME: "audio/wav", Data: []byte("RIFF" + sp.Input)}
		if sp.Format == "pcm" {
			blob = queue.Blob{Name: "speech.pcm", MIME: "audio/pcm", Data: []byte("PCM" + sp.Input)}
		}
		_ = q.Complete(ctx, l, queue.Result{Output: json.RawMessage(`{}`), Artifacts: []queue.Blob{blob}})
	case taskVideo:
		runFakeVideo(ctx, q, l)
	case taskTranscribe:
		runFakeTranscribe(ctx, q, l)
	}
}

// runFakeTranscribe answers audio.transcribe with what it was given, in two
// deltas and two segments: "heard N bytes of MIME" and "in LANGUAGE".
func runFakeTranscribe(ctx context.Context, q queue.Queue, l *queue.Lease) {
	var p tasks.AudioTranscribeParams
	_ = json.Unmarshal(l.Job.Params, &p)
	in := l.Job.Inputs[0]
	parts := []string{fmt.Sprintf("heard %d bytes of %s", len(in.Data), in.MIME), fmt.Sprintf(" in %s timestamps %v", p.Language, p.Timestamps)}
	res := tasks.AudioTranscribeResult{Model: l.Job.Model, Language: p.Language, Duration: 3.5, Text: parts[0] + parts[1], Windows: 1}
	for i, t := range parts {
		_ = q.Publish(ctx, l, queue.EventDelta, map[string]string{"text": t})
		res.Segments = append(res.Segments, tasks.TranscriptSegment{ID: i, Start: float64(i) * 1.5, End: float64(i)*1.5 + 1.25, Text: t, Tokens: []int{i}})
	}
	out, _ := json.Marshal(res)
	_ = q.Complete(ctx, l, queue.Result{Output: out})
}

// runFakeVideo answers a video.generate job: progress 1…4 of 4 and the
// files its format asks for, each "FORMAT:prompt" (and "+ref" with an input
// image); prompt "slow" stops at step 1 of 4 until canceled or deleted,
// "fail:CODE" fails with that code.
func runFakeVideo(ctx context.Context, q queue.Queue, l *queue.Lease) {
	var p tasks.VideoGenerateParams
	_ = json.Unmarshal(l.Job.Params, &p)
	switch {
	case strings.HasPrefix(p.Prompt, "fail:"):
		_ = q.Fail(ctx, l, queue.JobError{Code: sdk.Code(strings.TrimPrefix(p.Prompt, "fail:")), Message: "asked to fail"}, false)
		return
	case p.Prompt == "slow":
		_ = q.Publish(ctx, l, queue.EventProgress, map[string]int{"step": 1, "total": 4})
		for ctx.Err() == nil && q.Heartbeat(ctx, l) == nil {
			time.Sleep(5 * time.Millisecond)
		}
		return
	}
	for s := 1; s <= 4; s++ {
		_ = q.Publish(ctx, l, queue.EventProgress, map[string]int{"step": s, "total": 4})
	}
	tag := p.Prompt
	if len(l.Job.Inputs) > 0 {
		tag += "+ref"
	}
	var files []queue.Blob
	if p.Format == "mp4" || p.Format == "both" {
		files = append(files, queue.Blob{Name: "video.mp4", MIME: "video/mp4", Data: []byte("MP4:" + tag)})
	}
	if p.Format == "gif" || p.Format == "both" {
		files = append(files, queue.Blob{Name: "video.gif", MIME: "image/gif", Data: []byte("GIF:" + tag)})
	}
	files = append(files, queue.Blob{Name: "thumbnail.png", MIME: "image/png", Data: []byte("THUMB:" + tag)},
		queue.Blob{Name: "spritesheet.png", MIME: "image/png", Data: []byte("SHEET:" + tag)})
	frames, fps := cmp.Or(p.Frames, 16), cmp.Or(p.FPS, 8)
	out, _ := json.Marshal(map[string]any{"width": cmp.Or(p.Width, 64), "height": cmp.Or(p.Height, 64), "frames": frames,
		"fps": fps, "seconds": float64(frames) / float64(fps)})
	_ = q.Complete(ctx, l, queue.Result{Output: out, Artifacts: files})
}

func itoa(n int) string { return strconv.Itoa(n) }

// do sends a request and returns status, headers and body.
func (e *testEnv) do(method, path, ctype string, body []byte, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func (e *testEnv) postJSON(path string, v any, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.do("POST", path, "application/json", b, hdr...)
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v\nbody: %s", v, err, b)
	}
	return v
}

// errorOf checks the body is the error shape and returns it.
func errorOf(t *testing.T, b []byte) errorDetail {
	t.Helper()
	var eb struct {
		Error *errorDetail `json:"error"`
	}
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error == nil {
		t.Fatalf("not an error body: %s", b)
	}
	if eb.Error.Message == "" || eb.Error.Type == "" || eb.Error.Code == "" {
		t.Fatalf("error body misses a field: %s", b)
	}
	return *eb.Error
}

type sseEvent struct {
	ID, Event, Data string
}

// readSSE parses an event stream body.
func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (sseEvent{}) {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			cur.ID = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.Data += line[6:]
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return out
}

func httpRecorder(s *Server, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func workerInfo(id string, manifests []byte) queue.WorkerInfo {
	return queue.WorkerInfo{ID: id, Tasks: allTasks, Manifests: manifests}
}
