package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// offlineBuild runs the go tool in a scaffolded module the way a test
// without network must: modules from the local cache only.
func offlineBuild(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
}

// scaffold writes a plugin with loom plugin new (this checkout's SDK
// through a replace line), lets edit change its engine, and builds it as
// a separate module into out.
func scaffold(t *testing.T, name, task, out string, edit func(string) string) {
	t.Helper()
	sdkDir, _ := filepath.Abs("../plugins/sdk")
	dir := filepath.Join(t.TempDir(), "loom-plugin-"+name)
	cmd := exec.Command(filepath.Join(binDir, "loom"), "plugin", "new", name, "--task", task, "--dir", dir, "--sdk", sdkDir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loom plugin new: %v\n%s", err, b)
	}
	if edit != nil {
		eng := filepath.Join(dir, "engine.go")
		src, _ := os.ReadFile(eng)
		if err := os.WriteFile(eng, []byte(edit(string(src))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	offlineBuild(t, dir, "build", "-o", out, ".")
}

// The "done when": a plugin scaffolded as its own module, served
// beside shipped plugins, driven over HTTP.
func TestScaffoldedPluginOverHTTP(t *testing.T) {
	plugins := t.TempDir()
	for _, p := range []string{"loom-plugin-echo", "loom-plugin-text"} {
		data, err := os.ReadFile(filepath.Join(binDir, p))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(plugins, p), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// text "panic" panics in Run; "crash" kills the process from a goroutine.
	scaffold(t, "gray", "image.grayscale", filepath.Join(plugins, "loom-plugin-gray"), func(src string) string {
		return strings.Replace(src, "\tif p.Steps == 0 {", `	switch p.Text {
	case "panic":
		var m map[string]int
		m["x"]++
	case "crash":
		go func() { panic("gray: crashed on purpose") }()
		<-ctx.Done()
	}
	if p.Steps == 0 {`, 1)
	})

	port := freePort(t)
	p := loom(t, "serve", "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--plugins", plugins,
		"--models", modelDirs(), "--poison-after", "2")
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	c.waitReady(1, 60*time.Second)

	// The model publishes its schema, inputs and version.
	code, body := c.do("GET", "/v1/models/gray", nil)
	if code != 200 || !strings.Contains(string(body), `"plugin_version":"0.1.0"`) || !strings.Contains(string(body), `"name":"file","mime":"*/*"`) ||
		!strings.Contains(string(body), `"text"`) {
		t.Fatalf("GET /v1/models/gray: %d %s", code, body)
	}
	// Schema-invalid params: 400 before queueing.
	code, body = c.do("POST", "/v1/jobs", map[string]any{"task": "image.grayscale", "model": "gray", "params": map[string]any{"text": "x", "steps": 500}})
	if code != 400 || !strings.Contains(string(body), "steps: 500 is above the maximum 100") {
		t.Fatalf("invalid params: %d %s", code, body)
	}

	// Multipart: params part + a file input → progress → result → raw artifact.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("task", "image.grayscale")
	_ = w.WriteField("model", "gray")
	_ = w.WriteField("params", `{"text":"hello","steps":4}`)
	fw, _ := w.CreateFormFile("file", "in.bin")
	_, _ = fw.Write(bytes.Repeat([]byte{7}, 1234))
	_ = w.Close()
	resp, err := http.Post(c.base+"/v1/jobs", w.FormDataContentType(), &mp)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var created jobView
	if resp.StatusCode != 202 || json.Unmarshal(raw, &created) != nil {
		t.Fatalf("multipart job: %d %s", resp.StatusCode, raw)
	}
	v := c.waitJob(created.ID, 60*time.Second, terminal)
	if v.Status != "succeeded" || string(v.Output) != `{"text":"HELLO","input_bytes":1234}` {
		t.Fatalf("job: %+v %s", v, v.Output)
	}
	resp, err = http.Get(c.base + "/v1/jobs/" + created.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	events, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Count(string(events), "event: progress") != 4 || !strings.Contains(string(events), "event: result") {
		t.Fatalf("events:\n%s", events)
	}
	resp, err = http.Get(c.base + "/v1/jobs/" + created.ID + "/artifacts/output.txt")
	if err != nil {
		t.Fatal(err)
	}
	art, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(art) != "HELLO" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("artifact: %d %q %s", resp.StatusCode, art, resp.Header.Get("Content-Type"))
	}

	// A panic: a short error with an id for the client, the stack in the log.
	code, body = c.do("POST", "/v1/jobs", map[string]any{"task": "image.grayscale", "model": "gray", "params": map[string]any{"text": "panic"}})
	if code != 202 {
		t.Fatalf("%d %s", code, body)
	}
	_ = json.Unmarshal(body, &created)
	v = c.waitJob(created.ID, 60*time.Second, terminal)
	if v.Error == nil || v.Error.Code != "internal" || !strings.HasPrefix(v.Error.Message, "plugin panic: assignment to entry in nil map (error id ") ||
		strings.Contains(v.Error.Message, "goroutine") || len(v.Error.Message) > 200 {
		t.Fatalf("panic job: %+v", v.Error)
	}
	_, id, _ := strings.Cut(v.Error.Message, "error id ")
	id, _, _ = strings.Cut(id, ";")
	waitLog(t, p, func(log string) bool { return strings.Contains(log, id) && strings.Contains(log, "engine.go:") })

	// A job that crashes its plugin every time: poison after 2 attempts.
	code, body = c.do("POST", "/v1/jobs", map[string]any{"task": "image.grayscale", "model": "gray", "params": map[string]any{"text": "crash"}, "max_attempts": 5})
	if code != 202 {
		t.Fatalf("%d %s", code, body)
	}
	_ = json.Unmarshal(body, &created)
	v = c.waitJob(created.ID, 120*time.Second, terminal)
	if v.Error == nil || v.Error.Code != "poison" || v.Attempt != 2 || !strings.Contains(v.Error.Message, "panic: gray: crashed on purpose") {
		t.Fatalf("crashing job: attempt %d %+v", v.Attempt, v.Error)
	}

	// SIGHUP picks up a plugin binary added after start, without a restart.
	scaffold(t, "shout", "text.shout", filepath.Join(plugins, "loom-plugin-shout"), nil)
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body = c.do("POST", "/v1/jobs", map[string]any{"task": "text.shout", "model": "shout", "params": map[string]any{"text": "late"}})
		if code == 202 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != 202 {
		t.Fatalf("after SIGHUP: %d %s", code, body)
	}
	_ = json.Unmarshal(body, &created)
	if v = c.waitJob(created.ID, 60*time.Second, terminal); string(v.Output) != `{"text":"LATE","input_bytes":0}` {
		t.Fatalf("job on the added plugin: %+v %s", v, v.Output)
	}
	if p.cmd.Process.Pid != pid || p.cmd.ProcessState != nil {
		t.Fatal("loom serve restarted")
	}
}

// waitLog waits until the process's output satisfies ok.
func waitLog(t *testing.T, p *proc, ok func(string) bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if ok(p.out.String()) {
			return
		}
	}
	t.Fatalf("log lacks the expected line:\n%s", tail(p.out.String(), 3000))
}
