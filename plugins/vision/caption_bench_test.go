package main

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/shapes"
)

// BenchmarkCaption captions `loom bench caption`'s scenes in process through
// the engine's Run (PNG decode, ViT, greedy GPT-2), on models/, so the
// captioner can be profiled without the plugin's transport:
//
//	LOOM_THREADS=2 LOOM_BENCH_JOBS=2 go test ./plugins/vision -run '^$' -bench Caption -benchtime 200x
//
// One op is one caption. LOOM_BENCH_JOBS=N keeps N captions in flight (the
// bench's --concurrent); cpu_ms/image is process CPU time per caption.
func BenchmarkCaption(b *testing.B) {
	e := newVisionEngine([]string{modelsDir})
	if _, ok := e.caption.models()["shapes-captioner"]; !ok {
		b.Skip("models/shapes-captioner absent: train it with tools/captioner/train.py")
	}
	r := rand.New(rand.NewPCG(7, 7))
	pngs := make([][]byte, 64)
	for i := range pngs {
		pngs[i] = encodePNG(shapes.Render(shapes.RandomScene(r, 0.5)))
	}
	for _, p := range pngs[:5] {
		if _, err := runCaption(b, e, p, `{}`); err != nil {
			b.Fatal(err)
		}
	}
	requesters, _ := strconv.Atoi(os.Getenv("LOOM_BENCH_JOBS"))
	requesters = max(requesters, 1)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	b.ResetTimer()
	cpu0 := kernels.ProcessCPU()
	for k := range requesters {
		wg.Go(func() {
			for i := k; i < b.N; i += requesters {
				if _, err := runCaption(b, e, pngs[i%len(pngs)], `{}`); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if failed != nil {
		b.Fatal(failed)
	}
	b.ReportMetric(float64((kernels.ProcessCPU()-cpu0).Microseconds())/1000/float64(b.N), "cpu_ms/image")
}
