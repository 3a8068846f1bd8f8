package towers

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/sched"
	"github.com/loomhq/loom/core/tokenizer"
)

// The diffusion towers against PyTorch goldens made by tools/diffusion/goldens.py
// from tiny random-init models in diffusers' layout (weights stored as f16 and
// used as f16-rounded f32 on both sides): one CLIP text-encoder pass, one UNet
// step on a batch of two timesteps, one VAE encode and decode.
const (
	diffusionDir    = "testdata/diffusion_tiny"
	diffusionGolden = "testdata/diffusion_golden.safetensors"
	// Tolerances are relative to the largest magnitude of the reference
	// output: f32 on both sides, differing only in summation order.
	tolCLIP = 2e-6
	tolUNet = 2e-5
	tolVAE  = 2e-5
	// Four guided sampler steps amplify step-one differences (guidance 5).
	tolPipeline = 1e-4
)

func openGolden(t testing.TB) *formats.SafetensorsModel { return openSafetensors(t, diffusionGolden) }

// openSafetensors opens a golden or weights file for the rest of the test.
func openSafetensors(t testing.TB, path string) *formats.SafetensorsModel {
	t.Helper()
	g, err := formats.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func binderFor(t testing.TB, path string) *nn.Binder {
	t.Helper()
	src, err := formats.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return nn.NewBinder(src)
}

// relErr is max |got - want| / max |want|.
func relErr(got, want []float32) float64 {
	var m float64
	for _, v := range want {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return maxAbsDiff(got, want) / math.Max(m, 1e-30)
}

const tinyUNetWeights = diffusionDir + "/unet/diffusion_pytorch_model.safetensors"

func loadTinyUNet(t *testing.T) *UNet {
	t.Helper()
	cfg, err := ReadUNetConfig(filepath.Join(diffusionDir, "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := LoadUNet(binderFor(t, tinyUNetWeights), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUNetMatchesPyTorch(t *testing.T) {
	u := loadTinyUNet(t)
	g := openGolden(t)
	sample, shape := goldenF32(t, g, "unet_sample") // (2, 4, 16, 16)
	ts, _ := goldenF32(t, g, "unet_t")              // (2)
	ctx, cshape := goldenF32(t, g, "unet_ctx")      // (2, S, D)
	want, _ := goldenF32(t, g, "unet_out")
	out := make([]float32, len(want))
	if err := u.Forward(out, sample, shape[0], shape[2], shape[3], ts, ctx, cshape[1]); err != nil {
		t.Fatal(err)
	}
	e := relErr(out, want)
	t.Logf("unet: max relative difference %.3g", e)
	if e > tolUNet {
		t.Errorf("unet output differs from PyTorch by %g relative (tolerance %g)", e, tolUNet)
	}
	// One image at a time with a single shared timestep gives the same rows.
	per := len(sample) / 2
	one := make([]float32, len(want)/2)
	if err := u.Forward(one, sample[per:], 1, shape[2], shape[3], ts[1:], ctx[len(ctx)/2:], cshape[1]); err != nil {
		t.Fatal(err)
	}
	if e := relErr(one, want[len(want)/2:]); e > tolUNet {
		t.Errorf("unet batch-of-one output differs by %g relative", e)
	}
}

// SD 2.x-style options on a second tiny UNet: linear proj_in/proj_out,
// per-block head counts, two transformer layers per block, two resnets per
// block, plain blocks first, freq_shift 1 without the sin/cos flip.
func TestUNetLinearProjectionMatchesPyTorch(t *testing.T) {
	dir := filepath.Join(diffusionDir, "unet_linear")
	cfg, err := ReadUNetConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.UseLinearProjection || len(cfg.AttentionHeadDim) != 2 || cfg.TransformerLayersPerBlock[0] != 2 {
		t.Fatalf("config does not exercise the SD 2.x options: %+v", cfg)
	}
	u, err := LoadUNet(binderFor(t, filepath.Join(dir, "diffusion_pytorch_model.safetensors")), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t)
	sample, shape := goldenF32(t, g, "unet_sample")
	ts, _ := goldenF32(t, g, "unet_t")
	ctx, cshape := goldenF32(t, g, "unet2_ctx")
	want, _ := goldenF32(t, g, "unet2_out")
	out := make([]float32, len(want))
	if err := u.Forward(out, sample, shape[0], shape[2], shape[3], ts, ctx, cshape[1]); err != nil {
		t.Fatal(err)
	}
	e := relErr(out, want)
	t.Logf("unet (linear projection): max relative difference %.3g", e)
	if e > tolUNet {
		t.Errorf("unet output differs from PyTorch by %g relative (tolerance %g)", e, tolUNet)
	}
}

func TestUNetRejectsBadInput(t *testing.T) {
	u := loadTinyUNet(t)
	cfg := u.Cfg
	x := make([]float32, 4*15*15)
	ctx := make([]float32, 3*64)
	if err := u.Forward(make([]float32, len(x)), x, 1, 15, 15, []float32{1}, ctx, 3); err == nil || !strings.Contains(err.Error(), "multiples") {
		t.Errorf("odd side: %v", err)
	}
	x = make([]float32, 4*16*16)
	if err := u.Forward(make([]float32, len(x)), x, 1, 16, 16, []float32{1}, ctx[:64], 3); err == nil {
		t.Error("short context accepted")
	}
	bad := cfg
	bad.DownBlockTypes = []string{"CrossAttnDownBlock2D", "KDownBlock2D"}
	if _, err := LoadUNet(binderFor(t, tinyUNetWeights), bad); err == nil {
		t.Error("unknown block type accepted")
	}
	bad = cfg
	bad.BlockOutChannels = []int{32, 96}
	if _, err := LoadUNet(binderFor(t, tinyUNetWeights), bad); err == nil {
		t.Error("weights of the wrong shape bound")
	}
}

func goldenI32(t *testing.T, src formats.InfoSource, name string) ([]int32, []int) {
	t.Helper()
	in, err := src.Info(name)
	if err != nil {
		t.Fatal(err)
	}
	return append([]int32(nil), unsafe.Slice((*int32)(unsafe.Pointer(&in.Data[0])), len(in.Data)/4)...), in.Shape
}

func loadTinyVAE(t *testing.T) *VAE {
	t.Helper()
	cfg, err := ReadVAEConfig(filepath.Join(diffusionDir, "vae", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := LoadVAE(binderFor(t, filepath.Join(diffusionDir, "vae", "diffusion_pytorch_model.safetensors")), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVAEMatchesPyTorch(t *testing.T) {
	v := loadTinyVAE(t)
	g := openGolden(t)
	lat, ls := goldenF32(t, g, "vae_latents") // (1, 4, 32, 32)
	want, _ := goldenF32(t, g, "vae_decoded") // (1, 3, 64, 64)
	img := make([]float32, len(want))
	if err := v.Decode(img, lat, ls[0], ls[2], ls[3]); err != nil {
		t.Fatal(err)
	}
	e := relErr(img, want)
	t.Logf("vae decode: max relative difference %.3g", e)
	if e > tolVAE {
		t.Errorf("vae decode differs from PyTorch by %g relative (tolerance %g)", e, tolVAE)
	}
	image, is := goldenF32(t, g, "vae_image") // (1, 3, 64, 64)
	wantMean, _ := goldenF32(t, g, "vae_mean")
	wantLogvar, _ := goldenF32(t, g, "vae_logvar")
	mean, logvar := make([]float32, len(wantMean)), make([]float32, len(wantLogvar))
	if err := v.Encode(mean, logvar, image, is[0], is[2], is[3]); err != nil {
		t.Fatal(err)
	}
	em, el := relErr(mean, wantMean), relErr(logvar, wantLogvar)
	t.Logf("vae encode: mean %.3g, logvar %.3g relative", em, el)
	if em > tolVAE || el > tolVAE {
		t.Errorf("vae encode differs from PyTorch: mean %g, logvar %g relative (tolerance %g)", em, el, tolVAE)
	}
	// Scaling round trip: DecodeLatents(SampleLatents(mode)) == Decode(mean).
	z := make([]float32, len(mean))
	if err := v.SampleLatents(z, mean, logvar, nil); err != nil {
		t.Fatal(err)
	}
	a, b := make([]float32, len(img)), make([]float32, len(img))
	if err := v.DecodeLatents(a, z, 1, 32, 32); err != nil {
		t.Fatal(err)
	}
	if err := v.Decode(b, mean, 1, 32, 32); err != nil {
		t.Fatal(err)
	}
	if e := relErr(a, b); e > 1e-5 {
		t.Errorf("scaled latents decode differently: %g", e)
	}
	// Every image of a batch decodes in row bands as one image alone does,
	// at any thread count: the same bits (workers of any size serve the
	// same job).
	two, pair := make([]float32, 2*len(lat)), make([]float32, 2*len(img))
	copy(two, lat)
	copy(two[len(lat):], lat)
	defer kernels.SetThreads(kernels.Default().Threads())
	for _, threads := range []int{1, 2, 3, 4} {
		kernels.SetThreads(threads)
		if err := v.Decode(pair, two, 2, ls[2], ls[3]); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			if !slices.Equal(pair[i*len(img):(i+1)*len(img)], img) {
				t.Errorf("%d threads: image %d of a batch of two differs from one image's decode (%g relative)",
					threads, i, relErr(pair[i*len(img):(i+1)*len(img)], img))
			}
		}
	}
	if err := v.Decode(img, lat[:100], 1, 32, 32); err == nil {
		t.Error("short latents accepted")
	}
	if err := v.Encode(mean, logvar, image, 1, 63, 64); err == nil {
		t.Error("odd image size accepted")
	}
}

func TestCLIPTextMatchesPyTorch(t *testing.T) {
	cfg, err := ReadCLIPTextConfig(filepath.Join(diffusionDir, "text_encoder", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := binderFor(t, filepath.Join(diffusionDir, "text_encoder", "model.safetensors"))
	m, err := LoadCLIPText(b.Sub("text_model"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t)
	ids32, shape := goldenI32(t, g, "clip_ids") // (2, T)
	want, _ := goldenF32(t, g, "clip_out")      // (2, T, H)
	T, H := shape[1], cfg.HiddenSize
	out := make([]float32, T*H)
	for i := 0; i < shape[0]; i++ {
		ids := make([]int, T)
		for j := range ids {
			ids[j] = int(ids32[i*T+j])
		}
		if err := m.Forward(out, ids); err != nil {
			t.Fatal(err)
		}
		e := relErr(out, want[i*T*H:(i+1)*T*H])
		t.Logf("clip text %d: max relative difference %.3g", i, e)
		if e > tolCLIP {
			t.Errorf("clip text %d differs from PyTorch by %g relative (tolerance %g)", i, e, tolCLIP)
		}
		// Causal: the first k states do not depend on the tokens after them.
		k := T / 2
		part := make([]float32, k*H)
		if err := m.Forward(part, ids[:k]); err != nil {
			t.Fatal(err)
		}
		if e := relErr(part, want[i*T*H:i*T*H+k*H]); e > tolCLIP {
			t.Errorf("clip text %d prefix differs by %g: mask is not causal", i, e)
		}
	}
	if err := m.Forward(out, make([]int, T+1)); err == nil {
		t.Error("too many tokens accepted")
	}
	if err := m.Forward(out, []int{cfg.VocabSize}); err == nil {
		t.Error("out-of-vocabulary id accepted")
	}
}

// A whole tiny text-to-image run against PyTorch: CLIP on the prompt and the
// empty prompt, 4 Euler steps with classifier-free guidance 5 (the two halves
// as one UNet batch), and the VAE decode of the scaled latents.
func TestTextToImageMatchesPyTorch(t *testing.T) {
	p := loadPipeline(t, diffusionDir)
	ccfg, clip, vae := p.clipCfg, p.clip, p.vae
	g := openGolden(t)
	cond32, _ := goldenI32(t, g, "pipe_cond")
	uncond32, _ := goldenI32(t, g, "pipe_uncond")
	noise, _ := goldenF32(t, g, "pipe_noise")
	wantLat, _ := goldenF32(t, g, "pipe_latents")
	wantImg, _ := goldenF32(t, g, "pipe_image")
	S, D := len(cond32), ccfg.HiddenSize
	ctx := make([]float32, 2*S*D) // (2, S, D): unconditional first
	for i, ids32 := range [][]int32{uncond32, cond32} {
		ids := make([]int, S)
		for j, v := range ids32 {
			ids[j] = int(v)
		}
		if err := clip.Forward(ctx[i*S*D:(i+1)*S*D], ids); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sched.New("euler", sched.Config{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, len(noise))
	for i, v := range noise {
		x[i] = float32(float64(v) * s.InitNoiseSigma())
	}
	p.guidedRun(t, s, x, ctx, S, 16, 5)
	e := relErr(x, wantLat)
	t.Logf("text-to-image latents: max relative difference %.3g", e)
	if e > tolPipeline {
		t.Errorf("final latents differ from PyTorch by %g relative (tolerance %g)", e, tolPipeline)
	}
	img := make([]float32, len(wantImg))
	if err := vae.DecodeLatents(img, x, 1, 16, 16); err != nil {
		t.Fatal(err)
	}
	if e := relErr(img, wantImg); e > tolPipeline {
		t.Errorf("decoded image differs from PyTorch by %g relative (tolerance %g)", e, tolPipeline)
	}
}

// The Shapes latent-diffusion pipeline folder that tools/diffusion/train_unet.py
// exports (models/shapes-diffusion, or LOOM_SHAPES_DIFFUSION) loads into the
// towers, tokenizes a grammar prompt one token per word, and a short guided
// DDIM run decodes to a finite 64×64 image with the same bytes for the same seed.
func TestShapesDiffusionFolderLoads(t *testing.T) {
	dir := os.Getenv("LOOM_SHAPES_DIFFUSION")
	if dir == "" {
		dir = "../../models/shapes-diffusion"
	}
	if _, err := os.Stat(filepath.Join(dir, "model_index.json")); err != nil {
		t.Skipf("no pipeline folder at %s (train it with tools/diffusion/train_unet.py)", dir)
	}
	tok, err := tokenizer.LoadCLIP(filepath.Join(dir, "tokenizer"))
	if err != nil {
		t.Fatal(err)
	}
	p := loadPipeline(t, dir)
	ccfg, ucfg, vcfg, text, vae := p.clipCfg, p.unetCfg, p.vaeCfg, p.clip, p.vae
	scfg, err := sched.ReadConfig(filepath.Join(dir, "scheduler", "scheduler_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	prompt := "a small red circle on the left and a large blue square at the bottom"
	L := ccfg.MaxPositionEmbeddings
	ids, err := tok.EncodePrompt(prompt, L)
	if err != nil {
		t.Fatal(err)
	}
	words := len(strings.Fields(prompt))
	if ids[0] != tok.BOS() || ids[words+1] != tok.EOS() || tok.DecodeAll(ids[1:words+1]) != prompt {
		t.Fatalf("prompt ids %v decode to %q", ids, tok.DecodeAll(ids))
	}
	empty, _ := tok.EncodePrompt("", L)
	D := ccfg.HiddenSize
	ctx := make([]float32, 2*L*D)
	if err := text.Forward(ctx[:L*D], empty); err != nil {
		t.Fatal(err)
	}
	if err := text.Forward(ctx[L*D:], ids); err != nil {
		t.Fatal(err)
	}
	gen := func(seed uint64) []float32 {
		s, err := sched.New("ddim", scfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		side := ucfg.SampleSize
		x, err := sched.NewNoise(seed, 0).Latents(ucfg.InChannels*side*side, s)
		if err != nil {
			t.Fatal(err)
		}
		p.guidedRun(t, s, x, ctx, L, side, 5)
		f := vcfg.Downscale()
		img := make([]float32, 3*side*f*side*f)
		if err := vae.DecodeLatents(img, x, 1, side, side); err != nil {
			t.Fatal(err)
		}
		return img
	}
	a, b := gen(7), gen(7)
	if len(a) != 3*64*64 {
		t.Fatalf("image has %d values, want 3×64×64", len(a))
	}
	for i := range a {
		if a[i] != b[i] || math.IsNaN(float64(a[i])) {
			t.Fatalf("value %d: %v then %v for the same seed", i, a[i], b[i])
		}
	}
}

// pipeline is a diffusers-style folder's towers: text_encoder, unet, vae.
type pipeline struct {
	clipCfg CLIPTextConfig
	unetCfg UNetConfig
	vaeCfg  VAEConfig
	clip    *CLIPText
	unet    *UNet
	vae     *VAE
}

func loadPipeline(t *testing.T, dir string) *pipeline {
	t.Helper()
	p := &pipeline{}
	var err error
	if p.clipCfg, err = ReadCLIPTextConfig(filepath.Join(dir, "text_encoder", "config.json")); err != nil {
		t.Fatal(err)
	}
	if p.clip, err = LoadCLIPText(binderFor(t, filepath.Join(dir, "text_encoder", "model.safetensors")).Sub("text_model"), p.clipCfg); err != nil {
		t.Fatal(err)
	}
	if p.unetCfg, err = ReadUNetConfig(filepath.Join(dir, "unet", "config.json")); err != nil {
		t.Fatal(err)
	}
	if p.unet, err = LoadUNet(binderFor(t, filepath.Join(dir, "unet", "diffusion_pytorch_model.safetensors")), p.unetCfg); err != nil {
		t.Fatal(err)
	}
	if p.vaeCfg, err = ReadVAEConfig(filepath.Join(dir, "vae", "config.json")); err != nil {
		t.Fatal(err)
	}
	if p.vae, err = LoadVAE(binderFor(t, filepath.Join(dir, "vae", "diffusion_pytorch_model.safetensors")), p.vaeCfg); err != nil {
		t.Fatal(err)
	}
	return p
}

// guidedRun samples latents x in place: each step runs the UNet once on the
// batch (unconditional, conditional) with ctx (2, S, D) and guides by scale.
func (p *pipeline) guidedRun(t *testing.T, s sched.Sampler, x, ctx []float32, S int, side int, scale float32) {
	t.Helper()
	n := len(x)
	in, out := make([]float32, 2*n), make([]float32, 2*n)
	for i, ts := range s.Timesteps() {
		s.ScaleInput(in[:n], x, i)
		copy(in[n:], in[:n])
		if err := p.unet.Forward(out, in, 2, side, side, []float32{float32(ts)}, ctx, S); err != nil {
			t.Fatal(err)
		}
		if err := sched.Guide(out[:n], out[:n], out[n:], scale); err != nil {
			t.Fatal(err)
		}
		if err := s.Step(x, out[:n], i, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVAEBandsMatch decodes one image at 2 and 3 threads (the decoder in
// row bands) and at one (one band): the tiny golden VAE at sides that split
// evenly and unevenly, and the shipped shapes-diffusion VAE when present.
// The convs do not depend on the band edges; GroupNorm's statistics add the
// bands' float64 sums in another order, and on sides that are not multiples
// of 8 a band's vector kernels leave other elements to their scalar tails,
// so the images may differ in their last bits (on this machine the 16×16
// and 32×24 decodes are bit for bit, 17×22 within 1e-6 relative).
func TestVAEBandsMatch(t *testing.T) {
	old := kernels.Default().Threads()
	defer kernels.SetThreads(old)
	vaes := map[string]*VAE{"tiny": loadTinyVAE(t)}
	shipped := "../../models/shapes-diffusion/vae"
	if cfg, err := ReadVAEConfig(filepath.Join(shipped, "config.json")); err == nil {
		v, err := LoadVAE(binderFor(t, filepath.Join(shipped, "diffusion_pytorch_model.safetensors")), cfg)
		if err != nil {
			t.Fatal(err)
		}
		vaes["shapes-diffusion"] = v
	}
	for name, v := range vaes {
		for _, side := range [][2]int{{16, 16}, {17, 22}, {32, 24}} {
			h, w := side[0], side[1]
			L, f := v.Cfg.LatentChannels, v.Cfg.Downscale()
			z := make([]float32, L*h*w)
			for i := range z {
				z[i] = float32(math.Sin(float64(i)*0.61)) * 1.5
			}
			kernels.SetThreads(1)
			want := make([]float32, v.Cfg.OutChannels*h*f*w*f)
			if err := v.DecodeLatents(want, z, 1, h, w); err != nil {
				t.Fatal(err)
			}
			for _, threads := range []int{2, 3} {
				kernels.SetThreads(threads)
				got := make([]float32, len(want))
				if err := v.DecodeLatents(got, z, 1, h, w); err != nil {
					t.Fatal(err)
				}
				same := 0
				for i := range want {
					if got[i] == want[i] {
						same++
					}
				}
				e := relErr(got, want)
				t.Logf("%s %dx%d, %d threads: %d of %d values bit for bit, max relative difference %.2g", name, h, w, threads, same, len(want), e)
				if e > 1e-6 {
					t.Errorf("%s %dx%d, %d threads: max relative difference %g, %d of %d values equal", name, h, w, threads, e, same, len(want))
				}
			}
		}
	}
}
