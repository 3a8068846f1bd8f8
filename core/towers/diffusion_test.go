package towers

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"loom/core/formats"
	"loom/core/nn"
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
	tolCLIP = 1e-5
	tolUNet = 1e-4
	tolVAE  = 1e-4
)

func openGolden(t *testing.T) *formats.SafetensorsModel {
	t.Helper()
	g, err := formats.OpenSafetensors(diffusionGolden)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func binderFor(t *testing.T, path string) *nn.Binder {
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

func TestUNetMatchesPyTorch(t *testing.T) {
	cfg, err := ReadUNetConfig(filepath.Join(diffusionDir, "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := LoadUNet(binderFor(t, filepath.Join(diffusionDir, "unet", "diffusion_pytorch_model.safetensors")), cfg)
	if err != nil {
		t.Fatal(err)
	}
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

func TestUNetRejectsBadInput(t *testing.T) {
	cfg, err := ReadUNetConfig(filepath.Join(diffusionDir, "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := LoadUNet(binderFor(t, filepath.Join(diffusionDir, "unet", "diffusion_pytorch_model.safetensors")), cfg)
	if err != nil {
		t.Fatal(err)
	}
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
	if _, err := LoadUNet(binderFor(t, filepath.Join(diffusionDir, "unet", "diffusion_pytorch_model.safetensors")), bad); err == nil {
		t.Error("unknown block type accepted")
	}
	bad = cfg
	bad.BlockOutChannels = []int{32, 96}
	if _, err := LoadUNet(binderFor(t, filepath.Join(diffusionDir, "unet", "diffusion_pytorch_model.safetensors")), bad); err == nil {
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
