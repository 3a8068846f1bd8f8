package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
)

// echoBin is examples/echo built once for the whole package.
var echoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "loom-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	echoBin = filepath.Join(dir, "loom-plugin-echo")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goTool, "build", "-o", echoBin, "github.com/loomhq/loom/examples/echo")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build examples/echo:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logBuf collects the host's log for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startHost(t *testing.T, cfg Config) (*Host, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	if cfg.Dir == "" && cfg.Binaries == nil {
		cfg.Binaries = []string{echoBin}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatalf("start: %v\nlog:\n%s", err, logs)
	}
	return h, logs
}

func echoJob(id string, p map[string]any) sdk.Job {
	raw, _ := json.Marshal(p)
	return sdk.Job{ID: id, Task: "echo.upper", Model: "echo", Params: raw}
}

type echoResult struct {
	Text           string   `json:"text"`
	ArtifactSHA256 string   `json:"artifact_sha256"`
	InputBytes     int      `json:"input_bytes"`
	InputSHA256    string   `json:"input_sha256"`
	ModelDirs      []string `json:"model_dirs"`
}

func collect(ctx context.Context, e sdk.Engine, job sdk.Job) ([]sdk.Event, error) {
	var evs []sdk.Event
	err := e.Run(ctx, job, func(ev sdk.Event) error {
		evs = append(evs, ev)
		return nil
	})
	return evs, err
}

func pidOf(t *testing.T, h *Host, name string) int {
	t.Helper()
	pid := h.PID(name)
	if pid == 0 {
		t.Fatalf("plugin %s is down", name)
	}
	return pid
}

