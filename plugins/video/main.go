// Command loom-plugin-video serves Loom's video task video.generate:
// text-to-video and image-to-video latent diffusion from the AnimateDiff-style
// pipeline folders found in LOOM_MODELS (pipeline.go describes the layout),
// written as MP4 (H.264) and animated GIF with a PNG thumbnail and
// spritesheet (core/media). With no folder installed it answers
// model_unavailable naming what is missing.
package main

import "github.com/loomhq/loom/plugins/sdk"

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() { sdk.Serve(newVideoEngine(sdk.ModelDirs())) }
