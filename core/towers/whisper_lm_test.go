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
	return loadTokenLM(t, b.String())
}

// loadTokenLM reads an ARPA model whose words t0, t1, … are the token ids.
func loadTokenLM(t *testing.T, arpa string) *lm.NGram {
	m, err := lm.Load(strings.NewReader(arpa), func(w string) (int, bool) {
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

// noRepeatLM is a character bigram over the text tokens 0…n−1: random
// unigrams, and a token after itself is unlikely (the tiny model repeats
// itself; this one makes it spell words).
func noRepeatLM(t *testing.T, n int, seed int64) *lm.NGram {
	rng := rand.New(rand.NewSource(seed))
	var b strings.Builder
	fmt.Fprintf(&b, "\\data\\\nngram 1=%d\nngram 2=%d\n\n\\1-grams:\n-99\t<s>\t0\n", n+2, n)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%.4f\tt%d\t0\n", -1-rng.Float64(), i)
	}
	fmt.Fprintf(&b, "-1.5\t</s>\n\n\\2-grams:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "-6\tt%d t%d\n", i, i)
	}
	b.WriteString("\n\\end\\\n")
	return loadTokenLM(t, b.String())
}

// wordBigram is an ARPA bigram over about half the words of one or two
// letters made of a and b, and </s>, with random log-probabilities and
// back-off weights; every unigram and a third of the bigrams are listed.
func wordBigram(t *testing.T, seed int64) (*lm.NGram, map[string]int) {
	rng := rand.New(rand.NewSource(seed))
	var words []string
	for _, w := range []string{"a", "b", "aa", "ab", "ba", "bb"} {
		if rng.Intn(2) == 0 {
			words = append(words, w)
		}
	}
	var uni, bi []string
	uni = append(uni, fmt.Sprintf("-99\t<s>\t%.4f", -rng.Float64()))
	for _, w := range append(append([]string(nil), words...), "</s>") {
		if w == "</s>" {
			uni = append(uni, fmt.Sprintf("%.4f\t%s", -3*rng.Float64(), w))
			continue
		}
		uni = append(uni, fmt.Sprintf("%.4f\t%s\t%.4f", -3*rng.Float64(), w, -rng.Float64()))
	}
	for _, h := range append([]string{"<s>"}, words...) {
		for _, w := range append(append([]string(nil), words...), "</s>") {
			if rng.Intn(3) == 0 {
				bi = append(bi, fmt.Sprintf("%.4f\t%s %s", -2*rng.Float64(), h, w))
			}
		}
	}
	arpa := fmt.Sprintf("\\data\\\nngram 1=%d\nngram 2=%d\n\n\\1-grams:\n%s\n\n\\2-grams:\n%s\n\n\\end\\\n",
		len(uni), len(bi), strings.Join(uni, "\n"), strings.Join(bi, "\n"))
	m, ids, err := lm.LoadWords(strings.NewReader(arpa))
	if err != nil {
		t.Fatal(err)
	}
	return m, ids
}

// Multi-level fusion: the winner's score is its attention log-probability +
// β·(the character LM's log-probability of every token that is not in a word
// the word LM knows, nor the token ending one, + the word LM's of each known
// word after the known words before it (<s> at the start; an unknown word
// starts the history again) + the word LM's </s> at the end instead of the
// character LM's). The reference below walks the text word by word; word
// models from several seeds make winners with known and unknown words.
func TestWhisperWordLMFusion(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	v, _ := tinyWhisperVocab(t, m)
	enc, _ := goldenF32(t, openWhisperGolden(t), "encoder")
	chars := noRepeatLM(t, v.EOT, 3)
	letters := make([]byte, v.EOT)
	for tok := range letters {
		letters[tok] = "\x00ab"[tok%3] // 0: the token ends a word
	}
	plain, err := m.decodeWindow(enc, &v, WhisperOptions{Language: "en", Beam: 4, MaxTokens: 12, LM: chars, LMWeight: 0.7}, 0)
	if err != nil {
		t.Fatal(err)
	}
	known, unknown, changed := 0, 0, 0
	for seed := int64(1); seed <= 8; seed++ {
		wlm, ids := wordBigram(t, seed)
		o := WhisperOptions{Language: "en", Beam: 4, MaxTokens: 12, LM: chars, LMWeight: 0.7,
			WordLM: &WhisperWordLM{LM: wlm, IDs: ids, Letters: letters}}
		r, err := m.decodeWindow(enc, &v, o, 0)
		if err != nil {
			t.Fatal(err)
		}
		again, err := m.decodeWindow(enc, &v, o, 0)
		if err != nil || !equalInts(r.tokens, again.tokens) || r.sumLogprob != again.sumLogprob {
			t.Fatalf("seed %d: fused beam search is not deterministic: %v then %v (%v)", seed, r.tokens, again.tokens, err)
		}
		if !equalInts(r.tokens, plain.tokens) {
			changed++
		}
		att, toks, ended := attentionOf(t, m, &v, enc, o, r.tokens)
		score := 0.0
		hist := []int{lm.Begin}
		var word []byte
		span := 0.0 // the character LM's score of word's letters
		for i, tok := range toks {
			if tok != v.EOT && !v.IsText(tok) {
				continue
			}
			w := tok
			if tok == v.EOT {
				w = lm.End
			}
			c := chars.LogProb(v.lmContext(toks[:i], chars.Order-1), w)
			if tok != v.EOT && letters[tok] != 0 {
				word = append(word, letters[tok])
				span += c
				continue
			}
			if len(word) > 0 {
				if id, ok := ids[string(word)]; ok {
					score += wlm.LogProb(hist, id)
					hist = []int{id}
					known++
					c = 0
				} else {
					score += span
					hist = nil
					unknown++
				}
			}
			if tok == v.EOT {
				c = wlm.LogProb(hist, lm.End)
			}
			score += c
			word, span = nil, 0
		}
		score += span // a word cut off by MaxTokens
		want := att + o.LMWeight*score
		if math.Abs(r.sumLogprob-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("seed %d: fused score of %v (ended %v): %v, want %v + β·%v = %v", seed, r.tokens, ended, r.sumLogprob, att, score, want)
		}
		t.Logf("seed %d: %v", seed, r.tokens)
	}
	if known == 0 || unknown == 0 || changed == 0 {
		t.Errorf("the winners have %d known and %d unknown words, %d differ from the character LM's %v: the test wants all three",
			known, unknown, changed, plain.tokens)
	}
}
