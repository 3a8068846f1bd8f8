package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func init() {
	register(command{Name: "bench transcribe", Summary: "speech-to-text speed through the audio plugin process (real-time factor), beside PyTorch on the same weights", Run: runBenchTranscribe})
}

// benchTranscribeFiles are held-out espeak-ng clips (voices, pitches and
// sentences training never used), 16 kHz mono: what the shipped model's
// test transcribes too.
const benchTranscribeFiles = "plugins/audio/testdata/asr-heldout/*.wav"

func runBenchTranscribe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench transcribe", stderr)
	model := fs.String("model", "loom-asr", "audio.transcribe model id: a Whisper folder under --models")
	rounds := fs.Int("rounds", 2, "passes over the files (after one warm-up file)")
	threadList := fs.String("threads", "1,2", "kernel thread counts to measure, comma-separated")
	peer := fs.String("peer", "tools/asr/bench_torch.py", "the PyTorch peer script (\"\": Loom only)")
	python := fs.String("python", "/usr/bin/python3", "Python with torch for --peer")
	asJSON := fs.Bool("json", false, "print JSON lines")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom bench transcribe [--model M] [--threads 1,2] [--peer tools/asr/bench_torch.py] [WAV...]\n\n"+
			"Transcribes the WAV files (16 kHz mono 16-bit; default "+benchTranscribeFiles+") greedily in English through\n"+
			"the audio plugin process, and the PyTorch reference on the same folder and files; prints the real-time factor\n"+
			"(seconds of compute per second of audio) of each at each thread count.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		files, _ = filepath.Glob(benchTranscribeFiles)
	}
	if len(files) == 0 {
		return usagef("name WAV files (none match %s here)", benchTranscribeFiles)
	}
	if *rounds < 1 {
		return usagef("--rounds must be ≥ 1")
	}
	var threads []int
	for _, s := range strings.Split(*threadList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return usagef("--threads: %q is not a thread count", s)
		}
		threads = append(threads, n)
	}
	dir := ""
	for _, d := range absDirs(*models) {
		if st, err := os.Stat(filepath.Join(d, *model, "config.json")); err == nil && !st.IsDir() {
			dir = filepath.Join(d, *model)
			break
		}
	}
	if dir == "" {
		return fmt.Errorf("no Whisper folder %q under %s", *model, *models)
	}
	ctx := context.Background()
	p := tasks.AudioTranscribeParams{Language: "en", BeamSize: 1} // greedy, as bench_torch.py decodes
	for _, n := range threads {
		loom, err := benchTranscribeLoom(ctx, *pluginDir, *models, *model, n, *rounds, p, files, stderr)
		if err != nil {
			return err
		}
		var torch map[string]any
		if *peer != "" {
			if torch, err = benchTranscribePeer(*python, *peer, dir, n, *rounds, files); err != nil {
				return err
			}
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			if err := enc.Encode(loom); err != nil {
				return err
			}
			if torch != nil {
				if err := enc.Encode(torch); err != nil {
					return err
				}
			}
			continue
		}
		fmt.Fprintf(stdout, "transcribe %s, %d thread(s), %d files, %.1f s of audio: Loom real-time factor %.4f (%d tokens)",
			*model, n, len(files), loom["audio_seconds"], loom["rtf"], loom["tokens"])
		if torch != nil {
			fmt.Fprintf(stdout, ", PyTorch %.4f (%v tokens)", torch["rtf"], torch["tokens"])
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

// benchTranscribeLoom runs the files through a fresh audio plugin process
// with n kernel threads: one warm-up file (the model loads), then rounds
// timed passes; the real-time factor is the best pass's wall time (the gRPC
// hop and WAV decoding included) per second of audio.
func benchTranscribeLoom(ctx context.Context, pluginDir, models, model string, n, rounds int, p tasks.AudioTranscribeParams, files []string, stderr io.Writer) (map[string]any, error) {
	s, err := startPlugin(ctx, pluginDir, "audio", absDirs(models), []string{kernels.ThreadsEnv + "=" + strconv.Itoa(n)}, stderr)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if _, err := transcribeFile(ctx, s.engine, model, 0, p, files[0]); err != nil {
		return nil, fmt.Errorf("%s: %w", files[0], err)
	}
	best, audio, tokens := 0.0, 0.0, 0
	for r := 0; r < rounds; r++ {
		audio, tokens = 0, 0
		start := time.Now()
		for _, f := range files {
			res, err := transcribeFile(ctx, s.engine, model, 0, p, f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			audio += res.Duration
			for _, seg := range res.Segments {
				tokens += len(seg.Tokens)
			}
		}
		if dt := time.Since(start).Seconds(); r == 0 || dt < best {
			best = dt
		}
	}
	return map[string]any{"peer": "loom", "model": model, "threads": n, "rounds": rounds, "files": len(files),
		"audio_seconds": round3(audio), "seconds": round3(best), "tokens": tokens, "rtf": best / audio}, nil
}

// benchTranscribePeer runs tools/asr/bench_torch.py --model on the same
// folder and files and keeps its best round.
func benchTranscribePeer(python, script, dir string, n, rounds int, files []string) (map[string]any, error) {
	cmd := exec.Command(python, append([]string{script, "--model", dir, "--threads", strconv.Itoa(n), "--rounds", strconv.Itoa(rounds)}, files...)...)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS="+strconv.Itoa(n), "OPENBLAS_NUM_THREADS="+strconv.Itoa(n))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %s", script, err, strings.TrimSpace(errb.String()))
	}
	var best map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r map[string]any
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if best == nil || r["rtf"].(float64) < best["rtf"].(float64) {
			best = r
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%s printed no result: %s", script, out)
	}
	return best, nil
}
