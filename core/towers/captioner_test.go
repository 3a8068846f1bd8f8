package towers

import (
	"math"
	"testing"
	"unsafe"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

// The Shapes captioner (models/shapes-captioner) against PyTorch goldens made
// by tools/captioner/goldens.py from the same weights: ViT encoder output,
// first-step decoder logits and the greedy caption of three validation images.
const (
	captionerDir    = "../../models/shapes-captioner"
	captionerGolden = "testdata/captioner_golden.safetensors"
	tolEncoder      = 2e-4 // max |Go - PyTorch| over the encoder's last hidden state (values O(1))
	tolLogits       = 5e-4 // max |Go - PyTorch| over first-step logits
)

func loadCaptioner(t *testing.T, dir string) (*ViT, *GPT2, CaptionerConfig) {
	t.Helper()
	if !IsCaptionerFolder(dir) {
		t.Skipf("captioner model absent from %s; train it with tools/captioner/train.py", dir)
	}
	c, err := LoadCaptionerFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.ViT, c.Dec, c.Cfg
}

func goldenF32(t *testing.T, src formats.InfoSource, name string) ([]float32, []int) {
	t.Helper()
	in, err := src.Info(name)
	if err != nil {
		t.Fatal(err)
	}
	if in.Type != kernels.F32 {
		t.Fatalf("%s: type %v", name, in.Type)
	}
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(&in.Data[0])), len(in.Data)/4)...), in.Shape
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		d := math.Abs(float64(a[i] - b[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = math.Max(m, d)
	}
	return m
}

func TestCaptionerMatchesPyTorch(t *testing.T) {
	vit, dec, cfg := loadCaptioner(t, captionerDir)
	g, err := formats.OpenSafetensors(captionerGolden)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	pixels, pshape := goldenF32(t, g, "pixels") // (n, 3, S, S)
	encWant, _ := goldenF32(t, g, "encoder")    // (n, T, H)
	logitsWant, _ := goldenF32(t, g, "logits")  // (n, V)
	gi, err := g.Info("greedy")                 // (n, maxlen) int32, 0-padded
	if err != nil {
		t.Fatal(err)
	}
	n, per := pshape[0], len(pixels)/pshape[0]
	T, H, V := cfg.Encoder.Tokens(), cfg.Encoder.HiddenSize, cfg.Decoder.VocabSize
	greedy := unsafe.Slice((*int32)(unsafe.Pointer(&gi.Data[0])), len(gi.Data)/4)
	maxLen := gi.Shape[1]
	enc := make([]float32, T*H)
	for i := 0; i < n; i++ {
		if err := vit.Forward(enc, pixels[i*per:(i+1)*per]); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(enc, encWant[i*T*H:(i+1)*T*H]); d > tolEncoder {
			t.Errorf("image %d: encoder differs from PyTorch by %g (tolerance %g)", i, d, tolEncoder)
		}
		st, err := dec.NewState(enc, T)
		if err != nil {
			t.Fatal(err)
		}
		if err := dec.Step(st, cfg.Start); err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(st.Logits, logitsWant[i*V:(i+1)*V]); d > tolLogits {
			t.Errorf("image %d: first-step logits differ by %g (tolerance %g)", i, d, tolLogits)
		}
		toks, err := dec.Generate(enc, T, cfg.Start, 1, maxLen)
		if err != nil {
			t.Fatal(err)
		}
		var want []int
		for _, id := range greedy[i*maxLen : (i+1)*maxLen] {
			if id == 0 {
				break
			}
			want = append(want, int(id))
		}
		if len(toks) > len(want) {
			toks = toks[:len(want)] // PyTorch's greedy stops at maxlen-1 tokens
		}
		if !equalInts(toks, want) {
			t.Errorf("image %d: greedy tokens %v, PyTorch %v", i, toks, want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
