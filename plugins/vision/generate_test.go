package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/sched"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/shapes"
)

// testdata/tiny-pipeline is a pipeline folder whose text_encoder, unet and
// vae link to the towers' random-init golden models
// (core/towers/testdata/diffusion_tiny: latents 4×16×16, VAE ×2, so 32×32
// images), with a hand-made character-level CLIP tokenizer, a DDIM
// scheduler_config.json and guidance_scale 4.5 in model_index.json's "loom"
// block. The pictures are noise; the tests check the serving path.
var testModels, _ = filepath.Abs("testdata")

const tinyModel = "tiny-pipeline"

// tinyEngine is shared by the tests so the folder loads once.
var tinyEngine = newVisionEngine([]string{testModels})

// genOut is what one run emitted.
type genOut struct {
	progress  []sdk.Event
	previews  [][]byte
	artifacts []sdk.Event
	result    tasks.ImageGenerateResult
	results   int
}

func generate(t *testing.T, e sdk.Engine, params string, inputs ...sdk.Blob) (genOut, error) {
	t.Helper()
	return generateCtx(context.Background(), t, e, 7, params, inputs...)
}

func generateCtx(ctx context.Context, t *testing.T, e sdk.Engine, seed int64, params string, inputs ...sdk.Blob) (genOut, error) {
	t.Helper()
	var o genOut
	err := e.Run(ctx, sdk.Job{Task: taskGenerate, Model: tinyModel, Seed: seed, Params: json.RawMessage(params), Inputs: inputs},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventProgress:
				o.progress = append(o.progress, ev)
			case sdk.EventPreview:
				if ev.MIME != "image/png" {
					t.Errorf("preview MIME %q", ev.MIME)
				}
				o.previews = append(o.previews, ev.Data)
			case sdk.EventArtifact:
				o.artifacts = append(o.artifacts, ev)
			case sdk.EventResult:
				o.results++
				if err := json.Unmarshal(ev.Result, &o.result); err != nil {
					t.Errorf("result %s: %v", ev.Result, err)
				}
			}
			return nil
		})
	return o, err
}

func mustGenerate(t *testing.T, e sdk.Engine, seed int64, params string, inputs ...sdk.Blob) genOut {
	t.Helper()
	o, err := generateCtx(context.Background(), t, e, seed, params, inputs...)
	if err != nil {
		t.Fatalf("%s: %v", params, err)
	}
	if o.results != 1 || len(o.artifacts) != len(o.result.Images) {
		t.Fatalf("%s: %d results, %d artifacts for %d images", params, o.results, len(o.artifacts), len(o.result.Images))
	}
	return o
}

func pngSize(t *testing.T, data []byte) (int, int) {
	t.Helper()
	im, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return im.Bounds().Dx(), im.Bounds().Dy()
}

