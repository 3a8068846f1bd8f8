package tokenizer

// mergeRanks maps a merge's (left, right) pieces to its rank (its line in
// the merges list; lower merges first). Keyed by the two strings, a lookup
// of two substrings allocates nothing.
type mergeRanks map[[2]string]int32

func newMergeRanks(merges [][2]string) mergeRanks {
	r := make(mergeRanks, len(merges))
	for i, m := range merges {
		if _, dup := r[m]; !dup {
			r[m] = int32(i)
		}
	}
	return r
}

// mergeWord applies BPE merges to the symbols of word — they start at the
// byte offsets in starts (the first 0) and run to the next start — and
// appends the merged symbols to dst: repeatedly join the adjacent pair with
// the lowest rank, leftmost on ties, until no pair has one (GPT-2's bpe(),
// llama.cpp's llm_tokenizer_bpe_session). Symbols stay substrings of word,
// so merging allocates no strings. Short words rescan their few pairs;
// longer ones keep a heap of candidate pairs over a linked list of
// symbols, so a word of n symbols costs O(n log n). mergeNaive in the tests
// is the direct rescanning loop both are checked against. starts is
// overwritten.
func mergeWord(dst []string, word string, starts []int32, ranks mergeRanks) []string {
	n := len(starts)
	if n <= shortWord {
		return mergeShort(dst, word, starts, ranks)
	}
	end := make([]int32, n) // symbol i is word[starts[i]:end[i]]; -1 once merged away
	next := make([]int32, n)
	prev := make([]int32, n)
	for i := range starts {
		end[i] = int32(len(word))
		if i+1 < n {
			end[i] = starts[i+1]
		}
		next[i], prev[i] = int32(i+1), int32(i-1)
	}
	next[n-1] = -1
	h := minHeap[rankCand]{items: make([]rankCand, 0, n), less: lowestRankFirst}
	cand := func(l, r int32) (rankCand, bool) {
		rank, ok := ranks[[2]string{word[starts[l]:end[l]], word[starts[r]:end[r]]}]
		return rankCand{rank: rank, left: l, right: r, end: end[r]}, ok
	}
	for i := int32(0); i < int32(n-1); i++ {
		if c, ok := cand(i, i+1); ok {
			h.items = append(h.items, c)
		}
	}
	h.init()
	for len(h.items) > 0 {
		c := h.pop()
		// Stale when either symbol has merged since: the left one merged
		// away or grew (no longer ends where the right starts), the right
		// one merged away or grew.
		if end[c.left] != starts[c.right] || end[c.right] != c.end {
			continue
		}
		end[c.left], end[c.right] = end[c.right], -1
		next[c.left] = next[c.right]
		if r := next[c.left]; r >= 0 {
			prev[r] = c.left
			if nc, ok := cand(c.left, r); ok {
				h.push(nc)
			}
		}
		if p := prev[c.left]; p >= 0 {
			if nc, ok := cand(p, c.left); ok {
				h.push(nc)
			}
		}
	}
	for i := int32(0); i >= 0; i = next[i] {
		dst = append(dst, word[starts[i]:end[i]])
	}
	return dst
}

// shortWord is the length up to which rescanning the pairs after each merge
// is cheaper than keeping a heap.
const shortWord = 24

// mergeShort is mergeWord's rescanning loop, for short words: the rank of
// every adjacent pair is kept, and only the two pairs a merge changes are
// looked up again.
func mergeShort(dst []string, word string, starts []int32, ranks mergeRanks) []string {
	sym := func(i int) string {
		if i+1 < len(starts) {
			return word[starts[i]:starts[i+1]]
		}
		return word[starts[i]:]
	}
	var buf [shortWord]int32
	pair := buf[:0] // pair[i] is the rank of (i, i+1), -1 for none
	rankOf := func(i int) int32 {
		if r, ok := ranks[[2]string{sym(i), sym(i + 1)}]; ok {
			return r
		}
		return -1
	}
	for i := 0; i+1 < len(starts); i++ {
		pair = append(pair, rankOf(i))
	}
	for len(starts) > 1 {
		best := -1
		for i, r := range pair {
			if r >= 0 && (best < 0 || r < pair[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		starts = append(starts[:best+1], starts[best+2:]...)
		pair = append(pair[:best], pair[best+1:]...)
		if best < len(pair) {
			pair[best] = rankOf(best)
		}
		if best > 0 {
			pair[best-1] = rankOf(best - 1)
		}
	}
	for i := range starts {
		dst = append(dst, sym(i))
	}
	return dst
}

// rankCand is a mergeable adjacent pair of symbols (by index) and where the
// right one ended when the pair was found.
type rankCand struct {
	rank        int32
	left, right int32
	end         int32
}

// minHeap is a binary heap, least first by less: container/heap without
// its boxing of every element in an interface.
type minHeap[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *minHeap[T]) init() {
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *minHeap[T]) push(x T) {
	h.items = append(h.items, x)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *minHeap[T]) pop() T {
	x := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	h.down(0)
	return x
}

func (h *minHeap[T]) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			m = r
		}
		if !h.less(h.items[m], h.items[i]) {
			return
		}
		h.items[i], h.items[m] = h.items[m], h.items[i]
		i = m
	}
}

// lowestRankFirst orders BPE candidates: lowest rank, then leftmost.
func lowestRankFirst(a, b rankCand) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.left < b.left
}
