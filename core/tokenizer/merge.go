package tokenizer

import "container/heap"

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

// mergeByRank applies BPE merges to syms: repeatedly join the adjacent pair
// with the lowest rank, leftmost on ties, until no pair has one (GPT-2's
// bpe(), llama.cpp's llm_tokenizer_bpe_session). A heap of candidate pairs
// over a linked list of symbols makes a word of n symbols cost O(n log n);
// mergeByRankNaive in the tests is the direct rescanning loop it is checked
// against. syms is reused for the result.
func mergeByRank(syms []string, ranks mergeRanks) []string {
	n := len(syms)
	if n < 2 {
		return syms
	}
	next := make([]int32, n) // -1 at the end
	prev := make([]int32, n)
	for i := range syms {
		next[i], prev[i] = int32(i+1), int32(i-1)
	}
	next[n-1] = -1
	h := &candHeap[rankCand]{items: make([]rankCand, 0, n), less: lowestRankFirst}
	push := func(l int32) {
		if l < 0 || next[l] < 0 {
			return
		}
		r := next[l]
		if rank, ok := ranks[[2]string{syms[l], syms[r]}]; ok {
			heap.Push(h, rankCand{rank: rank, left: l, right: r, lenL: int32(len(syms[l])), lenR: int32(len(syms[r]))})
		}
	}
	for i := int32(0); i < int32(n-1); i++ {
		if rank, ok := ranks[[2]string{syms[i], syms[i+1]}]; ok {
			h.items = append(h.items, rankCand{rank: rank, left: i, right: i + 1, lenL: int32(len(syms[i])), lenR: int32(len(syms[i+1]))})
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		c := heap.Pop(h).(rankCand)
		// A candidate is stale when either symbol has merged since: symbols
		// only grow, so an unchanged length means unchanged text.
		if next[c.left] != c.right || int32(len(syms[c.left])) != c.lenL || int32(len(syms[c.right])) != c.lenR || syms[c.right] == "" {
			continue
		}
		syms[c.left] += syms[c.right]
		syms[c.right] = ""
		next[c.left] = next[c.right]
		if next[c.left] >= 0 {
			prev[next[c.left]] = c.left
		}
		push(prev[c.left])
		push(c.left)
	}
	out := syms[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

// rankCand is a mergeable adjacent pair of symbols (by index) and their
// lengths when it was found.
type rankCand struct {
	rank        int32
	left, right int32
	lenL, lenR  int32
}

// candHeap is a heap of merge candidates, best first by less.
type candHeap[T any] struct {
	items []T
	less  func(a, b T) bool
}

func (h *candHeap[T]) Len() int           { return len(h.items) }
func (h *candHeap[T]) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *candHeap[T]) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *candHeap[T]) Push(x any)         { h.items = append(h.items, x.(T)) }
func (h *candHeap[T]) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// lowestRankFirst orders BPE candidates: lowest rank, then leftmost.
func lowestRankFirst(a, b rankCand) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.left < b.left
}
