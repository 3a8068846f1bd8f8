// Command loom-plugin-text is Loom's text plugin: decoder language models
// (Llama, Mixtral-style MoE) from llama2.c, GGUF and Hugging Face files,
// serving text.complete and text.chat. The engine lives in engine.go.
package main

import (
	"os"

	"github.com/loomhq/loom/plugins/sdk"
)

func main() {
	sdk.Serve(newEngine(sdk.ModelDirs(), os.Getenv(tokenizerEnv)))
}
