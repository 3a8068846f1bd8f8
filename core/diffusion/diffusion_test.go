package diffusion

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/loomhq/loom/core/sched"
)

// shapesDiffusion is the project's trained image pipeline.
var shapesDiffusion, _ = filepath.Abs("../../models/shapes-diffusion")

func TestOpen(t *testing.T) {
	if _, err := os.Stat(filepath.Join(shapesDiffusion, "model_index.json")); err != nil {
		t.Skipf("%s absent", shapesDiffusion)
	}
	p, err := Open(shapesDiffusion, 150, 30)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.CtxLen <= 0 || p.Text == nil || p.VAE == nil || p.Tok == nil || !ValidScheduler(p.Defaults.Scheduler) || p.Defaults.Steps < 1 {
		t.Fatalf("opened %+v", p)
	}
	ctx, err := p.EncodePrompts("a small red circle on the left", "")
	if err != nil || len(ctx) != 2*p.CtxLen*p.Text.Cfg.HiddenSize {
		t.Fatalf("EncodePrompts: %d floats, %v", len(ctx), err)
	}
	// The defaults are bounded like a job's params.
	if _, err := Open(shapesDiffusion, p.Defaults.Steps-1, 30); err == nil {
		t.Fatal("defaults over maxSteps accepted")
	}
	if !IsPipeline(shapesDiffusion) || HasMotion(shapesDiffusion) {
		t.Fatal("shapes-diffusion is an image pipeline")
	}
}

// TestHasMotion: AnimateDiff's two layouts are video pipelines.
func TestHasMotion(t *testing.T) {
	adapter := t.TempDir()
	os.MkdirAll(filepath.Join(adapter, "motion_adapter"), 0o755)
	os.WriteFile(filepath.Join(adapter, "motion_adapter", "config.json"), []byte(`{}`), 0o644)
	motion := t.TempDir()
	os.MkdirAll(filepath.Join(motion, "unet"), 0o755)
	os.WriteFile(filepath.Join(motion, "unet", "config.json"), []byte(`{"_class_name":"UNetMotionModel"}`), 0o644)
	base := t.TempDir()
	os.MkdirAll(filepath.Join(base, "unet"), 0o755)
	os.WriteFile(filepath.Join(base, "unet", "config.json"), []byte(`{"_class_name":"UNet2DConditionModel"}`), 0o644)
	if !HasMotion(adapter) || !HasMotion(motion) || HasMotion(base) {
		t.Fatalf("HasMotion: adapter %v, motion unet %v, base %v", HasMotion(adapter), HasMotion(motion), HasMotion(base))
	}
}

