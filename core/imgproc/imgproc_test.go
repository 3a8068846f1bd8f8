package imgproc

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
)

func testImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / max(1, w-1)), uint8(y * 255 / max(1, h-1)), 128, 255})
		}
	}
	return img
}

func TestDecodeFormats(t *testing.T) {
	src := testImage(40, 30)
	enc := map[string]func(*bytes.Buffer) error{
		"png":  func(b *bytes.Buffer) error { return png.Encode(b, src) },
		"jpeg": func(b *bytes.Buffer) error { return jpeg.Encode(b, src, &jpeg.Options{Quality: 90}) },
		"gif":  func(b *bytes.Buffer) error { return gif.Encode(b, src, nil) },
		"bmp":  func(b *bytes.Buffer) error { return bmp.Encode(b, src) },
	}
	for name, f := range enc {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		img, format, err := Decode(b.Bytes(), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if format != name || img.Bounds().Dx() != 40 || img.Bounds().Dy() != 30 {
			t.Fatalf("%s: got %s %v", name, format, img.Bounds())
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	var b bytes.Buffer
	png.Encode(&b, testImage(100, 100))
	good := b.Bytes()
	cases := map[string]struct {
		data []byte
		lim  Limits
		want string
	}{
		"empty":     {nil, Limits{}, "empty"},
		"not image": {[]byte("hello, this is text"), Limits{}, "unsupported"},
		"truncated": {good[:len(good)/2], Limits{}, "corrupt"},
		"too big":   {good, Limits{MaxBytes: 100}, "limit"},
		"too many":  {good, Limits{MaxPixels: 5000}, "pixels"},
	}
	for name, c := range cases {
		_, _, err := Decode(c.data, c.lim)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want one mentioning %q", name, err, c.want)
		}
	}
}

func TestToCHW(t *testing.T) {
	src := testImage(64, 64)
	dst := make([]float32, 3*64*64)
	n := Normalize{Width: 64, Height: 64, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5}}
	if err := ToCHW(dst, src, n); err != nil {
		t.Fatal(err)
	}
	// Same size: exact pixel values, channel-major.
	for _, p := range [][2]int{{0, 0}, {63, 0}, {10, 20}} {
		x, y := p[0], p[1]
		c := src.NRGBAAt(x, y)
		for ch, v := range []uint8{c.R, c.G, c.B} {
			want := (float32(v)/255 - 0.5) / 0.5
			if got := dst[ch*64*64+y*64+x]; math.Abs(float64(got-want)) > 1e-6 {
				t.Fatalf("(%d,%d,%d) = %v want %v", ch, y, x, got, want)
			}
		}
	}
	// A 4× upscale then back: close to the original (what uploads do).
	big := image.NewNRGBA(image.Rect(0, 0, 256, 256))
	for y := 0; y < 256; y++ {
		for x := 0; x < 256; x++ {
			big.Set(x, y, src.At(x/4, y/4))
		}
	}
	dst2 := make([]float32, len(dst))
	if err := ToCHW(dst2, big, n); err != nil {
		t.Fatal(err)
	}
	var maxd float64
	for i := range dst {
		maxd = math.Max(maxd, math.Abs(float64(dst[i]-dst2[i])))
	}
	if maxd > 0.1 {
		t.Fatalf("downscaled image differs by %v", maxd)
	}
	if err := ToCHW(make([]float32, 10), src, n); err == nil {
		t.Fatal("short dst accepted")
	}
}

func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	png.Encode(&b, testImage(8, 8))
	f.Add(b.Bytes())
	b.Reset()
	gif.Encode(&b, testImage(8, 8), nil)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := Decode(data, Limits{MaxPixels: 1 << 16})
		if err == nil && img.Bounds().Dx()*img.Bounds().Dy() > 1<<16 {
			t.Fatal("limit not enforced")
		}
	})
}
