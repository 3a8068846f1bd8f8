package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// BenchmarkGenerate runs `loom bench image`'s job (guided text-to-image, 20
// steps, previews off) in process through the engine's Run, on the pipeline
// folder named by LOOM_BENCH_DIFFUSION (e.g. $PWD/models/shapes-diffusion):
// the plugin's path without gRPC, so it can be profiled and compared with
// core/towers' BenchmarkUNetStep/BenchmarkVAEDecode. It reports the job's
// own per-stage timings, the process CPU time and its minor page faults per
// image.
func BenchmarkGenerate(b *testing.B) {
	dir := os.Getenv("LOOM_BENCH_DIFFUSION")
	if dir == "" {
		b.Skip("LOOM_BENCH_DIFFUSION names an image pipeline folder")
	}
	dir = filepath.Clean(dir)
	e := newVisionEngine([]string{filepath.Dir(dir)})
	params, _ := json.Marshal(tasks.ImageGenerateParams{PreviewEvery: new(int), Timings: true,
		Prompt:    "a small red circle on the left and a large blue square at the bottom",
		Denoising: tasks.Denoising{Steps: 20}})
	run := func(seed int64) tasks.ImageGenerateResult {
		var res tasks.ImageGenerateResult
		err := e.Run(context.Background(), sdk.Job{Task: taskGenerate, Model: filepath.Base(dir), Seed: seed, Params: params},
			func(ev sdk.Event) error {
				if ev.Kind == sdk.EventResult {
					return json.Unmarshal(ev.Result, &res)
				}
				return nil
			})
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	run(0) // loads the model, warms the arenas
	var unet, vae float64
	b.ResetTimer()
	faults0 := minorFaults()
	cpu0 := kernels.ProcessCPU()
	for i := 0; i < b.N; i++ {
		r := run(int64(i + 1))
		unet += r.Timings["unet_per_step"]
		vae += r.Timings["vae_decode"]
	}
	b.ReportMetric(float64((kernels.ProcessCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu_ms/image")
	b.ReportMetric(float64(minorFaults()-faults0)/float64(b.N), "faults/image")
	b.ReportMetric(unet/float64(b.N), "ms_unet_step")
	b.ReportMetric(vae/float64(b.N), "ms_vae_decode")
}

// minorFaults is the process's minor page faults so far: fresh pages the
// steady state should not need.
func minorFaults() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Minflt
}
