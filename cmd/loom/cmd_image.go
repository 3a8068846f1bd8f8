package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func init() {
	register(command{Name: "image", Summary: "generate images from prompts with a diffusion model (PNG files)", Run: runImage})
}

func runImage(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("image", stderr)
	prompt := fs.String("prompt", "", "the prompt")
	promptsFile := fs.String("prompts-file", "", "a file of prompts, one per line (blank lines skipped); with --out-dir")
	out := fs.String("out", "", "PNG file to write (with --prompt)")
	outDir := fs.String("out-dir", "", "directory for 000.png, 001.png, … (with --prompts-file)")
	seed := fs.Int64("seed", 0, "noise seed: the same seed and settings give the same PNG bytes")
	steps := fs.Int("steps", 0, "denoising steps, 1…150 (0: the model's default, 20)")
	guidance := fs.Float64("guidance", -1, "classifier-free guidance scale, 0…30 (default: the model's, 5)")
	scheduler := fs.String("scheduler", "", "ddim, euler, euler_a or dpmpp_2m (default: the model's)")
	negative := fs.String("negative", "", "negative prompt")
	size := fs.Int("size", 0, "output side in pixels: the model's native size, or an upscale to 128, 256 or 512 (0: native)")
	initImage := fs.String("image", "", "start from this image (image-to-image)")
	strength := fs.Float64("strength", -1, "image-to-image strength, 0…1 (default 0.8; with --image)")
	model := fs.String("model", "", "image.generate model id, a pipeline folder under a models directory (default: the first installed)")
	threads := fs.Int("threads", 0, "kernel threads in the plugin process (0: all cores)")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom image --prompt P [--seed S] --out FILE.png\n       loom image --prompts-file F [--seed S] --out-dir DIR\n\n"+
			"Generates PNG images through the vision plugin; prints PATH<TAB>prompt for each.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (quote the prompt: --prompt \"…\")", fs.Arg(0))
	}
	prompts, paths, err := batchIO(*prompt, *promptsFile, *out, *outDir, "prompt", "prompts-file", "png")
	if err != nil {
		return err
	}
	req := tasks.ImageGenerateParams{Denoising: tasks.Denoising{NegativePrompt: *negative, Steps: *steps, Scheduler: *scheduler}, Width: *size, Height: *size, PreviewEvery: new(int)}
	switch {
	case *steps < 0 || *steps > 150:
		return usagef("--steps must be 1…150")
	case *guidance != -1 && !(*guidance >= 0 && *guidance <= 30):
		return usagef("--guidance must be 0…30")
	case *size < 0:
		return usagef("--size must be positive")
	case *threads < 0:
		return usagef("--threads must be ≥ 0")
	case *strength != -1 && *initImage == "":
		return usagef("--strength needs --image")
	case *strength != -1 && !(*strength >= 0 && *strength <= 1):
		return usagef("--strength must be 0…1")
	}
	if *guidance != -1 {
		req.GuidanceScale = guidance
	}
	if *strength != -1 {
		req.Strength = strength
	}
	var inputs []sdk.Blob
	if *initImage != "" {
		data, err := readImageFile(*initImage)
		if err != nil {
			return fmt.Errorf("--image %s: %w", *initImage, err)
		}
		inputs = []sdk.Blob{{Name: "image", Data: data}}
	}
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return err
		}
	}
	var env []string
	if *threads > 0 {
		env = append(env, kernels.ThreadsEnv+"="+strconv.Itoa(*threads))
	}
	ctx := context.Background()
	s, err := startPlugin(ctx, *pluginDir, "vision", absDirs(*models), env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	failed := 0
	for i, p := range prompts {
		req.Prompt = p
		png, _, err := generateImage(ctx, s.engine, *model, *seed, req, inputs)
		if err == nil {
			err = os.WriteFile(paths[i], png, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "loom image: %s: %v\n", paths[i], err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%s\t%s\n", paths[i], p)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images failed", failed, len(prompts))
	}
	return nil
}

// readPrompts reads one prompt per non-blank line.
func readPrompts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no prompts", path)
	}
	return out, nil
}

// batchIO resolves the one-or-many flags of loom image and loom speak:
// --NAME with --out FILE.EXT, or --FILE with --out-dir DIR, which names one
// output per non-blank line of FILE: DIR/000.EXT, DIR/001.EXT, ….
func batchIO(one, file, out, outDir, name, fileFlag, ext string) (inputs, paths []string, err error) {
	switch {
	case one != "" && file != "":
		return nil, nil, usagef("give --%s or --%s, not both", name, fileFlag)
	case one != "":
		if out == "" || outDir != "" {
			return nil, nil, usagef("--%s writes one file: give --out FILE.%s (not --out-dir)", name, ext)
		}
		return []string{one}, []string{out}, nil
	case file != "":
		if outDir == "" || out != "" {
			return nil, nil, usagef("--%s writes one file per line: give --out-dir DIR (not --out)", fileFlag)
		}
		if inputs, err = readPrompts(file); err != nil {
			return nil, nil, err
		}
		for i := range inputs {
			paths = append(paths, filepath.Join(outDir, fmt.Sprintf("%03d.%s", i, ext)))
		}
		return inputs, paths, nil
	}
	return nil, nil, usagef("give --%s %s --out FILE.%s, or --%s F --out-dir DIR", name, strings.ToUpper(name[:1]), ext, fileFlag)
}

func readImageFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImageFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxImageFile {
		return nil, fmt.Errorf("larger than %d bytes", maxImageFile)
	}
	return data, nil
}

// generateImage runs one image.generate job and returns the first image's
// PNG bytes and the result.
func generateImage(ctx context.Context, e sdk.Engine, model string, seed int64, req tasks.ImageGenerateParams, inputs []sdk.Blob) ([]byte, tasks.ImageGenerateResult, error) {
	params, _ := json.Marshal(req)
	var png []byte
	var res tasks.ImageGenerateResult
	err := e.Run(ctx, sdk.Job{Task: "image.generate", Model: model, Seed: seed, Params: params, Inputs: inputs},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventArtifact:
				if png == nil && ev.MIME == "image/png" {
					png = ev.Data
				}
			case sdk.EventResult:
				return json.Unmarshal(ev.Result, &res)
			}
			return nil
		})
	if err == nil && png == nil {
		err = fmt.Errorf("the plugin returned no image")
	}
	return png, res, err
}
