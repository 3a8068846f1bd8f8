package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"time"

	"github.com/loomhq/loom/core/kernels"
)

func init() {
	register(command{
		Name:    "bench gemm",
		Summary: "time the f32 GEMM (C = A·B or A·Wᵀ) and print GFLOP/s",
		Run:     runBenchGemm,
	})
}

// gemmBenchResult is one line of `loom bench gemm --json`; tools/
// bench_numpy_gemm.py prints the same shape for numpy so the two compare
// line by line.
type gemmBenchResult struct {
	Op      string  `json:"op"`
	M       int     `json:"m"`
	N       int     `json:"n"`
	K       int     `json:"k"`
	Trans   bool    `json:"trans"`
	Threads int     `json:"threads"`
	Impl    string  `json:"impl"`
	GFlops  float64 `json:"gflops"`
	NsPerOp float64 `json:"ns_per_op"`
	// CPUNsPerOp is process CPU time (all threads) per call: on a shared
	// machine it shows the work done when wall time is inflated by others.
	CPUNsPerOp float64 `json:"cpu_ns_per_op"`
	Iters      int     `json:"iters"`
}

func runBenchGemm(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench gemm", stderr)
	m := fs.Int("m", 1024, "rows of A and C")
	n := fs.Int("n", 1024, "columns of B and C (rows of W with --trans)")
	k := fs.Int("k", 1024, "inner dimension")
	threads := fs.Int("threads", runtime.NumCPU(), "worker threads")
	impl := fs.String("impl", "fast", "fast (best for this CPU), generic, or a name: "+fmt.Sprint(kernels.Impls()))
	trans := fs.Bool("trans", false, "time GemmT (A·Wᵀ, W stored n×k) instead of Gemm (A·B)")
	minTime := fs.Duration("min-time", time.Second, "run at least this long per repeat")
	repeat := fs.Int("repeat", 1, "measure this many times and report the best")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *m < 1 || *n < 1 || *k < 1 {
		return usagef("--m, --n and --k must be ≥ 1 (got %d, %d, %d)", *m, *n, *k)
	}
	if *threads < 1 {
		return usagef("--threads must be ≥ 1")
	}
	if *repeat < 1 || *minTime <= 0 {
		return usagef("--repeat and --min-time must be positive")
	}
	if int64(*m)*int64(*k)+int64(*k)*int64(*n)+int64(*m)*int64(*n) > 1<<30 {
		return usagef("matrices too large (more than 2^30 floats)")
	}
	name := *impl
	if name == "fast" {
		name = kernels.Impls()[0]
	}
	if err := kernels.SetImpl(name); err != nil {
		return usagef("--impl: %v", err)
	}
	kernels.SetThreads(*threads)

	r := rand.New(rand.NewSource(1))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = 2*r.Float32() - 1
		}
		return s
	}
	a, b, c := fill(*m**k), fill(*k**n), make([]float32, *m**n)
	run := func() {
		if *trans {
			kernels.GemmT(*m, *n, *k, a, *k, b, *k, 0, c, *n)
		} else {
			kernels.Gemm(*m, *n, *k, a, *k, b, *n, 0, c, *n)
		}
	}
	run() // warm up: page in the matrices, fill the packing pools

	best := gemmBenchResult{Op: "gemm", M: *m, N: *n, K: *k, Trans: *trans, Threads: *threads, Impl: kernels.Impl()}
	for rep := 0; rep < *repeat; rep++ {
		iters := 0
		start, cpu0 := time.Now(), kernels.ProcessCPU()
		var el time.Duration
		for el < *minTime {
			run()
			iters++
			el = time.Since(start)
		}
		ns := float64(el.Nanoseconds()) / float64(iters)
		if best.Iters == 0 || ns < best.NsPerOp {
			best.NsPerOp, best.Iters = ns, iters
			best.CPUNsPerOp = float64((kernels.ProcessCPU() - cpu0).Nanoseconds()) / float64(iters)
			best.GFlops = 2 * float64(*m) * float64(*n) * float64(*k) / ns
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(best)
	}
	op := "A·B"
	if *trans {
		op = "A·Wᵀ"
	}
	_, err := fmt.Fprintf(stdout, "gemm %s m=%d n=%d k=%d threads=%d impl=%s: %.1f GFLOP/s (%.3f ms/op, %d iters)\n",
		op, *m, *n, *k, *threads, best.Impl, best.GFlops, best.NsPerOp/1e6, best.Iters)
	return err
}
