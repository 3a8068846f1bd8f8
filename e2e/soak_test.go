package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loomhq/loom/shapes"
)

// rssKB reads a process's resident set (VmRSS) in KiB; 0 once it is gone.
func rssKB(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

// processTree names a process and its loom-plugin-* children by pid.
func processTree(pid int, name string) map[int]string {
	out := map[int]string{pid: name}
	for _, c := range pluginChildren(pid) {
		comm, _, _, _ := procStat(c)
		out[c] = comm
	}
	return out
}

// loadAverage is the 1-minute load average, as text.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// mixedTraffic sends a mix of requests to c until stop closes and counts
// them by kind and outcome: echo jobs (sync wait), text completions sync
// and streamed, chat, captions and speech when those models are ready, bad
// requests (which must be 4xx), and job cancels. A wrong answer counts as
// an error; the caller asserts none.
type mixedTraffic struct {
	sent, errs atomic.Int64
	mu         sync.Mutex
	kinds      map[string]int
	firstErr   []string
}

func (m *mixedTraffic) note(kind string, ok bool, detail string) {
	m.sent.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kinds[kind]++
	if !ok {
		m.errs.Add(1)
		if len(m.firstErr) < 10 {
			m.firstErr = append(m.firstErr, kind+": "+tail(detail, 300))
		}
	}
}

func (m *mixedTraffic) run(c *client, clients int, pause time.Duration, stop <-chan struct{}) {
	m.kinds = map[string]int{}
	text, capModel, tts := c.readyModel("text.complete"), c.readyModel("image.caption"), c.readyModel("audio.speech")
	scene, _ := shapes.SceneOf(rand.New(rand.NewPCG(5, 5)), []shapes.Attrs{{Shape: "circle", Colour: "blue", Size: "small", Place: "left"}})
	var img bytes.Buffer
	_ = png.Encode(&img, shapes.Render(scene))
	b64 := base64.StdEncoding.EncodeToString(img.Bytes())
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(pause):
				}
				switch k := r.IntN(10); {
				case k < 3:
					// Fire and forget, each with echo's 5 MiB artifact (kept in
					// spill files past 256 KiB): faster than one echo process
					// can make them, so the queue fills to its depth and the
					// right answer then is 429 queue_full (backpressure).
					code, body := c.do("POST", "/v1/jobs", map[string]any{"task": "echo.upper",
						"params": map[string]any{"text": fmt.Sprintf("soak %d %d", w, i)}})
					if code == 429 && bytes.Contains(body, []byte("queue_full")) {
						m.note("echo job refused: queue full", true, "")
						continue
					}
					m.note("echo job", code == 202, string(body))
				case k < 5 && text != "":
					code, body := c.do("POST", "/v1/completions", map[string]any{"model": text, "prompt": "Once upon a time",
						"max_tokens": 24, "stream": k == 4})
					m.note("completion", code == 200 && bytes.Contains(body, []byte("text")), string(body))
				case k < 6 && text != "":
					code, body := c.do("POST", "/v1/chat/completions", map[string]any{"model": text,
						"messages": []map[string]string{{"role": "user", "content": "Tell me a story"}}, "max_tokens": 16})
					m.note("chat", code == 200, string(body))
				case k < 7 && capModel != "":
					code, body := c.do("POST", "/v1/images/captions", map[string]any{"model": capModel, "image": b64})
					m.note("caption", code == 200 && bytes.Contains(body, []byte(scene.Caption())), string(body))
				case k < 8 && tts != "" && i%5 == 0:
					code, body := c.do("POST", "/v1/audio/speech", map[string]any{"model": tts, "input": "Hello there.", "voice": "alloy"})
					m.note("speech", code == 200 && len(body) > 44, fmt.Sprint(code))
				case k < 9:
					bad := []string{`{"model":`, `{"prompt":1}`, `{"model":"nope","prompt":"x"}`, "\xff\xfe"}[r.IntN(4)]
					code, body := c.do("POST", "/v1/completions", bad)
					m.note("bad request", code >= 400 && code < 500, fmt.Sprint(code, " ", string(body)))
				default:
					code, body := c.do("POST", "/v1/jobs", map[string]any{"task": "echo.upper",
						"params": map[string]any{"text": "cancel me", "delay_ms": 50}, "priority": "high"})
					if code == 429 && bytes.Contains(body, []byte("queue_full")) {
						m.note("cancel refused: queue full", true, "")
						continue
					}
					if code != 202 {
						m.note("cancel", false, string(body))
						continue
					}
					id := string(bytes.Split(bytes.SplitN(body, []byte(`"id":"`), 2)[1], []byte(`"`))[0])
					code, body = c.do("DELETE", "/v1/jobs/"+id, nil)
					m.note("cancel", code == 200 || code == 409, string(body))
				}
			}
		}()
	}
	wg.Wait()
}

