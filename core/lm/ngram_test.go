package lm

import (
	"math"
	"strings"
	"testing"
)

// tiny is a bigram model over a and b, small enough to score by hand.
const tiny = `made by hand
\data\
ngram 1=4
ngram 2=3

\1-grams:
-99	<s>	-0.5
-0.30103	a	-0.2
-0.60206	b
-0.60206	</s>

\2-grams:
-0.1	<s> a
-0.4	a b
-0.3	a </s>

\end\
`

func tinyIDs(w string) (int, bool) {
	i := strings.Index("ab", w)
	return i, i >= 0 && len(w) == 1
}

func TestNGramBackoff(t *testing.T) {
	m, err := Load(strings.NewReader(tiny), tinyIDs)
	if err != nil {
		t.Fatal(err)
	}
	if m.Order != 2 {
		t.Fatalf("order %d, want 2", m.Order)
	}
	const a, b = 0, 1
	for _, c := range []struct {
		name  string
		ctx   []int
		w     int
		log10 float64
	}{
		{"listed bigram", []int{Begin}, a, -0.1},
		{"listed, longer history cut to the order", []int{b, b, a}, b, -0.4},
		{"end after a", []int{a}, End, -0.3},
		{"back-off from <s>", []int{Begin}, b, -0.5 - 0.60206},
		{"back-off from a", []int{a}, a, -0.2 - 0.30103},
		{"b has no back-off weight", []int{b}, a, -0.30103},
		{"no history", nil, b, -0.60206},
		{"unknown token: the rarest unigram", []int{a}, 7, -0.2 - 0.60206},
	} {
		if got, want := m.LogProb(c.ctx, c.w), c.log10*math.Ln10; math.Abs(got-want) > 1e-9 {
			t.Errorf("%s: ln p %.6f, want %.6f", c.name, got, want)
		}
	}
}

func TestNGramLoadErrors(t *testing.T) {
	for name, text := range map[string]string{
		"unknown word":      strings.Replace(tiny, "<s> a", "<s> c", 1),
		"count mismatch":    strings.Replace(tiny, "ngram 2=3", "ngram 2=4", 1),
		"truncated":         strings.TrimSuffix(tiny, "\\end\\\n"),
		"section unlisted":  strings.Replace(tiny, "ngram 2=3\n", "", 1),
		"too many fields":   strings.Replace(tiny, "-0.4\ta b", "-0.4\ta b -0.1 3", 1),
		"bad probability":   strings.Replace(tiny, "-0.4\ta b", "x\ta b", 1),
		"NaN probability":   strings.Replace(tiny, "-0.4\ta b", "NaN\ta b", 1),
		"infinite back-off": strings.Replace(tiny, "-0.2\n", "-Inf\n", 1),
	} {
		if _, err := Load(strings.NewReader(text), tinyIDs); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// Load takes untrusted files (a model folder's lm.arpa): whatever the bytes,
// it returns an error or a model whose scores are finite.
func FuzzLoad(f *testing.F) {
	f.Add(tiny)
	f.Add(strings.Replace(tiny, "ngram 2=3", "ngram 9=0", 1))
	f.Add("\\data\\\nngram 1=1\n\\1-grams:\n-1\ta\n\\end\\\n")
	f.Fuzz(func(t *testing.T, text string) {
		m, err := Load(strings.NewReader(text), tinyIDs)
		if err != nil {
			return
		}
		for _, ctx := range [][]int{nil, {Begin}, {0, 1, 0, 1, 0, 1, 0, 1}} {
			for _, w := range []int{0, 1, 5, End} {
				if p := m.LogProb(ctx, w); math.IsNaN(p) || math.IsInf(p, 0) {
					t.Fatalf("ln p(%d | %v) = %v from\n%s", w, ctx, p, text)
				}
			}
		}
	})
}

// LoadWords numbers the words itself and scores them as Load does with
// those ids.
func TestLoadWords(t *testing.T) {
	m, ids, err := LoadWords(strings.NewReader(tiny))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids["a"] == ids["b"] {
		t.Fatalf("ids %v, want a and b numbered apart", ids)
	}
	ref, err := Load(strings.NewReader(tiny), func(w string) (int, bool) { id, ok := ids[w]; return id, ok })
	if err != nil {
		t.Fatal(err)
	}
	a, b := ids["a"], ids["b"]
	for _, c := range [][]int{{Begin, a}, {a, b}, {a, End}, {b, a}, {Begin, b}} {
		ctx, w := c[:1], c[1]
		if got, want := m.LogProb(ctx, w), ref.LogProb(ctx, w); got != want || math.IsInf(got, 0) {
			t.Errorf("%v: ln p %v, want %v", c, got, want)
		}
	}
	if got, want := m.LogProb([]int{Begin}, a), -0.1*math.Ln10; math.Abs(got-want) > 1e-9 {
		t.Errorf("p(a | <s>): %v, want %v", got, want)
	}
}

// An order-5 model: n-grams of up to three tokens and longer ones are kept in
// different tables (NGram.short, NGram.long); hits and back-off weights are
// found in both, by hand-computed values.
func TestNGramLongKeys(t *testing.T) {
	const arpa = `\data\
ngram 1=5
ngram 2=2
ngram 3=1
ngram 4=1
ngram 5=1

\1-grams:
-99	<s>	-0.4
-1.0	a	-0.1
-1.0	b	-0.2
-1.0	c	-0.3
-1.5	</s>

\2-grams:
-0.5	a b	-0.05
-0.6	b c	-0.06

\3-grams:
-0.3	a b c	-0.01

\4-grams:
-0.2	<s> a b c	-0.07

\5-grams:
-0.1	<s> a b c a

\end\
`
	m, ids, err := LoadWords(strings.NewReader(arpa))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := ids["a"], ids["b"], ids["c"]
	for _, q := range []struct {
		ctx  []int
		w    int
		want float64 // log10
	}{
		{[]int{Begin, a, b, c}, a, -0.1},                              // 5-gram
		{[]int{Begin, a, b}, c, -0.2},                                 // 4-gram
		{[]int{c, a, b}, c, -0.3},                                     // 3-gram, no bow for (c a b)
		{[]int{Begin, a, b, c}, b, -0.07 - 0.01 - 0.06 - 0.3 - 1.0},   // every back-off, long and short
		{[]int{Begin, a, b, c}, End, -0.07 - 0.01 - 0.06 - 0.3 - 1.5}, // to </s>
		{[]int{c, c, Begin, a, b, c}, a, -0.1},                        // only the last four count
	} {
		if got, want := m.LogProb(q.ctx, q.w), q.want*math.Ln10; math.Abs(got-want) > 1e-12 {
			t.Errorf("LogProb(%v, %d) = %v, want %v", q.ctx, q.w, got, want)
		}
	}
}
