package shapes

import (
	"bytes"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
)

func TestSceneFollowsSpec(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		s := RandomScene(r, 0.5)
		for _, o := range s.Objects {
			sr, pr := sizeRange[o.Size], placeRange[o.Place]
			if o.Side < float64(sr[0]) || o.Side > float64(sr[1]) {
				t.Fatalf("side %v outside %s range", o.Side, o.Size)
			}
			if o.CX < float64(pr[0]) || o.CX > float64(pr[1]) || o.CY < float64(pr[2]) || o.CY > float64(pr[3]) {
				t.Fatalf("centre (%v,%v) outside %s", o.CX, o.CY, o.Place)
			}
			if o.CX-o.Side/2 < 0 || o.CX+o.Side/2 > Size || o.CY-o.Side/2 < 0 || o.CY+o.Side/2 > Size {
				t.Fatalf("object leaves the canvas: %+v", o)
			}
			c := colourRGB[o.Colour]
			for k := range 3 {
				if d := int(o.RGB[k]) - c[k]; d < -25 || d > 25 {
					t.Fatalf("colour %v too far from %s", o.RGB, o.Colour)
				}
			}
		}
		for _, b := range s.Background {
			if b < 235 {
				t.Fatalf("background %v", s.Background)
			}
		}
		if len(s.Objects) == 2 {
			a, b := s.Objects[0], s.Objects[1]
			if placeIndex(a.Place) >= placeIndex(b.Place) {
				t.Fatalf("caption order: %s before %s", a.Place, b.Place)
			}
			if math.Abs(a.CX-b.CX) < (a.Side+b.Side)/2 && math.Abs(a.CY-b.CY) < (a.Side+b.Side)/2 {
				t.Fatalf("overlap: %+v %+v", a, b)
			}
		}
		got, err := ParseCaption(s.Caption())
		if err != nil || len(got) != len(s.Objects) {
			t.Fatalf("parse %q: %v %v", s.Caption(), got, err)
		}
		for j, o := range s.Objects {
			if got[j] != (Attrs{o.Shape, o.Colour, o.Size, o.Place}) {
				t.Fatalf("round trip %q: %+v", s.Caption(), got[j])
			}
		}
	}
}

func TestRenderDeterministicAndColoured(t *testing.T) {
	s, err := SceneOf(rand.New(rand.NewPCG(3, 4)), []Attrs{{"square", "blue", "large", "center"}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := Render(s), Render(s)
	var ba, bb bytes.Buffer
	png.Encode(&ba, a)
	png.Encode(&bb, b)
	if !bytes.Equal(ba.Bytes(), bb.Bytes()) {
		t.Fatal("render not deterministic")
	}
	o := s.Objects[0]
	c := a.RGBAAt(int(o.CX), int(o.CY))
	if [3]uint8{c.R, c.G, c.B} != o.RGB {
		t.Fatalf("centre pixel %v, want object colour %v", c, o.RGB)
	}
	corner := a.RGBAAt(0, 0)
	if [3]uint8{corner.R, corner.G, corner.B} != s.Background {
		t.Fatalf("corner %v, want background %v", corner, s.Background)
	}
}

func TestParseCaptionRejects(t *testing.T) {
	for _, c := range []string{"", "a red circle", "a small red circle on the moon", "a tiny red circle on the left",
		"a small red circle on the left and a small red circle on the right and a small red circle at the top",
		"the small red circle on the left"} {
		if _, err := ParseCaption(c); err == nil {
			t.Errorf("ParseCaption(%q) accepted", c)
		}
	}
	if _, err := SceneOf(rand.New(rand.NewPCG(1, 1)), []Attrs{{Place: "left"}, {Place: "left"}}); err == nil {
		t.Error("two objects at one place accepted")
	}
}

func FuzzParseCaption(f *testing.F) {
	f.Add("a small red circle on the left and a large blue square at the bottom")
	f.Fuzz(func(t *testing.T, c string) {
		attrs, err := ParseCaption(c)
		if err != nil {
			return
		}
		// Anything accepted re-renders to the same attributes.
		for _, a := range attrs {
			o := Object{Shape: a.Shape, Colour: a.Colour, Size: a.Size, Place: a.Place}
			back, err := ParseCaption(o.Phrase())
			if err != nil || back[0] != a {
				t.Fatalf("%q: %v %v", o.Phrase(), back, err)
			}
		}
	})
}
