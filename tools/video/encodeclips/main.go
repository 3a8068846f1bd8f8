// Command encodeclips encodes every frame of a Shapes motion-world dataset
// (go run ./tools/shapesgen -video) with a pipeline folder's VAE, once, for
// tools/video/train.py: the latent Gaussian's mean and standard deviation of
// each frame, unscaled, as float16, (N, 16, L, h, w) means then stds, in
// PREFIX.latents.f16 (the trainer samples a latent from them every step).
// PyTorch's encoder gives the same numbers (core/towers' VAE golden test)
// several times slower on this machine's one core.
//
//	go run ./tools/video/encodeclips -data /tmp/video/train -vae models/shapes-diffusion/vae -n 2400
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/shapes"
)

func main() {
	data := flag.String("data", "/tmp/video/train", "dataset prefix: PREFIX.u8 (N×16×64×64×3) and PREFIX.txt")
	vaeDir := flag.String("vae", "models/shapes-diffusion/vae", "AutoencoderKL folder")
	n := flag.Int("n", 0, "encode the first n clips (0: all)")
	flag.Parse()
	if err := run(*data, *vaeDir, *n); err != nil {
		fmt.Fprintln(os.Stderr, "encodeclips:", err)
		os.Exit(1)
	}
}

func run(prefix, vaeDir string, n int) error {
	const side, frames = shapes.Size, shapes.Frames
	frameBytes := side * side * 3
	st, err := os.Stat(prefix + ".u8")
	if err != nil {
		return err
	}
	all := int(st.Size()) / (frames * frameBytes)
	if n <= 0 || n > all {
		n = all
	}
	cfg, err := towers.ReadVAEConfig(filepath.Join(vaeDir, "config.json"))
	if err != nil {
		return err
	}
	src, err := formats.OpenSafetensors(filepath.Join(vaeDir, "diffusion_pytorch_model.safetensors"))
	if err != nil {
		return err
	}
	defer src.Close()
	vae, err := towers.LoadVAE(nn.NewBinder(src), cfg)
	if err != nil {
		return err
	}
	f := cfg.Downscale()
	per := cfg.LatentChannels * (side / f) * (side / f) // one frame's latents
	in, err := os.Open(prefix + ".u8")
	if err != nil {
		return err
	}
	defer in.Close()
	raw := make([]byte, frames*frameBytes)
	px := make([]float32, frames*3*side*side)
	mean, logvar := make([]float32, frames*per), make([]float32, frames*per)
	means, stds := make([]uint16, n*frames*per), make([]uint16, n*frames*per)
	r := bufio.NewReaderSize(in, 1<<20)
	t0 := time.Now()
	for c := 0; c < n; c++ {
		if _, err := io.ReadFull(r, raw); err != nil {
			return fmt.Errorf("clip %d: %w", c, err)
		}
		for i := 0; i < frames; i++ { // HWC bytes → CHW in [-1, 1]
			for p := 0; p < side*side; p++ {
				for ch := 0; ch < 3; ch++ {
					px[(i*3+ch)*side*side+p] = float32(raw[i*frameBytes+3*p+ch])/127.5 - 1
				}
			}
		}
		if err := vae.Encode(mean, logvar, px, frames, side, side); err != nil {
			return fmt.Errorf("clip %d: %w", c, err)
		}
		for i := range mean {
			means[c*frames*per+i] = kernels.F32ToF16(mean[i])
			stds[c*frames*per+i] = kernels.F32ToF16(float32(math.Exp(0.5 * float64(logvar[i]))))
		}
		if (c+1)%100 == 0 || c+1 == n {
			fmt.Printf("encoded %d/%d clips (%.1f min)\n", c+1, n, time.Since(t0).Minutes())
		}
	}
	out := fmt.Sprintf("%s.%d.latents.f16", prefix, n)
	f16, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f16, 1<<20)
	for _, part := range [][]uint16{means, stds} {
		if err := binary.Write(w, binary.LittleEndian, part); err != nil {
			f16.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f16.Close()
		return err
	}
	if err := f16.Close(); err != nil {
		return err
	}
	fmt.Println("wrote", out)
	return os.Rename(out+".tmp", out)
}
