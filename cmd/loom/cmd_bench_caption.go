package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/shapes"
)

func init() {
	register(command{Name: "bench caption", Summary: "caption throughput through the vision plugin process", Run: runBenchCaption})
}

func runBenchCaption(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench caption", stderr)
	model := fs.String("model", "shapes-captioner", "captioning model id")
	images := fs.Int("images", 100, "number of Shapes scenes to caption (after 5 warm-up images)")
	threads := fs.Int("threads", 2, "kernel threads in the plugin process")
	beam := fs.Int("beam", 1, "beam width")
	concurrent := fs.Int("concurrent", 0, "captions in flight at once (0: one per thread): two threads caption two images side by side (one caption alone runs its encoder and greedy decoding as a team of the threads)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *images < 1 || *threads < 1 || *beam < 1 || *beam > 8 || *concurrent < 0 {
		return usagef("--images and --threads must be ≥ 1, --beam 1…8, --concurrent ≥ 0")
	}
	if *concurrent == 0 {
		*concurrent = *threads
	}
	ctx := context.Background()
	s, err := startPlugin(ctx, *pluginDir, "vision", absDirs(*models), []string{kernels.ThreadsEnv + "=" + strconv.Itoa(*threads)}, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	// The same scenes every run: the seed is fixed.
	r := rand.New(rand.NewPCG(7, 7))
	var pngs [][]byte
	for i := 0; i < *images+5; i++ {
		var b bytes.Buffer
		if err := png.Encode(&b, shapes.Render(shapes.RandomScene(r, 0.5))); err != nil {
			return err
		}
		pngs = append(pngs, b.Bytes())
	}
	params, _ := json.Marshal(tasks.ImageCaptionParams{Beam: *beam})
	for _, p := range pngs[:5] {
		if _, err := captionBytes(ctx, s.engine, p, *model, params); err != nil {
			return err
		}
	}
	start, cpu0 := time.Now(), s.markCPU()
	err = eachConcurrent(ctx, *images, *concurrent, func(i int) error {
		_, err := captionBytes(ctx, s.engine, pngs[5+i], *model, params)
		return err
	})
	if err != nil {
		return err
	}
	el := time.Since(start)
	res := map[string]any{"op": "caption", "model": *model, "images": *images, "threads": *threads, "beam": *beam,
		"concurrent": *concurrent, "images_per_s": float64(*images) / el.Seconds(),
		"ms_per_image": float64(el.Microseconds()) / 1000 / float64(*images)}
	s.addCPU(res, cpu0, "ms_per_image", 1000/float64(*images))
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "caption %s: %.1f images/s, %.2f ms/image (%d threads, %d in flight, beam %d; PNG decode + ViT + decoder, through the plugin process)\n",
		*model, res["images_per_s"], res["ms_per_image"], *threads, *concurrent, *beam)
	return nil
}
