package towers

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/loomhq/loom/core/nn"
)

// ctcBrute sums, over every alignment of T frames to K labels (blank K−1),
// the probability of those whose collapsed labelling is g (exact) or starts
// with g (prefix).
func ctcBrute(lp [][]float64, g []int) (exact, prefix float64) {
	T, K := len(lp), len(lp[0])
	a := make([]int, T)
	exact, prefix = math.Inf(-1), math.Inf(-1)
	for {
		var lab []int
		p := 0.0
		for t, k := range a {
			p += lp[t][k]
			if k != K-1 && (t == 0 || a[t-1] != k) {
				lab = append(lab, k)
			}
		}
		if len(lab) >= len(g) && slices.Equal(lab[:len(g)], g) {
			prefix = logAdd(prefix, p)
			if len(lab) == len(g) {
				exact = logAdd(exact, p)
			}
		}
		i := 0
		for ; i < T; i++ { // next alignment, frame 0 fastest
			if a[i]++; a[i] < K {
				break
			}
			a[i] = 0
		}
		if i == T {
			return exact, prefix
		}
	}
}

// The prefix scorer's extend and final agree with the sums over all
// alignments, for prefixes with repeated labels (which need a blank between)
// and for ones too long to fit some frame counts.
func TestCTCPrefixMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewSource(21))
	for _, tc := range []struct{ T, K int }{{1, 3}, {4, 3}, {6, 4}, {7, 3}} {
		lp := make([][]float64, tc.T)
		for i := range lp {
			row := make([]float64, tc.K)
			for k := range row {
				row[k] = rng.NormFloat64() * 2
			}
			lp[i] = logSoftmax64(row)
		}
		for trial := 0; trial < 12; trial++ {
			n := rng.Intn(tc.T + 2)
			g := make([]int, n)
			for i := range g {
				g[i] = rng.Intn(tc.K - 1)
			}
			if trial == 0 && n >= 2 {
				g[1] = g[0] // a repeat
			}
			p := newCTCPrefix(lp)
			for i, c := range g {
				p = p.extend(lp, c)
				_, want := ctcBrute(lp, g[:i+1])
				if !close64(p.score, want) {
					t.Fatalf("T %d K %d prefix %v: score %v, brute force %v", tc.T, tc.K, g[:i+1], p.score, want)
				}
			}
			want, _ := ctcBrute(lp, g)
			if got := p.final(); !close64(got, want) {
				t.Fatalf("T %d K %d labelling %v: final %v, brute force %v", tc.T, tc.K, g, got, want)
			}
		}
	}
}

func close64(a, b float64) bool {
	if math.IsInf(a, -1) || math.IsInf(b, -1) {
		return math.IsInf(a, -1) && math.IsInf(b, -1) || math.Max(a, b) < -700
	}
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

// Joint CTC/attention beam search on the tiny model with a random CTC head:
// the winner's score is (1−λ)·its attention log-probability (the model
// stepped through its tokens again) + λ·the CTC log-probability of exactly
// its labelling (the leading space unscored; the CTC prefix score and no
// <|endoftext|> when it stopped at MaxTokens), the search is deterministic,
// and a model without a head refuses a CTC weight.
func TestWhisperJointCTC(t *testing.T) {
	m, _ := loadTinyWhisper(t)
	v, _ := tinyWhisperVocab(t, m)
	enc, _ := goldenF32(t, openWhisperGolden(t), "encoder")
	o := WhisperOptions{Language: "en", Beam: 4, MaxTokens: 12, CTCWeight: 0.4}
	if _, err := m.decodeWindow(enc, &v, o, 0); err == nil {
		t.Fatal("a model without a CTC head decoded with CTCWeight 0.4")
	}
	K, D := v.EOT+1, m.Cfg.DModel
	rng := rand.New(rand.NewSource(5))
	w := make([]float32, K*D)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	bias := make([]float32, K)
	bias[K-1] = 2 // blanks common, as a trained head's are
	m.Cfg.CTCVocabSize = K
	m.ctc = nn.Linear{W: nn.Matrix{Rows: K, Cols: D, F32: w}, Bias: bias}
	r, err := m.decodeWindow(enc, &v, o, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.decodeWindow(enc, &v, o, 0)
	if err != nil || !equalInts(r.tokens, again.tokens) || r.sumLogprob != again.sumLogprob {
		t.Fatalf("joint beam search is not deterministic: %v then %v (%v)", r.tokens, again.tokens, err)
	}
	// the attention log-probability of the winner, token by token, and its <|endoftext|>
	att, _, ended := attentionOf(t, m, &v, enc, o, r.tokens)
	lp, err := m.CTCLogprobs(enc)
	if err != nil {
		t.Fatal(err)
	}
	labels := r.tokens
	if len(labels) > 0 && labels[0] == v.Space {
		labels = labels[1:]
	}
	exact := newCTCPrefix(lp)
	for _, c := range labels {
		exact = exact.extend(lp, c)
	}
	ctc := exact.score
	if ended {
		ctc = exact.final()
	}
	want := (1-o.CTCWeight)*att + o.CTCWeight*ctc
	if math.Abs(r.sumLogprob-want) > 1e-6*math.Max(1, math.Abs(want)) {
		t.Errorf("joint score of %v (ended %v): %v, want (1−λ)·%v + λ·%v = %v", r.tokens, ended, r.sumLogprob, att, ctc, want)
	}
	plain, err := m.decodeWindow(enc, &v, WhisperOptions{Language: "en", Beam: 4, MaxTokens: 12}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("attention alone %v; joint (λ 0.4) %v", plain.tokens, r.tokens)
}

// attentionOf steps the decoder through a search's tokens again and returns
// their attention log-probability, the tokens with <|endoftext|> appended
// when the search ended (fewer than o.MaxTokens), and whether it did.
func attentionOf(t *testing.T, m *Whisper, v *WhisperVocab, enc []float32, o WhisperOptions, tokens []int) (float64, []int, bool) {
	t.Helper()
	st, err := m.NewState(enc)
	if err != nil {
		t.Fatal(err)
	}
	post, err := v.taskTokens(o, "en")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Step(st, append(v.prefix(nil, 0), post...), false); err != nil {
		t.Fatal(err)
	}
	att := 0.0
	toks := tokens
	ended := len(toks) < o.MaxTokens
	if ended {
		toks = append(append([]int(nil), toks...), v.EOT)
	}
	for i, tok := range toks {
		att += v.filtered(st.Logits, tokens[:i], false)[tok]
		if tok != v.EOT {
			if _, err := m.Step(st, []int{tok}, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	return att, toks, ended
}
