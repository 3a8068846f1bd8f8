package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestVideoUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--prompt", "x", "--out", "clip.avi"},
		{"--prompt", "x", "--out", "clip.gif", "--format", "mp4"},
		{"--prompt", "x", "--format", "webm", "--out", "clip.mp4"},
		{"--prompt", "x"},
		{"--prompt", "x", "--prompts-file", "f", "--out-dir", "d"},
		{"--prompts-file", "f", "--out", "clip.gif"},
		{"--prompt", "x", "--out", "clip.mp4", "--frames", "65"},
		{"--prompt", "x", "--out", "clip.mp4", "--fps", "61"},
		{"--prompt", "x", "--out", "clip.mp4", "--steps", "151"},
		{"--prompt", "x", "--out", "clip.mp4", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := runMain(append([]string{"video"}, args...), &stdout, &stderr); code != 2 || stderr.Len() == 0 {
			t.Errorf("loom video %q: exit %d, stderr %q", args, code, stderr.String())
		}
	}
	for _, c := range []struct{ format, out, outDir, want string }{
		{"", "a.mp4", "", "mp4"}, {"", "a.GIF", "", "gif"}, {"", "", "d", "gif"}, {"mp4", "", "d", "mp4"}, {"gif", "a.gif", "", "gif"},
	} {
		if got, err := videoFormat(c.format, c.out, c.outDir); err != nil || got != c.want {
			t.Errorf("videoFormat(%q, %q, %q) = %q %v, want %q", c.format, c.out, c.outDir, got, err, c.want)
		}
	}
}

// TestVideoWithoutModel runs loom video through a real video plugin process
// with no video pipeline installed: a clear error naming what is missing,
// exit status 1, no file.
func TestVideoWithoutModel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the video plugin")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "loom-plugin-video"), "github.com/loomhq/loom/plugins/video")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "clip.mp4")
	var stdout, stderr bytes.Buffer
	code := runMain([]string{"video", "--plugins", dir, "--models", t.TempDir(), "--prompt", "a small red circle moving up", "--out", out}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "motion_adapter") || stdout.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a file was written")
	}
}
