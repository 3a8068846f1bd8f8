package sample

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// The reference implementation's demo (pcg32-demo, seeded 42, 54) prints
// these first outputs.
func TestPCGReferenceStream(t *testing.T) {
	p := NewPCGStream(42, 54)
	want := []uint32{0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e}
	for i, w := range want {
		if g := p.Uint32(); g != w {
			t.Fatalf("output %d = %#x, want %#x", i, g, w)
		}
	}
}

// A job seed's stream is part of Loom's contract (same seed, same text): pin it.
func TestPCGSeedIsStable(t *testing.T) {
	a, b := NewPCG(1234), NewPCG(1234)
	c := NewPCG(1235)
	same := 0
	for i := 0; i < 100; i++ {
		x, y, z := a.Uint32(), b.Uint32(), c.Uint32()
		if x != y {
			t.Fatalf("draw %d: same seed gave %#x and %#x", i, x, y)
		}
		if x == z {
			same++
		}
	}
	if same > 2 {
		t.Fatalf("seeds 1234 and 1235 agree on %d of 100 draws", same)
	}
	f := NewPCG(0).Float64()
	if f < 0 || f >= 1 {
		t.Fatalf("Float64 = %v outside [0,1)", f)
	}
}

func newSampler(t *testing.T, p Params, vocab int) *Sampler {
	t.Helper()
	s, err := New(p, vocab)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGreedyPicksArgmaxLowestOnTies(t *testing.T) {
	s := newSampler(t, Params{}, 5)
	if g := s.Sample([]float32{0.1, 3, -2, 3, 1}); g != 1 {
		t.Fatalf("greedy = %d, want 1", g)
	}
	if g := s.Sample([]float32{float32(math.NaN()), -1, -0.5, -3, -9}); g != 2 {
		t.Fatalf("greedy with NaN = %d, want 2", g)
	}
}

// histogram draws n tokens and returns their frequencies.
func histogram(t *testing.T, p Params, logits []float32, n int) []float64 {
	t.Helper()
	s := newSampler(t, p, len(logits))
	h := make([]float64, len(logits))
	for i := 0; i < n; i++ {
		h[s.Sample(logits)]++
	}
	for i := range h {
		h[i] /= float64(n)
	}
	return h
}

func softmax(l []float32, temp float64) []float64 {
	out := make([]float64, len(l))
	var s float64
	for i, v := range l {
		out[i] = math.Exp(float64(v) / temp)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func assertFreq(t *testing.T, name string, got, want []float64) {
	t.Helper()
	for i := range want {
		// 20000 draws: the binomial standard deviation is at most 0.0036.
		if math.Abs(got[i]-want[i]) > 0.015 {
			t.Fatalf("%s: token %d frequency %.4f, want %.4f (all %v vs %v)", name, i, got[i], want[i], got, want)
		}
	}
}

func TestTemperatureMatchesSoftmax(t *testing.T) {
	logits := []float32{1, 2, 0.5, -1}
	for _, temp := range []float64{0.5, 1, 2} {
		got := histogram(t, Params{Temperature: temp, Seed: 7}, logits, 20000)
		assertFreq(t, "temperature", got, softmax(logits, temp))
	}
}

func TestTopKTopPMinP(t *testing.T) {
	// Probabilities 0.5, 0.3, 0.15, 0.05 at temperature 1.
	logits := []float32{float32(math.Log(0.5)), float32(math.Log(0.3)), float32(math.Log(0.15)), float32(math.Log(0.05))}
	cases := []struct {
		name string
		p    Params
		want []float64
	}{
		{"top_k=2", Params{TopK: 2}, []float64{0.625, 0.375, 0, 0}},
		{"top_k=1", Params{TopK: 1}, []float64{1, 0, 0, 0}},
		{"top_p=0.8", Params{TopP: 0.8}, []float64{0.625, 0.375, 0, 0}},
		{"top_p=0.81", Params{TopP: 0.81}, []float64{0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
		{"top_p=1", Params{TopP: 1}, []float64{0.5, 0.3, 0.15, 0.05}},
		{"min_p=0.25", Params{MinP: 0.25}, []float64{0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
		{"min_p=0.5", Params{MinP: 0.5}, []float64{0.625, 0.375, 0, 0}},
		// top-p runs on the renormalised top-k set {0.625, 0.375}: 0.625 alone reaches 0.6.
		{"top_k=2,top_p=0.6", Params{TopK: 2, TopP: 0.6}, []float64{1, 0, 0, 0}},
	}
	for _, c := range cases {
		c.p.Temperature = 1
		c.p.Seed = 3
		got := histogram(t, c.p, logits, 20000)
		for i, w := range c.want {
			if w == 0 && got[i] != 0 {
				t.Fatalf("%s: filtered token %d drawn with frequency %v", c.name, i, got[i])
			}
		}
		assertFreq(t, c.name, got, c.want)
	}
}

func TestPenalties(t *testing.T) {
	// Repetition penalty 2 over the prompt: 2 → 1 (token 0), -1 → -2 (token 1).
	s := newSampler(t, Params{RepetitionPenalty: 2}, 3)
	s.Prime([]int{0, 1})
	if g := s.Sample([]float32{2, -1, 1.5}); g != 2 {
		t.Fatalf("repetition penalty: got %d, want 2", g)
	}
	// Frequency 0.5 after two generations of token 0 (2 → 1), presence 0.6 (→ 0.4).
	s = newSampler(t, Params{FrequencyPenalty: 0.5, PresencePenalty: 0.6}, 3)
	s.Prime([]int{1}) // the prompt does not count for presence/frequency
	s.Accept(0)
	s.Accept(0)
	if g := s.Sample([]float32{2, 1.1, 0.5}); g != 1 {
		t.Fatalf("presence/frequency: got %d, want 1", g)
	}
	s.penalise(s.adj[:3]) // check the exact value through the same code
	adj := []float64{2, 1.1, 0.5}
	s.penalise(adj)
	if math.Abs(adj[0]-0.4) > 1e-12 || adj[1] != 1.1 || adj[2] != 0.5 {
		t.Fatalf("penalised logits %v, want [0.4 1.1 0.5]", adj)
	}
	// Out-of-range ids are ignored, not a panic.
	s.Accept(-1)
	s.Accept(99)
}

func TestSameSeedSameTokens(t *testing.T) {
	logits := make([]float32, 64)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	run := func(seed int64) string {
		s := newSampler(t, Params{Temperature: 0.9, TopK: 40, TopP: 0.95, MinP: 0.01, Seed: seed}, 64)
		var b strings.Builder
		for i := 0; i < 50; i++ {
			tok := s.Sample(logits)
			s.Accept(tok)
			b.WriteByte(byte('0' + tok%64))
		}
		return b.String()
	}
	if a, b := run(11), run(11); a != b {
		t.Fatalf("same seed differs:\n%s\n%s", a, b)
	}
	if a, b := run(11), run(12); a == b {
		t.Fatalf("different seeds gave identical draws %s", a)
	}
}

func TestValidate(t *testing.T) {
	bad := []Params{
		{Temperature: -1}, {Temperature: math.NaN()}, {TopK: -1}, {TopP: 1.5}, {MinP: -0.1},
		{RepetitionPenalty: -1}, {PresencePenalty: 3}, {FrequencyPenalty: math.Inf(1)},
	}
	for _, p := range bad {
		if _, err := New(p, 10); err == nil {
			t.Errorf("New(%+v) accepted bad params", p)
		}
	}
	if _, err := New(Params{}, 0); err == nil {
		t.Error("New accepted an empty vocabulary")
	}
}

func TestSampleDoesNotAllocate(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(i%17) * 0.3
	}
	s := newSampler(t, Params{Temperature: 0.8, TopK: 50, TopP: 0.9, RepetitionPenalty: 1.1, Seed: 1}, 1000)
	s.Prime([]int{1, 2, 3})
	if a := testing.AllocsPerRun(20, func() { s.Accept(s.Sample(logits)) }); a != 0 {
		t.Fatalf("Sample allocates %v times per step", a)
	}
}

func BenchmarkSample(b *testing.B) {
	for _, c := range []struct {
		name string
		p    Params
	}{
		{"greedy", Params{}},
		{"temp1", Params{Temperature: 1}},
		{"topk40_topp0.9", Params{Temperature: 0.8, TopK: 40, TopP: 0.9}},
		{"topp0.9", Params{Temperature: 0.8, TopP: 0.9}},
	} {
		b.Run(c.name, func(b *testing.B) {
			const vocab = 32000
			logits := make([]float32, vocab)
			r := NewPCG(5)
			for i := range logits {
				logits[i] = float32(r.Float64()*10 - 5)
			}
			s, _ := New(c.p, vocab)
			for i := 0; i < b.N; i++ {
				s.Sample(logits)
			}
		})
	}
}

// filterRef is the plain twin of Sampler.filter: sort the whole vocabulary,
// then apply each filter in the documented order, renormalising after each.
func filterRef(logits []float64, p Params) map[int]float64 {
	type c struct {
		id int
		p  float64
	}
	var all []c
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = math.Max(mx, v)
	}
	for i, v := range logits {
		all = append(all, c{i, math.Exp((v - mx) / p.Temperature)})
	}
	sortC := func() {
		for i := 1; i < len(all); i++ { // insertion sort: obviously right
			for j := i; j > 0 && (all[j].p > all[j-1].p || all[j].p == all[j-1].p && all[j].id < all[j-1].id); j-- {
				all[j], all[j-1] = all[j-1], all[j]
			}
		}
	}
	sortC()
	if p.TopK > 0 && p.TopK < len(all) {
		all = all[:p.TopK]
	}
	if p.TopP > 0 && p.TopP < 1 {
		var tot, cum float64
		for _, x := range all {
			tot += x.p
		}
		for i, x := range all {
			cum += x.p
			if cum >= p.TopP*tot {
				all = all[:i+1]
				break
			}
		}
	}
	out := map[int]float64{}
	for _, x := range all {
		if x.p >= p.MinP*all[0].p {
			out[x.id] = x.p
		}
	}
	return out
}

func TestFilterMatchesReference(t *testing.T) {
	r := NewPCG(99)
	for trial := 0; trial < 300; trial++ {
		n := 1 + int(r.Uint32()%200)
		logits := make([]float64, n)
		for i := range logits {
			// Coarse values make ties common, the case sort order matters for.
			logits[i] = float64(int(r.Uint32()%21)-10) * 0.5
		}
		p := Params{Temperature: 0.3 + r.Float64()*1.5}
		if r.Uint32()%2 == 0 {
			p.TopK = int(r.Uint32() % uint32(n+3))
		}
		if r.Uint32()%2 == 0 {
			p.TopP = r.Float64()
		}
		if r.Uint32()%2 == 0 {
			p.MinP = r.Float64() * 0.5
		}
		s := newSampler(t, p, n)
		adj := append([]float64(nil), logits...)
		got := s.filter(adj)
		want := filterRef(logits, p)
		if len(got) != len(want) {
			t.Fatalf("trial %d %+v n=%d: kept %d tokens, reference %d", trial, p, n, len(got), len(want))
		}
		for _, c := range got {
			w, ok := want[c.id]
			if !ok || math.Abs(w-c.p) > 1e-12 {
				t.Fatalf("trial %d %+v: token %d (p %v) not in the reference set (%v, %v)", trial, p, c.id, c.p, ok, w)
			}
		}
	}
}

func TestPushTopKKeepsTheKLargest(t *testing.T) {
	r := NewPCG(4)
	for trial := 0; trial < 100; trial++ {
		n, k := 1+int(r.Uint32()%300), 1+int(r.Uint32()%20)
		var h, all []candidate
		for i := 0; i < n; i++ {
			c := candidate{id: i, p: float64(r.Uint32() % 50)}
			h = pushTopK(h, c, k)
			all = append(all, c)
		}
		slices.SortFunc(h, byLikelihood)
		slices.SortFunc(all, byLikelihood)
		if !slices.Equal(h, all[:min(k, n)]) {
			t.Fatalf("n=%d k=%d: heap %v, want %v", n, k, h, all[:min(k, n)])
		}
	}
}

// A sampler makes only the buffers its params use: none for greedy without
// penalties (0.9 MiB per choice for a 32000-token vocabulary before), the
// weights for a draw, the seen/count tables for penalties.
func TestSamplerBuffersFollowParams(t *testing.T) {
	const vocab = 32000
	for _, c := range []struct {
		name                  string
		p                     Params
		adj, penalties, draws bool
	}{
		{"greedy", Params{RepetitionPenalty: 1}, false, false, false},
		{"greedy, penalties", Params{PresencePenalty: 0.5}, true, true, false},
		{"temperature", Params{Temperature: 0.7, TopK: 40}, true, false, true},
		{"temperature, penalties", Params{Temperature: 0.7, FrequencyPenalty: 0.1}, true, true, true},
	} {
		s := newSampler(t, c.p, vocab)
		s.Prime([]int{3, -1, vocab}) // out of range ids are ignored either way
		logits := make([]float32, vocab)
		r := NewPCG(9)
		for i := range logits {
			logits[i] = float32(r.Float64()*8 - 4)
		}
		s.Accept(s.Sample(logits))
		if got := len(s.adj) == vocab; got != c.adj {
			t.Errorf("%s: adj made %v, want %v", c.name, got, c.adj)
		}
		if got := len(s.seen) == vocab && len(s.count) == vocab; got != c.penalties {
			t.Errorf("%s: seen/count made %v, want %v", c.name, got, c.penalties)
		}
		if got := cap(s.cand) > 0; got != c.draws {
			t.Errorf("%s: candidates made %v, want %v", c.name, got, c.draws)
		}
	}
}

// Greedy on the logits as they are (no copy) picks what the float64 path
// picks: the first of the largest, NaN never, -Inf only when nothing else.
func TestGreedyWithoutCopyMatchesFloat64(t *testing.T) {
	r := NewPCG(4)
	for trial := 0; trial < 200; trial++ {
		n := 1 + int(r.Float64()*300)
		logits := make([]float32, n)
		wide := make([]float64, n)
		for i := range logits {
			switch u := r.Float64(); {
			case u < 0.05:
				logits[i] = float32(math.NaN())
			case u < 0.1:
				logits[i] = float32(math.Inf(-1))
			default:
				logits[i] = float32(int(r.Float64()*20)) * 0.25 // ties are common
			}
			wide[i] = float64(logits[i])
		}
		s := newSampler(t, Params{}, n)
		if got, want := s.Sample(logits), argmax(wide); got != want {
			t.Fatalf("trial %d: greedy %d, float64 argmax %d (%v)", trial, got, want, logits)
		}
	}
}

// Each out-of-range parameter is refused with a *ParamError naming its
// request key, and its message says the value.
func TestValidateNamesTheParam(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		p    Params
		name string
	}{
		{Params{Temperature: -1}, "temperature"},
		{Params{Temperature: nan}, "temperature"},
		{Params{TopK: -3}, "top_k"},
		{Params{TopP: 1.5}, "top_p"},
		{Params{MinP: -0.1}, "min_p"},
		{Params{RepetitionPenalty: math.Inf(1)}, "repetition_penalty"},
		{Params{PresencePenalty: 2.5}, "presence_penalty"},
		{Params{FrequencyPenalty: -3}, "frequency_penalty"},
	}
	for _, c := range cases {
		err := c.p.Validate()
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Field() != c.name || !strings.HasPrefix(err.Error(), c.name+" must be") {
			t.Errorf("%+v: %v, want a ParamError naming %s", c.p, err, c.name)
		}
	}
	if err := (Params{Temperature: 0.7, TopP: 0.9, TopK: 40}).Validate(); err != nil {
		t.Errorf("valid params refused: %v", err)
	}
}
