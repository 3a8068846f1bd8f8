// Package imgproc turns untrusted image bytes into model input: bounded
// decoding of PNG, JPEG, GIF, BMP and WebP (EXIF orientation applied), resize
// to the model's size, and normalisation into a CHW float tensor as Hugging
// Face's ViTImageProcessor does (rescale 1/255, then (x-mean)/std).
package imgproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // register GIF
	_ "image/jpeg" // register JPEG
	_ "image/png"  // register PNG
	"runtime/debug"
	"sync"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/bmp"  // register BMP
	_ "golang.org/x/image/webp" // register WebP
)

// Limits bound what Decode accepts.
type Limits struct {
	MaxBytes  int // encoded size; default 16 MiB
	MaxPixels int // width×height; default 40 megapixels
	// MaxDecoded bounds what the image decodes to (width × height × bytes
	// per pixel of its color model, read from the header): 16-bit RGBA
	// takes 8 bytes a pixel. Default 64 MiB.
	MaxDecoded int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 16 << 20
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = 40_000_000
	}
	if l.MaxDecoded <= 0 {
		l.MaxDecoded = 64 << 20
	}
	return l
}

// DecodedBytes is what an image with this header takes decoded, in Go's
// image types: 1 byte a pixel for gray or paletted, 3 for JPEG's YCbCr, 8
// for 16-bit RGBA, 4 otherwise. (The gateway reads the same table from
// sdk.ImageBytes; core imports nothing above it.)
func DecodedBytes(cfg image.Config) int64 {
	bpp := int64(4)
	switch cfg.ColorModel {
	case color.GrayModel, color.AlphaModel:
		bpp = 1
	case color.Gray16Model, color.Alpha16Model:
		bpp = 2
	case color.YCbCrModel:
		bpp = 3
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	default:
		if _, ok := cfg.ColorModel.(color.Palette); ok {
			bpp = 1
		}
	}
	return int64(cfg.Width) * int64(cfg.Height) * bpp
}

// ImageBytes is what a decoded image takes (DecodedBytes of its size and
// color model).
func ImageBytes(img image.Image) int64 {
	b := img.Bounds()
	return DecodedBytes(image.Config{Width: b.Dx(), Height: b.Dy(), ColorModel: img.ColorModel()})
}

// inFlight bounds the bytes of images being decoded at once in this
// process (64 MiB images, two at a time): concurrent jobs each decoding a
// large image would otherwise add up without limit.
var inFlight = newBudget(128 << 20)

// budget is a counting semaphore over bytes.
type budget struct {
	mu    sync.Mutex
	free  int64
	total int64
	wake  chan struct{} // closed and replaced when bytes are given back
}

func newBudget(n int64) *budget { return &budget{free: n, total: n, wake: make(chan struct{})} }

// acquire takes n bytes (all of the budget when n is more), waiting for
// them until ctx ends.
func (b *budget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(n, b.total)
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return n, nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-wake:
		}
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	close(b.wake)
	b.wake = make(chan struct{})
}

// ReturnMemory hands the heap's free pages back to the OS after an image of
// decodedBytes was decoded and is no longer used. Go otherwise keeps them
// until its scavenger gets there, minutes later, and the plugin's RSS stays
// at its peak. Small images cost nothing here.
func ReturnMemory(decodedBytes int64) {
	if decodedBytes >= 16<<20 {
		debug.FreeOSMemory()
	}
}

// ErrUnsupported is returned for bytes that are no image format Loom reads.
var ErrUnsupported = errors.New("unsupported image format (want PNG, JPEG, GIF, BMP or WebP)")

// Decode checks the header against the limits before decoding anything big,
// then decodes with EXIF orientation applied. Errors say what is wrong with
// the input; none is a panic.
func Decode(data []byte, lim Limits) (image.Image, string, error) {
	return DecodeContext(context.Background(), data, lim)
}

// DecodeContext is Decode that waits, until ctx ends, for its share of the
// process's decode budget (what the image decodes to) before decoding.
func DecodeContext(ctx context.Context, data []byte, lim Limits) (image.Image, string, error) {
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
	need := DecodedBytes(cfg)
	if need > lim.MaxDecoded {
		return nil, "", fmt.Errorf("image is %d×%d and decodes to %.1f MiB; the limit is %.1f MiB",
			cfg.Width, cfg.Height, float64(need)/(1<<20), float64(lim.MaxDecoded)/(1<<20))
	}
	held, err := inFlight.acquire(ctx, need)
	if err != nil {
		return nil, "", err
	}
	defer inFlight.release(held)
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

// Resize is img at w×h as NRGBA: Lanczos when shrinking, bilinear when
// enlarging, a copy at the same size (ToCHW's resize).
func Resize(img image.Image, w, h int) *image.NRGBA {
	b := img.Bounds()
	if b.Dx() == w && b.Dy() == h {
		return imaging.Clone(img)
	}
	filter := imaging.Lanczos
	if b.Dx() < w || b.Dy() < h {
		filter = imaging.Linear
	}
	return imaging.Resize(img, w, h, filter)
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
	nrgba := Resize(img, n.Width, n.Height)
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
