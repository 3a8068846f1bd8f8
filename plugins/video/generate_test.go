package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	stdgif "image/gif"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom/core/diffusion"
	"github.com/loomhq/loom/core/media/mediatest"
	"github.com/loomhq/loom/core/sched"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/shapes"
	"github.com/loomhq/loom/shapes/check"
)

// The tests serve a pipeline folder made of the project's trained image
// pipeline's text encoder, tokenizer, VAE and scheduler (models/
// shapes-diffusion) with a motion_adapter/ marking it a video folder, and
// replace the motion UNet — which core/towers does not have yet — by a test
// double: an oracle that knows the clean latents of the clip it should
// draw (a Shapes clip rendered and VAE-encoded by the test) and answers the
// model output that makes the sampler's estimate exactly those latents.
// Everything else is the plugin's real path: params, text encoding, the
// sampler's loop, guidance batching, the VAE decode of every frame,
// previews, the files, the result.

var shapesDiffusion, _ = filepath.Abs("../../models/shapes-diffusion")

const oracleModel = "shapes-oracle"

// oracleMotion is the test double of motionModel.
type oracleMotion struct {
	p      *diffusion.Pipeline
	mu     sync.Mutex
	target []float32 // (frames, C, 16, 16): what the sampler must end on
	first  []float32 // the last first-frame latents Forward was given
	calls  int
	plain  int       // ForwardNoPicture calls
	plainF []float32 // frame 0 of the last latents ForwardNoPicture was given
	ctx    []float32 // the text states of the last Forward
}

// ForwardNoPicture is Forward without a picture; it counts its calls.
func (o *oracleMotion) ForwardNoPicture(out, latents []float32, videos, frames, h, w int, t float32, ctx []float32, ctxLen int) error {
	if err := o.Forward(out, latents, videos, frames, h, w, t, ctx, ctxLen, nil); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.plain++
	o.plainF = slices.Clone(latents[:4*h*w])
	return nil
}

func (o *oracleMotion) LatentChannels() int      { return 4 }
func (o *oracleMotion) SampleSize() int          { return 16 }
func (o *oracleMotion) MaxFrames() int           { return 24 }
func (o *oracleMotion) FrameNoiseShare() float64 { return 0 }

func (o *oracleMotion) Forward(out, latents []float32, videos, frames, h, w int, t float32, ctx []float32, ctxLen int, first []float32) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	o.first = first
	o.ctx = slices.Clone(ctx)
	per := frames * 4 * h * w
	D := o.p.Text.Cfg.HiddenSize
	switch {
	case len(latents) != videos*per || len(out) < videos*per || len(ctx) != videos*ctxLen*D:
		return fmt.Errorf("oracle: %d latents, %d out, %d ctx for %d videos of %d frames", len(latents), len(out), len(ctx), videos, frames)
	case len(o.target) != per:
		return fmt.Errorf("oracle: target of %d floats, videos of %d", len(o.target), per)
	case t != float32(int(t)):
		return fmt.Errorf("oracle: timestep %v is not a training step", t)
	}
	ac := sched.AlphasCumprod(o.p.Sched)[int(t)]
	a, s := math.Sqrt(ac), math.Sqrt(1-ac) // latents = a·x₀ + s·ε in the space the model sees
	for v := 0; v < videos; v++ {
		for j := 0; j < per; j++ {
			x0 := float64(o.target[j])
			eps := (float64(latents[v*per+j]) - a*x0) / s
			if o.p.Sched.PredictionType == "v_prediction" {
				out[v*per+j] = float32(a*eps - s*x0)
			} else {
				out[v*per+j] = float32(eps)
			}
		}
	}
	return nil
}

// TestMain removes the oracle's model folder, which the tests share.
func TestMain(m *testing.M) {
	code := m.Run()
	if oracleDir != "" {
		os.RemoveAll(oracleDir)
	}
	os.Exit(code)
}

var (
	oracleDir  string
	oracleOnce sync.Once
	oracle     *oracleMotion
	testEngine *videoEngine
	oracleErr  error
)

