// Package e2e runs Loom as its users do: the real loom binary (serve,
// gateway, worker) and real plugin processes, over HTTP, on the in-process
// queue and on a redis-server the tests start themselves. TestMain builds
// the binaries with `go build` into a temporary directory (the build cache
// makes repeat runs quick), so the tests never depend on a stale bin/.
//
//	go test ./e2e/              # needs redis-server on PATH for the Redis tests
//	CI=1 go test ./e2e/         # in CI nothing skips: a missing tool fails
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binDir string // the built loom and loom-plugin-* binaries

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "loom-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		builds := [][2]string{{"loom", "./cmd/loom"}, {"loom-plugin-echo", "./examples/echo"},
			{"loom-plugin-text", "./plugins/text"}, {"loom-plugin-vision", "./plugins/vision"},
			{"loom-plugin-audio", "./plugins/audio"}, {"loom-plugin-video", "./plugins/video"}}
		for _, b := range builds {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1])
			cmd.Dir = ".."
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: go build %s: %v\n%s", b[1], err, out)
				return 1
			}
		}
		binDir = dir
		return m.Run()
	}())
}

// need skips when a tool is missing, except in CI, where it fails.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: %s", what)
	}
	t.Skip(what)
}

// modelDirs are the repository's models and the shared ones when present.
func modelDirs() string {
	dirs := []string{}
	for _, d := range []string{"../models", "../../shared/models"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			a, _ := filepath.Abs(d)
			dirs = append(dirs, a)
		}
	}
	return strings.Join(dirs, string(os.PathListSeparator))
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a started process in its own process group, so cleanup can end
// it together with the plugin processes it spawned.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, name string, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, tail(out.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// kill ends the whole process group with SIGKILL and waits.
func (p *proc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// crash kills only the process itself (its plugins are orphaned, as after
// a real crash).
func (p *proc) crash() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not exit after SIGTERM", p.name)
	}
}

func loom(t *testing.T, name string, args ...string) *proc {
	return start(t, name, filepath.Join(binDir, "loom"), args...)
}

// redisServer is a redis-server of the test's own on a free loopback port,
// with an append-only file so a restart keeps the queue.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	p    *proc
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	_, err := exec.LookPath("redis-server")
	need(t, err == nil, "redis-server not on PATH (apt-get install redis-server)")
	r := &redisServer{t: t, port: freePort(t), dir: t.TempDir()}
	r.start()
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	r.p = start(r.t, "redis", "redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--dir", r.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.port))
		if err == nil {
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("redis-server did not start:\n%s", r.p.out.String())
}

// client talks to one gateway.
type client struct {
	t    *testing.T
	base string
}

func (c *client) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case []byte:
			rd = bytes.NewReader(b)
		case string:
			rd = strings.NewReader(b)
		default:
			raw, _ := json.Marshal(b)
			rd = bytes.NewReader(raw)
		}
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// waitReady polls /readyz until at least workers workers are registered.
func (c *client) waitReady(workers int, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(c.base + "/readyz")
		if err == nil {
			var r struct {
				Workers int `json:"workers"`
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if resp.StatusCode == 200 && json.Unmarshal(b, &r) == nil && r.Workers >= workers {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("not ready with %d workers within %s: %s", workers, within, last)
}

type jobView struct {
	ID      string          `json:"id"`
	Status  string          `json:"status"`
	Attempt int             `json:"attempt"`
	Worker  string          `json:"worker"`
	Output  json.RawMessage `json:"output"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// submitEcho enqueues echo.upper; delayMS per character keeps it running.
func (c *client) submitEcho(text string, delayMS int) jobView {
	c.t.Helper()
	code, body := c.do("POST", "/v1/jobs", map[string]any{"task": "echo.upper",
		"params": map[string]any{"text": text, "delay_ms": delayMS, "no_artifact": true}})
	if code != 202 {
		c.t.Fatalf("enqueue echo: %d %s", code, body)
	}
	var v jobView
	_ = json.Unmarshal(body, &v)
	return v
}

func (c *client) job(id string) jobView {
	c.t.Helper()
	code, body := c.do("GET", "/v1/jobs/"+id, nil)
	if code != 200 {
		c.t.Fatalf("get job %s: %d %s", id, code, body)
	}
	var v jobView
	if err := json.Unmarshal(body, &v); err != nil {
		c.t.Fatal(err)
	}
	return v
}

// waitJob polls until the job's status satisfies ok.
func (c *client) waitJob(id string, within time.Duration, ok func(jobView) bool) jobView {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var v jobView
	for time.Now().Before(deadline) {
		v = c.job(id)
		if ok(v) {
			return v
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("job %s: condition not met within %s; last %+v", id, within, v)
	return v
}

func terminal(v jobView) bool {
	return v.Status == "succeeded" || v.Status == "failed" || v.Status == "canceled"
}

// events reads a finished job's whole SSE stream and returns the event types.
func (c *client) events(id string) []string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/jobs/"+id+"/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var types []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			types = append(types, ev)
		}
	}
	return types
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// childPID finds the process named like comm whose parent is ppid.
func childPID(t *testing.T, ppid int, comm string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if name, parent, _, ok := procStat(pid); ok && parent == ppid && strings.HasPrefix(comm, name) {
			return pid
		}
	}
	return 0
}
