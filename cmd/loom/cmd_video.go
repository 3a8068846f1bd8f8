package main

import (
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
	register(command{Name: "video", Summary: "generate videos from prompts with a video diffusion model (MP4 or GIF files)", Run: runVideo})
}

func runVideo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("video", stderr)
	prompt := fs.String("prompt", "", "the prompt")
	promptsFile := fs.String("prompts-file", "", "a file of prompts, one per line (blank lines skipped); with --out-dir")
	out := fs.String("out", "", "file to write (with --prompt): .mp4 (H.264) or .gif")
	outDir := fs.String("out-dir", "", "directory for 000.gif, 001.gif, … (with --prompts-file)")
	format := fs.String("format", "", "mp4 or gif (default: --out's extension; gif with --out-dir)")
	seed := fs.Int64("seed", 0, "noise seed: the same seed and settings give the same bytes")
	steps := fs.Int("steps", 0, "denoising steps, 1…150 (0: the model's default)")
	guidance := fs.Float64("guidance", -1, "classifier-free guidance scale, 0…30 (default: the model's)")
	scheduler := fs.String("scheduler", "", "ddim, euler, euler_a or dpmpp_2m (default: the model's)")
	negative := fs.String("negative", "", "negative prompt")
	frames := fs.Int("frames", 0, "frames, 1…64 (0: the model's, 16)")
	fps := fs.Int("fps", 0, "frames per second, 1…60 (0: the model's, 8)")
	size := fs.Int("size", 0, "frame side in pixels: the model's native size, or an upscale to 128, 256 or 512 (0: native)")
	first := fs.String("image", "", "image-to-video: this picture is the first frame")
	candidates := fs.Int("candidates", 0, "videos sampled per prompt, the one the model scores best kept, 1…4 (0: the model's; 1 is fastest)")
	model := fs.String("model", "", "video.generate model id, a pipeline folder under a models directory (default: the first installed)")
	threads := fs.Int("threads", 0, "kernel threads in the plugin process (0: all cores)")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom video --prompt P [--image first.png] [--seed S] --out clip.mp4|clip.gif\n"+
			"       loom video --prompts-file F [--format mp4] --out-dir DIR\n\n"+
			"Generates videos through the video plugin; prints PATH<TAB>prompt for each.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (quote the prompt: --prompt \"…\")", fs.Arg(0))
	}
	ext, err := videoFormat(*format, *out, *outDir)
	if err != nil {
		return err
	}
	prompts, paths, err := batchIO(*prompt, *promptsFile, *out, *outDir, "prompt", "prompts-file", ext)
	if err != nil {
		return err
	}
	req := tasks.VideoGenerateParams{PreviewEvery: new(int), Denoising: tasks.Denoising{NegativePrompt: *negative, Steps: *steps, Scheduler: *scheduler}, Frames: *frames, FPS: *fps,
		Width: *size, Height: *size, Format: ext, Candidates: *candidates}
	switch {
	case *steps < 0 || *steps > 150:
		return usagef("--steps must be 1…150")
	case *guidance != -1 && !(*guidance >= 0 && *guidance <= 30):
		return usagef("--guidance must be 0…30")
	case *frames < 0 || *frames > 64:
		return usagef("--frames must be 1…64")
	case *fps < 0 || *fps > 60:
		return usagef("--fps must be 1…60")
	case *size < 0:
		return usagef("--size must be positive")
	case *candidates < 0 || *candidates > tasks.MaxVideoCandidates:
		return usagef("--candidates must be 1…%d", tasks.MaxVideoCandidates)
	case *threads < 0:
		return usagef("--threads must be ≥ 0")
	}
	if *guidance != -1 {
		req.GuidanceScale = guidance
	}
	var inputs []sdk.Blob
	if *first != "" {
		data, err := readImageFile(*first)
		if err != nil {
			return fmt.Errorf("--image %s: %w", *first, err)
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
	s, err := startPlugin(ctx, *pluginDir, "video", absDirs(*models), env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	failed := 0
	for i, p := range prompts {
		req.Prompt = p
		data, _, err := generateVideo(ctx, s.engine, *model, *seed, req, inputs)
		if err == nil {
			err = os.WriteFile(paths[i], data, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "loom video: %s: %v\n", paths[i], err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%s\t%s\n", paths[i], p)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d videos failed", failed, len(prompts))
	}
	return nil
}

// videoFormat is the file format to write: --format, else --out's
// extension, else (with --out-dir) gif.
func videoFormat(format, out, outDir string) (string, error) {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(out)), ".")
	switch {
	case format != "" && format != "mp4" && format != "gif":
		return "", usagef("--format must be mp4 or gif")
	case out != "" && ext != "mp4" && ext != "gif":
		return "", usagef("--out %s: name an .mp4 or a .gif file", out)
	case out != "" && format != "" && format != ext:
		return "", usagef("--format %s and --out %s disagree", format, out)
	case out != "":
		return ext, nil
	case format != "":
		return format, nil
	}
	return "gif", nil
}

// generateVideo runs one video.generate job and returns the video file's
// bytes (the format asked for; video.mp4 for both) and the result.
func generateVideo(ctx context.Context, e sdk.Engine, model string, seed int64, req tasks.VideoGenerateParams, inputs []sdk.Blob) ([]byte, tasks.VideoGenerateResult, error) {
	params, _ := json.Marshal(req)
	var data []byte
	var res tasks.VideoGenerateResult
	want := "video." + req.Format
	if req.Format == "both" {
		want = "video.mp4"
	}
	err := e.Run(ctx, sdk.Job{Task: "video.generate", Model: model, Seed: seed, Params: params, Inputs: inputs},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventArtifact:
				if ev.Name == want {
					data = ev.Data
				}
			case sdk.EventResult:
				return json.Unmarshal(ev.Result, &res)
			}
			return nil
		})
	if err == nil && data == nil {
		err = fmt.Errorf("the plugin returned no %s", want)
	}
	return data, res, err
}
