// Package gif writes frames as a looping animated GIF (GIF89a, through the
// standard library's LZW writer) with one global palette chosen by median
// cut over every frame's pixels.
//
// One palette for the whole clip keeps a colour the same index in every
// frame, so still areas do not shimmer. Median cut (Heckbert 1982): start
// from one box holding every distinct colour, weighted by how many pixels
// have it; repeatedly split the box with the most pixels (among those with
// more than one colour) at the weighted median of its longest R, G or B
// side; each palette entry is its box's pixel-weighted mean. A clip with at
// most 256 distinct colours keeps them all exactly.
//
// Pixels map to their nearest entry (squared RGB distance). Dithering is off
// by default: Shapes clips are flat colours, and error diffusion on a moving
// picture gives still areas a pattern that crawls from frame to frame; with
// Options.Dither Floyd–Steinberg diffusion (image/draw) is used instead.
package gif

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	stdgif "image/gif"
	"io"
	"slices"
)

// Options are the encoder's settings.
type Options struct {
	FPS     int  // frames per second, 1…100
	Colours int  // palette size, 2…256; 0 means 256
	Dither  bool // Floyd–Steinberg error diffusion instead of nearest colour
}

// Encode writes the frames, which must share one size, looping forever.
// A frame lasts 1/FPS s, rounded to GIF's centiseconds so the rounding does
// not add up: frame i lasts round(100(i+1)/FPS) − round(100i/FPS).
func Encode(w io.Writer, frames []image.Image, opt Options) error {
	if len(frames) == 0 {
		return fmt.Errorf("gif: no frames")
	}
	if opt.FPS < 1 || opt.FPS > 100 {
		return fmt.Errorf("gif: fps %d outside 1…100", opt.FPS)
	}
	n := opt.Colours
	if n == 0 {
		n = 256
	}
	if n < 2 || n > 256 {
		return fmt.Errorf("gif: %d colours outside 2…256", n)
	}
	b := frames[0].Bounds()
	for i, f := range frames {
		if f.Bounds().Dx() != b.Dx() || f.Bounds().Dy() != b.Dy() {
			return fmt.Errorf("gif: frame %d is %v, frame 0 %v", i, f.Bounds().Size(), b.Size())
		}
	}
	if b.Dx() > 0xFFFF || b.Dy() > 0xFFFF || b.Empty() {
		return fmt.Errorf("gif: size %v", b.Size())
	}
	pal := Palette(frames, n)
	anim := &stdgif.GIF{LoopCount: 0, Config: image.Config{ColorModel: pal, Width: b.Dx(), Height: b.Dy()}}
	near := newNearest(pal)
	for i, f := range frames {
		dst := image.NewPaletted(image.Rect(0, 0, b.Dx(), b.Dy()), pal)
		if opt.Dither {
			draw.FloydSteinberg.Draw(dst, dst.Bounds(), f, f.Bounds().Min)
		} else {
			fb := f.Bounds()
			for y := 0; y < fb.Dy(); y++ {
				for x := 0; x < fb.Dx(); x++ {
					dst.Pix[y*dst.Stride+x] = near.index(rgbAt(f, fb.Min.X+x, fb.Min.Y+y))
				}
			}
		}
		anim.Image = append(anim.Image, dst)
		anim.Delay = append(anim.Delay, centis(i+1, opt.FPS)-centis(i, opt.FPS))
		anim.Disposal = append(anim.Disposal, stdgif.DisposalNone)
	}
	return stdgif.EncodeAll(w, anim)
}

// centis is round(100·i/fps).
func centis(i, fps int) int { return (200*i + fps) / (2 * fps) }

