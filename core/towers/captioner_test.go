package towers

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
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

func loadCaptioner(t testing.TB, dir string) (*ViT, *GPT2, CaptionerConfig) {
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

// goldenPixels returns the golden images' pixels (n, 3, S, S), n, and the
// floats per image.
func goldenPixels(t testing.TB) (pixels []float32, n, per int) {
	t.Helper()
	g := openSafetensors(t, captionerGolden)
	pixels, shape := goldenF32(t, g, "pixels")
	return pixels, shape[0], len(pixels) / shape[0]
}

func goldenF32(t testing.TB, src formats.InfoSource, name string) ([]float32, []int) {
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
	g := openSafetensors(t, captionerGolden)
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

// vitForwardOps is ViT.Forward as one op after another over every token (the
// encoder before it ran in bands): the reference the bands must equal.
func vitForwardOps(m *ViT, out, pixels []float32) error {
	c := m.Cfg
	H, T := c.HiddenSize, c.Tokens()
	x := make([]float32, T*H)
	if err := m.embedBand(x, pixels, 0, T, nil); err != nil {
		return err
	}
	for i := range m.layers {
		if err := m.layers[i].Forward(x, T, nil); err != nil {
			return err
		}
	}
	return m.lnf.Forward(out[:T*H], x, T)
}

// TestViTBandsMatch: the shipped captioner's encoder in token bands gives
// the op-by-op encoder's states within 1e-5 (values O(1)) at 1, 2 and 3
// threads, on the golden images and on a random one. Not bit for bit: the
// GEMM picks its k slabs by C's shape (a 65-row C 512 deep takes 512-deep
// slabs, a 32-row band 256), and attention's 32-query tiles fall elsewhere
// in 22-token bands.
func TestViTBandsMatch(t *testing.T) {
	vit, _, cfg := loadCaptioner(t, captionerDir)
	old := kernels.Default().Threads()
	defer kernels.SetThreads(old)
	pixels, n, per := goldenPixels(t)
	r := rand.New(rand.NewPCG(3, 5))
	noise := make([]float32, per)
	for i := range noise {
		noise[i] = r.Float32()*2 - 1
	}
	images := [][]float32{noise}
	for i := 0; i < n; i++ {
		images = append(images, pixels[i*per:(i+1)*per])
	}
	T, H := cfg.Encoder.Tokens(), cfg.Encoder.HiddenSize
	for k, px := range images {
		kernels.SetThreads(1)
		want := make([]float32, T*H)
		if err := vitForwardOps(vit, want, px); err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{1, 2, 3} {
			kernels.SetThreads(threads)
			got := make([]float32, T*H)
			if err := vit.Forward(got, px); err != nil {
				t.Fatal(err)
			}
			same := 0
			for i := range want {
				if got[i] == want[i] {
					same++
				}
			}
			if d := maxAbsDiff(got, want); d > 1e-5 {
				t.Errorf("image %d, %d threads: states differ from op by op by %g (%d of %d bit for bit)", k, threads, d, same, len(want))
			}
			if k == 1 {
				t.Logf("%d threads: %d of %d states bit for bit", threads, same, len(want))
			}
		}
	}
}

// greedySteps is greedy decoding one GPT2.Step after another (the path
// before bands), recording each step's logits.
func greedySteps(t *testing.T, m *GPT2, enc []float32, S int, prefix []int, maxLen int) ([]int, [][]float32) {
	t.Helper()
	st, err := m.NewState(enc, S)
	if err != nil {
		t.Fatal(err)
	}
	var logits [][]float32
	var toks []int
	step := func(tok int) {
		if err := m.Step(st, tok); err != nil {
			t.Fatal(err)
		}
		logits = append(logits, append([]float32(nil), st.Logits...))
	}
	for _, tok := range prefix {
		step(tok)
	}
	for len(toks) < maxLen {
		best := 0
		for i, l := range st.Logits {
			if l > st.Logits[best] {
				best = i
			}
		}
		if best == m.Cfg.EOS {
			break
		}
		if toks = append(toks, best); len(toks) < maxLen {
			step(best)
		}
	}
	return toks, logits
}

// TestGreedyBandsMatchSteps: the shipped captioner's greedy decoding in
// bands at 1, 2 and 3 threads gives the step-by-step decoding's logits bit
// for bit and its tokens, from the golden images' encoder states and from
// random ones, with the start token alone and with a longer prefix, and
// GenerateFrom with beam 1 returns those tokens.
// A decoder whose projections are not all plain f32 (a q8_0 MLP here)
// decodes greedily step by step: the bands' per-row products are f32 only.
func TestGreedyNonF32DecodesStepByStep(t *testing.T) {
	vit, dec, cfg := loadCaptioner(t, captionerDir)
	defer kernels.SetThreads(kernels.Default().Threads())
	T, H := cfg.Encoder.Tokens(), cfg.Encoder.HiddenSize
	pixels, _, per := goldenPixels(t)
	enc := make([]float32, T*H)
	if err := vit.Forward(enc, pixels[:per]); err != nil {
		t.Fatal(err)
	}
	w := &dec.blocks[0].mlp.FC1.W
	rb, err := kernels.Q8_0.RowBytes(w.Cols)
	if err != nil {
		t.Fatal(err)
	}
	q := make([]byte, rb*w.Rows)
	for r := 0; r < w.Rows; r++ {
		if err := kernels.Q8_0.Quantize(q[r*rb:(r+1)*rb], w.F32[r*w.Cols:(r+1)*w.Cols]); err != nil {
			t.Fatal(err)
		}
	}
	*w = nn.Matrix{Rows: w.Rows, Cols: w.Cols, Data: q, Type: kernels.Q8_0}
	if dec.bandable() {
		t.Fatal("a q8_0 projection counts as bandable")
	}
	want, _ := greedySteps(t, dec, enc, T, []int{cfg.Start}, cfg.MaxLength)
	for _, threads := range []int{1, 2} {
		kernels.SetThreads(threads)
		got, err := dec.GenerateFrom(enc, T, []int{cfg.Start}, 1, cfg.MaxLength)
		if err != nil {
			t.Fatalf("%d threads: %v", threads, err)
		}
		if !equalInts(got, want) || len(got) == 0 {
			t.Fatalf("%d threads: GenerateFrom %v, step by step %v", threads, got, want)
		}
	}
}

func TestGreedyBandsMatchSteps(t *testing.T) {
	vit, dec, cfg := loadCaptioner(t, captionerDir)
	old := kernels.Default().Threads()
	defer kernels.SetThreads(old)
	T, H := cfg.Encoder.Tokens(), cfg.Encoder.HiddenSize
	pixels, n, per := goldenPixels(t)
	var encs [][]float32
	for i := 0; i < n; i++ {
		enc := make([]float32, T*H)
		if err := vit.Forward(enc, pixels[i*per:(i+1)*per]); err != nil {
			t.Fatal(err)
		}
		encs = append(encs, enc)
	}
	r := rand.New(rand.NewPCG(9, 1))
	for range 3 {
		enc := make([]float32, T*H)
		for i := range enc {
			enc[i] = float32(r.NormFloat64())
		}
		encs = append(encs, enc)
	}
	prefixes := [][]int{{cfg.Start}, {cfg.Start, 5, 7, 3}}
	for e, enc := range encs {
		for _, prefix := range prefixes {
			for _, maxLen := range []int{cfg.MaxLength, 3} {
				kernels.SetThreads(1)
				wantToks, wantLogits := greedySteps(t, dec, enc, T, prefix, min(maxLen, cfg.Decoder.NPositions-len(prefix)))
				for _, threads := range []int{1, 2, 3} {
					kernels.SetThreads(threads)
					var got [][]float32
					toks, err := dec.greedyBands(enc, T, prefix, maxLen, func(l []float32) { got = append(got, append([]float32(nil), l...)) })
					if err != nil {
						t.Fatal(err)
					}
					if !equalInts(toks, wantToks) {
						t.Fatalf("states %d, prefix %v, %d threads: tokens %v, step by step %v", e, prefix, threads, toks, wantToks)
					}
					if len(got) != len(wantLogits) {
						t.Fatalf("states %d, prefix %v, %d threads: %d steps, step by step %d", e, prefix, threads, len(got), len(wantLogits))
					}
					for s := range got {
						for i := range got[s] {
							if got[s][i] != wantLogits[s][i] {
								t.Fatalf("states %d, prefix %v, %d threads, step %d: logit %d is %v, step by step %v", e, prefix, threads, s, i, got[s][i], wantLogits[s][i])
							}
						}
					}
					gen, err := dec.GenerateFrom(enc, T, prefix, 1, maxLen)
					if err != nil {
						t.Fatal(err)
					}
					if !equalInts(gen, wantToks) {
						t.Fatalf("states %d, prefix %v, %d threads: GenerateFrom %v, step by step %v", e, prefix, threads, gen, wantToks)
					}
				}
			}
		}
	}
}
