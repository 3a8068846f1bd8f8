package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/diffusion"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/media/mediatest"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// The real motion UNet on the serving path: pipeline folders (testdata/)
// whose unet/ is core/towers' random-init golden motion UNet
// (testdata/motion_tiny: latents 4×8×8, cross-attention 24, 8 frames at
// most) in each of AnimateDiff's layouts, with the tiny VAE (×2, so 16×16
// frames), the vision tests' character-level tokenizer and a random CLIP
// text encoder of width 24 written by tinyTextEncoder. The pictures are
// noise; the tests check the path.

var towersTestdata, _ = filepath.Abs("../../core/towers/testdata")

// writeSafetensors writes f32 tensors in the safetensors layout: an 8-byte
// header length, the JSON header, the data.
func writeSafetensors(path string, tensors map[string][]int, r *rand.Rand, init func(name string) float32) error {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	var data []byte
	for _, n := range names {
		count := 1
		for _, d := range tensors[n] {
			count *= d
		}
		start := len(data)
		for i := 0; i < count; i++ {
			v := init(n)
			if math.IsNaN(float64(v)) {
				v = float32(r.NormFloat64() * 0.2)
			}
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		header[n] = map[string]any{"dtype": "F32", "shape": tensors[n], "data_offsets": []int{start, len(data)}}
	}
	h, err := json.Marshal(header)
	if err != nil {
		return err
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return os.WriteFile(path, append(append(out, h...), data...), 0o644)
}

// tinyTextEncoder writes a one-layer CLIPTextModel of width 24.
func tinyTextEncoder(dir string) error {
	const H, I, V, P = 24, 48, 320, 16
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`{"architectures":["CLIPTextModel"],"model_type":"clip_text_model","vocab_size":%d,"hidden_size":%d,
		"intermediate_size":%d,"num_hidden_layers":1,"num_attention_heads":2,"max_position_embeddings":%d,
		"hidden_act":"quick_gelu","layer_norm_eps":1e-05,"bos_token_id":318,"eos_token_id":319,"pad_token_id":319}`, V, H, I, P)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		return err
	}
	t := map[string][]int{
		"text_model.embeddings.token_embedding.weight":    {V, H},
		"text_model.embeddings.position_embedding.weight": {P, H},
		"text_model.final_layer_norm.weight":              {H}, "text_model.final_layer_norm.bias": {H},
	}
	l := "text_model.encoder.layers.0."
	for _, p := range []string{"q_proj", "k_proj", "v_proj", "out_proj"} {
		t[l+"self_attn."+p+".weight"], t[l+"self_attn."+p+".bias"] = []int{H, H}, []int{H}
	}
	for _, n := range []string{"layer_norm1", "layer_norm2"} {
		t[l+n+".weight"], t[l+n+".bias"] = []int{H}, []int{H}
	}
	t[l+"mlp.fc1.weight"], t[l+"mlp.fc1.bias"], t[l+"mlp.fc2.weight"], t[l+"mlp.fc2.bias"] = []int{I, H}, []int{I}, []int{H, I}, []int{H}
	return writeSafetensors(filepath.Join(dir, "model.safetensors"), t, rand.New(rand.NewPCG(24, 24)), func(name string) float32 {
		switch {
		case strings.Contains(name, "norm") && strings.HasSuffix(name, ".weight"):
			return 1
		case strings.HasSuffix(name, ".bias"):
			return 0
		}
		return float32(math.NaN()) // random
	})
}

// towerModels is testdata/: "tiny-motion" (unet/ a UNetMotionModel),
// "tiny-split" (unet/ + motion_adapter/) and "tiny-first" (motion modules
// that read the text, conv_in the first frame's latent: first_frame_channels),
// whose parts link to the towers' test models and share
// testdata/tiny-text-encoder, which
// `go test ./plugins/video -run TestMotionTower -update` rewrites.
var towerModels, _ = filepath.Abs("testdata")

var update = flag.Bool("update", false, "rewrite testdata/tiny-text-encoder")