func rgbAt(img image.Image, x, y int) [3]uint8 {
	switch m := img.(type) {
	case *image.RGBA:
		o := m.PixOffset(x, y)
		return [3]uint8{m.Pix[o], m.Pix[o+1], m.Pix[o+2]}
	case *image.NRGBA:
		o := m.PixOffset(x, y)
		return [3]uint8{m.Pix[o], m.Pix[o+1], m.Pix[o+2]}
	}
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

// weighted is a distinct colour and how many pixels have it.
type weighted struct {
	c [3]uint8
	n int
}

// Palette is the median-cut palette of at most n colours for the frames'
// pixels; entries are sorted, so the result depends only on the pixels.
func Palette(frames []image.Image, n int) color.Palette {
	counts := map[[3]uint8]int{}
	for _, f := range frames {
		b := f.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				counts[rgbAt(f, x, y)]++
			}
		}
	}
	cols := make([]weighted, 0, len(counts))
	for c, k := range counts {
		cols = append(cols, weighted{c, k})
	}
	slices.SortFunc(cols, func(a, b weighted) int { return cmpRGB(a.c, b.c) })
	boxes := [][]weighted{cols}
	for len(boxes) < n {
		// The box with the most pixels that can still be split.
		best, most := -1, 0
		for i, bx := range boxes {
			if len(bx) < 2 {
				continue
			}
			if p := pixels(bx); p > most {
				best, most = i, p
			}
		}
		if best < 0 {
			break // every box is one colour
		}
		a, b := split(boxes[best])
		boxes[best] = a
		boxes = append(boxes, b)
	}
	entries := make([][3]uint8, len(boxes))
	for i, bx := range boxes {
		var s [3]int
		p := pixels(bx)
		for _, w := range bx {
			for k := range 3 {
				s[k] += int(w.c[k]) * w.n
			}
		}
		for k := range 3 {
			entries[i][k] = uint8((s[k] + p/2) / p)
		}
	}
	slices.SortFunc(entries, cmpRGB)
	entries = slices.Compact(entries)
	pal := make(color.Palette, len(entries))
	for i, e := range entries {
		pal[i] = color.RGBA{e[0], e[1], e[2], 255}
	}
	return pal
}

func cmpRGB(a, b [3]uint8) int {
	for k := range 3 {
		if a[k] != b[k] {
			return int(a[k]) - int(b[k])
		}
	}
	return 0
}

func pixels(bx []weighted) int {
	p := 0
	for _, w := range bx {
		p += w.n
	}
	return p
}

// split cuts a box of two or more colours at the pixel-weighted median of
// its longest side; both halves keep at least one colour.
func split(bx []weighted) (a, b []weighted) {
	lo, hi := [3]uint8{255, 255, 255}, [3]uint8{}
	for _, w := range bx {
		for k := range 3 {
			lo[k], hi[k] = min(lo[k], w.c[k]), max(hi[k], w.c[k])
		}
	}
	axis := 0
	for k := 1; k < 3; k++ {
		if int(hi[k])-int(lo[k]) > int(hi[axis])-int(lo[axis]) {
			axis = k
		}
	}
	slices.SortStableFunc(bx, func(x, y weighted) int {
		if d := int(x.c[axis]) - int(y.c[axis]); d != 0 {
			return d
		}
		return cmpRGB(x.c, y.c)
	})
	half, acc := pixels(bx)/2, 0
	cut := 1
	for i, w := range bx[:len(bx)-1] {
		acc += w.n
		cut = i + 1
		if acc >= half {
			break
		}
	}
	return bx[:cut:cut], bx[cut:]
}

// nearest maps colours to palette indices, remembering each answer.
type nearest struct {
	pal   [][3]int
	cache map[[3]uint8]uint8
}

func newNearest(p color.Palette) *nearest {
	n := &nearest{cache: map[[3]uint8]uint8{}}
	for _, c := range p {
		r, g, b, _ := c.RGBA()
		n.pal = append(n.pal, [3]int{int(r >> 8), int(g >> 8), int(b >> 8)})
	}
	return n
}

func (n *nearest) index(c [3]uint8) uint8 {
	if i, ok := n.cache[c]; ok {
		return i
	}
	best, bd := 0, 1<<30
	for i, p := range n.pal {
		d := 0
		for k := range 3 {
			e := int(c[k]) - p[k]
			d += e * e
		}
		if d < bd {
			best, bd = i, d
		}
	}
	n.cache[c] = uint8(best)
	return uint8(best)
}
