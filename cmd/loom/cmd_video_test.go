package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/gif"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/media/mediatest"
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
		{"--prompt", "x", "--out", "clip.mp4", "--candidates", "5"},
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

// TestVideoThroughPlugin builds loom-plugin-video and runs loom video and
// loom bench video through the plugin host on the video plugin's tiny
// pipelines (plugins/video/testdata: random-init motion UNet, 16×16 frames):
// MP4 and GIF files with every frame, the same seed giving the same bytes
// from two plugin processes, a prompts file, image-to-video.
func TestVideoThroughPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the video plugin")
	}
	models, _ := filepath.Abs(filepath.Join("..", "..", "plugins", "video", "testdata"))
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "loom-plugin-video"), "github.com/loomhq/loom/plugins/video")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	common := []string{"--plugins", dir, "--models", models, "--model", "tiny-motion", "--steps", "2", "--threads", "2"}
	run := func(cmd string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runMain(append(append([]string{cmd}, common...), args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	a, b, g := filepath.Join(dir, "a.mp4"), filepath.Join(dir, "b.mp4"), filepath.Join(dir, "c.gif")
	for _, f := range []struct{ path, seed string }{{a, "5"}, {b, "5"}, {g, "5"}} {
		if code, stdout, stderr := run("video", "--prompt", "red blue", "--seed", f.seed, "--out", f.path); code != 0 || stdout != f.path+"\tred blue\n" {
			t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
		}
	}
	if !bytes.Equal(readFile(t, a), readFile(t, b)) {
		t.Error("two processes, same seed: different MP4 bytes")
	}
	if p := mediatest.ProbeVideo(t, readFile(t, a), "a.mp4"); p.Codec != "h264" || p.Frames != 5 || p.Width != 16 {
		t.Errorf("mp4: %+v", p)
	}
	if gf, err := gif.DecodeAll(bytes.NewReader(readFile(t, g))); err != nil || len(gf.Image) != 5 {
		t.Errorf("gif: %v", err)
	}

	prompts := filepath.Join(dir, "prompts.txt")
	os.WriteFile(prompts, []byte("red\n\nblue\n"), 0o644)
	out := filepath.Join(dir, "out")
	if code, stdout, stderr := run("video", "--prompts-file", prompts, "--out-dir", out, "--frames", "3"); code != 0 || strings.Count(stdout, "\n") != 2 {
		t.Fatalf("prompts file: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	for _, name := range []string{"000.gif", "001.gif"} {
		if gf, err := gif.DecodeAll(bytes.NewReader(readFile(t, filepath.Join(out, name)))); err != nil || len(gf.Image) != 3 {
			t.Errorf("%s: %v", name, err)
		}
	}
	first := filepath.Join(dir, "first.png")
	var pb bytes.Buffer
	png.Encode(&pb, image.NewRGBA(image.Rect(0, 0, 16, 16)))
	os.WriteFile(first, pb.Bytes(), 0o644)
	if code, _, stderr := run("video", "--prompt", "red", "--image", first, "--out", filepath.Join(dir, "i2v.mp4")); code != 0 {
		t.Fatalf("image-to-video: exit %d, %s", code, stderr)
	}
	if code, _, stderr := run("video", "--prompt", "red", "--frames", "9", "--out", filepath.Join(dir, "long.mp4")); code != 1 || !strings.Contains(stderr, "8 frames") {
		t.Fatalf("9 frames on an 8-frame model: exit %d, %s", code, stderr)
	}

	if code, _, stderr := run("video", "--prompt", "red", "--candidates", "2", "--out", filepath.Join(dir, "two.gif")); code != 0 {
		t.Fatalf("two candidates: exit %d, %s", code, stderr)
	}

	code, stdout, stderr := run("bench video", "--videos", "1", "--json")
	var bench map[string]any
	if code != 0 || json.Unmarshal([]byte(stdout), &bench) != nil || bench["frames"] != 5.0 || bench["ms_per_video"].(float64) <= 0 ||
		bench["ms_per_unet_step"].(float64) <= 0 || bench["candidates"] != 1.0 {
		t.Fatalf("bench video: exit %d, %q, %s", code, stdout, stderr)
	}
}
