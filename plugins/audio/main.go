// Command loom-plugin-audio serves Loom's audio tasks: audio.speech
// (text-to-speech, WAV out).
//
// No speech runtime is built in yet, so the task answers
// "model_unavailable" with what is missing; the manifest lists no ready
// model. A real engine replaces plugins.Unready.
package main

import "loom/plugins"

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	plugins.Serve(plugins.Unready("audio", version,
		plugins.TaskNeed{Task: "audio.speech", Files: []string{"model.safetensors", "config.json"}},
	))
}
