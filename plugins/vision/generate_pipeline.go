package main

// A diffusers-style Stable Diffusion pipeline folder, as
// tools/diffusion/train_unet.py exports it (the shared parts are read by
// core/diffusion, see its package comment):
//
//	unet/{config.json, diffusion_pytorch_model.safetensors}     UNet2DConditionModel
//
// composed here into text-to-image and image-to-image runs: CLIP on the
// prompt and the negative prompt, the sampler's loop with classifier-free
// guidance (both halves as one UNet batch), the VAE decode, and 8-bit RGB out.

import (
	"fmt"
	"image"
	"path/filepath"
	"time"

	"github.com/loomhq/loom/core/diffusion"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/towers"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// pipelineFiles is what a folder needs to be served as image.generate (the
// Unready message names them when none is installed).
var pipelineFiles = []string{"model_index.json", "text_encoder/", "tokenizer/", "unet/", "vae/", "scheduler/scheduler_config.json"}

// isPipeline reports whether dir looks like an image pipeline folder (the
// load itself checks the rest); a video pipeline is the video plugin's.
func isPipeline(dir string) bool {
	return diffusion.IsPipeline(dir) && !diffusion.HasMotion(dir)
}

// pipeline is one loaded folder: the shared parts (text encoder, tokenizer,
// VAE, scheduler, defaults) and the image UNet.
type pipeline struct {
	*diffusion.Pipeline
	unet   *towers.UNet
	side   int // latent side (unet sample_size)
	native int // image side: side × the VAE's downscale
}

func loadPipeline(dir string) (*pipeline, error) {
	d, err := diffusion.Open(dir, tasks.MaxImageSteps, tasks.MaxGuidanceScale)
	if err != nil {
		return nil, err
	}
	p := &pipeline{Pipeline: d}
	if err := p.loadUNet(); err != nil {
		d.Close()
		return nil, err
	}
	return p, nil
}

func (p *pipeline) loadUNet() error {
	ucfg, err := towers.ReadUNetConfig(filepath.Join(p.Dir, "unet", "config.json"))
	if err != nil {
		return err
	}
	b, err := p.Bind(filepath.Join(p.Dir, "unet", "diffusion_pytorch_model.safetensors"))
	if err != nil {
		return err
	}
	if p.unet, err = towers.LoadUNet(b, ucfg); err != nil {
		return err
	}
	u, v := p.unet.Cfg, p.VAE.Cfg
	switch {
	case u.CrossAttentionDim != p.Text.Cfg.HiddenSize:
		return fmt.Errorf("unet cross_attention_dim %d ≠ text encoder hidden size %d", u.CrossAttentionDim, p.Text.Cfg.HiddenSize)
	case u.InChannels != v.LatentChannels || u.OutChannels != v.LatentChannels:
		return fmt.Errorf("unet channels %d→%d, vae latents %d", u.InChannels, u.OutChannels, v.LatentChannels)
	case u.SampleSize <= 0 || u.SampleSize%u.Downscale() != 0:
		return fmt.Errorf("unet sample_size %d is not a multiple of %d", u.SampleSize, u.Downscale())
	}
	p.side = u.SampleSize
	p.native = p.side * v.Downscale()
	return nil
}

// run is one generation's settings, already validated.
type run struct {
	scheduler    string
	steps        int
	guidance     float32
	n            int
	seed         int64
	init         []float32 // clean latents (L, side, side) of the input image; nil: text-to-image
	strength     float64
	previewEvery int
}

// stepHooks are what a run reports while it samples.
type stepHooks struct {
	progress func(step, total int) error         // after each denoising step; an error stops the run
	preview  func(step int, rgb []float32) error // (3, native, native) in [-1, 1]; image 0's x̂₀
	timings  func(stage string, d time.Duration) // "text", "unet_step", "vae_decode", "vae_decode_cpu", "vae_encode"
	stopped  func() error                        // checked before every step: the job's context
}

// generate samples r.n images and returns their RGB planes (n, 3, native,
// native), nominally in [-1, 1].
func (p *pipeline) generate(r run, ctx2 []float32, h stepHooks) ([]float32, error) {
	side := p.side
	per := p.unet.Cfg.InChannels * side * side // one image's latents
	L := p.CtxLen
	unet := func(out, in []float32, rows int, t float32, ctx []float32) error {
		return p.unet.Forward(out, in, rows, side, side, []float32{t}, ctx, L)
	}
	x, err := p.Sample(diffusion.Run{Scheduler: r.scheduler, Steps: r.steps, Guidance: r.guidance, Items: r.n, Per: per,
		Seed: r.seed, Init: r.init, Strength: r.strength, PreviewEvery: r.previewEvery}, ctx2, unet,
		diffusion.Hooks{Progress: h.progress, Timings: h.timings, Stopped: h.stopped,
			Preview: func(step int, x0 []float32) error {
				rgb := make([]float32, 3*p.native*p.native)
				if err := p.VAE.DecodeLatents(rgb, x0, 1, side, side); err != nil {
					return err
				}
				return h.preview(step, rgb)
			}})
	if err != nil {
		return nil, err
	}
	t0, cpu0 := time.Now(), kernels.ProcessCPU()
	rgb := make([]float32, r.n*3*p.native*p.native)
	if err := p.VAE.DecodeLatents(rgb, x, r.n, side, side); err != nil {
		return nil, err
	}
	h.timings("vae_decode", time.Since(t0))
	// The process's CPU over the decode, every thread: near threads × the
	// wall time when the pool's threads had their cores.
	h.timings("vae_decode_cpu", kernels.ProcessCPU()-cpu0)
	return rgb, nil
}

// encodeImage turns an input image into the clean latents (L, side, side)
// an image-to-image run starts from (see diffusion.Pipeline.EncodeImage).
func (p *pipeline) encodeImage(img image.Image) ([]float32, error) {
	return p.EncodeImage(img, p.native)
}
