package main

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

// BenchmarkSynthesize speaks the four `loom bench speech` texts in process on
// the model folder named by LOOM_BENCH_TTS (e.g. $PWD/models/loom-tts), so the
// towers can be profiled without the plugin's transport:
//
//	LOOM_BENCH_TTS=$PWD/models/loom-tts go test ./plugins/audio -run '^$' -bench Synthesize -cpuprofile cpu.out
//
// It reports the real-time factor (seconds of work per second of audio), the
// same in process CPU time (cpu_rtf: all threads, the figure that holds on a
// busy machine; tools/tts/bench_torch.py prints PyTorch's) and the acoustic
// model's and the vocoder's wall time per job.
func BenchmarkSynthesize(b *testing.B) {
	dir := os.Getenv("LOOM_BENCH_TTS")
	if dir == "" {
		b.Skip("LOOM_BENCH_TTS names a speech model folder")
	}
	m, err := loadSpeechModel(filepath.Clean(dir))
	if err != nil {
		b.Fatal(err)
	}
	defer m.close()
	texts := []string{
		"The library opens at nine in the morning and closes at six. Please return your books on time.",
		"My brother bought a new bicycle last week, and he rides it to work every day.",
		"Could you tell me where the nearest train station is? I think I am lost.",
		"It rained all afternoon, so we stayed inside and played cards by the window.",
	}
	var jobs [][]string
	for _, t := range texts {
		s, err := sentences(t)
		if err != nil {
			b.Fatal(err)
		}
		jobs = append(jobs, s)
	}
	// LOOM_BENCH_JOBS=N runs N requesters side by side, each speaking every
	// text b.N times: rtf is then the server's throughput (wall seconds per
	// second of audio made by all of them).
	requesters, _ := strconv.Atoi(os.Getenv("LOOM_BENCH_JOBS"))
	requesters = max(requesters, 1)
	var mu sync.Mutex
	var samples, acoustic, vocoder float64
	b.ResetTimer()
	cpu0 := kernels.ProcessCPU()
	var wg sync.WaitGroup
	for range requesters {
		wg.Go(func() {
			for i := 0; i < b.N; i++ {
				for _, s := range jobs {
					wav, tm, err := m.synthesize(s, 0, 1, nil)
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					samples += float64(len(wav))
					acoustic += tm.Acoustic
					vocoder += tm.Vocoder
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	cpu := kernels.ProcessCPU() - cpu0
	secs := samples / float64(m.sampleRate)
	b.ReportMetric(b.Elapsed().Seconds()/secs, "rtf")
	b.ReportMetric(cpu.Seconds()/secs, "cpu_rtf")
	b.ReportMetric(acoustic/float64(requesters*b.N*len(jobs)), "ms_acoustic/job")
	b.ReportMetric(vocoder/float64(requesters*b.N*len(jobs)), "ms_vocoder/job")
}
