package e2e

// OpenAI's video API through the official Go SDK (openai-go: Videos.New,
// Get, List, Delete, DownloadContent) against real loom processes: a
// gateway and a worker over a redis-server of the test's own, so a gateway
// restart in the middle shows that no video is lost. The videos come from
// examples/shapesvideo (model "shapes-render"), a procedural renderer of the
// Shapes motion world that writes its files with core/media as the video
// plugin does, so the test checks the API and the files it carries — MP4
// frames counted by ffprobe and read back by the classical checker, played
// to the end in headless Chromium — whatever diffusion models are installed.
// The real video plugin runs beside it on its tiny random-init pipelines.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/loomhq/loom/core/media/mediatest"
	"github.com/loomhq/loom/shapes"
	"github.com/loomhq/loom/shapes/check"
)

func TestVideosSDK(t *testing.T) {
	plugins := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(plugins, "loom-plugin-shapesvideo"), "./examples/shapesvideo")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build shapesvideo: %v\n%s", err, out)
	}
	// The plugin directory takes regular files only: a copy of the video plugin.
	bin, err := os.ReadFile(filepath.Join(binDir, "loom-plugin-video"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "loom-plugin-video"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	r := startRedis(t)
	gwPort := freePort(t)
	gwArgs := []string{"gateway", "--redis", r.url(), "--addr", fmt.Sprintf("127.0.0.1:%d", gwPort), "--api-keys", sdkKey}
	gw := loom(t, "gateway", gwArgs...)
	tiny, _ := filepath.Abs("../plugins/video/testdata") // the video plugin's tiny motion-UNet pipelines
	loom(t, "worker", "worker", "--redis", r.url(), "--id", "vw", "--plugins", plugins, "--models", tiny, "--log-level", "warn")
	base := fmt.Sprintf("http://127.0.0.1:%d", gwPort)
	(&client{t: t, base: base}).waitReady(1, 40*time.Second)
	ai := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey(sdkKey), option.WithMaxRetries(0),
		option.WithRequestTimeout(time.Minute))
	ctx := context.Background()

	const prompt = "a large green triangle moving right"
	v, err := ai.Videos.New(ctx, openai.VideoNewParams{Prompt: prompt, Model: "shapes-render", Seconds: "2", Size: "64x64"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Object != "video" || v.Model != "shapes-render" || v.Prompt != prompt || v.Seconds != "2" || v.Size != "64x64" ||
		(v.Status != openai.VideoStatusQueued && v.Status != openai.VideoStatusInProgress) || v.CreatedAt == 0 {
		t.Fatalf("created: %s", v.RawJSON())
	}

	// The gateway restarts; the video is still there, and done.
	gw.stop(t)
	loom(t, "gateway-2", gwArgs...)
	(&client{t: t, base: base}).waitReady(1, 30*time.Second)
	v = awaitVideo(t, ai, v.ID)
	if v.Status != openai.VideoStatusCompleted || v.Progress != 100 || v.CompletedAt == 0 || v.ExpiresAt <= v.CompletedAt {
		t.Fatalf("after the restart: %s", v.RawJSON())
	}

	mp4 := download(t, ai, v.ID, "video")
	if p := mediatest.ProbeVideo(t, mp4, "video.mp4"); p.Codec != "h264" || p.Frames != 16 || p.Width != 64 || p.FrameRate != "8/1" {
		t.Fatalf("ffprobe: %+v", p)
	}
	want, _ := shapes.ParseVideoPrompt(prompt)
	if bad := check.ReadClip(rgbFrames(mediatest.Decode(t, mp4, "video.mp4", "rgb24"), 16, 64)).Mismatches(want); len(bad) > 0 {
		t.Fatalf("the MP4 does not show %q: %v wrong", prompt, bad)
	}
	if res := mediatest.PlayInChromium(t, 90*time.Second, mp4)[0]; !res.Ended || res.Width != 64 || res.Duration != 2 {
		t.Fatalf("chromium: %q", res.Raw)
	}
	if im := pngOf(t, download(t, ai, v.ID, "thumbnail")); im.Bounds().Dx() != 64 || im.Bounds().Dy() != 64 {
		t.Fatalf("thumbnail %v", im.Bounds())
	}
	if im := pngOf(t, download(t, ai, v.ID, "spritesheet")); im.Bounds().Dx() != 16*64 || im.Bounds().Dy() != 64 {
		t.Fatalf("spritesheet %v", im.Bounds())
	}

	// Image-to-video: the input_reference file part; the object in it moves.
	first, _ := shapes.SceneOf(rand.New(rand.NewPCG(4, 4)), []shapes.Attrs{{Shape: "circle", Colour: "blue", Size: "small", Place: "center"}})
	var ref bytes.Buffer
	png.Encode(&ref, shapes.Render(first))
	i2v, err := ai.Videos.New(ctx, openai.VideoNewParams{Prompt: "a small blue circle moving up", Model: "shapes-render",
		InputReference: openai.VideoNewParamsInputReferenceUnion{OfFile: openai.File(bytes.NewReader(ref.Bytes()), "first.png", "image/png")}})
	if err != nil {
		t.Fatal(err)
	}
	i2v = awaitVideo(t, ai, i2v.ID)
	frames := rgbFrames(mediatest.Decode(t, download(t, ai, i2v.ID, "video"), "video.mp4", "rgb24"), 16, 64)
	got := check.ReadClip(frames)
	if bad := got.Mismatches(shapes.VideoAttrs{Shape: "circle", Colour: "blue", Size: "small", Direction: "up"}); len(bad) > 0 {
		t.Fatalf("image-to-video: %v wrong", bad)
	}
	if f0 := check.ReadFrame(frames[0]); len(f0.Blobs) != 1 || abs(f0.Blobs[0].CX-first.Objects[0].CX) > 1.5 {
		t.Fatalf("the first frame does not start where the picture's object is: %+v vs %+v", f0.Blobs, first.Objects[0])
	}
	// The same, as an image URL (a data: URL) inside the multipart body.
	url, err := ai.Videos.New(ctx, openai.VideoNewParams{Prompt: "a small blue circle moving down", Model: "shapes-render",
		InputReference: openai.VideoNewParamsInputReferenceUnion{OfImageInputReference: &openai.ImageInputReferenceParam{
			ImageURL: openai.String("data:image/png;base64," + base64.StdEncoding.EncodeToString(ref.Bytes()))}}})
	if err != nil {
		t.Fatal(err)
	}
	if u := awaitVideo(t, ai, url.ID); u.Status != openai.VideoStatusCompleted {
		t.Fatalf("image URL reference: %s", u.RawJSON())
	}

	// List: newest first, pages of two.
	page, err := ai.Videos.List(ctx, openai.VideoListParams{Limit: openai.Int(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 2 || page.Data[0].ID != url.ID || page.Data[1].ID != i2v.ID || !page.HasMore {
		t.Fatalf("first page: %s", page.RawJSON())
	}
	var all []string
	for it := ai.Videos.ListAutoPaging(ctx, openai.VideoListParams{Limit: openai.Int(1), Order: openai.VideoListParamsOrderAsc}); it.Next(); {
		all = append(all, it.Current().ID)
	}
	if len(all) != 3 || all[0] != v.ID || all[2] != url.ID {
		t.Fatalf("all videos, oldest first: %v", all)
	}

	// Delete.
	del, err := ai.Videos.Delete(ctx, url.ID)
	if err != nil || !del.Deleted || del.ID != url.ID {
		t.Fatalf("delete: %+v %v", del, err)
	}
	_, err = ai.Videos.Get(ctx, url.ID)
	sdkError(t, "get a deleted video", err, 404, "video_not_found")

	// Mistakes are 4xx errors the SDK surfaces with their codes.
	_, err = ai.Videos.New(ctx, openai.VideoNewParams{Prompt: prompt, Model: "sora-2"})
	sdkError(t, "unknown model", err, 404, "model_not_found")
	_, err = ai.Videos.New(ctx, openai.VideoNewParams{Prompt: prompt, Model: "shapes-render", Seconds: openai.VideoSeconds12})
	sdkError(t, "12 seconds", err, 400, "invalid_request")
	_, err = ai.Videos.New(ctx, openai.VideoNewParams{Prompt: prompt, Model: "shapes-render", Size: openai.VideoSize720x1280})
	sdkError(t, "720x1280", err, 400, "invalid_request")
	_, err = ai.Videos.New(ctx, openai.VideoNewParams{Prompt: prompt, Model: "shapes-render",
		InputReference: openai.VideoNewParamsInputReferenceUnion{OfFile: openai.File(bytes.NewReader([]byte("not a picture")), "x.png", "image/png")}})
	sdkError(t, "input_reference not an image", err, 400, "invalid_request")
	_, err = ai.Videos.DownloadContent(ctx, v.ID, openai.VideoDownloadContentParams{Variant: "poster"})
	sdkError(t, "unknown variant", err, 400, "invalid_request")
	// A prompt outside the renderer's grammar fails the video, not the request.
	bad, err := ai.Videos.New(ctx, openai.VideoNewParams{Prompt: "a dog", Model: "shapes-render"})
	if err != nil {
		t.Fatal(err)
	}
	if b := awaitVideo(t, ai, bad.ID); b.Status != openai.VideoStatusFailed || b.Error.Code != "invalid_request" || b.Error.Message == "" {
		t.Fatalf("failed video: %s", b.RawJSON())
	}
	// The diffusion plugin on its tiny random-init pipeline: the real
	// text encoder, motion UNet, sampler and VAE (its pictures are noise).
	d, err := ai.Videos.New(ctx, openai.VideoNewParams{Prompt: "red blue", Model: "tiny-motion"})
	if err != nil {
		t.Fatal(err)
	}
	if d = awaitVideo(t, ai, d.ID); d.Status != openai.VideoStatusCompleted || d.Size != "16x16" || d.Seconds != "1" {
		t.Fatalf("tiny-motion: %s", d.RawJSON())
	}
	if p := mediatest.ProbeVideo(t, download(t, ai, d.ID, "video"), "video.mp4"); p.Frames != 5 || p.Width != 16 {
		t.Fatalf("tiny-motion MP4: %+v", p)
	}
}

func awaitVideo(t *testing.T, ai openai.Client, id string) *openai.Video {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, err := ai.Videos.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if v.Status == openai.VideoStatusCompleted || v.Status == openai.VideoStatusFailed {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("video %s still %s: %s", id, v.Status, v.RawJSON())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func download(t *testing.T, ai openai.Client, id, variant string) []byte {
	t.Helper()
	resp, err := ai.Videos.DownloadContent(context.Background(), id, openai.VideoDownloadContentParams{Variant: openai.VideoDownloadContentParamsVariant(variant)})
	if err != nil {
		t.Fatalf("download %s %s: %v", id, variant, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download %s %s: %d %v", id, variant, resp.StatusCode, err)
	}
	return b
}

func sdkError(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != status || ae.Code != code || ae.Message == "" {
		t.Errorf("%s: %v, want %d %s", what, err, status, code)
	}
}

// rgbFrames cuts raw rgb24 into n side×side frames.
func rgbFrames(raw []byte, n, side int) []image.Image {
	out := make([]image.Image, n)
	for i := range out {
		im := image.NewNRGBA(image.Rect(0, 0, side, side))
		for p := 0; p < side*side && (i*side*side+p+1)*3 <= len(raw); p++ {
			copy(im.Pix[4*p:], raw[(i*side*side+p)*3:][:3])
			im.Pix[4*p+3] = 255
		}
		out[i] = im
	}
	return out
}

func pngOf(t *testing.T, b []byte) image.Image {
	t.Helper()
	im, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return im
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
