package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"runtime"
	"time"

	"github.com/loomhq/loom/core/kernels"
)

func init() {
	register(command{Name: "bench attention", Summary: "time fused flash attention against the naive reference", Run: runBenchAttention})
}

// attnBenchResult is one line of `loom bench attention --json`. PeakBytes is
// the runtime.MemStats.TotalAlloc delta around the first call in the
// process (cold: it includes creating every worker's scratch, or the naive
// score matrix); SteadyBytes is the same delta around one later call.
type attnBenchResult struct {
	Op          string  `json:"op"`
	Seq         int     `json:"seq"`
	Heads       int     `json:"heads"`
	KVHeads     int     `json:"kv_heads"`
	HeadDim     int     `json:"head_dim"`
	Causal      bool    `json:"causal"`
	Impl        string  `json:"impl"`
	Kernels     string  `json:"kernels"`
	Threads     int     `json:"threads"`
	Iters       int     `json:"iters"`
	MsPerOp     float64 `json:"ms_per_op"`
	GFlops      float64 `json:"gflops"`
	PeakBytes   uint64  `json:"peak_bytes"`
	SteadyBytes uint64  `json:"steady_bytes"`
}

func runBenchAttention(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench attention", stderr)
	seq := fs.Int("seq", 2048, "sequence length (queries = keys)")
	heads := fs.Int("heads", 8, "query heads")
	kvHeads := fs.Int("kv-heads", 0, "key/value heads (0 = heads)")
	headDim := fs.Int("head-dim", 64, "head dimension")
	causal := fs.Bool("causal", false, "causal mask")
	impl := fs.String("impl", "fused", "fused | composed (GEMM + softmax, full score matrix) | naive (plain loops)")
	threads := fs.Int("threads", 0, "worker threads (0 = all CPUs)")
	kimpl := fs.String("kernels", "", "SIMD implementation: avx512 | avx2 | generic (default: best)")
	minTime := fs.Duration("time", time.Second, "keep timing until this much has elapsed (at least one call)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kvHeads == 0 {
		*kvHeads = *heads
	}
	var run func(out, q, k, v []float32, p kernels.AttnParams) error
	switch *impl {
	case "fused":
		run = kernels.FlashAttention
	case "naive":
		run = kernels.AttentionNaive
	case "composed":
		run = kernels.AttentionComposed
	default:
		return usagef("--impl must be fused, composed or naive, not %q", *impl)
	}
	if *seq <= 0 || *heads <= 0 || *kvHeads <= 0 || *headDim <= 0 || *heads%*kvHeads != 0 {
		return usagef("need positive --seq, --heads, --kv-heads, --head-dim with heads a multiple of kv-heads")
	}
	if *kimpl != "" {
		if err := kernels.SetImpl(*kimpl); err != nil {
			return usagef("%v", err)
		}
	}
	kernels.SetThreads(*threads)
	p := kernels.AttnParams{Heads: *heads, KVHeads: *kvHeads, HeadDim: *headDim, SeqQ: *seq, SeqKV: *seq, Causal: *causal}
	r := rand.New(rand.NewSource(1))
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = 2*r.Float32() - 1
		}
		return s
	}
	q, k, v := fill(*seq**heads**headDim), fill(*seq**kvHeads**headDim), fill(*seq**kvHeads**headDim)
	out := make([]float32, len(q))

	peak, err := allocDelta(func() error { return run(out, q, k, v, p) })
	if err != nil {
		return err
	}
	steady, _ := allocDelta(func() error { return run(out, q, k, v, p) })
	iters, elapsed := 0, time.Duration(0)
	for iters == 0 || elapsed < *minTime {
		t0 := time.Now()
		if err := run(out, q, k, v, p); err != nil {
			return err
		}
		elapsed += time.Since(t0)
		iters++
	}
	// Two FLOPs per multiply-add, for q·k and for p·v, over visible pairs.
	pairs := float64(*seq) * float64(*seq)
	if *causal {
		pairs = float64(*seq) * float64(*seq+1) / 2
	}
	flops := 4 * pairs * float64(*heads) * float64(*headDim)
	ms := elapsed.Seconds() * 1000 / float64(iters)
	res := attnBenchResult{Op: "attention", Seq: *seq, Heads: *heads, KVHeads: *kvHeads, HeadDim: *headDim,
		Causal: *causal, Impl: *impl, Kernels: kernels.Impl(), Threads: kernels.Default().Threads(), Iters: iters,
		MsPerOp: round3(ms), GFlops: round3(flops / (ms * 1e6)), PeakBytes: peak, SteadyBytes: steady}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	_, err = fmt.Fprintf(stdout, "attention %s seq=%d heads=%d/%d dim=%d causal=%v threads=%d: %.3f ms/op, %.2f GFLOP/s, peak %d B, steady %d B\n",
		res.Impl, res.Seq, res.Heads, res.KVHeads, res.HeadDim, res.Causal, res.Threads, res.MsPerOp, res.GFlops, res.PeakBytes, res.SteadyBytes)
	return err
}

// allocDelta runs f once and reports the bytes the process allocated meanwhile
// (runtime.MemStats.TotalAlloc difference; includes any other goroutine's
// allocations, of which a bench has none).
func allocDelta(f func() error) (uint64, error) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

func round3(x float64) float64 { return float64(int64(x*1000+0.5)) / 1000 }

// roundSig rounds x to d significant digits: for ratios such as a real-time
// factor of 0.0187, where three decimals would keep only two digits.
func roundSig(x float64, d int) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	p := math.Pow(10, float64(d)-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}