func TestGenerateSameSeedSameBytes(t *testing.T) {
	const params = `{"prompt":"a red circle","steps":3}`
	a := mustGenerate(t, tinyEngine, 7, params)
	b := mustGenerate(t, tinyEngine, 7, params)
	// A fresh engine loads the folder again: still the same bytes.
	c := mustGenerate(t, newVisionEngine([]string{testModels}), 7, params)
	other := mustGenerate(t, tinyEngine, 8, params)
	img := a.artifacts[0]
	if img.Name != "image-000.png" || img.MIME != "image/png" {
		t.Errorf("artifact %q %q", img.Name, img.MIME)
	}
	if !bytes.Equal(img.Data, b.artifacts[0].Data) || !bytes.Equal(img.Data, c.artifacts[0].Data) {
		t.Error("same seed, different PNG bytes")
	}
	if bytes.Equal(img.Data, other.artifacts[0].Data) {
		t.Error("seeds 7 and 8 gave the same image")
	}
	if w, h := pngSize(t, img.Data); w != 32 || h != 32 {
		t.Errorf("image is %d×%d, want the native 32×32", w, h)
	}
	if len(a.progress) != 3 {
		t.Fatalf("%d progress events for 3 steps", len(a.progress))
	}
	for i, p := range a.progress {
		if p.Step != i+1 || p.Total != 3 {
			t.Errorf("progress %d: %d/%d", i, p.Step, p.Total)
		}
	}
	r := a.result
	want := tasks.ImageGenerateResult{Images: []tasks.GeneratedImage{{Name: "image-000.png", Width: 32, Height: 32, Seed: 7}},
		Model: tinyModel, Scheduler: "ddim", Steps: 3, GuidanceScale: 4.5}
	if got, _ := json.Marshal(r); string(got) != string(mustJSON(want)) {
		t.Errorf("result %s, want %s", got, mustJSON(want))
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// The kernels' thread count must not change a single bit: workers of
// different sizes serve the same job.
func TestGenerateSameBytesAnyThreadCount(t *testing.T) {
	const params = `{"prompt":"a blue square","steps":2,"n":2}`
	defer kernels.SetThreads(kernels.Default().Threads())
	kernels.SetThreads(1)
	a := mustGenerate(t, tinyEngine, 3, params)
	kernels.SetThreads(3)
	b := mustGenerate(t, tinyEngine, 3, params)
	for i := range a.artifacts {
		if !bytes.Equal(a.artifacts[i].Data, b.artifacts[i].Data) {
			t.Errorf("image %d differs between 1 and 3 kernel threads", i)
		}
	}
}

func TestGenerateBatchSeeds(t *testing.T) {
	two := mustGenerate(t, tinyEngine, 11, `{"prompt":"a red circle","steps":2,"n":2,"preview_every":0}`)
	if len(two.artifacts) != 2 || two.artifacts[1].Name != "image-001.png" {
		t.Fatalf("artifacts %d", len(two.artifacts))
	}
	if len(two.progress) != 2 {
		t.Errorf("%d progress events for 2 steps of a batch of 2", len(two.progress))
	}
	if s := two.result.Images; s[0].Seed != 11 || s[1].Seed != 12 {
		t.Errorf("seeds %d, %d; want 11, 12", s[0].Seed, s[1].Seed)
	}
	if bytes.Equal(two.artifacts[0].Data, two.artifacts[1].Data) {
		t.Error("the two images of a batch are the same")
	}
	// Each image's seed regenerates it alone.
	for i, seed := range []int64{11, 12} {
		one := mustGenerate(t, tinyEngine, seed, `{"prompt":"a red circle","steps":2,"preview_every":0}`)
		if !bytes.Equal(one.artifacts[0].Data, two.artifacts[i].Data) {
			t.Errorf("image %d of the batch differs from seed %d alone", i, seed)
		}
	}
}

func TestGeneratePreviews(t *testing.T) {
	for _, c := range []struct {
		params string
		want   int
	}{
		{`{"prompt":"red","steps":3,"preview_every":1}`, 2}, // not after the last step: the image follows
		{`{"prompt":"red","steps":4,"preview_every":2}`, 1},
		{`{"prompt":"red","steps":6}`, 1}, // default every 5
		{`{"prompt":"red","steps":3,"preview_every":0}`, 0},
	} {
		o := mustGenerate(t, tinyEngine, 1, c.params)
		if len(o.previews) != c.want {
			t.Errorf("%s: %d previews, want %d", c.params, len(o.previews), c.want)
		}
		for _, p := range o.previews {
			if w, h := pngSize(t, p); w != 32 || h != 32 {
				t.Errorf("preview %d×%d", w, h)
			}
		}
	}
}

// estimateX0 recovers x₀ from latents noised to step i and the noise as the
// model's prediction, in each sampler's own space.
func TestEstimateX0(t *testing.T) {
	pl, err := tinyEngine.gen.get(tinyModel)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x0, eps := make([]float32, 64), make([]float32, 64)
	for i := range x0 {
		x0[i], eps[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	for _, kind := range sched.Kinds {
		s, err := sched.New(kind, pl.Sched, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []int{0, 4, 9} {
			x := make([]float32, len(x0))
			s.AddNoise(x, x0, eps, step)
			got := pl.EstimateX0(s, kind, x, eps, step)
			for j := range got {
				if math.Abs(float64(got[j]-x0[j])) > 2e-3*max(1, math.Abs(float64(x0[j]))) {
					t.Fatalf("%s step %d: x̂₀[%d] = %v, want %v", kind, step, j, got[j], x0[j])
				}
			}
		}
	}
}

func TestGenerateUpscale(t *testing.T) {
	o := mustGenerate(t, tinyEngine, 5, `{"prompt":"a red circle","steps":1,"width":128,"height":128}`)
	if w, h := pngSize(t, o.artifacts[0].Data); w != 128 || h != 128 {
		t.Errorf("image %d×%d, want 128×128", w, h)
	}
	r := o.result
	if len(r.UpscaledFrom) != 2 || r.UpscaledFrom[0] != 32 || r.UpscaledFrom[1] != 32 || r.Images[0].Width != 128 {
		t.Errorf("result %+v", r)
	}
	// Native output says nothing about upscaling.
	n := mustGenerate(t, tinyEngine, 5, `{"prompt":"a red circle","steps":1,"width":32,"height":32}`)
	if n.result.UpscaledFrom != nil {
		t.Errorf("native run reports upscaled_from %v", n.result.UpscaledFrom)
	}
	// The enlargement is of the same picture: shrunk back, it is close to the native one.
	big, _ := png.Decode(bytes.NewReader(o.artifacts[0].Data))
	small, _ := png.Decode(bytes.NewReader(n.artifacts[0].Data))
	if d := meanAbsDiff(downsample4(big), small); d > 12 {
		t.Errorf("128×128 image averaged back to 32×32 differs from the native image by %.1f levels on average", d)
	}
}

func downsample4(im image.Image) *image.NRGBA {
	b := im.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx()/4, b.Dy()/4))
	for y := 0; y < b.Dy()/4; y++ {
		for x := 0; x < b.Dx()/4; x++ {
			var s [3]uint32
			for dy := 0; dy < 4; dy++ {
				for dx := 0; dx < 4; dx++ {
					r, g, bb, _ := im.At(4*x+dx, 4*y+dy).RGBA()
					s[0], s[1], s[2] = s[0]+r>>8, s[1]+g>>8, s[2]+bb>>8
				}
			}
			i := out.PixOffset(x, y)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2], out.Pix[i+3] = uint8(s[0]/16), uint8(s[1]/16), uint8(s[2]/16), 255
		}
	}
	return out
}

func meanAbsDiff(a, b image.Image) float64 {
	var sum float64
	bd := a.Bounds()
	for y := 0; y < bd.Dy(); y++ {
		for x := 0; x < bd.Dx(); x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			sum += math.Abs(float64(r1>>8)-float64(r2>>8)) + math.Abs(float64(g1>>8)-float64(g2>>8)) + math.Abs(float64(b1>>8)-float64(b2>>8))
		}
	}
	return sum / float64(3*bd.Dx()*bd.Dy())
}

func scenePNG(seed uint64) []byte {
	var b bytes.Buffer
	png.Encode(&b, shapes.Render(shapes.RandomScene(rand.New(rand.NewPCG(seed, 1)), 0)))
	return b.Bytes()
}

func TestGenerateImageToImage(t *testing.T) {
	in := sdk.Blob{Name: "image", MIME: "image/png", Data: scenePNG(3)}
	half := mustGenerate(t, tinyEngine, 9, `{"prompt":"a red circle","steps":4,"strength":0.5,"preview_every":1}`, in)
	if len(half.progress) != 2 || half.progress[1].Total != 2 {
		t.Errorf("strength 0.5 of 4 steps: %d progress events (want 2 of 2)", len(half.progress))
	}
	if len(half.previews) != 1 {
		t.Errorf("%d previews", len(half.previews))
	}
	again := mustGenerate(t, tinyEngine, 9, `{"prompt":"a red circle","steps":4,"strength":0.5,"preview_every":1}`, in)
	if !bytes.Equal(half.artifacts[0].Data, again.artifacts[0].Data) {
		t.Error("image-to-image: same seed, different bytes")
	}
	// Strength 0 runs no step: the input's VAE round trip, whatever the seed.
	z1 := mustGenerate(t, tinyEngine, 1, `{"prompt":"a red circle","steps":4,"strength":0}`, in)
	z2 := mustGenerate(t, tinyEngine, 2, `{"prompt":"a blue square","steps":4,"strength":0}`, in)
	if len(z1.progress) != 0 || !bytes.Equal(z1.artifacts[0].Data, z2.artifacts[0].Data) {
		t.Errorf("strength 0: %d steps, same picture for any seed and prompt: %v", len(z1.progress), bytes.Equal(z1.artifacts[0].Data, z2.artifacts[0].Data))
	}
	// The default strength (0.8) runs int(4·0.8) = 3 steps; a different
	// input image changes the output.
	def := mustGenerate(t, tinyEngine, 9, `{"prompt":"a red circle","steps":4}`, in)
	if len(def.progress) != 3 {
		t.Errorf("default strength: %d steps, want 3", len(def.progress))
	}
	other := mustGenerate(t, tinyEngine, 9, `{"prompt":"a red circle","steps":4}`, sdk.Blob{Name: "image", Data: scenePNG(4)})
	if bytes.Equal(def.artifacts[0].Data, other.artifacts[0].Data) {
		t.Error("the input image made no difference")
	}
	text := mustGenerate(t, tinyEngine, 9, `{"prompt":"a red circle","steps":4}`)
	if bytes.Equal(def.artifacts[0].Data, text.artifacts[0].Data) {
		t.Error("image-to-image gave the text-to-image picture")
	}
}

// Three steps, so DPM-Solver++(2M) takes one second-order step: with two it
// is first order throughout, which is DDIM and Euler's update too.
func TestGenerateSchedulersAndGuidance(t *testing.T) {
	seen := map[string]string{}
	for _, p := range []string{
		`{"prompt":"red","steps":3,"scheduler":"ddim"}`,
		`{"prompt":"red","steps":3,"scheduler":"euler"}`,
		`{"prompt":"red","steps":3,"scheduler":"euler_a"}`,
		`{"prompt":"red","steps":3,"scheduler":"dpmpp_2m"}`,
		`{"prompt":"red","steps":3,"guidance_scale":1}`,
		`{"prompt":"red","steps":3,"guidance_scale":0}`,
		`{"prompt":"red","steps":3,"negative_prompt":"blue"}`,
	} {
		o := mustGenerate(t, tinyEngine, 4, p)
		d := string(o.artifacts[0].Data)
		if prev, dup := seen[d]; dup {
			t.Errorf("%s and %s gave the same image", prev, p)
		}
		seen[d] = p
	}
}

func TestGenerateTimings(t *testing.T) {
	o := mustGenerate(t, tinyEngine, 4, `{"prompt":"red","steps":2,"timings":true}`)
	tm := o.result.Timings
	for _, k := range []string{"total", "text", "unet_total", "unet_per_step", "vae_decode", "vae_decode_cpu", "png"} {
		if v, ok := tm[k]; !ok || v < 0 {
			t.Errorf("timings lack %s: %v", k, tm)
		}
	}
	if tm["vae_decode_cpu"] <= 0 { // the decode's own work, on this process's clock
		t.Errorf("vae_decode_cpu %v: no CPU time over the decode", tm["vae_decode_cpu"])
	}
	if tm["unet_per_step"] <= 0 || math.Abs(tm["unet_per_step"]*2-tm["unet_total"]) > 0.01 || tm["total"] < tm["unet_total"] {
		t.Errorf("timings do not add up: %v", tm)
	}
	if n := mustGenerate(t, tinyEngine, 4, `{"prompt":"red","steps":1}`); n.result.Timings != nil {
		t.Error("timings without asking")
	}
}

func TestGenerateRejectsBadInput(t *testing.T) {
	img := sdk.Blob{Name: "image", MIME: "image/png", Data: scenePNG(1)}
	for name, c := range map[string]struct {
		params string
		inputs []sdk.Blob
	}{
		"no prompt":          {`{"steps":2}`, nil},
		"blank prompt":       {`{"prompt":"  "}`, nil},
		"steps -1":           {`{"prompt":"x","steps":-1}`, nil},
		"steps 151":          {`{"prompt":"x","steps":151}`, nil},
		"guidance 31":        {`{"prompt":"x","guidance_scale":31}`, nil},
		"guidance -1":        {`{"prompt":"x","guidance_scale":-0.5}`, nil},
		"scheduler":          {`{"prompt":"x","scheduler":"plms"}`, nil},
		"n 5":                {`{"prompt":"x","n":5}`, nil},
		"n -1":               {`{"prompt":"x","n":-1}`, nil},
		"width 100":          {`{"prompt":"x","width":100}`, nil},
		"width 16":           {`{"prompt":"x","width":16,"height":16}`, nil},
		"height 1024":        {`{"prompt":"x","height":1024}`, nil},
		"strength no image":  {`{"prompt":"x","strength":0.5}`, nil},
		"strength 1.5":       {`{"prompt":"x","strength":1.5}`, []sdk.Blob{img}},
		"preview_every -1":   {`{"prompt":"x","preview_every":-1}`, nil},
		"unknown key":        {`{"prompt":"x","cfg":3}`, nil},
		"wrong type":         {`{"prompt":"x","steps":"many"}`, nil},
		"not an object":      {`[1,2]`, nil},
		"long prompt":        {`{"prompt":"` + strings.Repeat("a", 5000) + `"}`, nil},
		"other input":        {`{"prompt":"x"}`, []sdk.Blob{{Name: "mask", Data: img.Data}}},
		"corrupt image":      {`{"prompt":"x"}`, []sdk.Blob{{Name: "image", Data: []byte("\x89PNG\r\n\x1a\nnope")}}},
		"text as image":      {`{"prompt":"x"}`, []sdk.Blob{{Name: "image", Data: []byte("hello")}}},
		"huge declared size": {`{"prompt":"x"}`, []sdk.Blob{{Name: "image", Data: hugePNGHeader()}}},
	} {
		o, err := generate(t, tinyEngine, c.params, c.inputs...)
		if !sdk.IsCode(err, sdk.CodeInvalidRequest) {
			t.Errorf("%s: err %v, want invalid_request", name, err)
		}
		if o.results != 0 || len(o.progress) != 0 {
			t.Errorf("%s: ran anyway", name)
		}
	}
	for model, code := range map[string]sdk.Code{"nope": sdk.CodeModelNotFound, "../testdata": sdk.CodeInvalidRequest} {
		err := tinyEngine.Run(context.Background(), sdk.Job{Task: taskGenerate, Model: model, Params: json.RawMessage(`{"prompt":"x"}`)},
			func(sdk.Event) error { return nil })
		if !sdk.IsCode(err, code) {
			t.Errorf("model %q: %v, want %s", model, err, code)
		}
	}
}

// hugePNGHeader is a PNG header claiming 100000×100000 pixels.
func hugePNGHeader() []byte {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	d := b.Bytes()
	// IHDR width and height sit at bytes 16..23; the CRC no longer matches,
	// which a size check must not need to read.
	copy(d[16:24], []byte{0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0})
	return d
}

func TestGenerateCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var steps, results int
	err := tinyEngine.Run(ctx, sdk.Job{Task: taskGenerate, Model: tinyModel, Seed: 1, Params: json.RawMessage(`{"prompt":"x","steps":50}`)},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventProgress:
				steps++
				cancel()
			case sdk.EventResult:
				results++
			}
			return nil
		})
	if !errors.Is(err, context.Canceled) || steps != 1 || results != 0 {
		t.Fatalf("err %v after %d steps and %d results; want canceled after the first step", err, steps, results)
	}
	// A caller that stops listening ends the run with its error.
	stop := errors.New("client left")
	err = tinyEngine.Run(context.Background(), sdk.Job{Task: taskGenerate, Model: tinyModel, Params: json.RawMessage(`{"prompt":"x","steps":50}`)},
		func(ev sdk.Event) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("emit error: got %v", err)
	}
}

