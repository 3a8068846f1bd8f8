package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func init() {
	register(command{Name: "bench image", Summary: "text-to-image latency through the vision plugin process (per image, UNet step, VAE decode)", Run: runBenchImage})
}

func runBenchImage(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench image", stderr)
	model := fs.String("model", "", "image.generate model id (default: the first installed)")
	steps := fs.Int("steps", 20, "denoising steps per image")
	images := fs.Int("images", 3, "images to time (after one warm-up image)")
	scheduler := fs.String("scheduler", "", "sampler (default: the model's)")
	size := fs.Int("size", 0, "output side (0: native; 128/256/512 adds the upscale)")
	threads := fs.Int("threads", 2, "kernel threads in the plugin process")
	concurrent := fs.Int("concurrent", 1, "requests in flight at once, sharing --images: the server's throughput under load")
	asJSON := fs.Bool("json", false, "print one JSON object")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *steps < 1 || *steps > 150 || *images < 1 || *threads < 1 || *size < 0 || *concurrent < 1 {
		return usagef("--steps must be 1…150, --images, --threads and --concurrent ≥ 1")
	}
	ctx := context.Background()
	s, err := startPlugin(ctx, *pluginDir, "vision", absDirs(*models), []string{kernels.ThreadsEnv + "=" + strconv.Itoa(*threads)}, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	// Guided text-to-image on a grammar prompt, previews off, fixed seeds:
	// every run does the same work.
	req := tasks.ImageGenerateParams{PreviewEvery: new(int), Prompt: "a small red circle on the left and a large blue square at the bottom",
		Denoising: tasks.Denoising{Steps: *steps, Scheduler: *scheduler}, Width: *size, Height: *size, Timings: true}
	_, res, err := generateImage(ctx, s.engine, *model, 0, req, nil) // warm-up: loads the model
	if err != nil {
		return err
	}
	var unet, vae, vaeCPU, text, post float64
	var mu sync.Mutex
	start, cpu0 := time.Now(), s.markCPU()
	err = eachConcurrent(ctx, *images, *concurrent, func(i int) error {
		_, r, err := generateImage(ctx, s.engine, *model, int64(i+1), req, nil) // image i has seed i+1
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		res = r
		unet += r.Timings["unet_per_step"]
		vae += r.Timings["vae_decode"]
		vaeCPU += r.Timings["vae_decode_cpu"]
		text += r.Timings["text"]
		post += r.Timings["upscale"] + r.Timings["png"]
		return nil
	})
	if err != nil {
		return err
	}
	n := float64(*images)
	perImage := float64(time.Since(start).Microseconds()) / 1000 / n
	out := map[string]any{"op": "image", "model": res.Model, "steps": *steps, "images": *images, "threads": *threads,
		"concurrent": *concurrent, "images_per_s": round3(1000 / perImage),
		"ms_per_image": round3(perImage), "ms_per_unet_step": round3(unet / n), "ms_vae_decode": round3(vae / n),
		"ms_text_encoder": round3(text / n), "ms_upscale_png": round3(post / n), "cpu_ms_vae_decode": round3(vaeCPU / n)}
	s.addCPU(out, cpu0, "ms_per_image", 1000/n)
	if len(res.Images) > 0 {
		out["width"], out["height"] = res.Images[0].Width, res.Images[0].Height
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "image %s: %.0f ms/image (%d steps: %.1f ms per guided UNet step, VAE decode %.1f ms, text encoder %.1f ms; %d threads, through the plugin process)\n",
		res.Model, perImage, *steps, unet/n, vae/n, text/n, *threads)
	return nil
}