// TestPID: PID names the plugin's live child process (signal 0 reaches it,
// and it is the process the host started: its parent is this test), and 0
// for a plugin the host does not run.
func TestPID(t *testing.T) {
	h, _ := startHost(t, Config{})
	pid := h.PID("echo")
	if pid <= 0 || pid == os.Getpid() {
		t.Fatalf("PID(echo) = %d", pid)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("PID(echo) = %d, not a live process: %v", pid, err)
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil { // Linux
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if ppid, _ := strconv.Atoi(f[1]); ppid != os.Getpid() {
			t.Fatalf("PID(echo) = %d has parent %d, want this process %d", pid, ppid, os.Getpid())
		}
	}
	if got := h.PID("nope"); got != 0 {
		t.Fatalf("PID(nope) = %d, want 0", got)
	}
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("loom-plugin-text", 0o755)
	write("loom-plugin-audio", 0o755)
	write("loom-plugin-notexec", 0o644)
	write("loom-plugin-text.log", 0o755)
	write("loom-plugin-", 0o755)
	write("loom", 0o755)
	if err := os.Mkdir(filepath.Join(dir, "loom-plugin-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "loom-plugin-audio"), filepath.Join(dir, "loom-plugin-text")}
	if !slices.Equal(got, want) {
		t.Fatalf("Discover = %v, want %v", got, want)
	}
	if _, err := Discover(filepath.Join(dir, "absent")); err == nil {
		t.Fatal("Discover of a missing dir: no error")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Binaries: []string{"/bin/true"}},
		{Dir: ".", ModelDirs: []string{"a:b"}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
}

func TestDescribeAndRun(t *testing.T) {
	models := []string{t.TempDir(), t.TempDir()}
	h, _ := startHost(t, Config{ModelDirs: models})

	man := h.Manifests()["echo"]
	if man.Name != "echo" || !slices.Equal(man.Tasks, []string{"echo.upper"}) ||
		len(man.Models) != 1 || man.Models[0].ID != "echo" || !man.Models[0].Ready || !json.Valid(man.Models[0].Params) {
		t.Fatalf("manifest = %+v", man)
	}
	e := h.Engines()["echo"]
	if e == nil {
		t.Fatalf("no echo engine in %v", h.Engines())
	}
	if m, err := e.Describe(context.Background()); err != nil || m.Name != "echo" {
		t.Fatalf("Describe = %+v, %v", m, err)
	}

	// A 20 MiB input proves the raised message limit (gRPC's default is 4 MiB).
	input := bytes.Repeat([]byte("loom"), 5<<20)
	job := echoJob("j1", map[string]any{"text": "héllo"})
	job.Inputs = []sdk.Blob{{Name: "blob", MIME: "application/octet-stream", Data: input}}
	evs, err := collect(context.Background(), e, job)
	if err != nil {
		t.Fatal(err)
	}

	// Per character: progress then delta; then the artifact; then the result.
	want := "HÉLLO"
	if len(evs) != 2*len([]rune(want))+2 {
		t.Fatalf("got %d events: %+v", len(evs), evs)
	}
	for i, r := range []rune(want) {
		p, d := evs[2*i], evs[2*i+1]
		if p.Kind != sdk.EventProgress || p.Step != i+1 || p.Total != 5 {
			t.Fatalf("event %d = %+v, want progress %d/5", 2*i, p, i+1)
		}
		if d.Kind != sdk.EventDelta || d.Text != string(r) {
			t.Fatalf("event %d = %+v, want delta %q", 2*i+1, d, string(r))
		}
	}
	art := evs[len(evs)-2]
	if art.Kind != sdk.EventArtifact || art.Name != "pattern.bin" || art.MIME != "application/octet-stream" {
		t.Fatalf("artifact event = %+v", art.Kind)
	}
	if len(art.Data) != 5<<20 {
		t.Fatalf("artifact is %d bytes, want %d", len(art.Data), 5<<20)
	}
	for i := 0; i < len(art.Data); i += 4 {
		if w := binary.BigEndian.Uint32(art.Data[i:]); w != uint32(i/4) {
			t.Fatalf("artifact word at byte %d = %d, want %d (chunk lost or reordered)", i, w, i/4)
		}
	}
	res := evs[len(evs)-1]
	if res.Kind != sdk.EventResult {
		t.Fatalf("last event = %+v", res.Kind)
	}
	var r echoResult
	if err := json.Unmarshal(res.Result, &r); err != nil {
		t.Fatal(err)
	}
	if r.Text != want || r.ArtifactSHA256 != sha(art.Data) || r.InputBytes != len(input) || r.InputSHA256 != sha(input) {
		t.Fatalf("result = %+v", r)
	}
	if !slices.Equal(r.ModelDirs, models) {
		t.Fatalf("plugin saw LOOM_MODELS %v, want %v", r.ModelDirs, models)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestErrorCodesCrossIntact(t *testing.T) {
	h, _ := startHost(t, Config{})
	e := h.Engines()["echo"]
	cases := []struct {
		name  string
		code  sdk.Code
		inMsg string
		job   sdk.Job
	}{
		{"wrong task", sdk.CodeInvalidRequest, `"image.caption"`, sdk.Job{Task: "image.caption", Params: json.RawMessage(`{"text":"x"}`)}},
		{"unknown model", sdk.CodeModelNotFound, `"nope"`, sdk.Job{Task: "echo.upper", Model: "nope", Params: json.RawMessage(`{"text":"x"}`)}},
		{"no text", sdk.CodeInvalidRequest, `params: "text" is required`, sdk.Job{Task: "echo.upper", Params: json.RawMessage(`{}`)}},
		{"empty text", sdk.CodeInvalidRequest, "params: text: must not be empty", sdk.Job{Task: "echo.upper", Params: json.RawMessage(`{"text":""}`)}},
		{"not json", sdk.CodeInvalidRequest, "params:", sdk.Job{Task: "echo.upper", Params: json.RawMessage(`{`)}},
	}
	for _, c := range cases {
		evs, err := collect(context.Background(), e, c.job)
		var pe *sdk.Error
		if !errors.As(err, &pe) || pe.Code != c.code || !strings.Contains(pe.Message, c.inMsg) {
			t.Errorf("%s: err = %v, want code %s with %q", c.name, err, c.code, c.inMsg)
		}
		if len(evs) != 0 {
			t.Errorf("%s: %d events before the error", c.name, len(evs))
		}
	}
}

func TestCancelStopsThePlugin(t *testing.T) {
	h, logs := startHost(t, Config{})
	e := h.Engines()["echo"]
	// Cancel after the first progress event.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	err := e.Run(ctx, echoJob("c2", map[string]any{"text": strings.Repeat("a", 50), "delay_ms": 200}), func(ev sdk.Event) error {
		if ev.Kind == sdk.EventProgress && ev.Step == 1 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("cancel took %s; 50 chars × 200ms would be 10s", d)
	}
	// The plugin saw the cancel (it logs it), under the plugin's name.
	waitFor(t, "the plugin to log its cancel", 3*time.Second, func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "loom-plugin-echo") && strings.Contains(line, "echo: run canceled") && strings.Contains(line, "job=c2") {
				return true
			}
		}
		return false
	})
	// And it is free for the next job.
	if _, err := collect(context.Background(), e, echoJob("c3", map[string]any{"text": "ok"})); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

func TestKilledPluginFailsJobAndRestarts(t *testing.T) {
	var mu sync.Mutex
	var restarted []string
	h, logs := startHost(t, Config{
		RestartBackoff: 50 * time.Millisecond,
		OnRestart: func(name string, n int) {
			mu.Lock()
			defer mu.Unlock()
			restarted = append(restarted, fmt.Sprintf("%s#%d", name, n))
		},
	})
	e := h.Engines()["echo"]
	pid := pidOf(t, h, "echo")

	err := e.Run(context.Background(), echoJob("k1", map[string]any{"text": strings.Repeat("z", 40), "delay_ms": 100}), func(ev sdk.Event) error {
		if ev.Kind == sdk.EventProgress && ev.Step == 2 {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Errorf("kill -9 %d: %v", pid, err)
			}
		}
		return nil
	})
	if !sdk.IsCode(err, sdk.CodePluginCrashed) {
		t.Fatalf("err = %v, want code %s", err, sdk.CodePluginCrashed)
	}
	// The worker retries at once: that Run must wait for the restart, not
	// fail again on the dead process and burn another attempt.
	if _, err := collect(context.Background(), e, echoJob("k1-retry", map[string]any{"text": "retry"})); err != nil {
		t.Fatalf("immediate retry after the crash: %v\nlog:\n%s", err, logs)
	}
	waitFor(t, "the restart", 15*time.Second, func() bool { return h.RestartCount("echo") == 1 })
	mu.Lock()
	if !slices.Equal(restarted, []string{"echo#1"}) {
		t.Errorf("OnRestart calls = %v", restarted)
	}
	mu.Unlock()

	evs, err := collect(context.Background(), e, echoJob("k2", map[string]any{"text": "again"}))
	if err != nil {
		t.Fatalf("run after restart: %v\nlog:\n%s", err, logs)
	}
	var r echoResult
	if err := json.Unmarshal(evs[len(evs)-1].Result, &r); err != nil || r.Text != "AGAIN" {
		t.Fatalf("result after restart = %s, %v", evs[len(evs)-1].Result, err)
	}
	if newPID := pidOf(t, h, "echo"); newPID == pid {
		t.Fatalf("same pid %d after restart", pid)
	}
	if m := h.Manifests()["echo"]; m.Name != "echo" {
		t.Fatalf("manifest after restart = %+v", m)
	}
}

// A killed process cannot close its listener, so its Unix socket would stay
// in the temp directory for good (hundreds piled up under /tmp over a day of
// tests); each process gets a socket directory of its own that the host
// removes when it kills or reaps the process.
func TestKilledPluginLeavesNoSocket(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	h, logs := startHost(t, Config{RestartBackoff: 20 * time.Millisecond})
	entries := func() []string {
		des, err := os.ReadDir(tmp)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		return names
	}
	running := entries()
	if len(running) != 1 || !strings.HasPrefix(running[0], fmt.Sprintf("%s%d-", sockDirPrefix, os.Getpid())) {
		t.Fatalf("temp dir while running = %v, want one %s%d-* directory", running, sockDirPrefix, os.Getpid())
	}
	socks, _ := filepath.Glob(filepath.Join(tmp, running[0], "*"))
	if len(socks) != 1 {
		t.Fatalf("socket directory holds %v, want the plugin's socket", socks)
	}
	if err := syscall.Kill(pidOf(t, h, "echo"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart", 15*time.Second, func() bool { return h.RestartCount("echo") == 1 })
	if _, err := collect(context.Background(), h.Engines()["echo"], echoJob("s1", map[string]any{"text": "up"})); err != nil {
		t.Fatalf("run after restart: %v\nlog:\n%s", err, logs)
	}
	if after := entries(); len(after) != 1 || after[0] == running[0] {
		t.Fatalf("temp dir after the restart = %v, want only the new process's directory (old %s)", after, running[0])
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if left := entries(); len(left) != 0 {
		t.Fatalf("temp dir after Close = %v, want empty", left)
	}
}

// A host killed by a signal cannot remove its processes' socket
// directories; the next host to start removes those whose host is gone and
// whose sockets no longer answer, and nothing else.
func TestStartSweepsSocketDirsOfDeadHosts(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := gone.Process.Pid
	mkdir := func(pid int, tag string) string {
		d := filepath.Join(tmp, fmt.Sprintf("%s%d-%s", sockDirPrefix, pid, tag))
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		return d
	}
	listen := func(dir string) *net.UnixListener {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "plugin1"), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	stale := mkdir(dead, "stale") // a socket whose process was killed
	l := listen(stale)
	l.SetUnlinkOnClose(false)
	l.Close()
	empty := mkdir(dead, "empty")
	serving := mkdir(dead, "serving") // the pid is gone but something answers
	live := listen(serving)
	defer live.Close()
	ours := mkdir(os.Getppid(), "alive") // its host still runs
	l = listen(ours)
	l.SetUnlinkOnClose(false)
	l.Close()
	other := filepath.Join(tmp, sockDirPrefix+"x-y") // not a host's name
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	startHost(t, Config{})
	for _, d := range []string{stale, empty} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was left (stat: %v)", filepath.Base(d), err)
		}
	}
	for _, d := range []string{serving, ours, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(d), err)
		}
	}
}

func TestHungPluginIsRestarted(t *testing.T) {
	h, _ := startHost(t, Config{
		HealthInterval: 100 * time.Millisecond,
		HealthTimeout:  100 * time.Millisecond,
		HealthFailures: 2,
		RestartBackoff: 10 * time.Millisecond,
	})
	pid := pidOf(t, h, "echo")
	// A stopped process keeps its socket open but never answers.
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "the hung plugin's restart", 15*time.Second, func() bool { return h.RestartCount("echo") == 1 })
	if _, err := collect(context.Background(), h.Engines()["echo"], echoJob("h1", map[string]any{"text": "up"})); err != nil {
		t.Fatalf("run after restart: %v", err)
	}
}

