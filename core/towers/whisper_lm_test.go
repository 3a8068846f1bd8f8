package towers

import (
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/lm"
)

// unigramLM is an ARPA unigram model over the text tokens 0…n−1 (words
// "t0", "t1", …) and </s>, with random probabilities that sum to one.
func unigramLM(t *testing.T, n int, seed int64) *lm.NGram {
	rng := rand.New(rand.NewSource(seed))
	p := make([]float64, n+1)
	sum := 0.0
	for i := range p {
		p[i] = math.Exp(3 * rng.NormFloat64())
		sum += p[i]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\\data\\\nngram 1=%d\n\n\\1-grams:\n-99\t<s>\n", n+2)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%.9f\tt%d\n", math.Log10(p[i]/sum), i)
	}
	fmt.Fprintf(&b, "%.9f\t</s>\n\\end\\\n", math.Log10(p[n]/sum))
	m, err := lm.Load(strings.NewReader(b.String()), func(w string) (int, bool) {
		i, err := strconv.Atoi(strings.TrimPrefix(w, "t"))
		return i, err == nil && strings.HasPrefix(w, "t")
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Shallow fusion: a weight of 0 is the plain search; with a weight β the
// winner's score is its attention log-probability (the decoder stepped
// through its tokens again) + β·the LM's log-probability of its text and,
// when it ended, of </s>; the search is deterministic.
func TestWhisperLMFusion(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	v, _ := tinyWhisperVocab(t, m)
	enc, _ := goldenF32(t, openWhisperGolden(t), "encoder")
	ngram := unigramLM(t, v.EOT, 3)
	plain, err := m.decodeWindow(enc, &v, WhisperOptions{Language: "en", Beam: 4, MaxTokens: 12}, 0)
	if err != nil {
		t.Fatal(err)
	}
	zero, err := m.decodeWindow(enc, &v, WhisperOptions{Language: "en", Beam: 4, MaxTokens: 12, LM: ngram}, 0)
	if err != nil || !equalInts(zero.tokens, plain.tokens) || zero.sumLogprob != plain.sumLogprob {
		t.Fatalf("LM weight 0: %v (%v), plain %v (%v); %v", zero.tokens, zero.sumLogprob, plain.tokens, plain.sumLogprob, err)
	}
	o := WhisperOptions{Language: "en", Beam: 4, MaxTokens: 12, LM: ngram, LMWeight: 0.7}
	r, err := m.decodeWindow(enc, &v, o, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.decodeWindow(enc, &v, o, 0)
	if err != nil || !equalInts(r.tokens, again.tokens) || r.sumLogprob != again.sumLogprob {
		t.Fatalf("fused beam search is not deterministic: %v then %v (%v)", r.tokens, again.tokens, err)
	}
	att, toks, ended := attentionOf(t, m, &v, enc, o, r.tokens)
	lmScore := 0.0
	for _, tok := range toks {
		w := tok
		if tok == v.EOT {
			w = lm.End
		}
		lmScore += ngram.LogProb(nil, w) // a unigram model: the history does not matter
	}
	want := att + o.LMWeight*lmScore
	if math.Abs(r.sumLogprob-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("fused score of %v (ended %v): %v, want %v + β·%v = %v", r.tokens, ended, r.sumLogprob, att, lmScore, want)
	}
	t.Logf("attention alone %v; with the LM (β 0.7) %v", plain.tokens, r.tokens)
}

// The LM's history is the text tokens before, timestamps and specials left
// out, after <s> when the text is shorter than the order asks.
func TestWhisperLMContext(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	v, _ := tinyWhisperVocab(t, m)
	for _, c := range []struct {
		toks []int
		n    int
		want []int
	}{
		{nil, 3, []int{lm.Begin}},
		{[]int{5, 6}, 3, []int{lm.Begin, 5, 6}},
		{[]int{5, 6, 7}, 3, []int{lm.Begin, 5, 6, 7}},
		{[]int{4, 5, 6, 7}, 3, []int{5, 6, 7}},
		{[]int{4, 5, v.EOT + 1, 6}, 2, []int{5, 6}},
		{[]int{5, v.EOT + 1, 6}, 2, []int{lm.Begin, 5, 6}},
		{[]int{v.EOT + 1, 6}, 2, []int{lm.Begin, 6}},
	} {
		if got := v.lmContext(c.toks, c.n); !equalInts(got, c.want) {
			t.Errorf("lmContext(%v, %d) = %v, want %v", c.toks, c.n, got, c.want)
		}
	}
}
