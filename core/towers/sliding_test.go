package towers

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

// Gemma's sliding-window layers cache only their window: over a context
// of 128 with a window of 4, a prefill and a long decode give the logits of
// the same state with every layer's full cache (Window 0: nothing dropped)
// at every step, while a sliding layer holds at most Window + slack + one
// chunk of positions (slack: 64 for so small a window) and has dropped the
// oldest. A fork after rows were
// dropped continues like its parent; a rewind past a window that was
// dropped is an error, not wrong logits.
func TestSlidingWindowCacheKeepsOnlyTheWindow(t *testing.T) {
	for _, arch := range []string{"gemma2", "gemma3"} {
		t.Run(arch, func(t *testing.T) {
			src, err := formats.Open("testdata/" + arch + "/f32.gguf")
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			d, err := LoadDecoder(src.(formats.InfoSource))
			if err != nil {
				t.Fatal(err)
			}
			c := d.Config
			if c.SlidingWindow != 4 || c.Context != 128 {
				t.Fatalf("fixture: window %d, context %d", c.SlidingWindow, c.Context)
			}
			r := rand.New(rand.NewSource(1))
			ids := make([]int, c.Context)
			for i := range ids {
				ids[i] = r.Intn(c.Vocab)
			}
			const prompt = 40
			slide, full := d.NewState(0), d.NewState(0)
			sliding := 0
			for i := range full.Cache {
				if slide.Cache[i].Window > 0 {
					sliding++
				}
				full.Cache[i].Window = 0
			}
			if sliding == 0 || sliding == c.Layers {
				t.Fatalf("%d of %d layers slide", sliding, c.Layers)
			}
			// Once rows are dropped, FlashAttention's tiles start at other
			// keys, so the same terms are summed in another order; Gemma's
			// GeGLU reads ggml's half-precision GELU table, where a last-bit
			// difference can cross a step (3e-4, as for llama.cpp's logits
			// in TestFamiliesMatchLlamaCpp).
			worst := 0.0
			check := func(step string, got, want []float32) {
				t.Helper()
				e := logitErr(got, want)
				if !(e <= 3e-4) {
					t.Fatalf("%s: sliding cache's logits differ from the full cache's by %.3g", step, e)
				}
				worst = max(worst, e)
			}
			a, err := slide.Forward(ids[:prompt], 0)
			if err != nil {
				t.Fatal(err)
			}
			b, err := full.Forward(ids[:prompt], 0)
			if err != nil {
				t.Fatal(err)
			}
			check("prefill", a, b)
			var fork *State
			for pos := prompt; pos < len(ids); pos++ {
				if a, err = slide.Forward(ids[pos:pos+1], pos); err != nil {
					t.Fatal(err)
				}
				if b, err = full.Forward(ids[pos:pos+1], pos); err != nil {
					t.Fatal(err)
				}
				check("decode", a, b)
				if pos == 100 {
					fork = slide.Fork()
				}
			}
			for i, kv := range slide.Cache {
				held := kv.Rows()
				switch {
				case kv.Window == 0 && held < c.Context:
					t.Errorf("layer %d (global) holds %d positions of %d", i, held, c.Context)
				case kv.Window > 0 && (kv.Start == 0 || held > kv.Window+64+prompt):
					t.Errorf("layer %d (window %d) holds %d rows from position %d", i, kv.Window, held, kv.Start)
				}
			}
			// The fork (at 101 positions) continues as the parent did.
			ref := d.NewState(0)
			for i := range ref.Cache {
				ref.Cache[i].Window = 0
			}
			if _, err := ref.Forward(ids[:101], 0); err != nil {
				t.Fatal(err)
			}
			for pos := 101; pos < 110; pos++ {
				if a, err = fork.Forward(ids[pos:pos+1], pos); err != nil {
					t.Fatal(err)
				}
				if b, err = ref.Forward(ids[pos:pos+1], pos); err != nil {
					t.Fatal(err)
				}
				check("fork", a, b)
			}
			t.Logf("%s: logits within %.2g of the full cache's over %d positions", arch, worst, len(ids))
			// A rewind inside what is held works; past it, an error.
			if _, err := slide.Forward(ids[126:127], 126); err != nil {
				t.Errorf("rewind by one: %v", err)
			}
			if _, err := slide.Forward(ids[10:11], 10); err == nil || !strings.Contains(err.Error(), "sliding-window") {
				t.Errorf("rewind past the window: %v", err)
			}
		})
	}
}
