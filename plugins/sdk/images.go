package sdk

import (
	"fmt"
	"image"
	"image/color"
)

// Input images are bounded by what they decode to, which their header
// tells without decoding: a 130 KB PNG can hold 4096×4096 16-bit pixels,
// 128 MiB once decoded. The gateway checks each upload's header against
// these limits and never decodes it; the plugin that uses the image checks
// again (jobs can come from /v1/jobs) and decodes it once.
const (
	// MaxImageSide is the largest width or height of an input image.
	MaxImageSide = 4096
	// MaxImageBytes bounds the decoded size of one job's input images
	// together (width × height × bytes per pixel, summed): a 4096×4096
	// 8-bit RGBA image, or sixteen 1024×1024 ones.
	MaxImageBytes = 64 << 20
)

// ImageBytes is what an image with this header decodes to in Go's image
// types, from its color model (8 bytes a pixel for 16-bit RGBA, 1 for
// paletted or gray, 4 for RGBA, 3 at most for JPEG's YCbCr).
func ImageBytes(cfg image.Config) int64 {
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

// CheckImageConfig refuses (invalid_request) an image header whose sides
// are out of range or that decodes to more than budget bytes.
func CheckImageConfig(cfg image.Config, budget int64) error {
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
		return Errorf(CodeInvalidRequest, "image is %d×%d; each side must be 1…%d", cfg.Width, cfg.Height, MaxImageSide)
	}
	if n := ImageBytes(cfg); n > budget {
		return Errorf(CodeInvalidRequest, "image is %d×%d and decodes to %s; the limit is %s for a job's images together",
			cfg.Width, cfg.Height, mib(n), mib(MaxImageBytes))
	}
	return nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
