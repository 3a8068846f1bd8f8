package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func init() {
	register(command{Name: "embed", Summary: "embed texts with a text or diffusion model (one JSON array of floats per line)", Run: runEmbed})
}

// embedPlugins says which plugin serves text.embed for a model: decoders
// are the text plugin's, diffusion pipelines (CLIP) the vision plugin's.
var embedPlugins = []string{"text", "vision"}

func runEmbed(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("embed", stderr)
	model := fs.String("model", "stories260K", "model id: a text model, or a diffusion pipeline (its CLIP text encoder)")
	plugin := fs.String("plugin", "", "text or vision (default: whichever lists the model)")
	textsFile := fs.String("texts-file", "", "embed each non-blank line of this file instead of the arguments")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom embed [--model M] TEXT... | --texts-file F\n\nPrints one L2-normalised embedding per text, as a JSON array on its own line, in order.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	texts := fs.Args()
	if *textsFile != "" {
		if len(texts) > 0 {
			return usagef("give texts as arguments or with --texts-file, not both")
		}
		var err error
		if texts, err = readPrompts(*textsFile); err != nil {
			return err
		}
	}
	if len(texts) == 0 {
		return usagef("name at least one text")
	}
	if len(texts) > tasks.MaxEmbedInputs {
		return usagef("%d texts; at most %d per run", len(texts), tasks.MaxEmbedInputs)
	}
	names := embedPlugins
	if *plugin != "" {
		if *plugin != "text" && *plugin != "vision" {
			return usagef("--plugin must be text or vision")
		}
		names = []string{*plugin}
	}
	ctx := context.Background()
	var lastErr error
	for _, name := range names {
		s, err := startPlugin(ctx, *pluginDir, name, absDirs(*models), nil, stderr)
		if err != nil {
			return err
		}
		res, err := embedTexts(ctx, s.engine, *model, texts)
		s.Close()
		if err != nil {
			var se *sdk.Error
			if errors.As(err, &se) && se.Code == sdk.CodeModelNotFound && len(names) > 1 {
				lastErr = err
				continue // the other plugin may have it
			}
			return err
		}
		w := bufio.NewWriter(stdout)
		for _, v := range res.Embeddings {
			b, _ := json.Marshal(v)
			w.Write(b)
			w.WriteByte('\n')
		}
		return w.Flush()
	}
	return lastErr
}

func embedTexts(ctx context.Context, e sdk.Engine, model string, texts []string) (tasks.TextEmbedResult, error) {
	params, _ := json.Marshal(tasks.TextEmbedParams{Input: texts})
	var res tasks.TextEmbedResult
	err := e.Run(ctx, sdk.Job{Task: tasks.TextEmbed, Model: model, Params: params}, func(ev sdk.Event) error {
		if ev.Kind == sdk.EventResult {
			return json.Unmarshal(ev.Result, &res)
		}
		return nil
	})
	return res, err
}
