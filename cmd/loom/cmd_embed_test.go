package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmbedThroughPlugins runs loom embed on both plugins that serve
// text.embed: the vision plugin's tiny diffusion pipeline (found after the
// text plugin answers model_not_found) and a missing model.
func TestEmbedThroughPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the text and vision plugins")
	}
	dir := t.TempDir()
	for _, p := range []string{"text", "vision"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, "loom-plugin-"+p), "github.com/loomhq/loom/plugins/"+p)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", p, err, out)
		}
	}
	models, _ := filepath.Abs(filepath.Join("..", "..", "plugins", "vision", "testdata"))
	var stdout, stderr bytes.Buffer
	code := runMain([]string{"embed", "--plugins", dir, "--models", models, "--model", "tiny-pipeline", "a red circle", "a blue square"}, &stdout, &stderr)
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("exit %d, %d lines; stderr %s", code, len(lines), stderr.String())
	}
	for i, l := range lines {
		var v []float64
		if err := json.Unmarshal([]byte(l), &v); err != nil || len(v) != 64 {
			t.Fatalf("line %d: %v, %d floats", i, err, len(v))
		}
		var n float64
		for _, x := range v {
			n += x * x
		}
		if math.Abs(n-1) > 1e-4 {
			t.Errorf("line %d: ‖v‖² = %g", i, n)
		}
	}
	stdout.Reset()
	stderr.Reset()
	if code := runMain([]string{"embed", "--plugins", dir, "--models", models, "--model", "nope", "x"}, &stdout, &stderr); code == 0 || stdout.Len() > 0 {
		t.Errorf("unknown model: exit %d, stdout %q", code, stdout.String())
	}
	if code := runMain([]string{"embed", "--plugins", dir}, &stdout, &stderr); code != 2 {
		t.Errorf("no texts: exit %d, want 2", code)
	}
}
