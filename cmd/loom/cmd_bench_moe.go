package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"time"

	"github.com/loomhq/loom/core/kernels"
)

func init() {
	register(command{Name: "bench moe", Summary: "time grouped MoE against the per-token loop", Run: runBenchMoE})
}

// moeBenchResult is one line of `loom bench moe --json`. MaxAbsDiff compares
// the timed implementation's output with MoENaive's on the same input.
type moeBenchResult struct {
	Op         string  `json:"op"`
	Tokens     int     `json:"tokens"`
	Experts    int     `json:"experts"`
	TopK       int     `json:"top_k"`
	Dim        int     `json:"dim"`
	FF         int     `json:"ff"`
	Impl       string  `json:"impl"`
	Kernels    string  `json:"kernels"`
	Threads    int     `json:"threads"`
	Iters      int     `json:"iters"`
	MsPerOp    float64 `json:"ms_per_op"`
	GFlops     float64 `json:"gflops"`
	MaxAbsDiff float64 `json:"max_abs_diff_vs_naive"`
}

func runBenchMoE(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench moe", stderr)
	tokens := fs.Int("tokens", 256, "tokens in the batch")
	experts := fs.Int("experts", 8, "routed experts")
	topK := fs.Int("top-k", 2, "experts per token")
	dim := fs.Int("dim", 512, "model width")
	ff := fs.Int("ff", 1024, "expert hidden width")
	impl := fs.String("impl", "grouped", "grouped | naive")
	threads := fs.Int("threads", 0, "worker threads (0 = all CPUs)")
	kimpl := fs.String("kernels", "", "SIMD implementation: avx512 | avx2 | generic (default: best)")
	minTime := fs.Duration("time", time.Second, "keep timing until this much has elapsed (at least one call)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *impl != "grouped" && *impl != "naive" {
		return usagef("--impl must be grouped or naive, not %q", *impl)
	}
	if *kimpl != "" {
		if err := kernels.SetImpl(*kimpl); err != nil {
			return usagef("%v", err)
		}
	}
	kernels.SetThreads(*threads)
	cfg := kernels.MoEConfig{Dim: *dim, FF: *ff, Experts: *experts, TopK: *topK, NormTopK: true}
	if *tokens <= 0 || *dim <= 0 || *ff <= 0 || *experts <= 0 || *topK < 1 || *topK > *experts {
		return usagef("need positive --tokens, --dim, --ff, --experts and 1 ≤ --top-k ≤ --experts")
	}
	r := rand.New(rand.NewSource(1))
	fill := func(n int, scale float32) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = (2*r.Float32() - 1) * scale
		}
		return s
	}
	// Weights scaled like a trained layer (≈ 1/√fan-in) so activations stay O(1).
	w := &kernels.MoEWeights{Router: fill(*experts**dim, 1)}
	sd, sf := float32(1/math.Sqrt(float64(*dim))), float32(1/math.Sqrt(float64(*ff)))
	w.Gate.Type, w.Up.Type, w.Down.Type = kernels.F32, kernels.F32, kernels.F32
	for e := 0; e < *experts; e++ {
		w.Gate.F32 = append(w.Gate.F32, fill(*ff**dim, sd))
		w.Up.F32 = append(w.Up.F32, fill(*ff**dim, sd))
		w.Down.F32 = append(w.Down.F32, fill(*dim**ff, sf))
	}
	x := fill(*tokens**dim, 1)
	out, ref := make([]float32, len(x)), make([]float32, len(x))
	var scratch kernels.MoEScratch
	run := func() error {
		if *impl == "naive" {
			_, err := kernels.MoENaive(out, x, *tokens, w, cfg)
			return err
		}
		_, err := kernels.MoE(out, x, *tokens, w, cfg, &scratch)
		return err
	}
	if _, err := kernels.MoENaive(ref, x, *tokens, w, cfg); err != nil {
		return err
	}
	if err := run(); err != nil {
		return err
	}
	var maxDiff float64
	for i := range out {
		maxDiff = math.Max(maxDiff, math.Abs(float64(out[i]-ref[i])))
	}
	iters, elapsed := 0, time.Duration(0)
	for iters == 0 || elapsed < *minTime {
		t0 := time.Now()
		if err := run(); err != nil {
			return err
		}
		elapsed += time.Since(t0)
		iters++
	}
	// Per routed row: gate and up (2·D·FF each) and down (2·FF·D); plus the router.
	flops := float64(*tokens) * (float64(*topK)*6*float64(*dim)*float64(*ff) + 2*float64(*experts)*float64(*dim))
	ms := elapsed.Seconds() * 1000 / float64(iters)
	res := moeBenchResult{Op: "moe", Tokens: *tokens, Experts: *experts, TopK: *topK, Dim: *dim, FF: *ff, Impl: *impl,
		Kernels: kernels.Impl(), Threads: kernels.Default().Threads(), Iters: iters,
		MsPerOp: round3(ms), GFlops: round3(flops / (ms * 1e6)), MaxAbsDiff: maxDiff}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	_, err := fmt.Fprintf(stdout, "moe %s tokens=%d experts=%d top-k=%d dim=%d ff=%d threads=%d: %.3f ms/op, %.2f GFLOP/s, max |diff| vs naive %.3g\n",
		res.Impl, res.Tokens, res.Experts, res.TopK, res.Dim, res.FF, res.Threads, res.MsPerOp, res.GFlops, res.MaxAbsDiff)
	return err
}
