package imgproc

import (
	"image"
	"image/color"
	"testing"
)

// TestCentreSubject: a subject in a corner lands in the middle, its size
// and colours kept, the uncovered part filled with the border's colour; a
// picture of background only and an image whose bounds do not start at 0
// come out as they should.
func TestCentreSubject(t *testing.T) {
	bg := color.NRGBA{240, 250, 245, 255}
	red := color.NRGBA{220, 40, 40, 255}
	for _, c := range []struct {
		w, h, x0, y0, sw, sh int // canvas, subject's corner and size
	}{
		{20, 16, 0, 0, 3, 2}, {64, 64, 50, 3, 13, 13}, {64, 64, 20, 40, 24, 24}, {9, 7, 4, 3, 1, 1}, {64, 64, 0, 30, 10, 12},
	} {
		m := image.NewRGBA(image.Rect(0, 0, c.w, c.h))
		for y := 0; y < c.h; y++ {
			for x := 0; x < c.w; x++ {
				m.Set(x, y, bg)
				if x >= c.x0 && x < c.x0+c.sw && y >= c.y0 && y < c.y0+c.sh {
					m.Set(x, y, red)
				}
			}
		}
		m.Set(c.x0, c.y0, color.NRGBA{200, 60, 50, 255}) // a different pixel moves with the rest
		out := CentreSubject(m, 48)
		if out.Bounds() != image.Rect(0, 0, c.w, c.h) {
			t.Fatalf("%+v: bounds %v", c, out.Bounds())
		}
		// The box's centre (x0 + (sw-1)/2) moves to (w-1)/2, rounding down the shift.
		dx, dy := (c.w-1-2*c.x0-c.sw+1)/2, (c.h-1-2*c.y0-c.sh+1)/2
		nx, ny := c.x0+dx, c.y0+dy
		if 2*abs(2*nx+c.sw-1-(c.w-1)) > 2 || 2*abs(2*ny+c.sh-1-(c.h-1)) > 2 {
			t.Fatalf("%+v: subject at (%d, %d) is not centred", c, nx, ny)
		}
		for y := 0; y < c.h; y++ {
			for x := 0; x < c.w; x++ {
				want := bg
				if x >= nx && x < nx+c.sw && y >= ny && y < ny+c.sh {
					want = red
				}
				if x == nx && y == ny {
					want = color.NRGBA{200, 60, 50, 255}
				}
				if got := out.NRGBAAt(x, y); got != want {
					t.Fatalf("%+v: (%d, %d) is %v, want %v", c, x, y, got, want)
				}
			}
		}
		// A bounds origin other than 0: the same picture.
		sub := image.NewRGBA(image.Rect(5, 7, 5+c.w, 7+c.h))
		for y := 0; y < c.h; y++ {
			for x := 0; x < c.w; x++ {
				sub.Set(5+x, 7+y, m.At(x, y))
			}
		}
		if got := CentreSubject(sub, 48); string(got.Pix) != string(out.Pix) {
			t.Fatalf("%+v: bounds at (5, 7) give another picture", c)
		}
	}
	// Background only, and pixels within the tolerance: unmoved.
	m := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := range m.Pix {
		m.Pix[i] = 250
	}
	m.SetNRGBA(1, 1, color.NRGBA{210, 250, 250, 255})
	if got := CentreSubject(m, 48); string(got.Pix) != string(m.Pix) {
		t.Fatal("a picture with no subject moved")
	}
	// Transparent pixels read as white (black ones with alpha 0 here): the
	// subject is the opaque square only.
	tr := image.NewNRGBA(image.Rect(0, 0, 10, 10))
	for y := 6; y < 10; y++ {
		for x := 6; x < 10; x++ {
			tr.SetNRGBA(x, y, red)
		}
	}
	if got := CentreSubject(tr, 48); got.NRGBAAt(3, 3) != red || got.NRGBAAt(6, 6) != red || got.NRGBAAt(7, 7) == red ||
		overWhite(got.Pix[:4]) != [3]uint8{255, 255, 255} || got.NRGBAAt(9, 9) != (color.NRGBA{255, 255, 255, 255}) {
		t.Fatalf("transparent background: %v %v %v %v %v", got.NRGBAAt(3, 3), got.NRGBAAt(6, 6), got.NRGBAAt(7, 7), got.NRGBAAt(0, 0), got.NRGBAAt(9, 9))
	}
	if got := CentreSubject(image.NewNRGBA(image.Rect(0, 0, 0, 0)), 48); got.Bounds().Dx() != 0 {
		t.Fatal("an empty picture grew")
	}
}

func abs(x int) int { return max(x, -x) }
