package tokenizer

import (
	"sort"
	"strings"

	"github.com/loomhq/loom/core/formats"
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

// byteTrie maps strings to values and finds, from a position in a text,
// every string that starts there in one walk. Node 0 is the root; edges
// are kept in a map keyed by node<<8|byte.
type byteTrie struct {
	next  map[uint64]int32
	term  map[int32]int32 // node → value of the string ending there
	nodes int32
	first [256]bool // bytes some string starts with
}

func newByteTrie() *byteTrie {
	return &byteTrie{next: map[uint64]int32{}, term: map[int32]int32{}, nodes: 1}
}

// insert adds s with value v; the first value given for a string stays.
func (t *byteTrie) insert(s string, v int32) {
	if s == "" {
		return
	}
	t.first[s[0]] = true
	n := int32(0)
	for k := 0; k < len(s); k++ {
		key := uint64(n)<<8 | uint64(s[k])
		c, ok := t.next[key]
		if !ok {
			c = t.nodes
			t.nodes++
			t.next[key] = c
		}
		n = c
	}
	if _, dup := t.term[n]; !dup {
		t.term[n] = v
	}
}

// walk calls found(end, value) for every string that text[i:end] is, in
// order of end.
func (t *byteTrie) walk(text string, i int, found func(end int, v int32)) {
	if i >= len(text) || !t.first[text[i]] {
		return
	}
	n := int32(0)
	for k := i; k < len(text); k++ {
		c, ok := t.next[uint64(n)<<8|uint64(text[k])]
		if !ok {
			return
		}
		n = c
		if v, ok := t.term[n]; ok {
			found(k+1, v)
		}
	}
}

// specialSet is the special tokens of a vocabulary, ready to cut text.
type specialSet struct {
	list []special // longest first, then by id
	trie *byteTrie // token text → index in list
}

func newSpecialSet(list []special) *specialSet {
	s := &specialSet{list: list, trie: newByteTrie()}
	sort.SliceStable(s.list, func(a, b int) bool {
		if len(s.list[a].text) != len(s.list[b].text) {
			return len(s.list[a].text) > len(s.list[b].text)
		}
		return s.list[a].id < s.list[b].id
	})
	for i, sp := range s.list {
		s.trie.insert(sp.text, int32(i))
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
		s.trie.walk(text, i, func(_ int, idx int32) {
			if parseSpecial || !s.list[idx].control {
				occ = append(occ, occurrence{i, int(idx)})
			}
		})
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

// Token texts llama.cpp's llama_vocab::load makes control tokens whatever
// their GGUF type (end-of-generation and fill-in-the-middle markers), so
// they are only cut out of text when parsing special tokens and decode to
// "". The fill-in-the-middle names apply only when the metadata does not
// name that token's id.
var (
	eogNames = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
		"<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
		"<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>"}
	fimNames = map[string][]string{
		"tokenizer.ggml.fim_pre_token_id": {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"},
		"tokenizer.ggml.fim_suf_token_id": {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"},
		"tokenizer.ggml.fim_mid_token_id": {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"},
		"tokenizer.ggml.fim_pad_token_id": {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"},
		"tokenizer.ggml.fim_rep_token_id": {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"},
		"tokenizer.ggml.fim_sep_token_id": {"<|file_sep|>"},
	}
	// gpt-oss's channel markers are always rendered: user-defined.
	alwaysUserDefined = []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}
)

// llamaTokenTypes applies llama.cpp's by-name corrections to GGUF token
// types (in place) and says which special tokens swallow the whitespace
// around them: Phi-3 (general.name) strips it after its special tokens.
func llamaTokenTypes(meta formats.Metadata, tokens []string, types []int64) (rstrip map[int]bool) {
	byText := make(map[string]int, 64)
	for i, s := range tokens {
		if types[i] != TypeNormal || strings.HasPrefix(s, "<") || strings.HasPrefix(s, "[") || strings.HasPrefix(s, "_") || strings.HasPrefix(s, "▁") {
			byText[s] = i
		}
	}
	promote := func(names []string) {
		for _, n := range names {
			if i, ok := byText[n]; ok && types[i] != TypeUnknown {
				types[i] = TypeControl
			}
		}
	}
	promote(eogNames)
	for key, names := range fimNames {
		if _, set := meta.Int(key); !set {
			promote(names)
		}
	}
	for _, n := range alwaysUserDefined {
		if i, ok := byText[n]; ok {
			types[i] = TypeUserDefined
		}
	}
	name, _ := meta.String("general.name")
	name = strings.ToLower(name)
	if !strings.Contains(name, "phi-3") && !strings.Contains(name, "phi3") {
		return nil
	}
	rstrip = map[int]bool{}
	for i, t := range types {
		if t == TypeControl || t == TypeUserDefined || t == TypeUnknown {
			rstrip[i] = true
		}
	}
	for _, n := range []string{"<unk>", "<s>", "<|endoftext|>"} {
		if i, ok := byText[n]; ok {
			delete(rstrip, i)
		}
	}
	return rstrip
}
