// Package imgproc turns untrusted image bytes into model input: bounded
// decoding of PNG, JPEG, GIF, BMP and WebP (EXIF orientation applied), resize
// to the model's size, and normalisation into a CHW float tensor as Hugging
// Face's ViTImageProcessor does (rescale 1/255, then (x-mean)/std).
package imgproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // register GIF
	_ "image/jpeg" // register JPEG
	_ "image/png"  // register PNG

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/bmp"  // register BMP
	_ "golang.org/x/image/webp" // register WebP
)

// Limits bound what Decode accepts.
type Limits struct {
	MaxBytes  int // encoded size; default 16 MiB
	MaxPixels int // width×height; default 40 megapixels
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 16 << 20
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = 40_000_000
	}
	return l
}

// ErrUnsupported is returned for bytes that are no image format Loom reads.
var ErrUnsupported = errors.New("unsupported image format (want PNG, JPEG, GIF, BMP or WebP)")

// Decode checks the header against the limits before decoding anything big,
// then decodes with EXIF orientation applied. Errors say what is wrong with
// the input; none is a panic.
func Decode(data []byte, lim Limits) (image.Image, string, error) {
	lim = lim.withDefaults()
	if len(data) == 0 {
		return nil, "", errors.New("empty image")
	}
	if len(data) > lim.MaxBytes {
		return nil, "", fmt.Errorf("image is %d bytes; the limit is %d", len(data), lim.MaxBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, "", ErrUnsupported
		}
		return nil, "", fmt.Errorf("corrupt image header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, "", fmt.Errorf("image has no pixels (%d×%d)", cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(lim.MaxPixels) {
		return nil, "", fmt.Errorf("image is %d×%d pixels; the limit is %d pixels", cfg.Width, cfg.Height, lim.MaxPixels)
	}
	img, err := imaging.Decode(bytes.NewReader(data), imaging.AutoOrientation(true))
	if err != nil {
		return nil, "", fmt.Errorf("corrupt %s image: %w", format, err)
	}
	return img, format, nil
}

// Normalize describes a model's preprocessing (preprocessor_config.json).
type Normalize struct {
	Width, Height int
	Mean, Std     [3]float32
}

// ToCHW resizes img to (Height, Width) — Lanczos when shrinking, bilinear
// when enlarging, as the training augmentation did — composites any alpha
// over white, and writes (3, Height, Width) floats: (v/255 - mean)/std.
// dst must hold 3·Height·Width values.
func ToCHW(dst []float32, img image.Image, n Normalize) error {
	if n.Width <= 0 || n.Height <= 0 {
		return fmt.Errorf("imgproc: bad target size %d×%d", n.Width, n.Height)
	}
	hw := n.Width * n.Height
	if len(dst) < 3*hw {
		return fmt.Errorf("imgproc: dst holds %d values, need %d", len(dst), 3*hw)
	}
	b := img.Bounds()
	filter := imaging.Lanczos
	if b.Dx() < n.Width || b.Dy() < n.Height {
		filter = imaging.Linear
	}
	var nrgba *image.NRGBA
	if b.Dx() == n.Width && b.Dy() == n.Height {
		nrgba = imaging.Clone(img)
	} else {
		nrgba = imaging.Resize(img, n.Width, n.Height, filter)
	}
	for y := 0; y < n.Height; y++ {
		row := nrgba.Pix[y*nrgba.Stride:]
		for x := 0; x < n.Width; x++ {
			p := row[4*x : 4*x+4]
			a := float32(p[3]) / 255
			for c := 0; c < 3; c++ {
				v := float32(p[c])/255*a + (1 - a) // over white
				dst[c*hw+y*n.Width+x] = (v - n.Mean[c]) / n.Std[c]
			}
		}
	}
	return nil
}