func TestStartReportsBrokenPluginKeepsOthers(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "loom-plugin-bad")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\necho not a plugin >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	logs := &logBuf{}
	h, err := New(Config{
		Binaries:     []string{echoBin, bad},
		StartTimeout: 5 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = h.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "start plugin bad") {
		t.Fatalf("Start = %v, want an error naming plugin bad", err)
	}
	if _, ok := h.Engines()["echo"]; !ok || len(h.Engines()) != 1 {
		t.Fatalf("engines = %v, want echo only", h.Engines())
	}
}

func TestCloseKillsPlugins(t *testing.T) {
	h, _ := startHost(t, Config{})
	e := h.Engines()["echo"]
	pid := pidOf(t, h, "echo")
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("plugin %d still exists after Close (kill 0: %v)", pid, err)
	}
	if _, err := collect(context.Background(), e, echoJob("x", map[string]any{"text": "x"})); !sdk.IsCode(err, sdk.CodePluginCrashed) {
		t.Fatalf("Run after Close = %v", err)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestStartFromDir(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(echoBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "loom-plugin-echo"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	h, _ := startHost(t, Config{Dir: dir})
	if got := h.Manifests(); len(got) != 1 || got["echo"].Name != "echo" {
		t.Fatalf("manifests = %+v", got)
	}
	if err := h.Start(context.Background()); err == nil {
		t.Fatal("second Start: no error")
	}
}

// A job that crashes its plugin process fails with plugin_crashed whose
// message is one line — the runtime's "panic: …" — and an error id; the
// host's log line with that id has the goroutine dump from the plugin's
// stderr. The plugin is restarted and serves the next job.
func TestCrashCarriesStderrSummaryAndLogsTheDump(t *testing.T) {
	h, logs := startHost(t, Config{RestartBackoff: 50 * time.Millisecond})
	e := h.Engines()["echo"]
	_, err := collect(context.Background(), e, echoJob("c1", map[string]any{"text": "x", "crash": true}))
	var pe *sdk.Error
	if !errors.As(err, &pe) || pe.Code != sdk.CodePluginCrashed {
		t.Fatalf("err = %v, want %s", err, sdk.CodePluginCrashed)
	}
	_, id, _ := strings.Cut(pe.Message, "error id ")
	id, _, _ = strings.Cut(id, ";")
	if !strings.Contains(pe.Message, "panic: echo: crash asked by job c1 (error id ") || len(id) != 12 ||
		strings.Contains(pe.Message, "goroutine") || strings.Contains(pe.Message, ".go:") {
		t.Fatalf("client message %q", pe.Message)
	}
	waitFor(t, "the crash log line", 5*time.Second, func() bool { return strings.Contains(logs.String(), "error_id="+id) })
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "error_id="+id) {
			line = l
		}
	}
	if !strings.Contains(line, "plugin crashed during a job") || !strings.Contains(line, "goroutine ") || !strings.Contains(line, "echo.go:") ||
		!strings.Contains(line, "echo: crashing as the job asked") {
		t.Fatalf("log line: %s", line)
	}
	if _, err := collect(context.Background(), e, echoJob("c2", map[string]any{"text": "after", "no_artifact": true})); err != nil {
		t.Fatalf("after the crash: %v", err)
	}
}

