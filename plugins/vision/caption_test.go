package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/shapes"
)

var modelsDir, _ = filepath.Abs("../../models")

// captionEngineOrSkip returns an engine over dirs (default models/) that has
// the shapes captioner, or skips the test.
func captionEngineOrSkip(t *testing.T, dirs ...string) sdk.Engine {
	t.Helper()
	if len(dirs) == 0 {
		dirs = []string{modelsDir}
	}
	e := newVisionEngine(dirs)
	if _, ok := e.caption.models()["shapes-captioner"]; !ok {
		t.Skip("models/shapes-captioner absent: train it with tools/captioner/train.py")
	}
	return e
}

func runCaption(t testing.TB, e sdk.Engine, img []byte, params string) (string, error) {
	t.Helper()
	var out string
	err := e.Run(context.Background(), sdk.Job{Task: "image.caption", Model: "shapes-captioner",
		Params: json.RawMessage(params), Inputs: []sdk.Blob{{Name: "image", MIME: "image/png", Data: img}}},
		func(ev sdk.Event) error {
			var r struct{ Caption string }
			if ev.Kind == sdk.EventResult {
				if err := json.Unmarshal(ev.Result, &r); err != nil {
					return err
				}
				out = r.Caption
			}
			return nil
		})
	return out, err
}

func encodePNG(img image.Image) []byte {
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func encodeJPEG(img image.Image, q int) []byte {
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: q})
	return b.Bytes()
}

// TestCaptionAccuracy is the model card's proof: fresh Shapes scenes from a
// seed training never used (train 1, validation 2), captioned through the
// plugin's own path (bytes → decode → ViT → GPT-2 → words); at least 95% of
// captions exactly right, and the same scenes as JPEG (quality 75) and
// enlarged to 128×128 and 256×256 before upload.
func TestCaptionAccuracy(t *testing.T) {
	e := captionEngineOrSkip(t)
	n := 500
	if testing.Short() {
		n = 100
	}
	r := rand.New(rand.NewPCG(20261128, 0x5ba9e5))
	variants := map[string]func(image.Image) []byte{
		"png":     encodePNG,
		"jpeg75":  func(i image.Image) []byte { return encodeJPEG(i, 75) },
		"png128":  func(i image.Image) []byte { return encodePNG(imaging.Resize(i, 128, 128, imaging.Lanczos)) },
		"jpeg256": func(i image.Image) []byte { return encodeJPEG(imaging.Resize(i, 256, 256, imaging.Lanczos), 75) },
	}
	right := map[string]int{}
	attrs := map[string]*attrScore{}
	for name := range variants {
		attrs[name] = &attrScore{}
	}
	for i := 0; i < n; i++ {
		s := shapes.RandomScene(r, 0.5)
		img := shapes.Render(s)
		for name, enc := range variants {
			got, err := runCaption(t, e, enc(img), `{}`)
			if err != nil {
				t.Fatal(err)
			}
			attrs[name].add(s, got)
			if got == s.Caption() {
				right[name]++
			} else if right[name] < 3 {
				t.Logf("%s: got %q want %q", name, got, s.Caption())
			}
		}
	}
	for name := range variants {
		acc := float64(right[name]) / float64(n)
		t.Logf("%s: %d/%d exact (%.1f%%); %s", name, right[name], n, 100*acc, attrs[name])
		if acc < 0.95 {
			t.Errorf("%s: %.1f%% exact captions, want ≥ 95%%", name, 100*acc)
		}
	}
}

func TestCaptionRejectsBadInput(t *testing.T) {
	e := captionEngineOrSkip(t)
	img := encodePNG(shapes.Render(shapes.RandomScene(rand.New(rand.NewPCG(1, 1)), 0)))
	for name, c := range map[string]struct {
		img    []byte
		params string
		code   sdk.Code
	}{
		"corrupt":     {[]byte("\x89PNG\r\n\x1a\nnot really"), `{}`, sdk.CodeInvalidRequest},
		"text":        {[]byte("hello"), `{}`, sdk.CodeInvalidRequest},
		"beam 0..8":   {img, `{"beam":9}`, sdk.CodeInvalidRequest},
		"unknown key": {img, `{"temperature":1}`, sdk.CodeInvalidRequest},
		"wrong type":  {img, `{"beam":"wide"}`, sdk.CodeInvalidRequest},
	} {
		_, err := runCaption(t, e, c.img, c.params)
		if !sdk.IsCode(err, c.code) {
			t.Errorf("%s: err %v, want code %s", name, err, c.code)
		}
	}
	err := e.Run(context.Background(), sdk.Job{Task: "image.caption", Model: "nope", Inputs: []sdk.Blob{{Name: "image", Data: img}}},
		func(sdk.Event) error { return nil })
	if !sdk.IsCode(err, sdk.CodeModelNotFound) {
		t.Errorf("unknown model: %v", err)
	}
}

// TestBeamSearchCaptions: beam width 4 stays inside the grammar and is as
// accurate as greedy decoding (at most one scene worse of 40).
func TestBeamSearchCaptions(t *testing.T) {
	e := captionEngineOrSkip(t)
	r := rand.New(rand.NewPCG(99, 7))
	const n = 40
	greedyRight, beamRight := 0, 0
	for i := 0; i < n; i++ {
		s := shapes.RandomScene(r, 0.5)
		img := encodePNG(shapes.Render(s))
		g, err1 := runCaption(t, e, img, `{"beam":1}`)
		b, err2 := runCaption(t, e, img, `{"beam":4}`)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if _, err := shapes.ParseCaption(b); err != nil {
			t.Errorf("beam caption outside the grammar: %q", b)
		}
		greedyRight += b2i(g == s.Caption())
		beamRight += b2i(b == s.Caption())
	}
	t.Logf("exact of %d: greedy %d, beam 4 %d", n, greedyRight, beamRight)
	if beamRight < greedyRight-1 || beamRight < n*9/10 {
		t.Errorf("beam 4 got %d of %d exact, greedy %d", beamRight, n, greedyRight)
	}
}

