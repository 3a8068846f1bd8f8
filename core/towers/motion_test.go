package towers

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
)

// The motion UNet against PyTorch goldens made by tools/video/goldens.py from
// a tiny random-init UNetMotionModel (weights stored as f16, used as
// f16-rounded f32 on both sides), in both of diffusers' layouts: one step on
// two videos of five frames, and the same step with frame 0 held clean at
// timestep 0 (image-to-video; with first_frame_channels, the picture's latent
// in conv_in's extra channels of every frame too).
const (
	motionDir    = "testdata/motion_tiny"
	motionGolden = "testdata/motion_golden.safetensors"
	// Relative to the largest magnitude of the reference output, as for the
	// image UNet (tolUNet): f32 on both sides, differing in summation order.
	tolMotion = 2e-5
)

func loadMotionFolder(t testing.TB, dir string) *MotionUNet {
	t.Helper()
	m, err := LoadMotionUNetFolder(dir, func(path string) (*nn.Binder, error) {
		src, err := formats.OpenSafetensors(path)
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { src.Close() })
		return nn.NewBinder(src), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMotionUNetMatchesPyTorch(t *testing.T) {
	for _, c := range []struct{ dir, golden string }{
		{motionDir, motionGolden},
		{"testdata/motion_tiny_text", "testdata/motion_text_golden.safetensors"},          // attn2 reads the text
		{"testdata/motion_tiny_text_first", "testdata/motion_first_golden.safetensors"},   // and conv_in the first frame
		{"testdata/motion_tiny_text_global", "testdata/motion_global_golden.safetensors"}, // text + global motion modules
		{pooledMotionDir(t), "testdata/motion_global_pool_golden.safetensors"},            // their keys and values pooled
	} {
		t.Run(filepath.Base(c.dir), func(t *testing.T) { checkMotionGolden(t, c.dir, c.golden) })
	}
}

func checkMotionGolden(t *testing.T, motionDir, golden string) {
	g := openSafetensors(t, golden)
	sample, shape := goldenF32(t, g, "sample") // (videos·frames, 4, 8, 8)
	ts, _ := goldenF32(t, g, "t")              // (videos)
	ctx, cshape := goldenF32(t, g, "ctx")      // (videos, L, D)
	want, _ := goldenF32(t, g, "out")
	first, _ := goldenF32(t, g, "first") // (videos, 4, 8, 8)
	wantFirst, _ := goldenF32(t, g, "out_first")
	spatialCtx, _ := goldenF32(t, g, "spatial_ctx") // (videos, L, D)
	wantSplit, _ := goldenF32(t, g, "out_first_motion_text")
	videos := len(ts)
	frames, h, w := shape[0]/videos, shape[2], shape[3]
	for _, layout := range []string{"unet", "split"} {
		dir := motionDir
		if layout == "split" {
			dir = filepath.Join(motionDir, "split")
		}
		m := loadMotionFolder(t, dir)
		if m.Cfg.Adapter != (layout == "split") {
			t.Fatalf("%s: adapter layout %v", layout, m.Cfg.Adapter)
		}
		if text := strings.Contains(motionDir, "_text"); (m.Cfg.Motion.CtxDim != 0) != text {
			t.Fatalf("%s: motion_cross_attention_dim %d", layout, m.Cfg.Motion.CtxDim)
		}
		if g := strings.Contains(motionDir, "_global"); (len(m.Cfg.Motion.Global) == 3) != g {
			t.Fatalf("%s: motion_global_blocks %v", layout, m.Cfg.Motion.Global)
		}
		if p := strings.HasSuffix(motionDir, "_pool"); (len(m.Cfg.Motion.GlobalKVPool) == 3) != p {
			t.Fatalf("%s: motion_global_kv_pool %v", layout, m.Cfg.Motion.GlobalKVPool)
		}
		if ff := strings.HasSuffix(motionDir, "_first"); m.FirstFrameChannels() != ff || m.LatentChannels() != shape[1] {
			t.Fatalf("%s: first-frame channels %v, %d latent channels", layout, m.FirstFrameChannels(), m.LatentChannels())
		}
		out := make([]float32, len(want))
		if err := m.Forward(out, sample, videos, frames, h, w, ts, ctx, cshape[1]); err != nil {
			t.Fatal(err)
		}
		e := relErr(out, want)
		t.Logf("%s: max relative difference %.3g", layout, e)
		if e > tolMotion {
			t.Errorf("%s: motion unet differs from PyTorch by %g relative (tolerance %g)", layout, e, tolMotion)
		}
		if err := m.ForwardFirstFrame(out, sample, first, videos, frames, h, w, ts[0], ctx, cshape[1]); err == nil {
			// One timestep for both videos: the golden's videos have two. Run each alone.
			for v := 0; v < videos; v++ {
				per, fl := len(sample)/videos, len(first)/videos
				one := make([]float32, per)
				lc := len(ctx) / videos
				if err := m.ForwardFirstFrame(one, sample[v*per:(v+1)*per], first[v*fl:(v+1)*fl], 1, frames, h, w, ts[v], ctx[v*lc:(v+1)*lc], cshape[1]); err != nil {
					t.Fatal(err)
				}
				if e := relErr(one, wantFirst[v*per:(v+1)*per]); e > tolMotion {
					t.Errorf("%s: video %d with a held first frame differs by %g relative", layout, v, e)
				}
				// The spatial cross-attention reading other states than the motion modules.
				if err := m.ForwardFirstFrameMotionText(one, sample[v*per:(v+1)*per], first[v*fl:(v+1)*fl], 1, frames, h, w, ts[v],
					spatialCtx[v*lc:(v+1)*lc], ctx[v*lc:(v+1)*lc], cshape[1]); err != nil {
					t.Fatal(err)
				}
				if e := relErr(one, wantSplit[v*per:(v+1)*per]); e > tolMotion {
					t.Errorf("%s: video %d with other spatial states differs by %g relative", layout, v, e)
				}
			}
		} else {
			t.Fatal(err)
		}
	}
}

// pooledMotionDir assembles the pooled golden's model in a temporary folder:
// testdata/motion_tiny_text_global_pool holds its config.json files alone,
// and its weights are motion_tiny_text_global's (the same tensors: pooling
// has none of its own; tools/video/goldens.py checks that).
func pooledMotionDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "motion_tiny_text_global_pool")
	for _, sub := range []string{"unet", "split/unet", "split/motion_adapter"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for src, name := range map[string]string{
			filepath.Join("testdata/motion_tiny_text_global_pool", sub): "config.json",
			filepath.Join("testdata/motion_tiny_text_global", sub):      "diffusion_pytorch_model.safetensors",
		} {
			b, err := os.ReadFile(filepath.Join(src, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, sub, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// Pooling changes what the golden model computes (so its golden tests the
// pooled path), and by less than leaving the global modules out does.
func TestPooledGlobalMotionDiffers(t *testing.T) {
	plain := openSafetensors(t, "testdata/motion_global_golden.safetensors")
	pooled := openSafetensors(t, "testdata/motion_global_pool_golden.safetensors")
	a, _ := goldenF32(t, plain, "out")
	b, _ := goldenF32(t, pooled, "out")
	if d := maxAbsDiff(a, b); d < 1e-3 {
		t.Fatalf("pooled and plain global modules' goldens differ by %g: pooling did nothing", d)
	}
	m := loadMotionFolder(t, pooledMotionDir(t))
	if got := fmt.Sprint(m.Cfg.Motion.GlobalKVPool); got != "map[down_blocks.0:3 mid_block:2 up_blocks.1:2]" {
		t.Fatalf("motion_global_kv_pool %s", got)
	}
}

// The motion modules matter: without them (the spatial UNet alone on every
// frame) the output differs, and frames of one video influence each other.
func TestMotionModulesMixFrames(t *testing.T) {
	m := loadMotionFolder(t, motionDir)
	g := openSafetensors(t, motionGolden)
	sample, shape := goldenF32(t, g, "sample")
	ctx, cshape := goldenF32(t, g, "ctx")
	frames, h, w := shape[0]/2, shape[2], shape[3]
	per := len(sample) / 2
	lc := len(ctx) / 2
	a := make([]float32, per)
	if err := m.Forward(a, sample[:per], 1, frames, h, w, []float32{500}, ctx[:lc], cshape[1]); err != nil {
		t.Fatal(err)
	}
	changed := append([]float32(nil), sample[:per]...)
	fl := per / frames
	for i := fl * (frames - 1); i < per; i++ { // perturb the last frame only
		changed[i] += 0.5
	}
	b := make([]float32, per)
	if err := m.Forward(b, changed, 1, frames, h, w, []float32{500}, ctx[:lc], cshape[1]); err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(a[:fl], b[:fl]) == 0 {
		t.Error("frame 0's output ignores the last frame: the motion modules do not mix frames")
	}
}

// globalGolden is the global-module golden's input (testdata/
// motion_tiny_text_global): its sample, and a run of any model on latents of
// that shape with the golden's timesteps and context.
func globalGolden(t *testing.T) (sample []float32, videos, frames int, run func(m *MotionUNet, x []float32) []float32) {
	g := openSafetensors(t, "testdata/motion_global_golden.safetensors")
	sample, shape := goldenF32(t, g, "sample")
	ctx, cshape := goldenF32(t, g, "ctx")
	ts, _ := goldenF32(t, g, "t")
	videos = len(ts)
	frames, h, w := shape[0]/videos, shape[2], shape[3]
	return sample, videos, frames, func(m *MotionUNet, x []float32) []float32 {
		out := make([]float32, len(x))
		if err := m.Forward(out, x, videos, frames, h, w, ts, ctx, cshape[1]); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// The global motion modules are run: the same model with them left out gives
// another output (the golden test says that what they add is PyTorch's).
func TestGlobalMotionModulesCount(t *testing.T) {
	m := loadMotionFolder(t, "testdata/motion_tiny_text_global")
	sample, _, _, run := globalGolden(t)
	with := run(m, sample)
	m.global = nil
	without := run(m, sample)
	if d := maxAbsDiff(with, without); d < 1e-3 {
		t.Fatalf("leaving the global motion modules out changes the output by %g: they are not run", d)
	}
}

func TestMotionUNetRejectsBadInput(t *testing.T) {
	m := loadMotionFolder(t, motionDir)
	D := m.Cfg.UNet.CrossAttentionDim
	C := m.LatentChannels()
	x := make([]float32, 2*3*C*8*8)
	out := make([]float32, len(x))
	ctx := make([]float32, 2*4*D)
	for name, err := range map[string]error{
		"too many frames": m.Forward(make([]float32, 20*C*64), make([]float32, 20*C*64), 1, 20, 8, 8, []float32{1}, ctx[:4*D], 4),
		"odd side":        m.Forward(out, x[:2*3*C*7*7], 2, 3, 7, 7, []float32{1}, ctx, 4),
		"timesteps":       m.Forward(out, x, 2, 3, 8, 8, []float32{1, 2, 3}, ctx, 4),
		"context":         m.Forward(out, x, 2, 3, 8, 8, []float32{1}, ctx[:D], 4),
		"first frame":     m.ForwardFirstFrame(out, x, x[:5], 2, 3, 8, 8, 1, ctx, 4),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestMotionConfigRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := `"in_channels":4,"out_channels":4,"block_out_channels":[16,32],"layers_per_block":1,"norm_num_groups":8,"cross_attention_dim":24,"attention_head_dim":2`
	for _, c := range []struct{ unet, adapter, want string }{
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlock2D","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"]}`, "", "not a motion block"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_num_attention_heads":3}`, "", "motion heads"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_max_seq_length":5000}`, "", "motion_max_seq_length"},
		{`{"_class_name":"UNet2DConditionModel",` + base + `,"down_block_types":["CrossAttnDownBlock2D","DownBlock2D"],"up_block_types":["UpBlock2D","CrossAttnUpBlock2D"]}`,
			`{"block_out_channels":[16,64],"motion_layers_per_block":1}`, "block_out_channels"},
		{`{"_class_name":"UNet2DConditionModel",` + base + `,"down_block_types":["CrossAttnDownBlock2D","DownBlock2D"],"up_block_types":["UpBlock2D","CrossAttnUpBlock2D"]}`,
			`{"block_out_channels":[16,32],"motion_layers_per_block":2}`, "motion_layers_per_block"},
		{`{"_class_name":"UNet2DConditionModel",` + base + `,"down_block_types":["CrossAttnDownBlock2D","DownBlock2D"],"up_block_types":["UpBlock2D","CrossAttnUpBlock2D"]}`,
			`{"block_out_channels":[16,32],"motion_layers_per_block":1,"conv_in_channels":9}`, "conv_in_channels"},
		{`{"_class_name":"UNet2DConditionModel",` + base + `,"down_block_types":["CrossAttnDownBlock2D","DownBlock2D"],"up_block_types":["UpBlock2D","CrossAttnUpBlock2D"]}`, "", "no such file"},
		{`{"_class_name":"VQModel"}`, "", "not a motion UNet"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"frame_noise_share":1}`, "", "frame_noise_share"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"frame_noise_share":-0.5}`, "", "frame_noise_share"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_cross_attention_dim":32}`, "", "motion_cross_attention_dim"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"first_frame_channels":4}`, "", "first_frame_channels"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"first_frame_channels":-1}`, "", "first_frame_channels"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"image_to_video_text":"motion"}`, "", "image_to_video_text"}, // motion modules without text
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_cross_attention_dim":24,"image_to_video_text":"spatial"}`, "", "image_to_video_text"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_global_blocks":["up_blocks.2"]}`, "", "motion_global_blocks"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_global_blocks":["up_blocks.01"]}`, "", "motion_global_blocks"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_global_blocks":["mid_block","mid_block"]}`, "", "motion_global_blocks"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_global_blocks":["down_blocks.-1"]}`, "", "motion_global_blocks"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_global_blocks":["encoder"]}`, "", "motion_global_blocks"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"use_motion_mid_block":false,"motion_global_blocks":["mid_block"]}`, "", "motion_global_blocks"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_global_blocks":["mid_block"],"motion_global_kv_pool":{"up_blocks.1":2}}`, "", "motion_global_kv_pool"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_global_blocks":["mid_block"],"motion_global_kv_pool":{"mid_block":0}}`, "", "motion_global_kv_pool"},
		{`{"_class_name":"UNetMotionModel",` + base + `,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"motion_global_blocks":["mid_block"],"motion_global_kv_pool":{"mid_block":17}}`, "", "motion_global_kv_pool"},
	} {
		os.RemoveAll(filepath.Join(dir, "motion_adapter"))
		write("unet/config.json", c.unet)
		if c.adapter != "" {
			write("motion_adapter/config.json", c.adapter)
		}
		_, err := ReadMotionUNetConfig(dir)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("config %s / %s: err %v, want %q", c.unet, c.adapter, err, c.want)
		}
	}
	os.RemoveAll(filepath.Join(dir, "motion_adapter"))
	write("unet/config.json", `{"_class_name":"UNetMotionModel",`+base+`,"down_block_types":["CrossAttnDownBlockMotion","DownBlockMotion"],"up_block_types":["UpBlockMotion","CrossAttnUpBlockMotion"],"frame_noise_share":0.5}`)
	if c, err := ReadMotionUNetConfig(dir); err != nil || c.Motion.FrameNoiseShare != 0.5 {
		t.Errorf("frame_noise_share 0.5: %v, read %g", err, c.Motion.FrameNoiseShare)
	}
}

// The frame positions computed here are diffusers' table as PyTorch computes it.
func TestSinusoidTableMatchesPyTorch(t *testing.T) {
	g := openSafetensors(t, motionGolden)
	pe, shape := goldenF32(t, g, "pe") // (8, 16)
	got := nn.SinusoidTable(shape[0], shape[1])
	if d := maxAbsDiff(got, pe); d > 1e-6 {
		t.Fatalf("sinusoid table differs from PyTorch's by %g", d)
	}
}

// The motion modules know the frames' order: a video played backwards does
// not give the backward output (issue 16: left and right motion are each
// other's time reversal). Without the sinusoidal frame positions temporal
// attention is permutation-equivariant over the frames and it would; the test
// zeroes the tables to show it would catch that.
func TestMotionModulesSeeFrameOrder(t *testing.T) {
	for _, dir := range []string{motionDir, "testdata/motion_tiny_text"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := loadMotionFolder(t, dir)
			g := openSafetensors(t, motionGolden)
			sample, shape := goldenF32(t, g, "sample") // (2·frames, 4, h, w)
			ctx, cshape := goldenF32(t, g, "ctx")      // (2, L, D)
			if m.Cfg.Motion.CtxDim != 0 {
				gt := openSafetensors(t, "testdata/motion_text_golden.safetensors")
				ctx, cshape = goldenF32(t, gt, "ctx")
			}
			frames, h, w := shape[0]/2, shape[2], shape[3]
			per, lc := len(sample)/2, len(ctx)/2
			fl := per / frames
			reverse := func(x []float32) []float32 { // frame order of one video
				r := make([]float32, len(x))
				for f := 0; f < frames; f++ {
					copy(r[f*fl:(f+1)*fl], x[(frames-1-f)*fl:(frames-f)*fl])
				}
				return r
			}
			run := func(x []float32) []float32 {
				out := make([]float32, per)
				if err := m.Forward(out, x, 1, frames, h, w, []float32{500}, ctx[:lc], cshape[1]); err != nil {
					t.Fatal(err)
				}
				return out
			}
			fwd, back := run(sample[:per]), reverse(run(reverse(sample[:per])))
			d := maxAbsDiff(fwd, back)
			t.Logf("reversing the frames changes the output by %.3g", d)
			if d < 1e-3 {
				t.Errorf("reversed frames give the reversed output (max difference %g): the motion modules ignore frame order", d)
			}
			for _, mm := range m.allMotionModules() {
				for k := range mm.Blocks {
					clear(mm.Blocks[k].PosEmbed)
				}
			}
			fwd, back = run(sample[:per]), reverse(run(reverse(sample[:per])))
			d = maxAbsDiff(fwd, back)
			t.Logf("without frame positions: %.3g", d)
			if d > 1e-4 {
				t.Errorf("without frame positions the reversal still changes the output by %g: the test cannot see order", d)
			}
		})
	}
}

