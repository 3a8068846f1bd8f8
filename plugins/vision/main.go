// Command loom-plugin-vision serves Loom's image tasks: image.caption (ViT
// encoder + GPT-2 decoder, see caption.go) and image.generate (no runtime
// yet: it answers model_unavailable with what is missing).
package main

import "loom/plugins"

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

// safetensorsFolder is the layout vision models load: weights plus the
// architecture's hyper-parameters.
var safetensorsFolder = []string{"model.safetensors", "config.json"}

func main() { plugins.Serve(newVisionEngine(plugins.ModelDirs())) }
