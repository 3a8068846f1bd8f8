package towers

import (
	"math"
	"os"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

// llamaCppRef is what tools/ggmlref/llamalogits wrote: the token ids (the
// prompt, then llama.cpp's greedy continuation), llama.cpp's logits at every
// position, and the prompt's length.
type llamaCppRef struct {
	tokens []int
	logits []float32 // (positions, vocab)
	prompt int
}

func readLlamaCppRef(t *testing.T, path string) llamaCppRef {
	t.Helper()
	src, err := formats.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var r llamaCppRef
	tin, err := src.Info("tokens")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < tin.Elements(); i++ {
		b := tin.Data[4*i:]
		r.tokens = append(r.tokens, int(int32(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24)))
	}
	lin, err := src.Info("logits")
	if err != nil {
		t.Fatal(err)
	}
	r.logits = make([]float32, lin.Elements())
	if err := kernels.F32.Dequantize(r.logits, lin.Data); err != nil {
		t.Fatal(err)
	}
	r.prompt = int(src.Meta().IntOr("llamalogits.prompt", int64(len(r.tokens))))
	return r
}

// logitErr is max|got−want| / max|want|: the error relative to the logits'
// scale (per-element relative error means nothing for a logit near 0).
func logitErr(got, want []float32) float64 {
	var d, s float64
	for i, w := range want {
		d = math.Max(d, math.Abs(float64(got[i])-float64(w)))
		s = math.Max(s, math.Abs(float64(w)))
	}
	if math.IsNaN(d) {
		return math.Inf(1)
	}
	return d / s
}

// checkLlamaCpp runs testdata/DIR/TYPE.gguf through Loom and compares with
// llama.cpp's logits in testdata/DIR/TYPE-logits.gguf: one token at a time
// (the decode path) at every position, the prompt as one batch (prefill, its
// last position) followed by decode steps, and a fork. Each position's
// logits must agree to tol relative (logitErr) and Loom's greedy tokens must
// be llama.cpp's, exactly. An attention decoder keeps a float32 KV cache
// here, as llamalogits ran llama.cpp (checkLlamaCppF16 for the halves).
func checkLlamaCpp(t *testing.T, dir, typ string, tol float64) {
	checkLlamaCppCache(t, dir, typ, tol, true)
}

// checkLlamaCppF16 is checkLlamaCpp with an attention decoder's default
// f16 KV cache.
func checkLlamaCppF16(t *testing.T, dir, typ string, tol float64) {
	checkLlamaCppCache(t, dir, typ, tol, false)
}

func checkLlamaCppCache(t *testing.T, dir, typ string, tol float64, kvF32 bool) {
	model, refPath := "testdata/"+dir+"/"+typ+".gguf", "testdata/"+dir+"/"+typ+"-logits.gguf"
	if _, err := os.Stat(model); err != nil {
		t.Fatalf("fixture %s missing (tools/ggmlref/make-fixtures.sh makes it): %v", model, err)
	}
	src, err := formats.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	lm, err := LoadLM(src.(formats.InfoSource))
	if err != nil {
		t.Fatal(err)
	}
	if d := AsDecoder(lm); d != nil {
		d.KVF32 = kvF32
	}
	ref := readLlamaCppRef(t, refPath)
	vocab := lm.Info().Vocab
	if len(ref.logits) != len(ref.tokens)*vocab || ref.prompt < 2 || ref.prompt > len(ref.tokens) {
		t.Fatalf("reference has %d logits for %d tokens (prompt %d), vocab %d", len(ref.logits), len(ref.tokens), ref.prompt, vocab)
	}
	greedy := map[int]bool{}
	for _, tok := range ref.tokens[ref.prompt:] {
		greedy[tok] = true
	}
	if len(ref.tokens)-ref.prompt > 2 && len(greedy) < 2 {
		t.Fatalf("llama.cpp's greedy continuation repeats one token %v: the fixture checks too little", ref.tokens[ref.prompt:])
	}
	want := func(pos int) []float32 { return ref.logits[pos*vocab : (pos+1)*vocab] }
	worst := 0.0
	check := func(what string, got []float32, pos int) {
		t.Helper()
		e := logitErr(got, want(pos))
		worst = math.Max(worst, e)
		if e > tol {
			t.Errorf("%s %s position %d: logits differ from llama.cpp by %.3g relative (bound %.0e)", dir, what, pos, e, tol)
		}
		if pos+1 < len(ref.tokens) && pos+1 >= ref.prompt {
			if g := argmax32(got); g != ref.tokens[pos+1] {
				t.Errorf("%s %s position %d: greedy token %d, llama.cpp %d", dir, what, pos, g, ref.tokens[pos+1])
			}
		}
	}
	st := lm.NewSession(len(ref.tokens))
	for i, tok := range ref.tokens {
		logits, err := st.Forward([]int{tok}, i)
		if err != nil {
			t.Fatal(err)
		}
		check("decode", logits, i)
	}
	st = lm.NewSession(len(ref.tokens))
	logits, err := st.Forward(ref.tokens[:ref.prompt], 0)
	if err != nil {
		t.Fatal(err)
	}
	check("prefill", logits, ref.prompt-1)
	fork := st.Fork()
	for i := ref.prompt; i < len(ref.tokens); i++ {
		logits, err := st.Forward(ref.tokens[i:i+1], i)
		if err != nil {
			t.Fatal(err)
		}
		check("after prefill", logits, i)
	}
	if logits, err = fork.Forward(ref.tokens[ref.prompt:ref.prompt+1], ref.prompt); err != nil {
		t.Fatal(err)
	}
	check("fork", logits, ref.prompt)
	t.Logf("%s %s: %d positions (%d greedy), worst logit error %.2g relative", dir, typ, len(ref.tokens), len(ref.tokens)-ref.prompt, worst)
}
