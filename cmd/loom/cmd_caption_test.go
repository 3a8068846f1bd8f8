package main

import (
	"bytes"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/shapes"
)

// TestCaptionThroughPlugin builds loom-plugin-vision and captions Shapes
// scenes with loom caption through the plugin host, on the project's
// models/shapes-captioner: PATH<TAB>caption per image, in order, and clear
// errors (non-zero exit) for bad files and bad flags.
func TestCaptionThroughPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the vision plugin")
	}
	models, _ := filepath.Abs(filepath.Join("..", "..", "models"))
	if _, err := os.Stat(filepath.Join(models, "shapes-captioner", "model.safetensors")); err != nil {
		t.Skip("models/shapes-captioner absent")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "loom-plugin-vision"), "github.com/loomhq/loom/plugins/vision")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	r := rand.New(rand.NewPCG(31, 7))
	scenes := []shapes.Scene{}
	var paths []string
	for i, attrs := range [][]shapes.Attrs{
		{{Shape: "circle", Colour: "blue", Size: "large", Place: "left"}},
		{{Shape: "triangle", Colour: "yellow", Size: "large", Place: "top"}, {Shape: "square", Colour: "green", Size: "small", Place: "bottom"}},
	} {
		s, err := shapes.SceneOf(r, attrs)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		path := filepath.Join(dir, []string{"a.png", "b.jpg"}[i])
		if i == 0 {
			png.Encode(&b, shapes.Render(s))
		} else {
			jpeg.Encode(&b, shapes.Render(s), &jpeg.Options{Quality: 75})
		}
		os.WriteFile(path, b.Bytes(), 0o644)
		scenes, paths = append(scenes, s), append(paths, path)
	}
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runMain(append([]string{"caption", "--plugins", dir, "--models", models}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, stdout, stderr := run(paths...)
	want := paths[0] + "\t" + scenes[0].Caption() + "\n" + paths[1] + "\t" + scenes[1].Caption() + "\n"
	if code != 0 || stdout != want {
		t.Fatalf("exit %d\nstdout %q\nwant   %q\nstderr %s", code, stdout, want, stderr)
	}

	notImage := filepath.Join(dir, "notes.txt")
	os.WriteFile(notImage, []byte("not an image"), 0o644)
	code, stdout, stderr = run(paths[0], notImage, filepath.Join(dir, "missing.png"))
	if code != 1 || !strings.HasPrefix(stdout, paths[0]+"\t") || !strings.Contains(stderr, "notes.txt") ||
		!strings.Contains(stderr, "missing.png") || !strings.Contains(stderr, "2 of 3 images failed") {
		t.Fatalf("bad files: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	for name, args := range map[string][]string{"no images": nil, "beam": {"--beam", "9", paths[0]}} {
		if code, _, stderr := run(args...); code != 2 {
			t.Errorf("%s: exit %d, stderr %s", name, code, stderr)
		}
	}
	if code, _, stderr := run("--model", "no-such-model", paths[0]); code != 1 || !strings.Contains(stderr, "model_not_found") {
		t.Errorf("unknown model: exit %d, stderr %s", code, stderr)
	}
}
