package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSplitJoinModelDirs(t *testing.T) {
	if got := SplitModelDirs("/a::/b:"); !slices.Equal(got, []string{"/a", "/b"}) {
		t.Fatalf("SplitModelDirs = %q", got)
	}
	if got := SplitModelDirs(""); len(got) != 0 {
		t.Fatalf("SplitModelDirs(\"\") = %q", got)
	}
	if got := JoinModelDirs([]string{"/a", "/b"}); got != "/a:/b" {
		t.Fatalf("JoinModelDirs = %q", got)
	}
	t.Setenv(ModelsEnv, "/x:/y")
	if got := ModelDirs(); !slices.Equal(got, []string{"/x", "/y"}) {
		t.Fatalf("ModelDirs = %q", got)
	}
}

func TestUnreadyNeverProducesOutput(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(ModelsEnv, dir)
	need := TaskNeed{Task: "image.caption", Files: []string{"model.safetensors", "config.json"}}
	e := Unready("vision", "dev", need, TaskNeed{Task: "image.generate", Files: need.Files})

	m, err := e.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "vision" || !slices.Equal(m.Tasks, []string{"image.caption", "image.generate"}) || len(m.Models) != 2 {
		t.Fatalf("manifest = %+v", m)
	}
	wantMissing := "no image.caption model installed: expected a folder with model.safetensors + config.json in a LOOM_MODELS directory"
	if mi := m.Models[0]; mi.Ready || mi.ID != "image.caption" || mi.Missing != wantMissing {
		t.Fatalf("model = %+v, want missing %q", mi, wantMissing)
	}

	emitted := 0
	emit := func(Event) error { emitted++; return nil }
	run := func(task, model string) *Error {
		err := e.Run(context.Background(), Job{Task: task, Model: model}, emit)
		pe, ok := err.(*Error)
		if !ok {
			t.Fatalf("Run(%s, %s) = %v, want *Error", task, model, err)
		}
		return pe
	}
	if e := run("image.caption", ""); e.Code != CodeModelUnavailable || e.Message != wantMissing {
		t.Fatalf("default model: %v", e)
	}
	if e := run("image.caption", "image.caption"); e.Code != CodeModelUnavailable || e.Message != wantMissing {
		t.Fatalf("slot model: %v", e)
	}
	if e := run("image.caption", "blip"); e.Code != CodeModelUnavailable ||
		!strings.Contains(e.Message, `model "blip" for image.caption is not installed: expected a folder blip/ with model.safetensors + config.json`) {
		t.Fatalf("absent named model: %v", e)
	}
	if err := os.Mkdir(filepath.Join(dir, "blip"), 0o755); err != nil {
		t.Fatal(err)
	}
	if e := run("image.caption", "blip"); e.Code != CodeModelUnavailable || e.Message != "found the folder blip, but this build of loom-plugin-vision has no image.caption runtime to load it" {
		t.Fatalf("present named model: %v", e)
	}
	if e := run("image.caption", "../etc"); e.Code != CodeInvalidRequest {
		t.Fatalf("path model name: %v", e)
	}
	if e := run("text.chat", ""); e.Code != CodeInvalidRequest || !strings.Contains(e.Message, "image.caption, image.generate") {
		t.Fatalf("unknown task: %v", e)
	}
	t.Setenv(ModelsEnv, "")
	if e := run("image.generate", ""); !strings.Contains(e.Message, ": LOOM_MODELS is empty") {
		t.Fatalf("empty LOOM_MODELS: %v", e)
	}
	if emitted != 0 {
		t.Fatalf("Unready emitted %d events", emitted)
	}
}

// The host (go-plugin) reads @level, @message and @timestamp in exactly
// this layout; anything else makes it log the line as plain debug text.
func TestLogHandlerSpeaksHclogJSON(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewLogHandler(&buf, slog.LevelDebug))
	log.Warn("disk low", "free_mb", 12)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if m["@level"] != "warn" || m["@message"] != "disk low" || m["free_mb"] != float64(12) {
		t.Fatalf("log line = %s", buf.Bytes())
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", m["@timestamp"].(string)); err != nil {
		t.Fatalf("timestamp: %v", err)
	}
	for lvl, want := range map[slog.Level]string{slog.LevelDebug: "debug", slog.LevelInfo: "info", slog.LevelError: "error", slog.LevelError + 4: "error"} {
		if got := hclogLevel(lvl); got != want {
			t.Errorf("hclogLevel(%v) = %s, want %s", lvl, got, want)
		}
	}
}

func TestFoldersLoadedUnloadBytes(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "m", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "m", "a.bin"), make([]byte, 1000), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "m", "sub", "b.bin"), make([]byte, 24), 0o644)
	link := filepath.Join(t.TempDir(), "m")
	if err := os.Symlink(filepath.Join(dir, "m"), link); err != nil {
		t.Fatal(err)
	}
	if n := DirBytes(link); n != 1024 {
		t.Fatalf("DirBytes through a symlink = %d, want 1024", n)
	}
	loads := 0
	f := &Folders[int]{Task: "t", Dirs: []string{dir}, Accept: func(string) bool { return true },
		Load: func(string) (int, error) { loads++; return loads, nil }}
	if f.Loaded("m") {
		t.Fatal("loaded before first use")
	}
	if v, err := f.Get("m"); err != nil || v != 1 || !f.Loaded("m") {
		t.Fatalf("Get = %d %v, loaded %v", v, err, f.Loaded("m"))
	}
	if err := f.Unload("m"); err != nil || f.Loaded("m") {
		t.Fatalf("Unload: %v, loaded %v", err, f.Loaded("m"))
	}
	if err := f.Unload("never"); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Get("m"); v != 2 {
		t.Fatalf("Get after Unload = %d, want a fresh load (2)", v)
	}
}
