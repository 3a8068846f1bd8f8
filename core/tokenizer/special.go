package tokenizer

import (
	"sort"
)

// Special tokens are cut out of the text before it is tokenized, as
// llama.cpp's tokenizer_st_partition does: token texts are taken longest
// first (ties by id), each at every place it occurs in what is still plain
// text, left to right. Control and unknown tokens are cut only when the
// caller parses special tokens; user-defined tokens (added vocabulary such
// as MPT's runs of spaces) always are. A token marked rstrip/lstrip also
// swallows the ASCII whitespace after/before it.
//
// llama.cpp searches the text once per special token; here one pass over
// the text with a byte trie finds every occurrence of every special token,
// and the occurrences are then accepted in llama.cpp's order, so a
// vocabulary with thousands of added tokens costs the same as one with two.

// special is a token matched verbatim in text.
type special struct {
	text    string
	id      int
	control bool // control or unknown: cut only when parsing special tokens
	lstrip  bool
	rstrip  bool
}

// specialSet is the special tokens of a vocabulary, ready to cut text.
type specialSet struct {
	list []special // longest first, then by id
	// trie over the token texts: node 0 is the root; edges are kept in a
	// map keyed by node<<8|byte.
	next map[uint64]int32
	term map[int32]int32 // node → index in list
}

func newSpecialSet(list []special) *specialSet {
	s := &specialSet{list: list, next: map[uint64]int32{}, term: map[int32]int32{}}
	sort.SliceStable(s.list, func(a, b int) bool {
		if len(s.list[a].text) != len(s.list[b].text) {
			return len(s.list[a].text) > len(s.list[b].text)
		}
		return s.list[a].id < s.list[b].id
	})
	nodes := int32(1)
	for i, sp := range s.list {
		if sp.text == "" {
			continue
		}
		n := int32(0)
		for k := 0; k < len(sp.text); k++ {
			key := uint64(n)<<8 | uint64(sp.text[k])
			c, ok := s.next[key]
			if !ok {
				c = nodes
				nodes++
				s.next[key] = c
			}
			n = c
		}
		if _, dup := s.term[n]; !dup {
			s.term[n] = int32(i)
		}
	}
	return s
}

// segment is a run of plain text (id -1) or one special token.
type segment struct {
	text string
	id   int
}

type occurrence struct{ at, idx int }

// split cuts text at the special tokens (all of them when parseSpecial,
// else only user-defined ones).
func (s *specialSet) split(text string, parseSpecial bool) []segment {
	if s == nil || len(s.list) == 0 || text == "" {
		if text == "" {
			return nil
		}
		return []segment{{text, -1}}
	}
	var occ []occurrence
	for i := 0; i < len(text); i++ {
		n := int32(0)
		for k := i; k < len(text); k++ {
			c, ok := s.next[uint64(n)<<8|uint64(text[k])]
			if !ok {
				break
			}
			n = c
			if idx, ok := s.term[n]; ok && (parseSpecial || !s.list[idx].control) {
				occ = append(occ, occurrence{i, int(idx)})
			}
		}
	}
	if len(occ) == 0 {
		return []segment{{text, -1}}
	}
	// llama.cpp's order: by token (longest first), then by position.
	sort.Slice(occ, func(a, b int) bool {
		if occ[a].idx != occ[b].idx {
			return occ[a].idx < occ[b].idx
		}
		return occ[a].at < occ[b].at
	})
	// taken[i] is the index+1 of the token that starts at byte i, or -1 for
	// bytes inside a token or stripped whitespace.
	taken := make([]int, len(text))
	free := func(a, b int) bool {
		for k := a; k < b; k++ {
			if taken[k] != 0 {
				return false
			}
		}
		return true
	}
	for _, o := range occ {
		sp := s.list[o.idx]
		end := o.at + len(sp.text)
		if !free(o.at, end) {
			continue
		}
		taken[o.at] = o.idx + 1
		for k := o.at + 1; k < end; k++ {
			taken[k] = -1
		}
		if sp.rstrip {
			for k := end; k < len(text) && taken[k] == 0 && isASCIISpace(text[k]); k++ {
				taken[k] = -1
			}
		}
		if sp.lstrip {
			for k := o.at - 1; k >= 0 && taken[k] == 0 && isASCIISpace(text[k]); k-- {
				taken[k] = -1
			}
		}
	}
	var out []segment
	last := 0
	for i := 0; i < len(text); i++ {
		if taken[i] == 0 {
			continue
		}
		if i > last {
			out = append(out, segment{text[last:i], -1})
		}
		if taken[i] > 0 {
			sp := s.list[taken[i]-1]
			out = append(out, segment{sp.text, sp.id})
		}
		last = i + 1
		if taken[i] > 0 {
			last = i + len(s.list[taken[i]-1].text)
			i = last - 1
		}
	}
	if last < len(text) {
		out = append(out, segment{text[last:], -1})
	}
	return out
}

// isASCIISpace is C's isspace in the "C" locale.
func isASCIISpace(b byte) bool { return b == ' ' || (b >= '\t' && b <= '\r') }