func TestDescribeListsPipeline(t *testing.T) {
	m, err := tinyEngine.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, mi := range m.Models {
		if mi.ID == tinyModel {
			found = mi.Ready && strings.Join(mi.Tasks, ",") == taskGenerate+","+tasks.TextEmbed && json.Valid(mi.SpecFor(taskGenerate).Params) && json.Valid(mi.SpecFor(tasks.TextEmbed).Params)
		}
		if mi.ID == taskGenerate {
			t.Errorf("the not-installed placeholder is listed beside a real model: %+v", mi)
		}
	}
	if !found || !strings.Contains(strings.Join(m.Tasks, ","), taskGenerate) {
		t.Fatalf("manifest lacks a ready %s: %+v", tinyModel, m)
	}
	// No pipeline anywhere: the task is still listed, not ready, saying what to install.
	t.Setenv(sdk.ModelsEnv, t.TempDir())
	empty := newVisionEngine(sdk.ModelDirs())
	m, err = empty.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if mi := m.Models[0]; mi.ID != taskGenerate || mi.Ready || !strings.Contains(mi.Missing, "model_index.json") {
		t.Errorf("empty models dir: %+v", mi)
	}
	err = empty.Run(context.Background(), sdk.Job{Task: taskGenerate, Params: json.RawMessage(`{"prompt":"x"}`)}, func(sdk.Event) error { return nil })
	if !sdk.IsCode(err, sdk.CodeModelUnavailable) {
		t.Errorf("no pipeline: %v", err)
	}
}