func schedConfig(t *testing.T, prediction string) sched.Config {
	p := filepath.Join(t.TempDir(), "scheduler_config.json")
	os.WriteFile(p, []byte(fmt.Sprintf(`{"num_train_timesteps":1000,"beta_start":0.00085,"beta_end":0.012,
		"beta_schedule":"scaled_linear","prediction_type":%q,"steps_offset":1,"set_alpha_to_one":true,
		"timestep_spacing":"trailing"}`, prediction)), 0o644)
	c, err := sched.ReadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// oracle is a denoiser that knows the clean latents x0: it answers the
// noise (or v) that makes every sampler's estimate exactly x0, so a correct
// loop ends on x0. It checks the batch it is given: guided batches put the
// unconditional context first.
func oracle(t *testing.T, p *Pipeline, kind string, steps int, x0 []float32, guided bool) (Denoiser, *int) {
	s, err := sched.New(kind, p.Sched, steps)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	return func(out, in []float32, rows int, ts float32, ctx []float32) error {
		calls++
		i := slices.Index(s.Timesteps(), float64(ts))
		if i < 0 {
			return fmt.Errorf("timestep %v not in the schedule", ts)
		}
		var sg float64
		if sig := sched.Sigmas(s); sig != nil {
			sg = sig[i]
		} else {
			a := sched.AlphasCumprod(p.Sched)[int(ts)]
			sg = math.Sqrt((1 - a) / a)
		}
		a := 1 / math.Sqrt(sg*sg+1) // VP signal scale; the input is already VP
		per := len(x0)
		n := rows
		if guided {
			n /= 2
		}
		for r := 0; r < rows; r++ {
			want := float32(1) // conditional rows carry ctx2's row 1
			if guided && r < n {
				want = 0
			}
			if ctx[r*2] != want {
				return fmt.Errorf("row %d has context %v, want %v", r, ctx[r*2], want)
			}
			for j := 0; j < per; j++ {
				xv := float64(in[r*per+j])
				eps := (xv - a*float64(x0[j])) / (sg * a)
				if p.Sched.PredictionType == "v_prediction" {
					out[r*per+j] = float32(a*eps - sg*a*float64(x0[j]))
				} else {
					out[r*per+j] = float32(eps)
				}
			}
		}
		return nil
	}, &calls
}

// TestSampleEndsOnOracle: with a denoiser that knows the answer, every
// sampler, both prediction types, guided or not, from noise or from an
// image, ends on the clean latents; progress counts the steps run and
// previews show the same latents.
func TestSampleEndsOnOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const per, n = 24, 2
	x0 := make([]float32, per)
	for i := range x0 {
		x0[i] = float32(r.NormFloat64())
	}
	ctx2 := []float32{0, 0, 1, 1} // L = 1, D = 2: row 0 unconditional, row 1 conditional
	for _, pred := range []string{"epsilon", "v_prediction"} {
		p := &Pipeline{Sched: schedConfig(t, pred)}
		for _, kind := range Schedulers {
			for _, c := range []struct {
				guidance float32
				init     []float32
				strength float64
			}{{4, nil, 0}, {1, nil, 0}, {3, make([]float32, per), 0.5}} {
				const steps = 8
				den, calls := oracle(t, p, kind, steps, x0, c.guidance != 1)
				var progress []int
				previews := 0
				x, err := p.Sample(Run{Scheduler: kind, Steps: steps, Guidance: c.guidance, Items: n, Per: per, Seed: 9,
					Init: c.init, Strength: c.strength, PreviewEvery: 3}, ctx2, den, Hooks{
					Progress: func(step, total int) error { progress = append(progress, step, total); return nil },
					Preview: func(step int, got []float32) error {
						previews++
						for j := range got {
							if math.Abs(float64(got[j]-x0[j])) > 1e-3 {
								return fmt.Errorf("preview at %d: x̂₀[%d] = %v, want %v", step, j, got[j], x0[j])
							}
						}
						return nil
					},
					Timings: func(string, time.Duration) {},
					Stopped: func() error { return nil },
				})
				name := fmt.Sprintf("%s %s guidance %v strength %v", pred, kind, c.guidance, c.strength)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				run := steps
				if c.init != nil {
					run = steps / 2
				}
				if *calls != run || len(progress) != 2*run || progress[len(progress)-2] != run || progress[len(progress)-1] != run {
					t.Fatalf("%s: %d denoiser calls, progress %v", name, *calls, progress)
				}
				if previews != (run-1)/3 {
					t.Fatalf("%s: %d previews", name, previews)
				}
				for i := 0; i < n; i++ {
					for j := range x0 {
						if d := math.Abs(float64(x[i*per+j] - x0[j])); d > 2e-3 {
							t.Fatalf("%s: item %d ends %v from x0 at %d", name, i, d, j)
						}
					}
				}
			}
		}
	}
}

