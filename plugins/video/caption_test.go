package main

import (
	"bytes"
	"context"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/diffusion"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/shapes"
)

var shapesCaptioner, _ = filepath.Abs("../../models/shapes-captioner")

// captionFolder writes a models directory holding the oracle's folder with
// model_index.json's loom part set to loom, and shapes-captioner beside it.
func captionFolder(t *testing.T, loom string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(shapesCaptioner, "config.json")); err != nil {
		t.Skipf("%s absent: %v", shapesCaptioner, err)
	}
	models := t.TempDir()
	m := filepath.Join(models, oracleModel)
	if err := os.MkdirAll(filepath.Join(m, "motion_adapter"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"text_encoder", "tokenizer", "vae", "scheduler", "unet"} {
		if err := os.Symlink(filepath.Join(shapesDiffusion, part), filepath.Join(m, part)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(shapesCaptioner, filepath.Join(models, "shapes-captioner")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(m, "motion_adapter", "config.json"), []byte(`{"motion_max_seq_length":24}`), 0o644)
	os.WriteFile(filepath.Join(m, "model_index.json"), []byte(`{"_class_name":"AnimateDiffPipeline","loom":`+loom+`}`), 0o644)
	return models
}

func pngOf(t *testing.T, s shapes.Scene) sdk.Blob {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, shapes.Render(s)); err != nil {
		t.Fatal(err)
	}
	return sdk.Blob{Name: "image", MIME: "image/png", Data: b.Bytes()}
}

// TestImageToVideoCaption: a folder with image_to_video_prompt prompts the
// model with the picture's object, read by the captioner beside it, moving
// the prompt's way — the text states the denoiser gets are that prompt's,
// and the result says what was read and used. A picture of two objects or a
// prompt outside the video grammar keeps the prompt as given; text-to-video
// is unchanged.
func TestImageToVideoCaption(t *testing.T) {
	if _, err := os.Stat(filepath.Join(shapesDiffusion, "vae", "config.json")); err != nil {
		t.Skipf("%s absent: %v", shapesDiffusion, err)
	}
	models := captionFolder(t, `{"defaults":{"steps":2,"guidance_scale":3,"frames":16,"fps":8},
		"image_to_video_prompt":{"captioner":"shapes-captioner","grammar":"shapes"}}`)
	o := &oracleMotion{}
	e := newVideoEngineWith([]string{models}, func(p *diffusion.Pipeline) (motionModel, error) { o.p = p; return o, nil })
	pl, err := e.folders.Get(oracleModel)
	if err != nil {
		t.Fatal(err)
	}
	target, clip := clipLatents(t, pl.Pipeline, "a small blue circle moving down", 8)
	o.target = target
	states := func(prompt string) []float32 {
		ctx2, err := pl.EncodePrompts(prompt, "")
		if err != nil {
			t.Fatal(err)
		}
		return ctx2[len(ctx2)/2:]
	}
	const params = `{"prompt":"a large red square moving down","preview_every":0}`
	out, err := runJob(context.Background(), t, e, 3, params, pngOf(t, clip.Scene(0)))
	if err != nil {
		t.Fatal(err)
	}
	r := out.result
	objs, err := shapes.ParseCaption(r.ImageCaption)
	if err != nil || len(objs) != 1 || objs[0].Shape != "circle" || objs[0].Colour != "blue" || objs[0].Size != "small" {
		t.Fatalf("image_caption %q (%v), want a small blue circle", r.ImageCaption, err)
	}
	if r.ModelPrompt != "a small blue circle moving down" || !r.ImageToVideo {
		t.Fatalf("model_prompt %q, want the picture's object moving down", r.ModelPrompt)
	}
	if got := o.ctx[len(o.ctx)/2:]; !slices.Equal(got, states(r.ModelPrompt)) {
		t.Fatal("the denoiser did not get model_prompt's text states")
	}

	// Two objects in the picture: the prompt as given.
	two, err := shapes.SceneOf(rand.New(rand.NewPCG(2, 2)), []shapes.Attrs{
		{Shape: "circle", Colour: "blue", Size: "small", Place: "left"}, {Shape: "square", Colour: "green", Size: "large", Place: "right"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err = runJob(context.Background(), t, e, 3, params, pngOf(t, two))
	if err != nil {
		t.Fatal(err)
	}
	if r := out.result; !strings.Contains(r.ImageCaption, " and ") || r.ModelPrompt != "a large red square moving down" {
		t.Fatalf("two objects: image_caption %q, model_prompt %q; want the prompt as given", r.ImageCaption, r.ModelPrompt)
	}
	if got := o.ctx[len(o.ctx)/2:]; !slices.Equal(got, states("a large red square moving down")) {
		t.Fatal("two objects: the denoiser did not get the prompt's text states")
	}
	// A prompt outside the video grammar: as given.
	out, err = runJob(context.Background(), t, e, 3, `{"prompt":"a ball rolling away","preview_every":0}`, pngOf(t, clip.Scene(0)))
	if err != nil || out.result.ModelPrompt != "a ball rolling away" || out.result.ImageCaption == "" {
		t.Fatalf("prompt outside the grammar: %v, result %+v", err, out.result)
	}
	// Text-to-video: no caption.
	out, err = runJob(context.Background(), t, e, 3, params)
	if err != nil || out.result.ImageCaption != "" || out.result.ModelPrompt != "" || out.result.ImageToVideo {
		t.Fatalf("text-to-video: %v, result %+v", err, out.result)
	}
	if got := o.ctx[len(o.ctx)/2:]; !slices.Equal(got, states("a large red square moving down")) {
		t.Fatal("text-to-video: the denoiser did not get the prompt's text states")
	}
}

// TestImageToVideoCaptionBadFolder: a folder naming an unknown grammar, a
// captioner that is not beside it or a path is refused at load, saying why.
func TestImageToVideoCaptionBadFolder(t *testing.T) {
	if _, err := os.Stat(filepath.Join(shapesDiffusion, "vae", "config.json")); err != nil {
		t.Skipf("%s absent: %v", shapesDiffusion, err)
	}
	for _, c := range []struct{ loom, want string }{
		{`{"image_to_video_prompt":{"captioner":"shapes-captioner","grammar":"english"}}`, `grammar "english"`},
		{`{"image_to_video_prompt":{"captioner":"shapes-captioner"}}`, `grammar ""`},
		{`{"image_to_video_prompt":{"captioner":"no-such-captioner","grammar":"shapes"}}`, `"no-such-captioner" is not a captioner folder`},
		{`{"image_to_video_prompt":{"captioner":"","grammar":"shapes"}}`, `captioner "" is not`},
		{`{"image_to_video_prompt":{"captioner":"../models/shapes-captioner","grammar":"shapes"}}`, `is not a captioner folder beside`},
		{`{"image_to_video_prompt":{"captioner":"shapes-oracle","grammar":"shapes"}}`, `"shapes-oracle" is not a captioner folder`},
	} {
		models := captionFolder(t, c.loom)
		_, err := loadPipeline(filepath.Join(models, oracleModel), func(p *diffusion.Pipeline) (motionModel, error) { return &oracleMotion{p: p}, nil })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.loom, err, c.want)
		}
	}
}