func tinyTowerModels(t *testing.T) string {
	t.Helper()
	if *update {
		if err := tinyTextEncoder(filepath.Join(towerModels, "tiny-text-encoder")); err != nil {
			t.Fatal(err)
		}
	}
	for _, part := range []string{"tiny-motion/unet/config.json", "tiny-split/motion_adapter/config.json", "tiny-first/unet/config.json", "tiny-motion/text_encoder/model.safetensors"} {
		if _, err := os.Stat(filepath.Join(towerModels, part)); err != nil {
			t.Skipf("%s: %v", part, err)
		}
	}
	return towerModels
}

func towerRun(t *testing.T, e sdk.Engine, model string, seed int64, params string, inputs ...sdk.Blob) (map[string][]byte, tasks.VideoGenerateResult) {
	t.Helper()
	files := map[string][]byte{}
	var res tasks.VideoGenerateResult
	err := e.Run(context.Background(), sdk.Job{Task: taskGenerate, Model: model, Seed: seed, Params: json.RawMessage(params), Inputs: inputs},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventArtifact:
				files[ev.Name] = ev.Data
			case sdk.EventResult:
				return json.Unmarshal(ev.Result, &res)
			}
			return nil
		})
	if err != nil {
		t.Fatalf("%s %s: %v", model, params, err)
	}
	return files, res
}

// TestMotionTower: the real tower serves text-to-video and image-to-video;
// both layouts of the same weights give the same bytes; so do one and two
// kernel threads and two runs; other seeds give other videos; the MP4
// holds every frame.
func TestMotionTower(t *testing.T) {
	dir := tinyTowerModels(t)
	e := newVideoEngine([]string{dir})
	m, err := e.Describe(context.Background())
	if err != nil || len(m.Models) != 3 || !m.Models[0].Ready || !m.Models[1].Ready || !m.Models[2].Ready {
		t.Fatalf("manifest %+v %v", m.Models, err)
	}
	const params = `{"prompt":"red blue","preview_every":1,"guidance_scale":3}`
	a, res := towerRun(t, e, "tiny-motion", 9, params)
	if res.Frames != 5 || res.FPS != 5 || res.Width != 16 || res.Steps != 3 || len(a) != 4 {
		t.Fatalf("result %+v, %d files", res, len(a))
	}
	if p := mediatest.ProbeVideo(t, a["video.mp4"], "video.mp4"); p.Frames != 5 || p.Width != 16 || p.FrameRate != "5/1" {
		t.Fatalf("ffprobe %+v", p)
	}
	split, _ := towerRun(t, e, "tiny-split", 9, params)
	prev := kernels.Default().Threads()
	kernels.SetThreads(1)
	one, _ := towerRun(t, e, "tiny-motion", 9, params)
	kernels.SetThreads(max(prev, 2))
	again, _ := towerRun(t, e, "tiny-motion", 9, params)
	other, _ := towerRun(t, e, "tiny-motion", 10, params)
	for name := range a {
		for what, b := range map[string]map[string][]byte{"the split layout": split, "one thread": one, "a second run": again} {
			if !bytes.Equal(a[name], b[name]) {
				t.Errorf("%s: %s differs", name, what)
			}
		}
	}
	if bytes.Equal(a["spritesheet.png"], other["spritesheet.png"]) {
		t.Error("seeds 9 and 10 gave the same video")
	}

	// Image-to-video through ForwardFirstFrame; frame 0 is the picture.
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	i2v, res := towerRun(t, e, "tiny-split", 9, `{"prompt":"red","frames":8}`, sdk.Blob{Name: "image", Data: b.Bytes()})
	if !res.ImageToVideo || res.Frames != 8 || bytes.Equal(i2v["thumbnail.png"], a["thumbnail.png"]) {
		t.Fatalf("image-to-video: %+v", res)
	}
	err = e.Run(context.Background(), sdk.Job{Task: taskGenerate, Model: "tiny-motion", Params: json.RawMessage(`{"prompt":"x","frames":9}`)},
		func(sdk.Event) error { return nil })
	var se *sdk.Error
	if !errors.As(err, &se) || se.Code != sdk.CodeInvalidRequest || !strings.Contains(se.Message, "cover 8 frames") {
		t.Fatalf("9 frames on an 8-frame model: %v", err)
	}
}

