// Package media holds what Loom's video outputs share beyond one codec:
// frames as 8-bit RGB, the first-frame thumbnail and the spritesheet. The
// codecs live in its subpackages h264, mp4 and gif.
package media

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
)

var errNoFrames = errors.New("media: no frames")

// Spritesheet lays frames of one size side by side, left to right, in one row.
func Spritesheet(frames []image.Image) (*image.RGBA, error) {
	if len(frames) == 0 {
		return nil, errNoFrames
	}
	b := frames[0].Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w*len(frames), h))
	for i, f := range frames {
		if fb := f.Bounds(); fb.Dx() != w || fb.Dy() != h {
			return nil, fmt.Errorf("spritesheet: frame %d is %dx%d, frame 0 %dx%d", i, fb.Dx(), fb.Dy(), w, h)
		}
		draw.Draw(out, image.Rect(i*w, 0, (i+1)*w, h), f, f.Bounds().Min, draw.Src)
	}
	return out, nil
}
