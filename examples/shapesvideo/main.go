// Command loom-plugin-shapesvideo is a second plugin serving video.generate:
// a procedural renderer of the Shapes motion world (../../../shared/SHAPES.md,
// shapes.RenderClip), no model and no weights, under the model id
// "shapes-render". It draws the clip a prompt of the video grammar describes
// ("a large green triangle moving right"), placed by the job's seed, and
// writes the files plugins/video writes (core/media: video.mp4, video.gif,
// thumbnail.png, spritesheet.png). With an input image (image-to-video) it
// reads the one object in it with shapes/check and moves that object.
//
// It shows the shape of a video plugin outside the diffusion one, and lets
// the end-to-end tests drive OpenAI's video API with real files whatever
// video models are installed.
//
// Build: go build -o bin/loom-plugin-shapesvideo ./examples/shapesvideo
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"image"
	"image/draw"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/loomhq/loom/core/imgproc"
	"github.com/loomhq/loom/core/media"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/shapes"
	"github.com/loomhq/loom/shapes/check"
)

const (
	task  = tasks.VideoGenerate
	model = "shapes-render"
)

type renderer struct{}

func main() { sdk.Serve(renderer{}) }

func (renderer) Describe(context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{Name: "shapesvideo", Version: "1.0.0", Tasks: []string{task}, Models: []sdk.ModelInfo{{
		ID: model, Tasks: []string{task}, Ready: true,
		Description: "procedural Shapes motion-world renderer (no model): 'a SIZE COLOUR SHAPE moving DIRECTION', 64×64",
		Specs:       tasks.Specs(task), // the diffusion knobs (steps, guidance_scale, …) are accepted and have nothing to act on
	}}}, nil
}

func (renderer) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	if job.Task != task {
		return sdk.Errorf(sdk.CodeInvalidRequest, "shapesvideo serves %s, not %q", task, job.Task)
	}
	if job.Model != "" && job.Model != model {
		return sdk.Errorf(sdk.CodeModelNotFound, "shapesvideo has no model %q (it has %q)", job.Model, model)
	}
	var p tasks.VideoGenerateParams
	if err := sdk.DecodeParams(job.Params, &p); err != nil {
		return err
	}
	p.Frames, p.FPS, p.Format = cmp.Or(p.Frames, shapes.Frames), cmp.Or(p.FPS, tasks.DefaultVideoFPS), cmp.Or(p.Format, "both")
	attrs, err := shapes.ParseVideoPrompt(p.Prompt)
	if err != nil {
		return sdk.Errorf(sdk.CodeInvalidRequest, "prompt: %v", err)
	}
	side := max(p.Width, p.Height, shapes.Size)
	switch {
	case p.Frames < 1 || p.Frames > 64 || p.FPS < 1 || p.FPS > 60:
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: frames %d (1…64), fps %d (1…60)", p.Frames, p.FPS)
	case p.Width != p.Height && p.Width != 0 && p.Height != 0 || side%shapes.Size != 0 || side > 512:
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: %dx%d: shapes-render draws square frames of 64, 128, 256 or 512", p.Width, p.Height)
	case !slices.Contains([]string{"mp4", "gif", "both"}, p.Format):
		return sdk.Errorf(sdk.CodeInvalidRequest, "params: format %q is not mp4, gif or both", p.Format)
	}
	clip, err := shapes.ClipOf(rand.New(rand.NewPCG(uint64(job.Seed), 7)), attrs)
	if err != nil {
		return sdk.Errorf(sdk.CodeInvalidRequest, "prompt: %v", err)
	}
	clip.Frames = p.Frames
	for _, in := range job.Inputs {
		if in.Name != "image" {
			return sdk.Errorf(sdk.CodeInvalidRequest, "video.generate takes one optional input named \"image\", not %q", in.Name)
		}
		if err := fromFirstFrame(&clip, in.Data); err != nil {
			return err
		}
	}
	frames := make([]image.Image, p.Frames)
	for i := range frames {
		if err := ctx.Err(); err != nil {
			return err
		}
		frames[i] = enlarge(shapes.Render(clip.Scene(i)), side/shapes.Size)
		if err := emit(sdk.Event{Kind: sdk.EventProgress, Step: i + 1, Total: p.Frames}); err != nil {
			return err
		}
	}
	type file struct {
		name, mime string
		encode     func([]image.Image, int) ([]byte, error)
	}
	var files []file
	if p.Format != "gif" {
		files = append(files, file{"video.mp4", "video/mp4", media.MP4})
	}
	if p.Format != "mp4" {
		files = append(files, file{"video.gif", "image/gif", media.GIF})
	}
	files = append(files, file{"thumbnail.png", "image/png", func(fs []image.Image, _ int) ([]byte, error) { return media.PNG(fs[0]) }},
		file{"spritesheet.png", "image/png", func(fs []image.Image, _ int) ([]byte, error) {
			sheet, err := media.Spritesheet(fs)
			if err != nil {
				return nil, err
			}
			return media.PNG(sheet)
		}})
	for _, f := range files {
		data, err := f.encode(frames, p.FPS)
		if err != nil {
			return sdk.Errorf(sdk.CodeInternal, "%s: %v", f.name, err)
		}
		if err := emit(sdk.Event{Kind: sdk.EventArtifact, Name: f.name, MIME: f.mime, Data: data}); err != nil {
			return err
		}
	}
	out, _ := json.Marshal(tasks.VideoGenerateResult{Model: model, Frames: p.Frames, FPS: p.FPS, Seconds: float64(p.Frames) / float64(p.FPS),
		Width: side, Height: side, Seed: job.Seed, ImageToVideo: len(job.Inputs) > 0})
	return emit(sdk.Event{Kind: sdk.EventResult, Result: out})
}

// fromFirstFrame puts the one object of a 64×64 picture in the clip's
// place: its shape, colour, size, position and the picture's background.
func fromFirstFrame(c *shapes.Clip, data []byte) error {
	img, _, err := imgproc.Decode(data, imgproc.Limits{MaxBytes: 16 << 20, MaxPixels: 4096 * 4096})
	if err != nil {
		return sdk.Errorf(sdk.CodeInvalidRequest, "image: %v", err)
	}
	if b := img.Bounds(); b.Dx() != shapes.Size || b.Dy() != shapes.Size {
		return sdk.Errorf(sdk.CodeInvalidRequest, "image: %dx%d; shapes-render starts from 64×64 Shapes pictures", b.Dx(), b.Dy())
	}
	f := check.ReadFrame(img)
	if len(f.Blobs) != 1 || f.Blobs[0].Colour() == "" {
		return sdk.Errorf(sdk.CodeInvalidRequest, "image: shapes-render needs one Shapes object in the picture, found %d", len(f.Blobs))
	}
	b := f.Blobs[0]
	o := &c.Object
	o.Shape, o.Colour, o.Size, o.Side, o.RGB = b.Shape, b.Colour(), b.Size(), math.Round(b.Side), b.RGB
	// The blob's centroid is the box centre but for the triangle, whose
	// centroid sits a sixth of its height below it.
	o.CX, o.CY = b.CX, b.CY
	if o.Shape == "triangle" {
		o.CY -= o.Side * math.Sqrt(3) / 12
	}
	c.Background, c.Antialias = f.Background, true
	return nil
}

// enlarge repeats each pixel k×k times (k = 1: the image itself).
func enlarge(img *image.RGBA, k int) image.Image {
	if k == 1 {
		return img
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			draw.Draw(out, image.Rect(x*k, y*k, (x+1)*k, (y+1)*k), &image.Uniform{img.At(x, y)}, image.Point{}, draw.Src)
		}
	}
	return out
}