// TestMotionTowerFirstFrame: a model whose conv_in reads the first frame
// (first_frame_channels) serves text-to-video (those channels zero) and
// image-to-video (the picture's latent there on every frame); the picture
// changes every frame of the video, not only frame 0, and the bytes repeat.
func TestMotionTowerFirstFrame(t *testing.T) {
	e := newVideoEngine([]string{tinyTowerModels(t)})
	const params = `{"prompt":"red","frames":5}`
	t2v, res := towerRun(t, e, "tiny-first", 9, params)
	if res.ImageToVideo || res.Frames != 5 {
		t.Fatalf("text-to-video: %+v", res)
	}
	picture := func(k int) sdk.Blob {
		img := image.NewRGBA(image.Rect(0, 0, 16, 16))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * k)
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		return sdk.Blob{Name: "image", Data: b.Bytes()}
	}
	a, res := towerRun(t, e, "tiny-first", 9, params, picture(7))
	again, _ := towerRun(t, e, "tiny-first", 9, params, picture(7))
	other, _ := towerRun(t, e, "tiny-first", 9, params, picture(13))
	if !res.ImageToVideo || !bytes.Equal(a["video.mp4"], again["video.mp4"]) || bytes.Equal(a["video.mp4"], t2v["video.mp4"]) {
		t.Fatalf("image-to-video: %+v; repeats %v", res, bytes.Equal(a["video.mp4"], again["video.mp4"]))
	}
	// Frame 1 (the spritesheet's second cell) depends on the picture.
	sa, errA := png.Decode(bytes.NewReader(a["spritesheet.png"]))
	so, errO := png.Decode(bytes.NewReader(other["spritesheet.png"]))
	if errA != nil || errO != nil {
		t.Fatal(errA, errO)
	}
	for y := 0; y < 16; y++ {
		for x := 16; x < 32; x++ {
			if sa.At(x, y) != so.At(x, y) {
				return
			}
		}
	}
	t.Error("frame 1 is the same for two pictures")
}

// TestMotionTowerImageToVideoText: for a model with image_to_video_text
// "motion" the serving adapter gives image-to-video's spatial cross-attention
// the empty prompt's states in every row (both guidance halves) and the motion
// modules the prompt's; that is not the prompt everywhere.
func TestMotionTowerImageToVideoText(t *testing.T) {
	src := filepath.Join(tinyTowerModels(t), "tiny-first")
	dir := t.TempDir()
	for _, part := range []string{"model_index.json", "scheduler", "text_encoder", "tokenizer", "vae", "unet/diffusion_pytorch_model.safetensors"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, part)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(src, part), filepath.Join(dir, part)); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(src, "unet", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "{", `{"image_to_video_text": "motion",`, 1)
	if err := os.WriteFile(filepath.Join(dir, "unet", "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := diffusion.Open(dir, maxSteps, maxGuidance)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mm, err := loadMotionTower(p)
	if err != nil {
		t.Fatal(err)
	}
	m := mm.(motionTower)
	const F, side = 5, 8
	C := m.LatentChannels()
	r := rand.New(rand.NewPCG(5, 5))
	latents, first := make([]float32, 2*F*C*side*side), make([]float32, C*side*side)
	for _, s := range [][]float32{latents, first} {
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
	}
	ctx2, err := p.EncodePrompts("red", "blue") // rows: "blue", "red"
	if err != nil {
		t.Fatal(err)
	}
	empty, err := p.EncodePrompts("", "")
	if err != nil {
		t.Fatal(err)
	}
	LD := len(ctx2) / 2
	spatial := append(append([]float32(nil), empty[:LD]...), empty[:LD]...)
	got, want, everywhere := make([]float32, len(latents)), make([]float32, len(latents)), make([]float32, len(latents))
	if err := m.Forward(got, latents, 2, F, side, side, 700, ctx2, p.CtxLen, first); err != nil {
		t.Fatal(err)
	}
	if err := m.ForwardFirstFrameMotionText(want, latents, first, 2, F, side, side, 700, spatial, ctx2, p.CtxLen); err != nil {
		t.Fatal(err)
	}
	if err := m.ForwardFirstFrame(everywhere, latents, first, 2, F, side, side, 700, ctx2, p.CtxLen); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || slices.Equal(got, everywhere) {
		t.Fatalf("image-to-video: same as the empty spatial prompt %v, as the prompt everywhere %v", slices.Equal(got, want), slices.Equal(got, everywhere))
	}
}
