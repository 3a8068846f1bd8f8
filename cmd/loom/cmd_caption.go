package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// maxImageFile bounds what loom caption reads from one file.
const maxImageFile = 16 << 20

func init() {
	register(command{Name: "caption", Summary: "describe images with a captioning model (PATH<TAB>caption per image)", Run: runCaption})
}

func runCaption(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("caption", stderr)
	model := fs.String("model", "shapes-captioner", "captioning model id (a folder under a models directory)")
	beam := fs.Int("beam", 1, "beam width (1 = greedy)")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom caption [--model M] [--beam N] IMAGE...\n\nPrints PATH<TAB>caption for each image, through the vision plugin.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("name at least one image file")
	}
	if *beam < 1 || *beam > 8 {
		return usagef("--beam must be 1…8")
	}
	ctx := context.Background()
	s, err := startPlugin(ctx, *pluginDir, "vision", absDirs(*models), nil, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	params, _ := json.Marshal(tasks.ImageCaptionParams{Beam: *beam})
	failed := 0
	for _, path := range fs.Args() {
		caption, err := captionFile(ctx, s.engine, path, *model, params)
		if err != nil {
			fmt.Fprintf(stderr, "loom caption: %s: %v\n", path, err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%s\t%s\n", path, caption)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images failed", failed, fs.NArg())
	}
	return nil
}

func captionFile(ctx context.Context, e sdk.Engine, path, model string, params []byte) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImageFile+1))
	if err != nil {
		return "", err
	}
	if len(data) > maxImageFile {
		return "", fmt.Errorf("larger than %d bytes", maxImageFile)
	}
	return captionBytes(ctx, e, data, model, params)
}

func captionBytes(ctx context.Context, e sdk.Engine, data []byte, model string, params []byte) (string, error) {
	var out struct {
		Caption string `json:"caption"`
	}
	err := e.Run(ctx, sdk.Job{Task: tasks.ImageCaption, Model: model, Params: params,
		Inputs: []sdk.Blob{{Name: "image", Data: data}}},
		func(ev sdk.Event) error {
			if ev.Kind == sdk.EventResult {
				return json.Unmarshal(ev.Result, &out)
			}
			return nil
		})
	return out.Caption, err
}
