// Command loom-plugin-vision serves Loom's image tasks: image.caption (ViT
// encoder + GPT-2 decoder, see caption.go) and image.generate (latent
// diffusion from a pipeline folder: CLIP text encoder, UNet, VAE and a
// sampler, see generate.go; with no folder installed it answers
// model_unavailable with what is missing).
package main

import "github.com/loomhq/loom/plugins/sdk"

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() { sdk.Serve(newVisionEngine(sdk.ModelDirs())) }