// TestSampleStopsAndSeeds: a stopped run returns its error; items differ
// and each item's noise depends only on seed + index.
func TestSampleStopsAndSeeds(t *testing.T) {
	p := &Pipeline{Sched: schedConfig(t, "epsilon")}
	stop := errors.New("stop")
	zero := func(out, in []float32, rows int, ts float32, ctx []float32) error { clear(out); return nil }
	hooks := Hooks{Progress: func(int, int) error { return nil }, Timings: func(string, time.Duration) {}, Stopped: func() error { return nil }}
	run := func(seed int64, items int, h Hooks) ([]float32, error) {
		return p.Sample(Run{Scheduler: "ddim", Steps: 2, Guidance: 1, Items: items, Per: 8, Seed: seed}, []float32{0, 1}, zero, h)
	}
	two, _ := run(5, 2, hooks)
	one, _ := run(6, 1, hooks)
	if slices.Equal(two[:8], two[8:]) || !slices.Equal(two[8:], one) {
		t.Fatal("item 1 of seed 5 is not item 0 of seed 6")
	}
	h := hooks
	h.Stopped = func() error { return stop }
	if _, err := run(5, 1, h); !errors.Is(err, stop) {
		t.Fatalf("stopped run: %v", err)
	}
	if _, err := p.Sample(Run{Scheduler: "ddim", Steps: 2, Guidance: 1, Items: 1, Per: 8, Init: make([]float32, 3), Strength: 0.5}, []float32{0, 1}, zero, hooks); err == nil {
		t.Fatal("init latents of the wrong size accepted")
	}
}

// A mixed noise prior: every frame's noise is √(1-s)·own + √s·common, the
// common part drawn after the frames' own from the item's source, so each
// frame stays unit Gaussian and two frames correlate by s; s = 0 draws
// exactly the independent noise; a bad share or frame count is refused.
func TestFrameNoiseShare(t *testing.T) {
	const frames, per = 4, 20000
	plain := make([]float32, frames*per)
	Noise(9, 0).Fill(plain, 1)
	got := make([]float32, frames*per)
	Run{Frames: frames}.fill(Noise(9, 0), got, 1)
	if !slices.Equal(got, plain) {
		t.Fatal("share 0 changed the noise")
	}
	Run{Frames: frames, FrameShare: 0.5}.fill(Noise(9, 0), got, 1)
	nz := Noise(9, 0)
	own, common := make([]float32, frames*per), make([]float32, per)
	nz.Fill(own, 1)
	nz.Fill(common, 1)
	for i := range got {
		want := float32(math.Sqrt(0.5))*own[i] + float32(math.Sqrt(0.5))*common[i%per]
		if math.Abs(float64(got[i]-want)) > 1e-6 {
			t.Fatalf("value %d: %g, want %g", i, got[i], want)
		}
	}
	for f := 0; f < frames; f++ {
		var v, c float64
		for k := 0; k < per; k++ {
			a, b := float64(got[f*per+k]), float64(got[((f+1)%frames)*per+k])
			v += a * a
			c += a * b
		}
		if v /= per; math.Abs(v-1) > 0.04 {
			t.Errorf("frame %d variance %.3f, want 1", f, v)
		}
		if c /= per; math.Abs(c-0.5) > 0.04 {
			t.Errorf("frames %d and %d correlate by %.3f, want 0.5", f, (f+1)%frames, c)
		}
	}
	p := &Pipeline{Sched: schedConfig(t, "epsilon")}
	zero := func(out, in []float32, rows int, ts float32, ctx []float32) error { clear(out); return nil }
	hooks := Hooks{Progress: func(int, int) error { return nil }, Timings: func(string, time.Duration) {}, Stopped: func() error { return nil }}
	for _, r := range []Run{{Frames: 4, FrameShare: 1}, {Frames: 4, FrameShare: -0.1}, {Frames: 3, FrameShare: 0.5}, {FrameShare: 0.5}} {
		r.Scheduler, r.Steps, r.Guidance, r.Items, r.Per = "ddim", 2, 1, 1, 8
		if _, err := p.Sample(r, []float32{0, 1}, zero, hooks); err == nil {
			t.Errorf("share %g over %d frames of 8 floats accepted", r.FrameShare, r.Frames)
		}
	}
}