// allMotionModules lists the loaded motion modules (down, mid, up).
func (m *MotionUNet) allMotionModules() []*nn.TransformerTemporal {
	var all []*nn.TransformerTemporal
	for _, blocks := range [][][]nn.TransformerTemporal{m.down, m.up} {
		for i := range blocks {
			for j := range blocks[i] {
				all = append(all, &blocks[i][j])
			}
		}
	}
	if m.mid != nil {
		all = append(all, m.mid)
	}
	return all
}

// A model trained with image_to_video_text "motion" reads it back, and its
// image-to-video spatial context is the empty prompt's states in every row;
// any other model's is the prompt's.
func TestImageToVideoContext(t *testing.T) {
	dir := t.TempDir()
	src := "testdata/motion_tiny_text_first/unet"
	raw, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "{", `{"image_to_video_text": "motion",`, 1)
	if err := os.MkdirAll(filepath.Join(dir, "unet"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "unet", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ReadMotionUNetConfig(dir)
	if err != nil || c.Motion.ImageToVideoText != "motion" {
		t.Fatalf("config: %+v, %v", c.Motion, err)
	}
	ctx := []float32{1, 2, 3, 4, 5, 6} // two rows of (L, D) = (1, 3)
	empty := []float32{7, 8, 9}
	m := &MotionUNet{Cfg: c}
	if got := m.ImageToVideoContext(ctx, empty); !slices.Equal(got, []float32{7, 8, 9, 7, 8, 9}) || ctx[0] != 1 {
		t.Fatalf("motion: spatial context %v (prompt's %v)", got, ctx)
	}
	m.Cfg.Motion.ImageToVideoText = ""
	if got := m.ImageToVideoContext(ctx, empty); !slices.Equal(got, ctx) {
		t.Fatalf("all: spatial context %v", got)
	}
}

// Two videos in one call (classifier-free guidance's copies) run side by
// side at two threads, one share each: the result is each video's alone, for
// a shared timestep, one per video and one per frame.
func TestMotionVideosSideBySide(t *testing.T) {
	defer kernels.SetThreads(kernels.Default().Threads())
	m := loadMotionFolder(t, motionDir)
	g := openSafetensors(t, motionGolden)
	sample, shape := goldenF32(t, g, "sample")
	ctx, cshape := goldenF32(t, g, "ctx")
	frames, h, w := shape[0]/2, shape[2], shape[3]
	per, lc := len(sample)/2, len(ctx)/2
	perFrame := make([]float32, 2*frames)
	for i := range perFrame {
		perFrame[i] = float32(100 + 37*i)
	}
	for _, ts := range [][]float32{{500}, {200, 800}, perFrame} {
		kernels.SetThreads(1)
		alone := make([]float32, 2*per)
		for v := 0; v < 2; v++ {
			tv := ts
			switch len(ts) {
			case 2:
				tv = ts[v : v+1]
			case 2 * frames:
				tv = ts[v*frames : (v+1)*frames]
			}
			if err := m.Forward(alone[v*per:(v+1)*per], sample[v*per:(v+1)*per], 1, frames, h, w, tv, ctx[v*lc:(v+1)*lc], cshape[1]); err != nil {
				t.Fatal(err)
			}
		}
		kernels.SetThreads(2)
		both := make([]float32, 2*per)
		if err := m.Forward(both, sample, 2, frames, h, w, ts, ctx, cshape[1]); err != nil {
			t.Fatal(err)
		}
		if d, s := maxAbsDiff(alone, both), maxAbsDiff(alone, make([]float32, len(alone))); d > 1e-6*s || s == 0 {
			t.Errorf("%d timesteps: two videos side by side differ from each alone by %g (largest %g)", len(ts), d, s)
		}
	}
}

// WithoutMotion's views share the weights and leave out what they name: no
// skip is the model itself, SkipGlobal is the model with its global modules
// unloaded, and with every motion module out no frame sees another; making
// a view leaves the model as it was.
func TestWithoutMotion(t *testing.T) {
	const dir = "testdata/motion_tiny_text_global"
	m := loadMotionFolder(t, dir)
	sample, videos, frames, run := globalGolden(t)
	full := run(m, sample)
	if d := maxAbsDiff(full, run(m.WithoutMotion(0), sample)); d != 0 {
		t.Errorf("WithoutMotion(0) differs from the model by %g", d)
	}
	noGlobal := run(m.WithoutMotion(SkipGlobal), sample)
	if d := maxAbsDiff(full, noGlobal); d < 1e-3 {
		t.Errorf("SkipGlobal changes the output by %g only: the global modules still run", d)
	}
	unloaded := loadMotionFolder(t, dir)
	unloaded.global = nil
	if d := maxAbsDiff(noGlobal, run(unloaded, sample)); d != 0 {
		t.Errorf("SkipGlobal differs from the model without global modules by %g", d)
	}
	none := m.WithoutMotion(SkipGlobal | SkipLocal)
	base := run(none, sample)
	changed := append([]float32(nil), sample...)
	per := len(sample) / videos
	fl := per / frames
	for i := per - fl; i < per; i++ { // the first video's last frame
		changed[i] += 0.5
	}
	after := run(none, changed)
	if d := maxAbsDiff(base[:per-fl], after[:per-fl]); d != 0 {
		t.Errorf("without motion modules the other frames move by %g when the last one changes", d)
	}
	if d := maxAbsDiff(base[per-fl:per], after[per-fl:per]); d == 0 {
		t.Error("the changed frame's output did not change")
	}
	if d := maxAbsDiff(full, run(m, sample)); d != 0 {
		t.Errorf("the model's output moved by %g after views were made", d)
	}
}
