package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fleetDirs are a worker's plugins and models: a folder of hard links to
// just the plugin binaries it runs, and a models folder holding just its
// models (symlinks to model folders), or the one directory named "".
func fleetDirs(t *testing.T, plugins []string, models map[string]string) (pluginDir, modelDir string) {
	t.Helper()
	pluginDir, modelDir = t.TempDir(), t.TempDir()
	for _, p := range plugins {
		if err := os.Link(filepath.Join(binDir, "loom-plugin-"+p), filepath.Join(pluginDir, "loom-plugin-"+p)); err != nil {
			t.Fatal(err)
		}
	}
	if dir, ok := models[""]; ok {
		modelDir, _ = filepath.Abs(dir)
		return pluginDir, modelDir
	}
	for name, src := range models {
		abs, _ := filepath.Abs(src)
		if err := os.Symlink(abs, filepath.Join(modelDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return pluginDir, modelDir
}

// modelWorkers reads /v1/models: model id → live workers serving it.
func (c *client) modelWorkers() map[string]int {
	c.t.Helper()
	out := map[string]int{}
	for _, m := range c.models() {
		out[m.ID] = m.Workers
	}
	return out
}

// TestHeterogeneousFleet is issue 25's fleet: one Redis, one gateway and
// three workers with different models — text (stories260K), vision
// (shapes-captioner) and echo+vision (echo, shapes-captioner). Every job
// runs on a worker that has its model; the only worker of a model is killed
// mid-job and its jobs wait, then finish on its replacement; a drained
// worker's job moves to another worker of its model.
func TestHeterogeneousFleet(t *testing.T) {
	// The text plugin finds checkpoint files by walking its directories,
	// which does not follow symlinks: w-text gets shared/models itself.
	_, err := os.Stat("../../shared/models/stories260K")
	need(t, err == nil, "shared/models/stories260K absent")
	r := startRedis(t)
	gwPort := freePort(t)
	gw := loom(t, "gateway", "gateway", "--redis", r.url(), "--addr", fmt.Sprintf("127.0.0.1:%d", gwPort), "--lease", "2s")
	defer gw.stop(t)
	type spec struct {
		plugins []string
		models  map[string]string
	}
	specs := map[string]spec{
		"w-text":   {[]string{"text"}, map[string]string{"": "../../shared/models"}},
		"w-vision": {[]string{"vision"}, map[string]string{"shapes-captioner": "../models/shapes-captioner"}},
		"w-echo":   {[]string{"echo", "vision"}, map[string]string{"shapes-captioner": "../models/shapes-captioner"}},
	}
	serves := map[string][]string{ // model → the workers that may run it
		"stories260K":      {"w-text"},
		"shapes-captioner": {"w-vision", "w-echo"},
		"echo":             {"w-echo"},
	}
	worker := func(parent *testing.T, id, as string, extra ...string) *proc {
		pd, md := fleetDirs(parent, specs[as].plugins, specs[as].models)
		args := append([]string{"worker", "--redis", r.url(), "--id", id, "--plugins", pd, "--models", md,
			"--lease", "2s", "--concurrency", "2", "--log-level", "warn"}, extra...)
		return loom(parent, id, args...)
	}
	procs := map[string]*proc{}
	for id := range specs {
		var extra []string
		if id == "w-vision" {
			extra = []string{"--max-memory", "1GiB"} // the captioner (~7 MB) fits; routing is unchanged
		}
		procs[id] = worker(t, id, id, extra...)
	}
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", gwPort)}
	c.waitReady(3, 60*time.Second)
	if mw := c.modelWorkers(); mw["stories260K"] != 1 || mw["shapes-captioner"] != 2 || mw["echo"] != 1 {
		t.Fatalf("workers per model %v, want stories260K 1, shapes-captioner 2, echo 1", mw)
	}
	png := squarePNG()

	t.Run("100 mixed requests each run where the model is", func(t *testing.T) {
		c := &client{t: t, base: c.base}
		type sent struct{ id, model string }
		var mu sync.Mutex
		var all []sent
		var wg sync.WaitGroup
		next := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range next {
					var req map[string]any
					switch i % 5 {
					case 0, 1:
						req = map[string]any{"task": "text.complete", "model": "stories260K",
							"params": map[string]any{"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0}}
					case 2, 3:
						req = map[string]any{"task": "image.caption", "model": "shapes-captioner", "params": map[string]any{},
							"inputs": []map[string]any{{"name": "image", "mime": "image/png", "data": png}}}
					default:
						req = map[string]any{"task": "echo.upper", "model": "echo", "params": map[string]any{"text": fmt.Sprint("job ", i), "no_artifact": true}}
					}
					code, body := c.do("POST", "/v1/jobs", req)
					if code != 202 {
						t.Errorf("request %d: %d %s", i, code, body)
						continue
					}
					var v jobView
					_ = json.Unmarshal(body, &v)
					mu.Lock()
					all = append(all, sent{v.ID, req["model"].(string)})
					mu.Unlock()
				}
			})
		}
		for i := range 100 {
			next <- i
		}
		close(next)
		wg.Wait()
		if len(all) != 100 {
			t.Fatalf("%d of 100 requests were accepted", len(all))
		}
		ran := map[string]int{}
		for _, s := range all {
			v := c.waitJob(s.id, 120*time.Second, terminal)
			if v.Status != "succeeded" || !slices.Contains(serves[s.model], v.Worker) {
				t.Fatalf("%s job %s: %s on %q (error %+v); want succeeded on one of %v", s.model, s.id, v.Status, v.Worker, v.Error, serves[s.model])
			}
			ran[v.Worker]++
		}
		t.Logf("jobs per worker: %v", ran)
		// The workers that ran captions now announce the captioner loaded
		// (they register every 5 s).
		deadline := time.Now().Add(15 * time.Second)
		for {
			i := slices.IndexFunc(c.models(), func(m modelInfo) bool { return m.ID == "shapes-captioner" })
			if i >= 0 && c.models()[i].Loaded >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("shapes-captioner never announced loaded: %+v", c.models())
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	parent := t // processes started inside a subtest must outlive it
	t.Run("the only worker of a model killed mid-job", func(t *testing.T) {
		c := &client{t: t, base: c.base}
		long := c.submitEcho("killed mid job", 60) // ~0.8 s of work
		long = c.waitJob(long.ID, 20*time.Second, func(v jobView) bool { return v.Status == "running" })
		var queued []jobView
		for i := range 3 {
			queued = append(queued, c.submitEcho(fmt.Sprint("waiting ", i), 0))
		}
		procs["w-echo"].kill() // with its plugin processes
		// Nobody serves echo now: its jobs wait, none fails.
		time.Sleep(3 * time.Second)
		for _, v := range append(queued, long) {
			if v = c.job(v.ID); terminal(v) {
				t.Fatalf("job %s ended while no worker served its model: %+v", v.ID, v)
			}
		}
		procs["w-echo2"] = worker(parent, "w-echo2", "w-echo")
		for _, v := range append(queued, long) {
			v = c.waitJob(v.ID, 60*time.Second, terminal)
			if v.Status != "succeeded" || v.Worker != "w-echo2" {
				t.Fatalf("after a new echo worker started: %+v", v)
			}
		}
		if v := c.job(long.ID); v.Attempt != 2 || !strings.Contains(string(v.Output), "KILLED MID JOB") {
			t.Fatalf("the job that was running: %+v, want attempt 2 with its output", v)
		}
	})

	t.Run("a drained worker's job moves", func(t *testing.T) {
		c := &client{t: t, base: c.base}
		procs["w-echo3"] = worker(parent, "w-echo3", "w-echo", "--drain-timeout", "300ms")
		// w-echo2 has echo loaded, so it gets echo jobs first (w-echo3's lane
		// is cold): queue more than its two slots hold, so w-echo3 takes the
		// ones that waited its cold delay.
		var batch []jobView
		for i := range 6 {
			batch = append(batch, c.submitEcho(fmt.Sprint("drained away ", i), 80)) // ~1.2 s of work
		}
		var v jobView
		deadline := time.Now().Add(30 * time.Second)
		for v.ID == "" {
			if time.Now().After(deadline) {
				t.Fatal("no echo job ran on w-echo3")
			}
			for _, b := range batch {
				if b = c.job(b.ID); b.Status == "running" && b.Worker == "w-echo3" {
					v = b
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		procs["w-echo3"].stop(t)
		v = c.waitJob(v.ID, 30*time.Second, terminal)
		if v.Status != "succeeded" || v.Worker != "w-echo2" || v.Attempt != 1 || !strings.Contains(string(v.Output), "DRAINED AWAY") {
			t.Fatalf("job of the drained worker: %+v, want succeeded on w-echo2 with its attempt given back", v)
		}
		for _, b := range batch {
			if b = c.waitJob(b.ID, 30*time.Second, terminal); b.Status != "succeeded" {
				t.Fatalf("echo job %+v", b)
			}
		}
		if evs := c.events(v.ID); count(evs, "retry") != 1 || count(evs, "result") != 1 {
			t.Fatalf("events %v, want one retry (released) and one result", evs)
		}
		// w-echo3 said it was draining; the killed w-echo drops out when its
		// registration's TTL (15 s) runs out.
		deadline = time.Now().Add(30 * time.Second)
		for c.modelWorkers()["echo"] != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("workers per model after the drain: %v, want echo 1 (w-echo2)", c.modelWorkers())
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	for _, p := range procs {
		p.kill()
	}
}
