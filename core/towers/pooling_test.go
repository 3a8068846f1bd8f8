package towers

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/core/tokenizer"
)

// TestPooledAgainstLogits ties the pooled vector to the golden-checked
// logits path: the LM head is linear without bias, so W·pooled must be
// proportional to the sum over the pooled positions t of the logits Forward
// gives for the prefix ids[:t+1] — every position for PoolMean, the first
// for PoolCLS, the last for PoolLast. A prompt longer than one prefill
// chunk covers the chunked path.
func TestPooledAgainstLogits(t *testing.T) {
	path := sharedModel(t, "stories260K/stories260K.gguf")
	d, src := openDecoder(t, path)
	// Decode steps and a batched prefill compute keys in different orders;
	// an f16 cache can round such a pair to neighbouring halves (5e-4
	// apart), more than this bound allows: it checks pooling, not the cache.
	d.KVF32 = true
	tk, err := tokenizer.FromSource(src, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"Once upon a time", longStory(prefillChunk + 20)} {
		ids := tk.Encode(text, true)
		if len(ids) > d.Config.Context {
			ids = ids[:d.Config.Context]
		}
		st := d.NewState(len(ids))
		perPos := make([][]float32, len(ids))
		for i := range ids {
			logits, err := st.Forward(ids[i:i+1], i) // the cache holds the prefix: logits of ids[:i+1]
			if err != nil {
				t.Fatal(err)
			}
			perPos[i] = append([]float32(nil), logits...)
		}
		for _, pooling := range []int{PoolNone, PoolMean, PoolCLS, PoolLast} {
			pooled := make([]float32, d.Config.Dim)
			if err := d.NewState(len(ids)).Pooled(pooled, ids, pooling); err != nil {
				t.Fatal(err)
			}
			var norm float64
			for _, v := range pooled {
				norm += float64(v) * float64(v)
			}
			if math.Abs(norm-1) > 1e-5 {
				t.Fatalf("‖pooled‖² = %g, want 1", norm)
			}
			sum := make([]float64, d.Config.Vocab)
			for i, logits := range perPos {
				if pooling == PoolCLS && i != 0 || pooling == PoolLast && i != len(ids)-1 {
					continue
				}
				for j, v := range logits {
					sum[j] += float64(v)
				}
			}
			head := make([]float32, d.Config.Vocab)
			if err := d.Output.Forward(head, pooled, 1); err != nil {
				t.Fatal(err)
			}
			// sum = k·head for k = ‖Σh‖; fit k, then bound the residual.
			var num, den, maxSum float64
			for j := range sum {
				num += sum[j] * float64(head[j])
				den += float64(head[j]) * float64(head[j])
				maxSum = math.Max(maxSum, math.Abs(sum[j]))
			}
			k := num / den
			var worst float64
			for j := range sum {
				worst = math.Max(worst, math.Abs(sum[j]-k*float64(head[j])))
			}
			if worst > 1e-4*maxSum || k <= 0 {
				t.Fatalf("pooling %d, %d tokens: W·pooled is not proportional to Σ logits: k %g, worst residual %g of max %g", pooling, len(ids), k, worst, maxSum)
			}
		}
	}
}

func longStory(words int) string {
	b := make([]byte, 0, words*5)
	for i := 0; i < words; i++ {
		b = append(b, " the cat"[:4+4*(i%2)]...)
	}
	return string(b)
}

func TestPooledRefusesBadShapes(t *testing.T) {
	path := sharedModel(t, "stories260K/stories260K.gguf")
	d, _ := openDecoder(t, path)
	st := d.NewState(4)
	if err := st.Pooled(make([]float32, d.Config.Dim), []int{1, 2, 3, 4, 5}, PoolMean); err == nil {
		t.Error("5 tokens in a 4-position state: no error")
	}
	if err := st.Pooled(make([]float32, 3), []int{1}, PoolMean); err == nil {
		t.Error("short output: no error")
	}
	if err := st.Pooled(make([]float32, d.Config.Dim), nil, PoolMean); err == nil {
		t.Error("no tokens: no error")
	}
	if err := st.Pooled(make([]float32, d.Config.Dim), []int{1}, 4); err == nil {
		t.Error("rank pooling: no error")
	}
}

// TestCLIPPooledMatchesPyTorch: the pooled vector is PyTorch's last hidden
// state at the last token Pooled is given (the end-of-text token in use:
// HF's pooler_output), normalised; the golden ids are random, so any prefix
// length stands for "ids up to EOS".
func TestCLIPPooledMatchesPyTorch(t *testing.T) {
	cfg, err := ReadCLIPTextConfig(filepath.Join(diffusionDir, "text_encoder", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadCLIPText(binderFor(t, filepath.Join(diffusionDir, "text_encoder", "model.safetensors")).Sub("text_model"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := openGolden(t)
	ids32, shape := goldenI32(t, g, "clip_ids") // (2, T)
	want, _ := goldenF32(t, g, "clip_out")      // (2, T, H)
	T, H := shape[1], cfg.HiddenSize
	for i := 0; i < shape[0]; i++ {
		for _, n := range []int{T, T/2 + 1, 1} {
			ids := make([]int, n)
			for j := range ids {
				ids[j] = int(ids32[i*T+j])
			}
			row := make([]float64, H)
			for k := range row {
				row[k] = float64(want[(i*T+n-1)*H+k])
			}
			ref := make([]float32, H)
			if err := normalize(ref, row); err != nil {
				t.Fatal(err)
			}
			got := make([]float32, H)
			if err := m.Pooled(got, ids); err != nil {
				t.Fatal(err)
			}
			if e := relErr(got, ref); e > tolCLIP {
				t.Errorf("pooled %d (%d tokens) differs from PyTorch's state by %g (tolerance %g)", i, n, e, tolCLIP)
			}
		}
	}
	if err := m.Pooled(make([]float32, H-1), []int{1}); err == nil {
		t.Error("short output accepted")
	}
}

// TestForkContinuesLikeTheOriginal: a forked state gives the same logits as
// its parent for the same next token, and the two no longer share a cache.
func TestForkContinuesLikeTheOriginal(t *testing.T) {
	d, src := openDecoder(t, sharedModel(t, "stories260K/stories260K.gguf"))
	tk, err := tokenizer.FromSource(src, "")
	if err != nil {
		t.Fatal(err)
	}
	ids := tk.Encode("Once upon a time", true)
	st := d.NewState(0)
	if _, err := st.Forward(ids, 0); err != nil {
		t.Fatal(err)
	}
	f := st.Fork()
	a, err := st.Forward([]int{42}, len(ids))
	if err != nil {
		t.Fatal(err)
	}
	a = append([]float32(nil), a...)
	b, err := f.Forward([]int{42}, len(ids))
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("logit %d: parent %g, fork %g", i, a[i], b[i])
		}
	}
	// Diverge: the fork takes another token; the parent's next step must not see it.
	if _, err := f.Forward([]int{7}, len(ids)+1); err != nil {
		t.Fatal(err)
	}
	c, _ := st.Forward([]int{7}, len(ids)+1)
	c = append([]float32(nil), c...)
	ref := d.NewState(0)
	want, _ := ref.Forward(append(append([]int(nil), ids...), 42, 7), 0)
	for i := range c {
		if math.Abs(float64(c[i]-want[i])) > 1e-4 {
			t.Fatalf("parent after the fork diverged at %d: %g vs %g", i, c[i], want[i])
		}
	}
}
