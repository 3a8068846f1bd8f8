package main

import (
	"encoding/json"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

const taskGenerate = tasks.VideoGenerate

// Bounds on video.generate's params beyond tasks.VideoGenerateParams' schema.
const (
	maxSteps    = tasks.MaxImageSteps
	maxGuidance = tasks.MaxGuidanceScale
	maxFrames   = tasks.MaxVideoFrames // the motion modules' position table may allow fewer (see motionModel.MaxFrames)
	maxFPS      = tasks.MaxVideoFPS
	// maxVideoPixels bounds frames × width × height so a job's files stay
	// well inside the queue's 64 MiB of results: the MP4 (I_PCM) is at most
	// 1.5 bytes a pixel, the GIF about 1, the spritesheet PNG at most 3.
	maxVideoPixels = 16 * 512 * 512
)

// parseParams decodes and bounds the params (tasks.VideoGenerateParams and
// its schema); model-dependent checks (frames, sizes) come later.
func parseParams(raw json.RawMessage) (tasks.VideoGenerateParams, error) {
	var p tasks.VideoGenerateParams
	if err := sdk.DecodeParams(raw, &p); err != nil {
		return p, err
	}
	if err := tasks.CheckPrompts(p.Prompt, p.NegativePrompt); err != nil {
		return p, err
	}
	if p.Format == "" {
		p.Format = "both"
	}
	return p, nil
}
