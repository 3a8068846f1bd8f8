package main

import (
	"context"
	"errors"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// visionEngine routes each task to its runtime: image.caption to the
// captioners found in LOOM_MODELS, image.generate to the diffusion pipeline
// folders there — or, when there is none, to an Unready engine that answers
// model_unavailable naming what is missing.
type visionEngine struct {
	caption  *captionEngine
	gen      *generateEngine
	generate sdk.Engine // no pipeline installed
}

func newVisionEngine(dirs []string) *visionEngine {
	return &visionEngine{
		caption:  newCaptionEngine(dirs),
		gen:      newGenerateEngine(dirs),
		generate: sdk.Unready("vision", version, sdk.TaskNeed{Task: taskGenerate, Files: pipelineFiles}),
	}
}

func (e *visionEngine) Describe(ctx context.Context) (sdk.Manifest, error) {
	m, err := e.generate.Describe(ctx)
	if err != nil {
		return m, err
	}
	if gens := e.gen.modelInfos(); len(gens) > 0 {
		m.Models = gens
		m.Tasks = append(m.Tasks, tasks.TextEmbed)
	}
	m.Tasks = append(m.Tasks, "image.caption")
	if caps := e.caption.modelInfos(); len(caps) > 0 {
		m.Models = append(m.Models, caps...)
	} else {
		m.Models = append(m.Models, sdk.ModelInfo{ID: "image.caption", Tasks: []string{"image.caption"},
			Missing: "no image.caption model installed: expected a folder with config.json (vision-encoder-decoder, vit + gpt2) + model.safetensors + tokenizer.json under one of LOOM_MODELS"})
	}
	return m, nil
}

// Unload implements sdk.Unloader for both of its model kinds.
func (e *visionEngine) Unload(_ context.Context, model string) error {
	return errors.Join(e.caption.folders.Unload(model), e.gen.folders.Unload(model))
}

func (e *visionEngine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	if job.Task == "image.caption" {
		return e.caption.Run(ctx, job, emit)
	}
	if job.Task == taskGenerate && len(e.gen.models()) > 0 {
		return e.gen.Run(ctx, job, emit)
	}
	if job.Task == tasks.TextEmbed {
		return e.gen.embed(ctx, job, emit)
	}
	return e.generate.Run(ctx, job, emit)
}
