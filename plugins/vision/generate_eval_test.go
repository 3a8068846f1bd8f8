package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/shapes"
)

// shapesModel is the project's trained Shapes text-to-image pipeline.
const shapesModel = "shapes-diffusion"

// TestShapesDiffusionReadBack is issue 6's proof: prompts drawn from the
// Shapes grammar with a seed no training run used (the training scenes come
// from shapesgen seeds 1 and 2, the noise from training's own torch seed)
// are generated through the plugin path at the model's defaults, and the
// project's captioner (part 1) reads the attributes back. The issue's
// target is 90% per attribute, which the test asserts. 200 prompts (40 with -short).
func TestShapesDiffusionReadBack(t *testing.T) {
	// LOOM_READBACK_MODELS: a models directory with a candidate
	// shapes-diffusion folder, searched before models/ (the captioner still
	// comes from models/), to score a training run before it is committed.
	dirs := []string{modelsDir}
	if d := os.Getenv("LOOM_READBACK_MODELS"); d != "" {
		dirs = []string{d, modelsDir}
	}
	if _, err := os.Stat(filepath.Join(dirs[0], shapesModel, "model_index.json")); err != nil {
		t.Skipf("%s/%s absent: train it with tools/diffusion (models/%s/README.md)", dirs[0], shapesModel, shapesModel)
	}
	e := captionEngineOrSkip(t, dirs...)
	n := 200
	if testing.Short() {
		n = 40
	}
	// For tuning the model's defaults: LOOM_READBACK_N prompts, and
	// LOOM_READBACK_PARAMS (a JSON object) added to every request.
	if v, err := strconv.Atoi(os.Getenv("LOOM_READBACK_N")); err == nil && v > 0 {
		n = v
	}
	extra := map[string]any{}
	if v := os.Getenv("LOOM_READBACK_PARAMS"); v != "" {
		if err := json.Unmarshal([]byte(v), &extra); err != nil {
			t.Fatalf("LOOM_READBACK_PARAMS: %v", err)
		}
	}
	r := rand.New(rand.NewPCG(20261129, 0xd1ff))
	var score attrScore
	exact := 0
	for i := 0; i < n; i++ {
		s := shapes.RandomScene(r, 0.5)
		req := map[string]any{"prompt": s.Caption(), "preview_every": 0}
		for k, v := range extra {
			req[k] = v
		}
		params, _ := json.Marshal(req)
		var img []byte
		err := e.Run(context.Background(), sdk.Job{Task: taskGenerate, Model: shapesModel, Seed: int64(1000 + i), Params: params},
			func(ev sdk.Event) error {
				if ev.Kind == sdk.EventArtifact && img == nil {
					img = ev.Data
				}
				return nil
			})
		if err != nil {
			t.Fatalf("prompt %q: %v", s.Caption(), err)
		}
		got, err := runCaption(t, e, img, `{}`)
		if err != nil {
			t.Fatal(err)
		}
		score.add(s, got)
		if got == s.Caption() {
			exact++
		} else if i < 60 {
			t.Logf("seed %d: prompt %q, read back %q", 1000+i, s.Caption(), got)
		}
	}
	t.Logf("%d prompts: %d read back exactly (%.1f%%); %s", n, exact, 100*float64(exact)/float64(n), &score)
	pc := func(k, of int) float64 { return float64(k) / float64(max(of, 1)) }
	// Issue 6 asks for 90% on every attribute; the committed model (zero
	// terminal SNR, v-prediction) measured count 100.0, shape 98.7, colour
	// 98.7, size 99.7, place 100.0 (200 prompts, models/shapes-diffusion/
	// README.md). The test asserts the 90% target.
	const floor = 0.90
	for name, v := range map[string]float64{"object count": pc(score.count, score.scenes), "shape": pc(score.shape, score.objects),
		"colour": pc(score.colour, score.objects), "size": pc(score.size, score.objects), "place": pc(score.place, score.objects)} {
		if v < floor {
			t.Errorf("%s read back in %.1f%% of cases, below issue 6's %.0f%% target", name, 100*v, 100*floor)
		}
	}
}