func FuzzGenerateParams(f *testing.F) {
	for _, s := range []string{`{"prompt":"a red circle","steps":20,"n":2,"width":256,"height":256}`, `{}`, `null`,
		`{"prompt":"x","guidance_scale":1e309}`, `{"prompt":"x","strength":-0}`, `{"prompt":"x","preview_every":3}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := parseGenerateParams(json.RawMessage(raw))
		if err != nil {
			if !sdk.IsCode(err, sdk.CodeInvalidRequest) {
				t.Fatalf("error without invalid_request: %v", err)
			}
			return
		}
		if strings.TrimSpace(p.Prompt) == "" || p.Steps < 0 || p.Steps > 150 || p.N < 1 || p.N > 4 ||
			(p.GuidanceScale != nil && !(*p.GuidanceScale >= 0 && *p.GuidanceScale <= 30)) ||
			(p.Strength != nil && !(*p.Strength >= 0 && *p.Strength <= 1)) || (p.PreviewEvery != nil && *p.PreviewEvery < 0) {
			t.Fatalf("accepted out-of-range params %+v", p)
		}
		for _, side := range []int{p.Width, p.Height} {
			if s, err := outputSide("width", side, 32); err == nil && (s < 32 || s > 512) {
				t.Fatalf("side %d accepted as %d", side, s)
			}
		}
	})
}

// A folder whose parts do not fit together, or whose defaults are out of
// range, is listed but fails its jobs with model_unavailable saying why.
func TestGenerateRefusesInconsistentFolders(t *testing.T) {
	towersDir, _ := filepath.Abs("../../core/towers/testdata/diffusion_tiny")
	tiny := filepath.Join(testModels, tinyModel)
	for name, c := range map[string]struct {
		unet, index, want string
	}{
		"unet for another text encoder": {"unet_linear", `{}`, "cross_attention_dim"},
		"unknown default sampler":       {"unet", `{"loom":{"defaults":{"scheduler":"plms"}}}`, "defaults"},
		"default steps out of range":    {"unet", `{"loom":{"defaults":{"steps":500}}}`, "defaults"},
		"not JSON":                      {"unet", `{"loom":`, "model_index.json"},
	} {
		dir := t.TempDir()
		folder := filepath.Join(dir, "bad")
		links := map[string]string{"text_encoder": filepath.Join(tiny, "text_encoder"), "vae": filepath.Join(tiny, "vae"),
			"tokenizer": filepath.Join(tiny, "tokenizer"), "scheduler": filepath.Join(tiny, "scheduler"), "unet": filepath.Join(towersDir, c.unet)}
		if err := os.Mkdir(folder, 0o755); err != nil {
			t.Fatal(err)
		}
		for link, target := range links {
			if err := os.Symlink(target, filepath.Join(folder, link)); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(folder, "model_index.json"), []byte(c.index), 0o644)
		e := newVisionEngine([]string{dir})
		err := e.Run(context.Background(), sdk.Job{Task: taskGenerate, Model: "bad", Params: json.RawMessage(`{"prompt":"x","steps":1}`)},
			func(sdk.Event) error { return nil })
		if !sdk.IsCode(err, sdk.CodeModelUnavailable) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want model_unavailable mentioning %q", name, err, c.want)
		}
	}
}

// TestGenerateSeveralInputImages: each input image is edited n times in
// order; output k·n+i is what that image alone gives with seed seed+k·n+i,
// and progress counts over every run.
func TestGenerateSeveralInputImages(t *testing.T) {
	a := sdk.Blob{Name: "image", MIME: "image/png", Data: scenePNG(3)}
	b := sdk.Blob{Name: "image", MIME: "image/png", Data: scenePNG(4)}
	params := `{"prompt":"a red circle","steps":2,"strength":1,"n":2,"preview_every":0}`
	both := mustGenerate(t, tinyEngine, 20, params, a, b)
	if len(both.artifacts) != 4 || len(both.result.Images) != 4 {
		t.Fatalf("%d artifacts, %d images; want 4", len(both.artifacts), len(both.result.Images))
	}
	last := both.progress[len(both.progress)-1]
	if len(both.progress) != 4 || last.Step != 4 || last.Total != 4 {
		t.Errorf("progress %+v, want 4 steps of 4", both.progress)
	}
	alone := mustGenerate(t, tinyEngine, 22, params, b)
	for i := 0; i < 2; i++ {
		if !bytes.Equal(both.artifacts[2+i].Data, alone.artifacts[i].Data) || both.result.Images[2+i].Seed != 22+int64(i) {
			t.Errorf("output %d is not image b alone with seed %d", 2+i, 22+i)
		}
	}
	if _, err := generate(t, tinyEngine, `{"prompt":"a","steps":1,"n":4}`, a, b, a, b, a); err == nil {
		t.Error("5 images × n 4 accepted")
	}
}

// A side the model cannot make is refused naming that side as the param.
func TestOutputSideNamesItsParam(t *testing.T) {
	for _, name := range []string{"width", "height"} {
		_, err := outputSide(name, 7, 32)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeInvalidRequest || se.Param != name {
			t.Errorf("%s 7: %v, want invalid_request with param %s", name, err, name)
		}
	}
}
