package media

import (
	"image"
	"image/color"
	"testing"
)

func TestSpritesheet(t *testing.T) {
	var fs []image.Image
	for i := range 3 {
		f := image.NewRGBA(image.Rect(0, 0, 4, 2))
		for p := range f.Pix {
			f.Pix[p] = uint8(10*i + 1)
		}
		fs = append(fs, f)
	}
	s, err := Spritesheet(fs)
	if err != nil {
		t.Fatal(err)
	}
	if s.Bounds() != image.Rect(0, 0, 12, 2) {
		t.Fatalf("bounds %v", s.Bounds())
	}
	for i := range 3 {
		if got := s.RGBAAt(4*i+3, 1); got != (color.RGBA{uint8(10*i + 1), uint8(10*i + 1), uint8(10*i + 1), uint8(10*i + 1)}) {
			t.Fatalf("frame %d pixel %v", i, got)
		}
	}
	if _, err := Spritesheet(append(fs, image.NewRGBA(image.Rect(0, 0, 4, 3)))); err == nil {
		t.Fatal("frames of different sizes accepted")
	}
	if _, err := Spritesheet(nil); err == nil {
		t.Fatal("no frames accepted")
	}
}
