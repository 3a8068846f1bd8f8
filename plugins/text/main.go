// Command loom-plugin-text is Loom's text plugin: decoder language models
// (Llama, Mixtral-style MoE) from llama2.c, GGUF and Hugging Face files,
// serving text.complete and text.chat. The engine lives in engine.go.
package main

import (
	"os"

	"loom/plugins"
)

func main() {
	plugins.Serve(newEngine(plugins.ModelDirs(), os.Getenv(tokenizerEnv)))
}
