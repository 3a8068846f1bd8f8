// Command shapesgen writes a Shapes dataset (../shared/SHAPES.md) for training
// and evaluation: PREFIX.u8 holds N images as raw RGB bytes (N×64×64×3,
// row-major, HWC) and PREFIX.txt their captions, one per line. With -png it
// writes DIR/000000.png … and DIR/captions.txt instead.
//
// With -video each item is a clip of the motion world instead: PREFIX.u8
// holds N×16×64×64×3 bytes (clip, frame, row, column, RGB) and PREFIX.txt
// the prompts ("a large green triangle moving right"); -png writes each clip
// as a 1024×64 strip of its frames.
//
//	go run ./tools/shapesgen -n 200000 -seed 1 -out /tmp/shapes/train
//	go run ./tools/shapesgen -video -n 50000 -seed 11 -out /tmp/shapes-video/train
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/loomhq/loom/core/media"
	"github.com/loomhq/loom/shapes"
)

func main() {
	n := flag.Int("n", 1000, "number of scenes")
	seed := flag.Uint64("seed", 1, "random seed (training and evaluation sets use different seeds)")
	p2 := flag.Float64("p2", 0.5, "probability that a scene has two objects")
	out := flag.String("out", "", "output prefix (writes PREFIX.u8 and PREFIX.txt)")
	pngDir := flag.String("png", "", "write PNG files and captions.txt into this folder instead")
	video := flag.Bool("video", false, "write clips of the motion world (16 frames each) and their prompts")
	flag.Parse()
	if *out == "" && *pngDir == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "shapesgen: need -n ≥ 1 and -out PREFIX or -png DIR")
		os.Exit(2)
	}
	r := rand.New(rand.NewPCG(*seed, 0x5ba9e5))
	item := func() (string, []*image.RGBA) {
		s := shapes.RandomScene(r, *p2)
		return s.Caption(), []*image.RGBA{shapes.Render(s)}
	}
	if *video {
		r = rand.New(rand.NewPCG(*seed, 0x71de0))
		item = func() (string, []*image.RGBA) {
			c := shapes.RandomClip(r)
			return c.Prompt(), shapes.RenderClip(c)
		}
	}
	if err := run(*n, item, *out, *pngDir); err != nil {
		fmt.Fprintln(os.Stderr, "shapesgen:", err)
		os.Exit(1)
	}
}

// run writes n items, each a caption and its frames (one for a scene).
func run(n int, item func() (string, []*image.RGBA), out, pngDir string) error {
	var capPath string
	var raw *bufio.Writer
	if pngDir != "" {
		if err := os.MkdirAll(pngDir, 0o755); err != nil {
			return err
		}
		capPath = filepath.Join(pngDir, "captions.txt")
	} else {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		f, err := os.Create(out + ".u8")
		if err != nil {
			return err
		}
		defer f.Close()
		raw = bufio.NewWriterSize(f, 1<<20)
		capPath = out + ".txt"
	}
	cf, err := os.Create(capPath)
	if err != nil {
		return err
	}
	defer cf.Close()
	caps := bufio.NewWriter(cf)
	row := make([]byte, 0, shapes.Size*shapes.Size*3)
	for i := 0; i < n; i++ {
		caption, frames := item()
		fmt.Fprintln(caps, caption)
		if pngDir != "" {
			var img image.Image = frames[0]
			if len(frames) > 1 {
				var err error
				if img, err = media.Spritesheet(asImages(frames)); err != nil {
					return err
				}
			}
			f, err := os.Create(filepath.Join(pngDir, fmt.Sprintf("%06d.png", i)))
			if err != nil {
				return err
			}
			if err := png.Encode(f, img); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			continue
		}
		for _, img := range frames {
			row = row[:0]
			for p := 0; p < len(img.Pix); p += 4 {
				row = append(row, img.Pix[p], img.Pix[p+1], img.Pix[p+2])
			}
			if _, err := raw.Write(row); err != nil {
				return err
			}
		}
	}
	if raw != nil {
		if err := raw.Flush(); err != nil {
			return err
		}
	}
	return caps.Flush()
}

func asImages(fs []*image.RGBA) []image.Image {
	out := make([]image.Image, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}
