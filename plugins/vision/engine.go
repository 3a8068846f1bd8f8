package main

import (
	"context"

	"loom/plugins"
)

// visionEngine routes each task to its runtime: image.caption to the
// captioners found in LOOM_MODELS; image.generate has no runtime yet and
// answers model_unavailable naming what is missing.
type visionEngine struct {
	caption  *captionEngine
	generate plugins.Engine
}

func newVisionEngine(dirs []string) *visionEngine {
	return &visionEngine{
		caption:  newCaptionEngine(dirs),
		generate: plugins.Unready("vision", version, plugins.TaskNeed{Task: "image.generate", Files: safetensorsFolder}),
	}
}

func (e *visionEngine) Describe(ctx context.Context) (plugins.Manifest, error) {
	m, err := e.generate.Describe(ctx)
	if err != nil {
		return m, err
	}
	m.Tasks = append(m.Tasks, "image.caption")
	if caps := e.caption.modelInfos(); len(caps) > 0 {
		m.Models = append(m.Models, caps...)
	} else {
		m.Models = append(m.Models, plugins.ModelInfo{ID: "image.caption", Tasks: []string{"image.caption"},
			Missing: "no image.caption model installed: expected a folder with config.json (vision-encoder-decoder, vit + gpt2) + model.safetensors + tokenizer.json under one of LOOM_MODELS"})
	}
	return m, nil
}

func (e *visionEngine) Run(ctx context.Context, job plugins.Job, emit func(plugins.Event) error) error {
	if job.Task == "image.caption" {
		return e.caption.Run(ctx, job, emit)
	}
	return e.generate.Run(ctx, job, emit)
}