// TestSoak is the soak of issue 17: LOOM_SOAK=30m runs mixed traffic on one
// loom serve for that long, samples the RSS of every process (serve and
// each plugin) every LOOM_SOAK_EVERY (1m), and asserts that after the first
// third (warm-up) each plateaus: the mean of the last half of the samples is
// within ±10 % of the mean of the half before (at least 2 MiB either way,
// for the smallest processes). `make soak`.
// serve keeps at most 1,000 finished jobs (--max-results), so the queue's
// retention is full within the warm-up and the plateau tests its cap.
func TestSoak(t *testing.T) {
	total, err := time.ParseDuration(os.Getenv("LOOM_SOAK"))
	if err != nil || total <= 0 {
		t.Skip("LOOM_SOAK=30m runs the soak (make soak)")
	}
	every := time.Minute
	if e, err := time.ParseDuration(os.Getenv("LOOM_SOAK_EVERY")); err == nil && e > 0 {
		every = e
	}
	port := freePort(t)
	p := loom(t, "serve", "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--plugins", binDir,
		"--models", modelDirs(), "--log-level", "error", "--max-results", "1000")
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	c.waitReady(1, 60*time.Second)
	procs := processTree(p.cmd.Process.Pid, "loom serve")
	pids := make([]int, 0, len(procs))
	for pid := range procs {
		pids = append(pids, pid)
	}
	slices.Sort(pids)

	var traffic mixedTraffic
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); traffic.run(c, 2, 20*time.Millisecond, stop) }()

	var samples [][]int // per minute, per pid (in pids order), KiB
	var loads []string
	start := time.Now()
	tick := time.NewTicker(every)
	for range tick.C {
		row := make([]int, len(pids))
		for i, pid := range pids {
			row[i] = rssKB(pid)
			if row[i] == 0 {
				t.Errorf("%s (pid %d) is gone", procs[pid], pid)
			}
		}
		samples, loads = append(samples, row), append(loads, loadAverage())
		t.Logf("%5.1f min  load %s  sent %d  errors %d  rss KiB %v", time.Since(start).Minutes(), loads[len(loads)-1],
			traffic.sent.Load(), traffic.errs.Load(), row)
		if time.Since(start) >= total-every/2 {
			break
		}
	}
	tick.Stop()
	close(stop)
	<-done

	// The report: one row per process, one column per sample (MiB).
	var rep strings.Builder
	fmt.Fprintf(&rep, "soak: %s of mixed traffic on loom serve, RSS every %s (MiB); %d requests %v, %d wrong; load average per sample %v\n",
		total, every, traffic.sent.Load(), traffic.kinds, traffic.errs.Load(), loads)
	// Plateau: after warm-up (the first third) the samples split in two
	// halves; the later half's mean stays within ±10 % (at least 2 MiB) of
	// the earlier half's. A Go heap breathes with GC from sample to sample;
	// a leak shows as a drift between the halves.
	warm := len(samples) / 3
	mid := warm + (len(samples)-warm)/2
	for i, pid := range pids {
		fmt.Fprintf(&rep, "%-20s", procs[pid])
		for _, row := range samples {
			fmt.Fprintf(&rep, " %6.1f", float64(row[i])/1024)
		}
		mean := func(rows [][]int) float64 {
			sum := 0
			for _, row := range rows {
				sum += row[i]
			}
			return float64(sum) / float64(max(len(rows), 1)) / 1024
		}
		early, late := mean(samples[warm:mid]), mean(samples[mid:])
		tol := max(early/10, 2)
		fmt.Fprintf(&rep, "   after warm-up: mean %.1f then %.1f MiB (±%.1f allowed)\n", early, late, tol)
		if mid > warm && (late > early+tol || late < early-tol) {
			t.Errorf("%s RSS drifted after warm-up: mean %.1f MiB, then %.1f", procs[pid], early, late)
		}
	}
	t.Log("\n" + rep.String())
	if out := os.Getenv("LOOM_SOAK_REPORT"); out != "" {
		_ = os.WriteFile(out, []byte(rep.String()), 0o644)
	}
	if n := traffic.errs.Load(); n > 0 {
		t.Errorf("%d of %d requests answered wrongly; first: %v", n, traffic.sent.Load(), traffic.firstErr)
	}
	if traffic.sent.Load() == 0 {
		t.Error("no traffic was sent")
	}
}