// oracleEngine builds the test folder and engine once.
func oracleEngine(t *testing.T) (*videoEngine, *oracleMotion) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(shapesDiffusion, "vae", "config.json")); err != nil {
		t.Skipf("%s absent: the video plugin's tests borrow its text encoder and VAE", shapesDiffusion)
	}
	oracleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "loom-video-test")
		if err != nil {
			oracleErr = err
			return
		}
		oracleDir = dir
		m := filepath.Join(dir, oracleModel)
		os.MkdirAll(filepath.Join(m, "motion_adapter"), 0o755)
		for _, part := range []string{"text_encoder", "tokenizer", "vae", "scheduler", "unet"} {
			if err := os.Symlink(filepath.Join(shapesDiffusion, part), filepath.Join(m, part)); err != nil {
				oracleErr = err
				return
			}
		}
		os.WriteFile(filepath.Join(m, "motion_adapter", "config.json"), []byte(`{"motion_max_seq_length":24}`), 0o644)
		os.WriteFile(filepath.Join(m, "model_index.json"), []byte(`{"_class_name":"AnimateDiffPipeline",
			"loom":{"defaults":{"steps":4,"guidance_scale":3,"frames":16,"fps":8}}}`), 0o644)
		oracle = &oracleMotion{}
		testEngine = newVideoEngineWith([]string{dir}, func(p *diffusion.Pipeline) (motionModel, error) {
			oracle.p = p
			return oracle, nil
		})
	})
	if oracleErr != nil {
		t.Fatal(oracleErr)
	}
	return testEngine, oracle
}

