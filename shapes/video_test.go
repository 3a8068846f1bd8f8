package shapes

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestClipFollowsSpec: 16 frames; constant speed along the named direction;
// the object starts near the edge it leaves, is wholly inside for at least
// the first 12 frames, at least half inside in every frame, and moves visibly.
func TestClipFollowsSpec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		c := RandomClip(r)
		o := c.Object
		if c.Frames != 16 {
			t.Fatalf("%d frames", c.Frames)
		}
		sr := sizeRange[o.Size]
		if o.Side < float64(sr[0]) || o.Side > float64(sr[1]) {
			t.Fatalf("side %v outside %s", o.Side, o.Size)
		}
		want := colourRGB[o.Colour]
		for k := range 3 {
			if d := int(o.RGB[k]) - want[k]; d < -25 || d > 25 {
				t.Fatalf("colour %v too far from %s", o.RGB, o.Colour)
			}
		}
		h := o.Side / 2
		inside := 0
		for f := 0; f < c.Frames; f++ {
			x, y := c.At(f)
			if x-h >= 0 && x+h <= Size && y-h >= 0 && y+h <= Size {
				inside++
			} else if f < 12 {
				t.Fatalf("%q leaves the canvas at frame %d", c.Prompt(), f)
			}
			if x < 0 || x > Size || y < 0 || y > Size {
				t.Fatalf("%q less than half inside at frame %d", c.Prompt(), f)
			}
		}
		x0, y0 := c.At(0)
		x1, y1 := c.At(c.Frames - 1)
		var lead, travel float64 // distance of the trailing edge from its edge at frame 0
		switch c.Direction {
		case "right":
			lead, travel = x0-h, x1-x0
		case "left":
			lead, travel = Size-(x0+h), x0-x1
		case "down":
			lead, travel = y0-h, y1-y0
		case "up":
			lead, travel = Size-(y0+h), y0-y1
		}
		if lead < 1 || lead > 6 || travel < 15 || inside < 12 {
			t.Fatalf("%q: starts %.1f px from its edge, travels %.1f px, %d frames inside", c.Prompt(), lead, travel, inside)
		}
		if (c.Direction == "left" || c.Direction == "right") && y0 != y1 || (c.Direction == "up" || c.Direction == "down") && x0 != x1 {
			t.Fatalf("%q drifts across its motion", c.Prompt())
		}
		got, err := ParseVideoPrompt(c.Prompt())
		if err != nil || got != c.Attrs() {
			t.Fatalf("round trip %q: %+v %v", c.Prompt(), got, err)
		}
	}
}

// TestRenderClipMoves: the rendered object's coverage centroid follows At.
func TestRenderClipMoves(t *testing.T) {
	c, err := ClipOf(rand.New(rand.NewPCG(5, 5)), VideoAttrs{"square", "purple", "large", "up"})
	if err != nil {
		t.Fatal(err)
	}
	c.Antialias = true
	for f, img := range RenderClip(c) {
		var sx, sy, n float64
		for y := 0; y < Size; y++ {
			for x := 0; x < Size; x++ {
				p := img.RGBAAt(x, y)
				a := float64(int(c.Background[1])-int(p.G)) / float64(int(c.Background[1])-int(c.Object.RGB[1]))
				sx, sy, n = sx+a*(float64(x)+0.5), sy+a*(float64(y)+0.5), n+a
			}
		}
		wx, wy := c.At(f)
		// Frames past the 12th may be cut off at the top edge.
		if f < 12 && (math.Abs(sx/n-wx) > 0.25 || math.Abs(sy/n-wy) > 0.25) {
			t.Fatalf("frame %d: centroid (%.2f,%.2f), want (%.2f,%.2f)", f, sx/n, sy/n, wx, wy)
		}
	}
}

func TestParseVideoPromptRejects(t *testing.T) {
	for _, p := range []string{"", "a small red circle moving", "a small red circle moving sideways",
		"a small red circle on the left", "a tiny red circle moving up", "a small pink circle moving up",
		"a small red hexagon moving up", "a small red circle moving up and a large blue square moving down",
		" a small red circle moving up", "a small red circle  moving up", "the small red circle moving up"} {
		if _, err := ParseVideoPrompt(p); err == nil {
			t.Errorf("ParseVideoPrompt(%q) accepted", p)
		}
	}
	if _, err := ClipOf(rand.New(rand.NewPCG(1, 1)), VideoAttrs{Direction: "sideways"}); err == nil {
		t.Error("ClipOf accepted direction sideways")
	}
	if _, err := ClipOf(rand.New(rand.NewPCG(1, 1)), VideoAttrs{Shape: "hexagon"}); err == nil {
		t.Error("ClipOf accepted shape hexagon")
	}
}

func FuzzParseVideoPrompt(f *testing.F) {
	f.Add("a large green triangle moving right")
	f.Add("a small red circle moving up")
	f.Fuzz(func(t *testing.T, p string) {
		a, err := ParseVideoPrompt(p)
		if err != nil {
			return
		}
		if a.Prompt() != p {
			t.Fatalf("%q re-renders as %q", p, a.Prompt())
		}
	})
}

func TestPictureVideoPrompt(t *testing.T) {
	got, err := PictureVideoPrompt("a small red circle on the left", "a large blue square moving up")
	if want := "a small red circle moving up"; err != nil || got != want {
		t.Fatalf("PictureVideoPrompt = %q, %v; want %q", got, err, want)
	}
	for _, c := range [][2]string{
		{"a small red circle on the left and a large blue square at the top", "a large blue square moving up"},
		{"", "a large blue square moving up"},
		{"a small red", "a large blue square moving up"},
		{"a small red circle on the left", "a large blue square"},
		{"a small red circle on the left", "a large blue square moving sideways"},
		{"a small red circle on the left", "make it move up"},
	} {
		if got, err := PictureVideoPrompt(c[0], c[1]); err == nil {
			t.Errorf("PictureVideoPrompt(%q, %q) = %q, want an error", c[0], c[1], got)
		}
	}
}
