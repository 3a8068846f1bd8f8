package imgproc

import (
	"image"
	"image/color"
	"slices"

	"github.com/disintegration/imaging"
)

// CentreSubject returns img (as NRGBA, the same size) moved so that its
// subject — the bounding box of the pixels that differ from the background
// by more than tol in some channel — sits in the middle; the background is
// each channel's median over the border pixels, and it fills what the move
// uncovers. Colours compare as composited over white (as ToCHW reads them). Sizes are kept, nothing is scaled. An image whose pixels all
// match the background comes back unmoved. A captioner trained on subjects
// at a few places reads one near an edge or a corner better so (the first
// frame of a Shapes video starts its object near an edge).
func CentreSubject(img image.Image, tol uint8) *image.NRGBA {
	src := imaging.Clone(img) // bounds from (0, 0)
	w, h := src.Rect.Dx(), src.Rect.Dy()
	if w == 0 || h == 0 {
		return src
	}
	bg := borderMedian(src)
	x0, y0, x1, y1 := w, h, -1, -1
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if differs(overWhite(src.Pix[src.PixOffset(x, y):][:4]), bg, tol) {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return src
	}
	// Shift so the box's centre lands on the image's: (x0+x1)/2 → (w-1)/2.
	dx, dy := (w-1-x0-x1)/2, (h-1-y0-y1)/2
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	fill := color.NRGBA{bg[0], bg[1], bg[2], 255}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			sx, sy := x-dx, y-dy
			if sx < 0 || sy < 0 || sx >= w || sy >= h {
				out.SetNRGBA(x, y, fill)
				continue
			}
			copy(out.Pix[out.PixOffset(x, y):][:4], src.Pix[src.PixOffset(sx, sy):][:4])
		}
	}
	return out
}

// borderMedian is each colour channel's median over the border pixels.
func borderMedian(m *image.NRGBA) [3]uint8 {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	var ch [3][]uint8
	add := func(x, y int) {
		p := overWhite(m.Pix[m.PixOffset(x, y):][:4])
		for c := range ch {
			ch[c] = append(ch[c], p[c])
		}
	}
	for x := 0; x < w; x++ {
		add(x, 0)
		if h > 1 {
			add(x, h-1)
		}
	}
	for y := 1; y < h-1; y++ {
		add(0, y)
		if w > 1 {
			add(w-1, y)
		}
	}
	var bg [3]uint8
	for c := range ch {
		slices.Sort(ch[c])
		bg[c] = ch[c][len(ch[c])/2]
	}
	return bg
}

// overWhite is an NRGBA pixel's colour composited over white, as ToCHW
// composites it.
func overWhite(p []uint8) [3]uint8 {
	a := int(p[3])
	var out [3]uint8
	for c := range out {
		out[c] = uint8((int(p[c])*a + 255*(255-a) + 127) / 255)
	}
	return out
}

func differs(p [3]uint8, bg [3]uint8, tol uint8) bool {
	for c := 0; c < 3; c++ {
		d := int(p[c]) - int(bg[c])
		if d > int(tol) || -d > int(tol) {
			return true
		}
	}
	return false
}
