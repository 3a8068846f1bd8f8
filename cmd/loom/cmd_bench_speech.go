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
	register(command{Name: "bench speech", Summary: "text-to-speech speed through the audio plugin process (real-time factor, time to first audio)", Run: runBenchSpeech})
}

// benchSpeechTexts are ordinary sentences (not in the training text), one
// job each: the first sentence of each job is what ms_first_audio times.
var benchSpeechTexts = []string{
	"The library opens at nine in the morning and closes at six. Please return your books on time.",
	"My brother bought a new bicycle last week, and he rides it to work every day.",
	"Could you tell me where the nearest train station is? I think I am lost.",
	"It rained all afternoon, so we stayed inside and played cards by the window.",
}

func runBenchSpeech(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench speech", stderr)
	model := fs.String("model", "", "audio.speech model id (default: the first installed)")
	voice := fs.String("voice", "", "voice (default: the model's)")
	rounds := fs.Int("rounds", 2, "passes over the benchmark texts (after one warm-up job)")
	threads := fs.Int("threads", 2, "kernel threads in the plugin process")
	concurrent := fs.Int("concurrent", 1, "requests in flight at once (--rounds passes each, sharing the texts in turn): the server's throughput under load")
	asJSON := fs.Bool("json", false, "print one JSON object")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rounds < 1 || *threads < 1 || *concurrent < 1 {
		return usagef("--rounds, --threads and --concurrent must be ≥ 1")
	}
	ctx := context.Background()
	s, err := startPlugin(ctx, *pluginDir, "audio", absDirs(*models), []string{kernels.ThreadsEnv + "=" + strconv.Itoa(*threads)}, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	req := tasks.AudioSpeechParams{Voice: *voice, Format: "wav", Timings: true}
	req.Input = benchSpeechTexts[0]
	_, res, err := speak(ctx, s.engine, *model, 0, req, nil) // warm-up: loads the model
	if err != nil {
		return err
	}
	var audioS, first, acoustic, vocoder, encode, total float64
	jobs := 0
	var mu sync.Mutex
	began, cpu0 := time.Now(), s.markCPU()
	// --rounds passes over the texts per requester, taken in turn by
	// whichever of the --concurrent requesters is free.
	err = eachConcurrent(ctx, *concurrent**rounds*len(benchSpeechTexts), *concurrent, func(i int) error {
		req := req // each job its own params
		req.Input = benchSpeechTexts[i%len(benchSpeechTexts)]
		// First audio: the first sentence's samples exist in the plugin
		// when its progress event (step 1) reaches this process.
		var firstAt time.Duration
		start := time.Now()
		_, jr, err := speak(ctx, s.engine, *model, 0, req, func(step, _ int) {
			if step == 1 {
				firstAt = time.Since(start)
			}
		})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		res = jr
		total += float64(time.Since(start).Microseconds()) / 1000
		audioS += jr.Seconds
		first += float64(firstAt.Microseconds()) / 1000
		acoustic += jr.Timings["acoustic"]
		vocoder += jr.Timings["vocoder"]
		encode += jr.Timings["encode"]
		jobs++
		return nil
	})
	wall := time.Since(began).Seconds()
	if err != nil {
		return err
	}
	n := float64(jobs)
	// The real-time factor is wall time per job as this process sees it
	// (front end, acoustic model, vocoder, WAV encoding and the gRPC hop)
	// per second of audio produced.
	rtf := total / 1000 / audioS
	out := map[string]any{"op": "speech", "model": res.Model, "voice": res.Voice, "threads": *threads, "jobs": jobs,
		"concurrent": *concurrent, "throughput_rtf": roundSig(wall/audioS, 4), "jobs_per_s": round3(float64(jobs) / wall),
		"audio_seconds": round3(audioS), "real_time_factor": roundSig(rtf, 4), "ms_first_audio": round3(first / n),
		"ms_acoustic_per_job": round3(acoustic / n), "ms_vocoder_per_job": round3(vocoder / n), "ms_encode_per_job": round3(encode / n), "sample_rate": res.SampleRate}
	s.addCPU(out, cpu0, "rtf", 1/audioS)
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "speech %s: real-time factor %.3f (%.1f s of audio in %.1f s), first audio after %.1f ms; acoustic %.1f ms, vocoder %.1f ms per job (%d threads)\n",
		res.Model, rtf, audioS, total/1000, first/n, acoustic/n, vocoder/n, *threads)
	if *concurrent > 1 {
		fmt.Fprintf(stdout, "%d requests in flight: %.1f s of audio in %.1f s wall (throughput real-time factor %.3f, %.2f jobs/s)\n",
			*concurrent, audioS, wall, wall/audioS, float64(jobs)/wall)
	}
	return nil
}
