package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/towers"
)

func init() {
	register(command{Name: "bench generate", Summary: "time prompt prefill and token decode of a language model (any family the text plugin serves)", Run: runBenchGenerate})
}

// generateBenchResult is the output of `loom bench generate --json`.
type generateBenchResult struct {
	Model        string  `json:"model"`
	Layers       int     `json:"layers"`
	Dim          int     `json:"dim"`
	Vocab        int     `json:"vocab"`
	WeightType   string  `json:"weight_type"`
	PromptTokens int     `json:"prompt_tokens"`
	GenTokens    int     `json:"gen_tokens"`
	Threads      int     `json:"threads"`
	Kernels      string  `json:"kernels"`
	KVCache      string  `json:"kv_cache,omitempty"` // an attention decoder's: f16, f32 or q8_0
	PrefillMs    float64 `json:"prefill_ms"`
	PrefillTokS  float64 `json:"prefill_tok_s"`
	DecodeMsTok  float64 `json:"decode_ms_per_tok"`
	DecodeTokS   float64 `json:"decode_tok_s"`
	// CPU time of the whole process (all threads) over each phase: on a
	// machine shared with other work, wall time measures the neighbours too.
	PrefillCPUMs   float64 `json:"prefill_cpu_ms"`
	DecodeCPUMsTok float64 `json:"decode_cpu_ms_per_tok"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	ModelFileMiB   float64 `json:"model_file_mib,omitempty"`
}

// runBenchGenerate times the decoder in process (no tokenizer, no plugin):
// a fixed pseudo-random prompt through batched prefill, then greedy decode
// steps one token at a time, as the text plugin runs them.
func runBenchGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench generate", stderr)
	model := fs.String("model", "", "model file or folder (GGUF, llama2.c, HF)")
	promptTokens := fs.Int("prompt-tokens", 128, "prompt length")
	genTokens := fs.Int("gen-tokens", 64, "tokens to decode")
	threads := fs.Int("threads", 0, "kernel threads (0 = all CPUs)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the timed decode steps to this file (go tool pprof)")
	kvCache := fs.String("kv-cache", "", "attention decoders' KV cache type, f16, f32 or q8_0 (default: $"+towers.KVCacheEnv+", else q8_0 for block-quantised weights and f16 for f32/f16/bf16)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("--model is required")
	}
	if *promptTokens < 1 || *genTokens < 1 {
		return usagef("--prompt-tokens and --gen-tokens must be ≥ 1")
	}
	if *kvCache != "" && *kvCache != "f16" && *kvCache != "f32" && *kvCache != "q8_0" {
		return usagef("--kv-cache %q: want f16, f32 or q8_0", *kvCache)
	}
	if *threads > 0 {
		kernels.SetThreads(*threads)
	}
	src, err := formats.Open(*model)
	if err != nil {
		return err
	}
	defer src.Close()
	is, ok := src.(formats.InfoSource)
	if !ok {
		return fmt.Errorf("%s: reader gives no tensor views", *model)
	}
	lm, err := towers.LoadLM(is)
	if err != nil {
		return err
	}
	kvType := ""
	if d := towers.AsDecoder(lm); d != nil {
		if *kvCache != "" {
			if err := d.SetKVCache(*kvCache); err != nil {
				return err
			}
		}
		kvType = d.KVCacheType()
	}
	c := lm.Info()
	if *promptTokens+*genTokens > c.Context {
		return usagef("%d prompt + %d generated tokens exceed the model's context of %d", *promptTokens, *genTokens, c.Context)
	}
	prompt := make([]int, *promptTokens)
	x := uint32(12345)
	for i := range prompt { // xorshift: the same prompt on every run
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		prompt[i] = int(x % uint32(c.Vocab))
	}
	// One untimed pass first: it faults the mapped weights into memory and
	// grows the scratch buffers, which a serving process has done long ago.
	// The timed run reuses the state (position 0 rewinds its cache), as a
	// server reuses a slot's.
	st := lm.NewSession(*promptTokens + *genTokens)
	if _, err := st.Forward(prompt, 0); err != nil {
		return err
	}
	if _, err := st.Forward(prompt[:1], *promptTokens); err != nil {
		return err
	}
	c0 := kernels.ProcessCPU()
	t0 := time.Now()
	logits, err := st.Forward(prompt, 0)
	if err != nil {
		return err
	}
	prefill := time.Since(t0)
	c1 := kernels.ProcessCPU()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	t1 := time.Now()
	for i := 0; i < *genTokens; i++ {
		next := 0
		for j, v := range logits {
			if v > logits[next] {
				next = j
			}
		}
		if logits, err = st.Forward([]int{next}, *promptTokens+i); err != nil {
			return err
		}
	}
	decode := time.Since(t1)
	c2 := kernels.ProcessCPU()
	wt := "f32" // the type of block 0's first projection, whichever the family has
	for _, name := range []string{"attn_q", "attn_q_a", "attn_qkv", "ssm_in", "time_mix_key"} {
		if info, err := is.Info("blk.0." + name + ".weight"); err == nil {
			wt = info.Type.RepackOf().String() // the file's type, repacked at load or not
			break
		}
	}
	res := generateBenchResult{
		Model: *model, Layers: c.Layers, Dim: c.Dim, Vocab: c.Vocab, WeightType: wt,
		PromptTokens: *promptTokens, GenTokens: *genTokens, Threads: kernels.Default().Threads(), Kernels: kernels.Impl(), KVCache: kvType,
		PrefillMs:   float64(prefill.Microseconds()) / 1000,
		PrefillTokS: float64(*promptTokens) / prefill.Seconds(),
		DecodeMsTok: float64(decode.Microseconds()) / 1000 / float64(*genTokens),
		DecodeTokS:  float64(*genTokens) / decode.Seconds(),

		PrefillCPUMs:   float64((c1 - c0).Microseconds()) / 1000,
		DecodeCPUMsTok: float64((c2 - c1).Microseconds()) / 1000 / float64(*genTokens),
		PeakRSSMiB:     peakRSSMiB(),
	}
	if fi, err := os.Stat(*model); err == nil && !fi.IsDir() {
		res.ModelFileMiB = float64(fi.Size()) / (1 << 20)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "%s (%s, %d layers, dim %d): prefill %d tokens %.1f tok/s, decode %.1f tok/s (%.1f ms/token), %d threads, %s\n",
		*model, wt, c.Layers, c.Dim, *promptTokens, res.PrefillTokS, res.DecodeTokS, res.DecodeMsTok, res.Threads, res.Kernels)
	return nil
}

// peakRSSMiB is the process's peak resident set size so far (Linux reports
// ru_maxrss in KiB).
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}
