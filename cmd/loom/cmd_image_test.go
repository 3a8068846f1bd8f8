package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImageThroughPlugin builds loom-plugin-vision and runs loom image and
// loom bench image through the plugin host on the vision plugin's tiny test
// pipeline (plugins/vision/testdata/tiny-pipeline: random-init towers, 32×32
// images): the same seed gives the same PNG bytes from two plugin processes.
func TestImageThroughPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the vision plugin")
	}
	models, _ := filepath.Abs(filepath.Join("..", "..", "plugins", "vision", "testdata"))
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "loom-plugin-vision"), "github.com/loomhq/loom/plugins/vision")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	common := []string{"--plugins", dir, "--models", models, "--model", "tiny-pipeline", "--steps", "2", "--threads", "2"}
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := runMain(append(append([]string{"image"}, common...), args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	a, b, c := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png"), filepath.Join(dir, "c.png")
	for _, f := range []struct{ path, seed string }{{a, "5"}, {b, "5"}, {c, "6"}} {
		if code, stdout, stderr := run("--prompt", "a red circle", "--seed", f.seed, "--out", f.path); code != 0 || stdout != f.path+"\ta red circle\n" {
			t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
		}
	}
	pa, pb, pc := readFile(t, a), readFile(t, b), readFile(t, c)
	if !bytes.Equal(pa, pb) {
		t.Error("two processes, same seed: different PNG bytes")
	}
	if bytes.Equal(pa, pc) {
		t.Error("seeds 5 and 6 gave the same PNG")
	}
	if w, h := decodeSize(t, pa); w != 32 || h != 32 {
		t.Errorf("%d×%d, want 32×32", w, h)
	}

	prompts := filepath.Join(dir, "prompts.txt")
	os.WriteFile(prompts, []byte("a red circle\n\na blue square\n"), 0o644)
	out := filepath.Join(dir, "out")
	if code, stdout, stderr := run("--prompts-file", prompts, "--seed", "5", "--out-dir", out, "--size", "128"); code != 0 || strings.Count(stdout, "\n") != 2 {
		t.Fatalf("prompts file: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	for _, name := range []string{"000.png", "001.png"} {
		if w, h := decodeSize(t, readFile(t, filepath.Join(out, name))); w != 128 || h != 128 {
			t.Errorf("%s is %d×%d, want the 128×128 upscale", name, w, h)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "002.png")); err == nil {
		t.Error("a blank line made an image")
	}

	for name, c := range map[string]struct {
		args []string
		code int
		msg  string
	}{
		"no output":       {[]string{"--prompt", "x"}, 2, "--out"},
		"both inputs":     {[]string{"--prompt", "x", "--prompts-file", prompts, "--out", a}, 2, "not both"},
		"out-dir for one": {[]string{"--prompt", "x", "--out-dir", out}, 2, "--out FILE.png"},
		"nothing":         {nil, 2, "--prompt"},
		"steps":           {[]string{"--prompt", "x", "--out", a, "--steps", "151"}, 2, "--steps"},
		"strength alone":  {[]string{"--prompt", "x", "--out", a, "--strength", "0.5"}, 2, "--image"},
		"stray argument":  {[]string{"--prompt", "x", "--out", a, "extra"}, 2, "unexpected"},
		"bad size":        {[]string{"--prompt", "x", "--out", filepath.Join(dir, "bad.png"), "--size", "100"}, 1, "invalid_request"},
		"missing file":    {[]string{"--prompts-file", filepath.Join(dir, "none.txt"), "--out-dir", out}, 1, "none.txt"},
		"missing image":   {[]string{"--prompt", "x", "--out", a, "--image", filepath.Join(dir, "none.png")}, 1, "none.png"},
	} {
		code, _, stderr := run(c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want %q in it)", name, code, c.code, stderr, c.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.png")); err == nil {
		t.Error("a failed generation left a file")
	}
	var stdout, stderr bytes.Buffer
	if code := runMain([]string{"image", "--plugins", dir, "--models", models, "--model", "nope", "--prompt", "x", "--out", a}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "model_not_found") {
		t.Errorf("unknown model: exit %d, %s", code, stderr.String())
	}

	stdout.Reset()
	if err := runBenchImage([]string{"--plugins", dir, "--models", models, "--model", "tiny-pipeline", "--steps", "2", "--images", "1", "--json"}, &stdout, &stderr); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	var bench map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &bench); err != nil {
		t.Fatalf("bench output %q: %v", stdout.String(), err)
	}
	ms := map[string]float64{}
	for _, k := range []string{"ms_per_image", "ms_per_unet_step", "ms_vae_decode"} {
		if ms[k], _ = bench[k].(float64); !(ms[k] > 0) {
			t.Errorf("bench %s = %v in %s", k, bench[k], stdout.String())
		}
	}
	if ms["ms_per_image"] < 2*ms["ms_per_unet_step"]+ms["ms_vae_decode"] {
		t.Errorf("an image took less than its parts: %s", stdout.String())
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeSize(t *testing.T, data []byte) (int, int) {
	t.Helper()
	im, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return im.Bounds().Dx(), im.Bounds().Dy()
}
