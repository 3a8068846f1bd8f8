package imgproc

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/bmp"

	"github.com/loomhq/loom/core/testmodel"
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

// Issue 17 item 5: a 130 KB PNG that decodes to 4096×4096 16-bit pixels
// (128 MiB) was decoded before anything checked what it would cost. It is
// refused from its header now, allocating next to nothing.
func TestDecodeRefusesWhatDecodesTooLarge(t *testing.T) {
	var bomb bytes.Buffer
	if err := testmodel.WriteBlackPNG(&bomb, 4096, true); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := Decode(bomb.Bytes(), Limits{})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "decodes to 128.0 MiB") {
		t.Fatalf("16-bit 4096² PNG: %v, want refused for decoding to 128 MiB", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("%d KiB allocated to refuse it", alloc>>10)
	}
	// An 8-bit image is 4 bytes a pixel; within a limit it decodes.
	var small bytes.Buffer
	if err := testmodel.WriteBlackPNG(&small, 512, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Decode(small.Bytes(), Limits{MaxDecoded: 1<<20 - 1}); err == nil || !strings.Contains(err.Error(), "decodes to 1.0 MiB") {
		t.Fatalf("512² RGBA under a 1 MiB limit: %v", err)
	}
	if img, _, err := Decode(small.Bytes(), Limits{MaxDecoded: 1 << 20}); err != nil || ImageBytes(img) != 1<<20 {
		t.Fatalf("512² RGBA at the limit: %v", err)
	}
}

// Decodes share the process's budget: one that does not fit waits (until
// its context ends) for what is being decoded to be given back.
func TestDecodeWaitsForBudget(t *testing.T) {
	saved := inFlight
	inFlight = newBudget(1 << 20)
	defer func() { inFlight = saved }()
	var b bytes.Buffer
	png.Encode(&b, testImage(256, 256)) // 256 KiB decoded
	held, _ := inFlight.acquire(context.Background(), 900<<10)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := DecodeContext(ctx, b.Bytes(), Limits{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("decode over the budget: %v, want it to wait until the deadline", err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := DecodeContext(context.Background(), b.Bytes(), Limits{}); done <- err }()
	time.Sleep(20 * time.Millisecond)
	inFlight.release(held)
	if err := <-done; err != nil {
		t.Fatalf("decode once the budget is back: %v", err)
	}
	if inFlight.free != 1<<20 {
		t.Fatalf("budget %d after the decodes, want all of it back", inFlight.free)
	}
}