func TestCrashSummary(t *testing.T) {
	for _, c := range []struct {
		lines []string
		want  string
	}{
		{[]string{`{"@level":"info","@message":"loading"}`, "panic: boom", "", "goroutine 1 [running]:", "main.f()", "\t/src/x.go:3"}, "panic: boom"},
		{[]string{"fatal error: all goroutines are asleep - deadlock!", "", "goroutine 1 [chan receive]:"}, "fatal error: all goroutines are asleep - deadlock!"},
		{[]string{`{"@level":"error","@message":"weights corrupt"}`, ""}, "error: weights corrupt"},
		{[]string{"goroutine 9 [running]:", "\t/src/x.go:3"}, ""},
		{nil, ""},
		{[]string{strings.Repeat("é", 400)}, strings.Repeat("é", 150) + "…"},
	} {
		if got := crashSummary(c.lines); got != c.want {
			t.Errorf("crashSummary(%q) = %q, want %q", c.lines, got, c.want)
		}
	}
}

// Two plugins serving the same model id for the same task: the later one
// is refused at start with a message naming both; the first serves.
func TestDuplicateModelIDRefused(t *testing.T) {
	dir := t.TempDir()
	copyEcho(t, dir, "loom-plugin-echo")
	copyEcho(t, dir, "loom-plugin-echo2")
	h, err := New(Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = h.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "start plugin echo2 (") ||
		!strings.Contains(err.Error(), `model id "echo" for echo.upper is already served by plugin echo; model ids are global`) {
		t.Fatalf("start: %v", err)
	}
	if got := h.Engines(); len(got) != 1 || got["echo"] == nil {
		t.Fatalf("engines %v", got)
	}
}

