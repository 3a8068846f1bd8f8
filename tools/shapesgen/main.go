// Command shapesgen writes a Shapes dataset (../shared/SHAPES.md) for training
// and evaluation: PREFIX.u8 holds N images as raw RGB bytes (N×64×64×3,
// row-major, HWC) and PREFIX.txt their captions, one per line. With -png it
// writes DIR/000000.png … and DIR/captions.txt instead.
//
//	go run ./tools/shapesgen -n 200000 -seed 1 -out /tmp/shapes/train
package main

import (
	"bufio"
	"flag"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/loomhq/loom/shapes"
)

func main() {
	n := flag.Int("n", 1000, "number of scenes")
	seed := flag.Uint64("seed", 1, "random seed (training and evaluation sets use different seeds)")
	p2 := flag.Float64("p2", 0.5, "probability that a scene has two objects")
	out := flag.String("out", "", "output prefix (writes PREFIX.u8 and PREFIX.txt)")
	pngDir := flag.String("png", "", "write PNG files and captions.txt into this folder instead")
	flag.Parse()
	if *out == "" && *pngDir == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "shapesgen: need -n ≥ 1 and -out PREFIX or -png DIR")
		os.Exit(2)
	}
	if err := run(*n, *seed, *p2, *out, *pngDir); err != nil {
		fmt.Fprintln(os.Stderr, "shapesgen:", err)
		os.Exit(1)
	}
}

func run(n int, seed uint64, p2 float64, out, pngDir string) error {
	r := rand.New(rand.NewPCG(seed, 0x5ba9e5))
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
		s := shapes.RandomScene(r, p2)
		img := shapes.Render(s)
		fmt.Fprintln(caps, s.Caption())
		if pngDir != "" {
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
		row = row[:0]
		for p := 0; p < len(img.Pix); p += 4 {
			row = append(row, img.Pix[p], img.Pix[p+1], img.Pix[p+2])
		}
		if _, err := raw.Write(row); err != nil {
			return err
		}
	}
	if raw != nil {
		if err := raw.Flush(); err != nil {
			return err
		}
	}
	return caps.Flush()
}
