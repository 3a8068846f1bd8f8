package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func init() {
	register(command{Name: "bench video", Summary: "text-to-video latency through the video plugin process (per video, motion UNet step, VAE decode, file encoding)", Run: runBenchVideo})
}

// runBenchVideo times guided text-to-video jobs as the worker runs them
// (plugin host, one process). Its PyTorch peer on the same weights is
// tools/video/bench_torch.py, run separately and interleaved with it.
func runBenchVideo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench video", stderr)
	model := fs.String("model", "", "video.generate model id (default: the first installed)")
	steps := fs.Int("steps", 20, "denoising steps per video")
	videos := fs.Int("videos", 3, "videos to time (after one warm-up video)")
	frames := fs.Int("frames", 0, "frames per video (0: the model's, 16)")
	scheduler := fs.String("scheduler", "", "sampler (default: the model's)")
	format := fs.String("format", "mp4", "file written: mp4, gif or both")
	threads := fs.Int("threads", 2, "kernel threads in the plugin process")
	asJSON := fs.Bool("json", false, "print one JSON object")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *steps < 1 || *steps > 150 || *videos < 1 || *threads < 1 || *frames < 0 || *frames > 64 {
		return usagef("--steps must be 1…150, --frames 0…64, --videos and --threads ≥ 1")
	}
	if *format != "mp4" && *format != "gif" && *format != "both" {
		return usagef("--format must be mp4, gif or both")
	}
	ctx := context.Background()
	s, err := startPlugin(ctx, *pluginDir, "video", absDirs(*models), []string{kernels.ThreadsEnv + "=" + strconv.Itoa(*threads)}, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	// Guided text-to-video on a grammar prompt, previews off, fixed seeds:
	// every run does the same work.
	req := tasks.VideoGenerateParams{PreviewEvery: new(int), Prompt: "a large green triangle moving right", Denoising: tasks.Denoising{Steps: *steps, Scheduler: *scheduler}, Frames: *frames,
		Format: *format, Timings: true}
	_, res, err := generateVideo(ctx, s.engine, *model, 0, req, nil) // warm-up: loads the model
	if err != nil {
		return err
	}
	var unet, vae, text, enc, rerank float64
	start := time.Now()
	for i := 0; i < *videos; i++ {
		if _, res, err = generateVideo(ctx, s.engine, *model, int64(i+1), req, nil); err != nil {
			return err
		}
		unet += res.Timings["unet_per_step"]
		vae += res.Timings["vae_decode"]
		text += res.Timings["text"]
		enc += res.Timings["encode"]
		rerank += res.Timings["rerank"]
	}
	n := float64(*videos)
	perVideo := float64(time.Since(start).Microseconds()) / 1000 / n
	out := map[string]any{"op": "video", "model": res.Model, "steps": *steps, "videos": *videos, "frames": res.Frames,
		"width": res.Width, "height": res.Height, "threads": *threads, "format": *format,
		"ms_per_video": round3(perVideo), "ms_per_unet_step": round3(unet / n), "ms_vae_decode": round3(vae / n),
		"ms_text_encoder": round3(text / n), "ms_encode_files": round3(enc / n), "candidates": res.Candidates, "ms_rerank": round3(rerank / n)}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "video %s: %.0f ms/video (%d frames, %d steps, %d candidates: %.1f ms per guided motion-UNet step, scoring %.1f ms, VAE decode %.1f ms, files %.1f ms, text encoder %.1f ms; %d threads, through the plugin process)\n",
		res.Model, perVideo, res.Frames, *steps, res.Candidates, unet/n, rerank/n, vae/n, enc/n, text/n, *threads)
	return nil
}