// TestCaptionsSideBySide: captions running at once (greedy and beam, four
// requesters on a 2-thread pool) are exactly the captions of the same images
// run one at a time.
func TestCaptionsSideBySide(t *testing.T) {
	e := captionEngineOrSkip(t)
	old := kernels.Default().Threads()
	kernels.SetThreads(2)
	defer kernels.SetThreads(old)
	r := rand.New(rand.NewPCG(5, 11))
	const n = 12
	imgs, params := make([][]byte, n), make([]string, n)
	want := make([]string, n)
	for i := range imgs {
		imgs[i] = encodePNG(shapes.Render(shapes.RandomScene(r, 0.5)))
		params[i] = fmt.Sprintf(`{"beam":%d}`, 1+i%3)
		var err error
		if want[i], err = runCaption(t, e, imgs[i], params[i]); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range 4 {
		wg.Go(func() {
			for i := k; i < n; i += 4 {
				got[i], errs[i] = runCaption(t, e, imgs[i], params[i])
			}
		})
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != want[i] {
			t.Errorf("image %d (%s): side by side %q (%v), alone %q", i, params[i], got[i], errs[i], want[i])
		}
	}
}

func TestDescribeListsCaptioner(t *testing.T) {
	captionEngineOrSkip(t)
	m, err := newVisionEngine([]string{modelsDir}).Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, mi := range m.Models {
		found = found || (mi.ID == "shapes-captioner" && mi.Ready)
	}
	if !found {
		t.Fatalf("manifest lacks a ready shapes-captioner: %+v", m.Models)
	}
}

// attrScore counts, per attribute, how many objects of the truth a caption
// got right (objects matched in caption order; a caption outside the grammar
// or with the wrong object count scores nothing for that scene).
type attrScore struct{ objects, count, shape, colour, size, place, scenes int }

func (a *attrScore) add(s shapes.Scene, got string) {
	a.scenes++
	a.objects += len(s.Objects)
	pred, err := shapes.ParseCaption(got)
	if err != nil || len(pred) != len(s.Objects) {
		return
	}
	a.count++
	for i, o := range s.Objects {
		p := pred[i]
		a.shape += b2i(p.Shape == o.Shape)
		a.colour += b2i(p.Colour == o.Colour)
		a.size += b2i(p.Size == o.Size)
		a.place += b2i(p.Place == o.Place)
	}
}

func (a *attrScore) String() string {
	pc := func(k, n int) float64 { return 100 * float64(k) / float64(max(n, 1)) }
	return fmt.Sprintf("object count %.1f%%, shape %.1f%%, colour %.1f%%, size %.1f%%, place %.1f%%",
		pc(a.count, a.scenes), pc(a.shape, a.objects), pc(a.colour, a.objects), pc(a.size, a.objects), pc(a.place, a.objects))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCaptionPrompt: a prompt made of the model's words is a caption prefix
// the decoder continues from (even one that contradicts the image, so the
// prefix is shown to be forced, not matched); a question is not, and the
// caption is then the plain one with prompt_used false.
func TestCaptionPrompt(t *testing.T) {
	e := captionEngineOrSkip(t)
	s := shapes.RandomScene(rand.New(rand.NewPCG(7, 7)), 0)
	img := encodePNG(shapes.Render(s))
	plain, err := runCaption(t, e, img, `{}`)
	if err != nil || plain != s.Caption() {
		t.Fatalf("plain caption %q (%v), want %q", plain, err, s.Caption())
	}
	run := func(prompt string) tasks.ImageCaptionResult {
		t.Helper()
		var out tasks.ImageCaptionResult
		params, _ := json.Marshal(map[string]string{"prompt": prompt})
		err := e.Run(context.Background(), sdk.Job{Task: "image.caption", Model: "shapes-captioner", Params: params,
			Inputs: []sdk.Blob{{Name: "image", MIME: "image/png", Data: img}}}, func(ev sdk.Event) error {
			if ev.Kind == sdk.EventResult {
				return json.Unmarshal(ev.Result, &out)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("prompt %q: %v", prompt, err)
		}
		return out
	}
	words := strings.Fields(s.Caption())
	prefix := strings.Join(words[:3], " ")
	if got := run(prefix); !got.PromptUsed || got.Caption != s.Caption() {
		t.Errorf("prefix %q: %+v, want the whole caption %q", prefix, got, s.Caption())
	}
	other := "a small green triangle"
	if words[2] == "green" {
		other = "a small purple triangle"
	}
	if got := run(other + "."); !got.PromptUsed || !strings.HasPrefix(got.Caption, other+" ") || len(got.Caption) <= len(other)+1 {
		t.Errorf("forced prefix %q: %+v, want a caption continuing it", other, got)
	}
	if got := run("What is in this image?"); got.PromptUsed || got.Caption != s.Caption() {
		t.Errorf("question: %+v, want the plain caption %q and prompt_used false", got, s.Caption())
	}
	if _, err := runCaption(t, e, img, fmt.Sprintf(`{"prompt":%q}`, strings.Repeat("a ", 3000))); err == nil {
		t.Error("a 6000-byte prompt was accepted")
	}
}
