package check

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/loomhq/loom/shapes"
)

func frames(c shapes.Clip) []image.Image {
	var out []image.Image
	for _, f := range shapes.RenderClip(c) {
		out = append(out, f)
	}
	return out
}

// TestReadsRenderedClips: every attribute of every clip the renderer draws
// (both edge modes, every size, colour, shape, direction) reads back.
func TestReadsRenderedClips(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	n := 300
	if testing.Short() {
		n = 100
	}
	for i := 0; i < n; i++ {
		c := shapes.RandomClip(r)
		got := ReadClip(frames(c))
		if bad := got.Mismatches(c.Attrs()); len(bad) > 0 {
			t.Fatalf("clip %d %q (side %.1f, speed %.2f, aa %v): %v wrong; read %s %s %s %s, %d objects, v=(%.2f,%.2f)",
				i, c.Prompt(), c.Object.Side, c.Speed, c.Antialias, bad, got.Size, got.Colour, got.Shape, got.Direction,
				got.Objects, got.VX, got.VY)
		}
		// The track is a straight line at the clip's speed.
		speed := math.Hypot(got.VX, got.VY)
		if math.Abs(speed-c.Speed) > 0.15*c.Speed || got.Residual > 0.6 {
			t.Fatalf("clip %d %q: speed %.2f (want %.2f), residual %.2f", i, c.Prompt(), speed, c.Speed, got.Residual)
		}
	}
}

// TestReadsEveryAttribute: one clip of each combination of attributes,
// alternately at the low and high end of its size range, so no class is
// missed by the random draw.
func TestReadsEveryAttribute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	k := 0
	for _, sh := range shapes.Shapes {
		for _, col := range shapes.Colours {
			for _, sz := range shapes.Sizes {
				for _, dir := range shapes.Directions {
					a := shapes.VideoAttrs{Shape: sh, Colour: col, Size: sz, Direction: dir}
					c, err := shapes.ClipOf(r, a)
					if err != nil {
						t.Fatal(err)
					}
					lo, hi, _ := shapes.SizeRange(sz)
					side := []int{lo, hi}[k%2]
					k++
					c.Object.Side = float64(side)
					if bad := ReadClip(frames(c)).Mismatches(a); len(bad) > 0 {
						t.Errorf("%q side %d aa %v: %v wrong", a.Prompt(), side, c.Antialias, bad)
					}
				}
			}
		}
	}
}

// noisy adds Gaussian noise and a 3×3 box blur, as a VAE's decode softens
// and speckles a frame.
func noisy(img *image.RGBA, r *rand.Rand, sigma float64) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			var s [3]float64
			n := 0.0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					if !(image.Point{x + dx, y + dy}.In(b)) {
						continue
					}
					c := img.RGBAAt(x+dx, y+dy)
					s[0], s[1], s[2] = s[0]+float64(c.R), s[1]+float64(c.G), s[2]+float64(c.B)
					n++
				}
			}
			var px [3]uint8
			for k := range 3 {
				px[k] = uint8(min(255, max(0, math.Round(s[k]/n+r.NormFloat64()*sigma))))
			}
			out.SetRGBA(x, y, color.RGBA{px[0], px[1], px[2], 255})
		}
	}
	return out
}

// TestReadsSoftenedClips: blurred, noisy frames (σ = 6 per channel) still
// read right: the checker judges generated clips, not only clean renders.
func TestReadsSoftenedClips(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	wrong := 0
	const n = 120
	for i := 0; i < n; i++ {
		c := shapes.RandomClip(r)
		var fs []image.Image
		for _, f := range shapes.RenderClip(c) {
			fs = append(fs, noisy(f, r, 6))
		}
		if bad := ReadClip(fs).Mismatches(c.Attrs()); len(bad) > 0 {
			t.Logf("%q side %.1f aa %v: %v", c.Prompt(), c.Object.Side, c.Antialias, bad)
			wrong++
		}
	}
	if wrong > n/50 {
		t.Fatalf("%d of %d softened clips misread", wrong, n)
	}
}

// TestRejectsWrongClips: what a bad generator makes is read as wrong — two
// objects, no motion, diagonal drift, nothing at all.
func TestRejectsWrongClips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 4))
	c, _ := shapes.ClipOf(r, shapes.VideoAttrs{Shape: "circle", Colour: "red", Size: "small", Direction: "right"})
	want := c.Attrs()

	two := make([]image.Image, c.Frames)
	still := make([]image.Image, c.Frames)
	diag := make([]image.Image, c.Frames)
	empty := make([]image.Image, c.Frames)
	other := shapes.Object{Shape: "square", Colour: "blue", Size: "small", CX: 40, CY: 50, Side: 12, RGB: [3]uint8{40, 80, 220}}
	for i := range c.Frames {
		s := c.Scene(i)
		s.Objects = append(s.Objects, other)
		two[i] = shapes.Render(s)
		still[i] = shapes.Render(c.Scene(0))
		d := c.Scene(i)
		d.Objects[0].CY = 12 + 2*float64(i) // as far down as it goes right
		diag[i] = shapes.Render(d)
		empty[i] = shapes.Render(shapes.Scene{Background: c.Background})
	}
	for name, tc := range map[string]struct {
		frames []image.Image
		bad    string
	}{"two objects": {two, "objects"}, "still": {still, "direction"}, "diagonal": {diag, "direction"}, "empty": {empty, "shape"}} {
		got := ReadClip(tc.frames)
		if bad := got.Mismatches(want); !slices.Contains(bad, tc.bad) {
			t.Errorf("%s: mismatches %v, want %q among them (direction %q, objects %d)", name, bad, tc.bad, got.Direction, got.Objects)
		}
	}
	if got := ReadClip(still); got.Direction != "none" {
		t.Errorf("still clip read as %q", got.Direction)
	}
	if got := ReadClip(diag); got.Direction != "" {
		t.Errorf("diagonal clip read as %q", got.Direction)
	}
	// Every other direction of the same object reads as a wrong direction.
	for _, d := range shapes.Directions {
		if d == want.Direction {
			continue
		}
		w := want
		w.Direction = d
		if bad := ReadClip(frames(c)).Mismatches(w); !slices.Equal(bad, []string{"direction"}) {
			t.Errorf("against %q: %v", w.Prompt(), bad)
		}
	}
}

// TestReadsImages: ReadFrame also reads Shapes images — one blob per object
// with its attributes — so image-to-video inputs can be judged too.
func TestReadsImages(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 300; i++ {
		s := shapes.RandomScene(r, 0.5)
		f := ReadFrame(shapes.Render(s))
		if len(f.Blobs) != len(s.Objects) {
			t.Fatalf("%q: %d blobs", s.Caption(), len(f.Blobs))
		}
		for _, o := range s.Objects {
			var b *Blob
			for k := range f.Blobs { // the blob over the object's centre
				bb := &f.Blobs[k]
				if math.Abs(bb.CX-o.CX) < o.Side/2 && math.Abs(bb.CY-o.CY) < o.Side/2 {
					b = bb
				}
			}
			if b == nil || b.Shape != o.Shape || b.Colour() != o.Colour || b.Size() != o.Size {
				t.Fatalf("%q: object %+v read as %+v", s.Caption(), o, b)
			}
		}
	}
}
