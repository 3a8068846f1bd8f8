// Command loom-plugin-video serves Loom's video tasks: video.generate
// (video diffusion, GIF/MP4 out).
//
// No video runtime is built in yet, so the task answers
// "model_unavailable" with what is missing; the manifest lists no ready
// model. A real engine replaces sdk.Unready.
package main

import "github.com/loomhq/loom/plugins/sdk"

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	sdk.Serve(sdk.Unready("video", version,
		sdk.TaskNeed{Task: "video.generate", Files: []string{"model.safetensors", "config.json"}},
	))
}
