package gif

import (
	"bytes"
	"image"
	"image/color"
	stdgif "image/gif"
	"math/rand/v2"
	"testing"
)

func frames(r *rand.Rand, n, w, h, colours int) []image.Image {
	pal := make([]color.RGBA, colours)
	for i := range pal {
		pal[i] = color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	}
	var fs []image.Image
	for i := 0; i < n; i++ {
		f := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				f.SetRGBA(x, y, pal[r.IntN(colours)])
			}
		}
		fs = append(fs, f)
	}
	return fs
}

// TestPaletteKeepsFewColours: with no more distinct colours than entries,
// the palette is exactly those colours, whatever the frames' order.
func TestPaletteKeepsFewColours(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	fs := frames(r, 3, 20, 10, 40)
	p := Palette(fs, 256)
	q := Palette([]image.Image{fs[2], fs[0], fs[1]}, 256)
	distinct := map[color.Color]bool{}
	for _, f := range fs {
		for y := 0; y < 10; y++ {
			for x := 0; x < 20; x++ {
				distinct[f.At(x, y)] = true
			}
		}
	}
	if len(p) != len(distinct) {
		t.Fatalf("palette of %d for %d colours", len(p), len(distinct))
	}
	for i := range p {
		if !distinct[p[i]] || p[i] != q[i] {
			t.Fatalf("entry %d: %v (reordered frames: %v)", i, p[i], q[i])
		}
	}
	if small := Palette(fs, 8); len(small) > 8 || len(small) < 2 {
		t.Fatalf("palette of %d entries for 8", len(small))
	}
}

// FuzzEncode: any frames encode to a GIF the standard decoder reads back
// with every frame, and each pixel is its palette's nearest entry (or, with
// dithering, some entry).
func FuzzEncode(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint8(9), uint8(7), uint8(40), uint8(0), false)
	f.Add(uint64(2), uint8(1), uint8(1), uint8(1), uint8(255), uint8(2), true)
	f.Fuzz(func(t *testing.T, seed uint64, n, w, h, colours, palette uint8, dither bool) {
		r := rand.New(rand.NewPCG(seed, 2))
		fs := frames(r, 1+int(n%6), 1+int(w%40), 1+int(h%40), 1+int(colours))
		opt := Options{FPS: 8, Colours: 2 + int(palette)%255, Dither: dither}
		var b bytes.Buffer
		if err := Encode(&b, fs, opt); err != nil {
			t.Fatal(err)
		}
		g, err := stdgif.DecodeAll(&b)
		if err != nil {
			t.Fatal(err)
		}
		// The file's colour table is padded to a power of two.
		pal := Palette(fs, opt.Colours)
		if len(g.Image) != len(fs) || len(pal) > opt.Colours || len(g.Image[0].Palette) >= 2*opt.Colours {
			t.Fatalf("%d frames, palette %d, in the file %d", len(g.Image), len(pal), len(g.Image[0].Palette))
		}
		if dither {
			return
		}
		near := newNearest(pal)
		for i, fr := range fs {
			bd := fr.Bounds()
			for y := 0; y < bd.Dy(); y++ {
				for x := 0; x < bd.Dx(); x++ {
					want := pal[near.index(rgbAt(fr, x, y))]
					if got := g.Image[i].At(x, y); got != want {
						t.Fatalf("frame %d (%d,%d): %v, nearest %v", i, x, y, got, want)
					}
				}
			}
		}
	})
}