// Rescan starts a plugin binary added to the folder after Start, leaves the
// running ones alone, and refuses a clashing one.
func TestRescanAddsNewBinaries(t *testing.T) {
	dir := t.TempDir()
	copyEcho(t, dir, "loom-plugin-echo")
	h, _ := startHost(t, Config{Dir: dir})
	pid := pidOf(t, h, "echo")
	if added, err := h.Rescan(t.Context()); err != nil || len(added) != 0 {
		t.Fatalf("rescan of an unchanged folder: %v %v", added, err)
	}
	// A second echo under the same model id clashes; under another it joins.
	copyEcho(t, dir, "loom-plugin-echo2")
	if added, err := h.Rescan(t.Context()); len(added) != 0 || err == nil || !strings.Contains(err.Error(), "already served by plugin echo") {
		t.Fatalf("clashing rescan: %v %v", added, err)
	}
	h.cfg.Env = []string{"LOOM_ECHO_MODEL=echo-two"} // no launch runs now: no race
	added, err := h.Rescan(t.Context())
	if err != nil || len(added) != 1 || added["echo2"] == nil {
		t.Fatalf("rescan: %v %v", added, err)
	}
	evs, err := collect(t.Context(), added["echo2"], sdk.Job{ID: "r1", Task: "echo.upper", Model: "echo-two", Params: json.RawMessage(`{"text":"new","no_artifact":true}`)})
	if err != nil || !strings.Contains(string(evs[len(evs)-1].Result), `"text":"NEW"`) {
		t.Fatalf("job on the added plugin: %v", err)
	}
	if got := h.Manifests(); len(got) != 2 || got["echo2"].Models[0].ID != "echo-two" || pidOf(t, h, "echo") != pid {
		t.Fatalf("manifests %v, echo restarted: %v", got, pidOf(t, h, "echo") != pid)
	}
}

// copyEcho puts a copy of the echo plugin into dir under name.
func copyEcho(t *testing.T, dir, name string) {
	t.Helper()
	data, err := os.ReadFile(echoBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
		t.Fatal(err)
	}
}
