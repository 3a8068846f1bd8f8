package tokenizer

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// mergeByRankNaive is the direct loop mergeWord must equal: rescan every
// adjacent pair, merge the lowest-ranked (leftmost on ties), repeat.
func mergeByRankNaive(syms []string, ranks mergeRanks) []string {
	syms = append([]string(nil), syms...)
	for len(syms) > 1 {
		best, bestRank := -1, int32(0)
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := ranks[[2]string{syms[i], syms[i+1]}]; ok && (best < 0 || r < bestRank) {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		syms[best] += syms[best+1]
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	return syms
}

// Random merge tables over a small alphabet (so merges collide, chain and
// compete) and random words, some long: the heap must give the naive result.
func TestMergeByRankMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 200; trial++ {
		alpha := "abc"[:1+rng.Intn(3)]
		pieces := []string{}
		for _, c := range alpha {
			pieces = append(pieces, string(c))
		}
		var merges [][2]string
		for k := 0; k < 3+rng.Intn(30); k++ {
			a, b := pieces[rng.Intn(len(pieces))], pieces[rng.Intn(len(pieces))]
			merges = append(merges, [2]string{a, b})
			pieces = append(pieces, a+b)
		}
		ranks := newMergeRanks(merges)
		n := 1 + rng.Intn(2*shortWord) // both sides of the short-word cut
		if trial%20 == 0 {
			n = 2000
		}
		syms := make([]string, n)
		for i := range syms {
			syms[i] = string(alpha[rng.Intn(len(alpha))])
		}
		want := mergeByRankNaive(syms, ranks)
		starts := make([]int32, len(syms))
		for i := range starts {
			starts[i] = int32(i)
		}
		got := mergeWord(nil, strings.Join(syms, ""), starts, ranks)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("trial %d %q merges %v:\n got %q\nwant %q", trial, strings.Join(syms, ""), merges, got, want)
		}
	}
}

// Specials are taken longest first over the whole text, as llama.cpp does,
// not leftmost-longest: with "ab" and "bcd", "abcd" is a + bcd.
func TestSpecialSplitOrder(t *testing.T) {
	s := newSpecialSet([]special{{text: "ab", id: 1}, {text: "bcd", id: 2}, {text: "<c>", id: 3, control: true},
		{text: "<r>", id: 4, control: true, rstrip: true}, {text: "<l>", id: 5, control: true, lstrip: true}})
	cases := []struct {
		text  string
		parse bool
		want  []segment
	}{
		{"abcd", true, []segment{{"a", -1}, {"bcd", 2}}},
		{"abab", true, []segment{{"ab", 1}, {"ab", 1}}},
		{"x<c>y", true, []segment{{"x", -1}, {"<c>", 3}, {"y", -1}}},
		{"x<c>y", false, []segment{{"x<c>y", -1}}},
		{"x<r> \t y  <l>z", true, []segment{{"x", -1}, {"<r>", 4}, {"y", -1}, {"<l>", 5}, {"z", -1}}},
		{"", true, nil},
	}
	for _, c := range cases {
		if got := s.split(c.text, c.parse); !reflect.DeepEqual(got, c.want) {
			t.Errorf("split(%q, %v) = %v, want %v", c.text, c.parse, got, c.want)
		}
	}
}
