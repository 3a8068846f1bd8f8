package testmodel

import (
	"bytes"
	"image"
	"image/color"
	_ "image/png"
	"testing"
)

func TestWriteBlackPNG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteBlackPNG(&b, 64, true); err != nil {
		t.Fatal(err)
	}
	img, format, err := image.Decode(bytes.NewReader(b.Bytes()))
	if err != nil || format != "png" || img.Bounds().Dx() != 64 || img.ColorModel() != color.NRGBA64Model {
		t.Fatalf("decoded %v %s %v", img, format, err)
	}
	if r, g, bl, a := img.At(63, 63).RGBA(); r|g|bl|a != 0 {
		t.Fatalf("pixel %d %d %d %d, want transparent black", r, g, bl, a)
	}
	b.Reset()
	if err := WriteBlackPNG(&b, 4096, true); err != nil {
		t.Fatal(err)
	}
	if b.Len() > 256<<10 {
		t.Fatalf("4096² 16-bit PNG is %d bytes, want a small bomb", b.Len())
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(b.Bytes()))
	if err != nil || cfg.Width != 4096 || cfg.ColorModel != color.NRGBA64Model {
		t.Fatalf("header %+v %v", cfg, err)
	}
}