// clipLatents renders a clip of the prompt and VAE-encodes its frames: the
// oracle's target.
func clipLatents(t *testing.T, p *diffusion.Pipeline, prompt string, seed uint64) ([]float32, shapes.Clip) {
	t.Helper()
	a, err := shapes.ParseVideoPrompt(prompt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := shapes.ClipOf(rand.New(rand.NewPCG(seed, 1)), a)
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for _, f := range shapes.RenderClip(c) {
		z, err := p.EncodeImage(f, 64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, z...)
	}
	return out, c
}

// runOut is what one run emitted.
type runOut struct {
	progress  [][2]int
	previews  [][]byte
	artifacts map[string]sdk.Event
	order     []string
	result    tasks.VideoGenerateResult
	results   int
}

func runJob(ctx context.Context, t *testing.T, e sdk.Engine, seed int64, params string, inputs ...sdk.Blob) (runOut, error) {
	t.Helper()
	o := runOut{artifacts: map[string]sdk.Event{}}
	err := e.Run(ctx, sdk.Job{Task: taskGenerate, Model: oracleModel, Seed: seed, Params: json.RawMessage(params), Inputs: inputs},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventProgress:
				o.progress = append(o.progress, [2]int{ev.Step, ev.Total})
			case sdk.EventPreview:
				if ev.MIME != "image/gif" {
					t.Errorf("preview MIME %q", ev.MIME)
				}
				o.previews = append(o.previews, ev.Data)
			case sdk.EventArtifact:
				o.artifacts[ev.Name] = ev
				o.order = append(o.order, ev.Name)
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

func gifFrames(t *testing.T, data []byte) []image.Image {
	t.Helper()
	g, err := stdgif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out []image.Image
	for _, f := range g.Image {
		out = append(out, f)
	}
	return out
}

// TestGenerateDrawsTheClip: the whole plugin path with the oracle denoiser.
// The files decode to the clip the oracle aimed at — the classical checker
// reads the prompt's shape, colour, size and direction back from the GIF
// and from ffmpeg's decode of the MP4 — every frame is there, the
// thumbnail is the first frame and the spritesheet all of them in a row;
// progress comes once per step, previews every preview_every steps.
func TestGenerateDrawsTheClip(t *testing.T) {
	e, o := oracleEngine(t)
	pl, err := e.folders.Get(oracleModel)
	if err != nil {
		t.Fatal(err)
	}
	const prompt = "a large orange triangle moving down"
	o.target, _ = clipLatents(t, pl.Pipeline, prompt, 3)
	out, err := runJob(context.Background(), t, e, 11, `{"prompt":"`+prompt+`","steps":6,"preview_every":2,"timings":true}`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.order, []string{"video.mp4", "video.gif", "thumbnail.png", "spritesheet.png"}) || out.results != 1 {
		t.Fatalf("artifacts %v, %d results", out.order, out.results)
	}
	if len(out.progress) != 6 || out.progress[5] != [2]int{6, 6} || len(out.previews) != 2 {
		t.Fatalf("progress %v, %d previews", out.progress, len(out.previews))
	}
	if n := len(gifFrames(t, out.previews[0])); n != 16 {
		t.Fatalf("preview of %d frames", n)
	}
	r := out.result
	if r.Model != oracleModel || r.Frames != 16 || r.FPS != 8 || r.Seconds != 2 || r.Width != 64 || r.Height != 64 ||
		r.Steps != 6 || r.GuidanceScale != 3 || r.Scheduler != "ddim" || r.Seed != 11 || len(r.Files) != 4 || r.Timings["unet_per_step"] <= 0 {
		t.Fatalf("result %+v", r)
	}
	frames := gifFrames(t, out.artifacts["video.gif"].Data)
	want, _ := shapes.ParseVideoPrompt(prompt)
	if bad := check.ReadClip(frames).Mismatches(want); len(bad) > 0 {
		t.Fatalf("the GIF does not show %q: %v wrong", prompt, bad)
	}
	thumb, err := png.Decode(bytes.NewReader(out.artifacts["thumbnail.png"].Data))
	if err != nil {
		t.Fatal(err)
	}
	sheet, err := png.Decode(bytes.NewReader(out.artifacts["spritesheet.png"].Data))
	if err != nil || sheet.Bounds().Dx() != 16*64 || sheet.Bounds().Dy() != 64 {
		t.Fatalf("spritesheet %v %v", sheet.Bounds(), err)
	}
	// The thumbnail and the sheet's first cell are the first frame; the GIF
	// maps it to its palette, so they agree to the palette's nearest colour.
	for _, pt := range []image.Point{{5, 5}, {32, 32}, {60, 10}} {
		a, b := thumb.At(pt.X, pt.Y), sheet.At(pt.X, pt.Y)
		if a != b {
			t.Fatalf("thumbnail %v ≠ spritesheet %v at %v", a, b, pt)
		}
	}
	mp4 := out.artifacts["video.mp4"].Data
	if p := mediatest.ProbeVideo(t, mp4, "video.mp4"); p.Frames != 16 || p.Codec != "h264" || p.Width != 64 || p.FrameRate != "8/1" {
		t.Fatalf("ffprobe: %+v", p)
	}
	raw := mediatest.Decode(t, mp4, "video.mp4", "rgb24")
	var decoded []image.Image
	for i := 0; i < 16; i++ {
		im := image.NewNRGBA(image.Rect(0, 0, 64, 64))
		for p := 0; p < 64*64; p++ {
			copy(im.Pix[4*p:], raw[(i*64*64+p)*3:][:3])
			im.Pix[4*p+3] = 255
		}
		decoded = append(decoded, im)
	}
	if bad := check.ReadClip(decoded).Mismatches(want); len(bad) > 0 {
		t.Fatalf("the MP4 does not show %q: %v wrong", prompt, bad)
	}
}

// TestGenerateSameBytes: the same request and seed give the same bytes.
func TestGenerateSameBytes(t *testing.T) {
	e, o := oracleEngine(t)
	pl, err := e.folders.Get(oracleModel)
	if err != nil {
		t.Fatal(err)
	}
	o.target, _ = clipLatents(t, pl.Pipeline, "a small blue circle moving left", 4)
	params := `{"prompt":"a small blue circle moving left","steps":3,"scheduler":"euler_a","preview_every":0}`
	a, err := runJob(context.Background(), t, e, 5, params)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := runJob(context.Background(), t, e, 5, params)
	for name, ev := range a.artifacts {
		if !bytes.Equal(ev.Data, b.artifacts[name].Data) {
			t.Fatalf("%s differs between two runs", name)
		}
	}
	if a.result.Candidates != 1 || a.result.Candidate != 0 {
		t.Fatalf("one candidate: result says %d, kept %d", a.result.Candidates, a.result.Candidate)
	}
	// Two candidates (the request's param): the same bytes again, and the result says so.
	params2 := `{"prompt":"a small blue circle moving left","steps":3,"preview_every":0,"candidates":2}`
	c, err := runJob(context.Background(), t, e, 5, params2)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := runJob(context.Background(), t, e, 5, params2)
	if c.result.Candidates != 2 || c.result.Candidate != d.result.Candidate || c.result.Candidate < 0 || c.result.Candidate > 1 {
		t.Fatalf("two candidates: results %+v and %+v", c.result, d.result)
	}
	for name, ev := range c.artifacts {
		if !bytes.Equal(ev.Data, d.artifacts[name].Data) {
			t.Fatalf("two candidates: %s differs between two runs", name)
		}
	}
}

// TestGenerateShapesAndFormats: frames, fps, size and format reach the
// files; upscaled frames say what they were sampled at.
func TestGenerateShapesAndFormats(t *testing.T) {
	e, o := oracleEngine(t)
	pl, _ := e.folders.Get(oracleModel)
	full, _ := clipLatents(t, pl.Pipeline, "a large green square moving up", 5)
	o.target = full[:8*4*16*16]
	out, err := runJob(context.Background(), t, e, 1, `{"prompt":"a large green square moving up","steps":2,"frames":8,"fps":4,"width":128,"height":128,"format":"gif","preview_every":0}`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.order, []string{"video.gif", "thumbnail.png", "spritesheet.png"}) {
		t.Fatalf("artifacts %v", out.order)
	}
	g, err := stdgif.DecodeAll(bytes.NewReader(out.artifacts["video.gif"].Data))
	if err != nil || len(g.Image) != 8 || g.Config.Width != 128 || g.Delay[0] != 25 {
		t.Fatalf("gif: %d frames %dx%d delay %v (%v)", len(g.Image), g.Config.Width, g.Config.Height, g.Delay, err)
	}
	if r := out.result; r.Seconds != 2 || !slices.Equal(r.UpscaledFrom, []int{64, 64}) || r.Width != 128 {
		t.Fatalf("result %+v", r)
	}
	o.target = full
	out, err = runJob(context.Background(), t, e, 1, `{"prompt":"a large green square moving up","steps":1,"format":"mp4","preview_every":0}`)
	if err != nil || !slices.Equal(out.order, []string{"video.mp4", "thumbnail.png", "spritesheet.png"}) {
		t.Fatalf("mp4 only: %v %v", out.order, err)
	}
}

// TestImageToVideo: the input picture reaches the motion model as the
// first frame's clean latents, VAE-encoded; bad pictures are refused.
func TestImageToVideo(t *testing.T) {
	e, o := oracleEngine(t)
	pl, _ := e.folders.Get(oracleModel)
	target, c := clipLatents(t, pl.Pipeline, "a small purple square moving right", 6)
	o.target = target
	var first bytes.Buffer
	png.Encode(&first, shapes.RenderClip(c)[0])
	out, err := runJob(context.Background(), t, e, 2, `{"prompt":"a small purple square moving right","steps":2,"preview_every":0}`,
		sdk.Blob{Name: "image", MIME: "image/png", Data: first.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := pl.EncodeImage(shapes.RenderClip(c)[0], 64)
	if !slices.Equal(o.first, want) || !out.result.ImageToVideo {
		t.Fatalf("first-frame latents not passed on (%d floats, want %d; result %+v)", len(o.first), len(want), out.result)
	}
	// Frame 0 is the picture's latents decoded, whatever the sampler ended
	// on there: the oracle now aims elsewhere, the thumbnail stays.
	o.target = slices.Clone(target)
	clear(o.target[:len(want)])
	again, err := runJob(context.Background(), t, e, 2, `{"prompt":"a small purple square moving right","steps":2,"preview_every":0}`,
		sdk.Blob{Name: "image", MIME: "image/png", Data: first.Bytes()})
	if err != nil || !bytes.Equal(again.artifacts["thumbnail.png"].Data, out.artifacts["thumbnail.png"].Data) {
		t.Fatalf("frame 0 is not the input picture's latents (%v)", err)
	}
	// A text-to-video run passes none.
	if _, err := runJob(context.Background(), t, e, 2, `{"prompt":"a small purple square moving right","steps":1,"preview_every":0}`); err != nil || o.first != nil {
		t.Fatalf("text-to-video: first %d floats, %v", len(o.first), err)
	}
}

// TestImageToVideoPictureGuidance: a folder with image_to_video_guidance
// "picture" runs the unconditional half without the picture (its frame 0
// the picture noised, not the sampler's) and still ends on the oracle's
// video with the picture as frame 0; text-to-video is unchanged.
func TestImageToVideoPictureGuidance(t *testing.T) {
	e, o := oracleEngine(t)
	pl, _ := e.folders.Get(oracleModel)
	pl.defaults.ImageToVideoGuidance = "picture"
	defer func() { pl.defaults.ImageToVideoGuidance = "" }()
	target, c := clipLatents(t, pl.Pipeline, "a large red circle moving up", 7)
	o.target = target
	var first bytes.Buffer
	png.Encode(&first, shapes.RenderClip(c)[0])
	o.plain = 0
	const params = `{"prompt":"a small purple square moving right","steps":3,"guidance_scale":4,"preview_every":0}`
	out, err := runJob(context.Background(), t, e, 2, params, sdk.Blob{Name: "image", MIME: "image/png", Data: first.Bytes()})
	if err != nil || o.plain != 3 || !out.result.ImageToVideo {
		t.Fatalf("picture guidance: %v, %d steps without the picture, result %+v", err, o.plain, out.result)
	}
	want, _ := pl.EncodeImage(shapes.RenderClip(c)[0], 64)
	if slices.Equal(o.plainF, want) {
		t.Fatal("the unconditional half saw the clean picture as frame 0")
	}
	// It ends where the prompt-guided run ends: both halves aim at the oracle's target.
	pl.defaults.ImageToVideoGuidance = ""
	ref, err := runJob(context.Background(), t, e, 2, params, sdk.Blob{Name: "image", MIME: "image/png", Data: first.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ref.artifacts["thumbnail.png"].Data, out.artifacts["thumbnail.png"].Data) {
		t.Fatal("frame 0 differs from the picture")
	}
	if !bytes.Equal(ref.artifacts["spritesheet.png"].Data, out.artifacts["spritesheet.png"].Data) {
		t.Fatal("the picture-guided video does not end on the oracle's")
	}
	pl.defaults.ImageToVideoGuidance = "picture"
	o.plain = 0
	if _, err := runJob(context.Background(), t, e, 2, `{"prompt":"a small purple square moving right","steps":2,"preview_every":0}`); err != nil || o.plain != 0 {
		t.Fatalf("text-to-video: %v, %d steps without a picture", err, o.plain)
	}
}

// bomb is a PNG header that claims 100000×100000 pixels.
func bomb() []byte {
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	raw := b.Bytes()
	copy(raw[16:24], []byte{0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0}) // IHDR width, height
	binary.BigEndian.PutUint32(raw[29:], crc32.ChecksumIEEE(raw[12:29]))
	return raw
}

func TestBadInput(t *testing.T) {
	e, o := oracleEngine(t)
	o.target = make([]float32, 16*4*16*16)
	for _, c := range []struct {
		params string
		inputs []sdk.Blob
		want   string
	}{
		{`{}`, nil, `"prompt" is required`},
		{`{"prompt":"   "}`, nil, "prompt is required"},
		{`{"prompt":"x","steps":151}`, nil, "steps: 151 is above the maximum 150"},
		{`{"prompt":"x","steps":-1}`, nil, "steps: -1 is below the minimum 1"},
		{`{"prompt":"x","frames":65}`, nil, "frames: 65 is above the maximum 64"},
		{`{"prompt":"x","frames":25}`, nil, "cover 24 frames"},
		{`{"prompt":"x","fps":0.5}`, nil, "params"},
		{`{"prompt":"x","fps":61}`, nil, "fps: 61 is above the maximum 60"},
		{`{"prompt":"x","guidance_scale":31}`, nil, "guidance_scale: 31 is above the maximum 30"},
		{`{"prompt":"x","scheduler":"heun"}`, nil, "scheduler: \"heun\" is not one of"},
		{`{"prompt":"x","format":"avi"}`, nil, "format: \"avi\" is not one of"},
		{`{"prompt":"x","candidates":5}`, nil, "candidates: 5 is above the maximum 4"},
		{`{"prompt":"x","candidates":0.5}`, nil, "params"},
		{`{"prompt":"x","width":100}`, nil, "width 100"},
		{`{"prompt":"x","width":512,"height":512,"frames":20}`, nil, "at most"},
		{`{"prompt":"x","seconds":2}`, nil, "seconds: unknown key"},
		{`{"prompt":"` + strings.Repeat("x", 4097) + `"}`, nil, "the limit is 4096"},
		{`{"prompt":"x"}`, []sdk.Blob{{Name: "image", Data: []byte("not an image")}}, "image:"},
		{`{"prompt":"x"}`, []sdk.Blob{{Name: "image", Data: bomb()}}, "100000"},
		{`{"prompt":"x"}`, []sdk.Blob{{Name: "video", Data: []byte("x")}}, "not \"video\""},
	} {
		_, err := runJob(context.Background(), t, e, 1, c.params, c.inputs...)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeInvalidRequest || !strings.Contains(se.Message, c.want) {
			t.Errorf("%s: %v, want invalid_request naming %q", c.params[:min(len(c.params), 60)], err, c.want)
		}
	}
	err := e.Run(context.Background(), sdk.Job{Task: taskGenerate, Model: "nope", Params: json.RawMessage(`{"prompt":"x"}`)}, func(sdk.Event) error { return nil })
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != sdk.CodeModelNotFound {
		t.Errorf("unknown model: %v", err)
	}
}

// TestCancel: a cancelled job stops within a step and says so.
func TestCancel(t *testing.T) {
	e, o := oracleEngine(t)
	o.target = make([]float32, 16*4*16*16)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := e.Run(ctx, sdk.Job{Task: taskGenerate, Model: oracleModel, Params: json.RawMessage(`{"prompt":"x","steps":50,"preview_every":0}`)},
		func(ev sdk.Event) error {
			if ev.Kind == sdk.EventProgress {
				if calls++; calls == 2 {
					cancel()
				}
			}
			if ev.Kind == sdk.EventArtifact || ev.Kind == sdk.EventResult {
				t.Errorf("%v after cancel", ev.Kind)
			}
			return nil
		})
	if !errors.Is(err, context.Canceled) || calls != 2 {
		t.Fatalf("cancelled run: %v after %d steps", err, calls)
	}
}

// TestUnready: with no video folder the task is listed not ready and jobs
// fail model_unavailable naming what is missing.
func TestUnready(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LOOM_MODELS", dir) // the message names the layout under LOOM_MODELS (empty: it says so instead)
	none := newVideoEngine([]string{dir})
	m, err := none.Describe(context.Background())
	if err != nil || len(m.Models) != 1 || m.Models[0].Ready || !strings.Contains(m.Models[0].Missing, "motion_adapter") {
		t.Fatalf("manifest %+v %v", m, err)
	}
	err = none.Run(context.Background(), sdk.Job{Task: taskGenerate, Params: json.RawMessage(`{"prompt":"x"}`)}, func(sdk.Event) error { return nil })
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != sdk.CodeModelUnavailable {
		t.Fatalf("no folder: %v", err)
	}
}

// A frame size the model cannot make is refused naming the side at fault.
func TestOutputSizeNamesItsParam(t *testing.T) {
	for _, c := range []struct {
		w, h int
		name string
	}{{7, 64, "width"}, {64, 7, "height"}} {
		_, _, err := outputSize(c.w, c.h, 64)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeInvalidRequest || se.Param != c.name {
			t.Errorf("%dx%d: %v, want invalid_request with param %s", c.w, c.h, err, c.name)
		}
	}
	if w, h, err := outputSize(64, 64, 64); err != nil || w != 64 || h != 64 {
		t.Errorf("64x64: %d %d %v", w, h, err)
	}
}

// pickMotion is a motionModel for the candidates test: while sampling (both
// guidance halves, 2·items rows) it steers video i to targets[i], as the
// oracle does; when scored (items rows) its output is the one that is exact
// for clean latents of zero, so an all-zero candidate scores 0 and any
// other more.
type pickMotion struct {
	p       *diffusion.Pipeline
	targets [][]float32
	scored  int
}

func (m *pickMotion) LatentChannels() int      { return 4 }
func (m *pickMotion) SampleSize() int          { return 16 }
func (m *pickMotion) MaxFrames() int           { return 24 }
func (m *pickMotion) FrameNoiseShare() float64 { return 0 }
func (m *pickMotion) ForwardNoPicture(out, latents []float32, videos, frames, h, w int, t float32, ctx []float32, ctxLen int) error {
	return m.Forward(out, latents, videos, frames, h, w, t, ctx, ctxLen, nil)
}

func (m *pickMotion) Forward(out, latents []float32, videos, frames, h, w int, t float32, ctx []float32, ctxLen int, first []float32) error {
	per, items := frames*4*h*w, len(m.targets)
	ac := sched.AlphasCumprod(m.p.Sched)[int(t)]
	a, s := math.Sqrt(ac), math.Sqrt(1-ac)
	v := m.p.Sched.PredictionType == "v_prediction"
	if videos == items { // scoring
		m.scored++
		k := 1 / s
		if v {
			k = a / s
		}
		for q := range latents {
			out[q] = float32(k * float64(latents[q]))
		}
		return nil
	}
	for r := 0; r < videos; r++ {
		x0s := m.targets[r%items]
		for j := 0; j < per; j++ {
			x0 := float64(x0s[j])
			eps := (float64(latents[r*per+j]) - a*x0) / s
			if v {
				out[r*per+j] = float32(a*eps - s*x0)
			} else {
				out[r*per+j] = float32(eps)
			}
		}
	}
	return nil
}

// A folder with candidates samples that many videos of one seed side by
// side, scores each (diffusion.DenoiseError at rerank_timestep) and keeps
// the lowest: whichever candidate ends on clean latents of zero, which the
// test model scores 0, is the one returned; with one candidate there is no
// scoring and the video is candidate 0's.
func TestGenerateKeepsTheBestCandidate(t *testing.T) {
	e, _ := oracleEngine(t)
	pl, _ := e.folders.Get(oracleModel)
	clip, _ := clipLatents(t, pl.Pipeline, "a large red circle moving up", 7)
	zero := make([]float32, len(clip))
	ctx2, err := pl.EncodePrompts("a large red circle moving up", "")
	if err != nil {
		t.Fatal(err)
	}
	dist := func(a, b []float32) float64 { // mean absolute difference
		d := 0.0
		for i := range a {
			d += math.Abs(float64(a[i] - b[i]))
		}
		return d / float64(len(a))
	}
	apart := dist(clip, zero)
	near := func(a, b []float32) bool { return dist(a, b) < apart/20 }
	r := run{Defaults: diffusion.Defaults{Scheduler: "ddim", Steps: 4, GuidanceScale: 3}, frames: 16, seed: 9}
	for _, c := range []struct {
		targets [][]float32
		want    []float32
		chosen  int
		scored  int
	}{
		{[][]float32{clip, zero}, zero, 1, 1},
		{[][]float32{zero, clip}, zero, 0, 1},
		{[][]float32{clip, clip, zero}, zero, 2, 1},
		{[][]float32{clip}, clip, 0, 0},
	} {
		m := &pickMotion{p: pl.Pipeline, targets: c.targets}
		p := &pipeline{Pipeline: pl.Pipeline, motion: m, side: 16, native: 64,
			defaults: videoDefaults{Frames: 16, FPS: 8, Candidates: 1, RerankTimestep: 700}}
		r.candidates = len(c.targets)
		x, chosen, err := p.generate(r, ctx2, diffusion.Hooks{Stopped: func() error { return nil }, Progress: func(int, int) error { return nil }, Timings: func(string, time.Duration) {}})
		if err != nil {
			t.Fatal(err)
		}
		if len(x) != len(clip) || !near(x, c.want) || m.scored != c.scored || chosen != c.chosen {
			t.Errorf("%d candidates: got %d floats (the wanted video: %v), candidate %d (want %d), scored %d times",
				len(c.targets), len(x), len(x) == len(clip) && near(x, c.want), chosen, c.chosen, m.scored)
		}
	}
}

// A folder's candidates and rerank_timestep are bounded when it loads.
func TestCandidatesRefused(t *testing.T) {
	oracleEngine(t)
	for _, d := range []string{`"candidates":5,"rerank_timestep":700`, `"candidates":2,"rerank_timestep":-5`, `"candidates":-1`, `"candidates":2,"rerank_timestep":1000`} {
		dir := t.TempDir()
		m := filepath.Join(dir, "v")
		os.MkdirAll(filepath.Join(m, "motion_adapter"), 0o755)
		for _, part := range []string{"text_encoder", "tokenizer", "vae", "scheduler", "unet"} {
			os.Symlink(filepath.Join(shapesDiffusion, part), filepath.Join(m, part))
		}
		os.WriteFile(filepath.Join(m, "motion_adapter", "config.json"), []byte(`{"motion_max_seq_length":24}`), 0o644)
		os.WriteFile(filepath.Join(m, "model_index.json"), []byte(`{"_class_name":"AnimateDiffPipeline","loom":{"defaults":{`+d+`}}}`), 0o644)
		_, err := loadPipeline(m, func(p *diffusion.Pipeline) (motionModel, error) { return &pickMotion{p: p}, nil })
		if err == nil || !strings.Contains(err.Error(), "candidates") {
			t.Errorf("defaults {%s}: %v", d, err)
		}
	}
}
