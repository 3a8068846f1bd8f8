package tokenizer

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"

	"github.com/loomhq/loom/core/formats"
)

// GGUF token types (llama.cpp's llama_token_type).
const (
	TypeNormal      = 1
	TypeUnknown     = 2
	TypeControl     = 3
	TypeUserDefined = 4
	TypeUnused      = 5
	TypeByte        = 6
)

// SentencePiece is a SentencePiece-style BPE tokenizer with scores and byte
// fallback, encoding as llama.cpp's llm_tokenizer_spm_session (and, on
// well-formed text, as llama2.c's run.c): a dummy prefix space, spaces
// written "▁", the text split into UTF-8 characters by their lead bytes,
// then repeatedly the adjacent pair whose concatenation is a piece with the
// highest score is merged (leftmost on ties) until none is; a symbol left
// that is no piece becomes its byte tokens.
type SentencePiece struct {
	pieces []string // as the vocabulary writes them, "▁" for space
	scores []float32
	types  []int32
	// index finds a piece's id (llama.cpp's token_to_id) in an open-addressed
	// table of ids: 8–16 bytes a token where a map[string]int held about 55
	// (1.7 MiB of the text plugin's heap for a 32000-token vocabulary, kept
	// for the life of the model).
	index    pieceIndex
	byteID   [256]int // "<0xNN>" pieces; -1 when absent
	bos, eos int
	unk      int
	// specials are control/user-defined pieces matched verbatim in text.
	specials       *specialSet
	addSpacePrefix bool
	addBOS, addEOS bool
}

// FromLlama2C builds the tokenizer of a llama2.c tokenizer file: id 0 is
// <unk>, 1 BOS, 2 EOS (stored as "\n<s>\n", "\n</s>\n"), "<0xNN>" pieces are
// byte fallback.
func FromLlama2C(v *formats.Llama2CVocab) (*SentencePiece, error) {
	if len(v.Pieces) < 3 {
		return nil, fmt.Errorf("llama2.c tokenizer: %d pieces, need at least <unk>, BOS, EOS", len(v.Pieces))
	}
	types := make([]int32, len(v.Pieces))
	pieces := make([]string, len(v.Pieces))
	for i, p := range v.Pieces {
		pieces[i] = strings.ReplaceAll(p, " ", "\u2581")
		switch {
		case i == 0:
			types[i] = TypeUnknown
		case i <= 2:
			types[i] = TypeControl
			// The export wraps BOS/EOS in newlines; their text form is the
			// SentencePiece piece ("<s>", "</s>").
			pieces[i] = strings.Trim(p, "\n")
		case isBytePiece(p):
			types[i] = TypeByte
		default:
			types[i] = TypeNormal
		}
	}
	return newSentencePiece(pieces, v.Scores, types, 1, 2, 0, true, nil)
}

// FromGGUF builds a tokenizer from GGUF tokenizer.ggml.* metadata:
// SentencePiece ("llama"), byte-level BPE ("gpt2", with the pre-tokenizer
// tokenizer.ggml.pre names), WordPiece ("bert") or RWKV World ("rwkv").
func FromGGUF(meta formats.Metadata) (Tokenizer, error) {
	model, _ := meta.String("tokenizer.ggml.model")
	var t Tokenizer
	var err error
	switch model {
	case "llama":
		t, err = sentencePieceFromGGUF(meta)
	case "gpt2":
		t, err = bpeFromGGUF(meta)
	case "bert":
		t, err = wordPieceFromGGUF(meta)
	case "rwkv":
		t, err = rwkvFromGGUF(meta)
	default:
		return nil, fmt.Errorf("tokenizer: GGUF tokenizer model %q not supported (llama, gpt2, bert, rwkv are)", model)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

func sentencePieceFromGGUF(meta formats.Metadata) (*SentencePiece, error) {
	tokens, err := ggufTokens(meta)
	if err != nil {
		return nil, err
	}
	scores, ok := meta.Float32s("tokenizer.ggml.scores")
	if !ok {
		scores = make([]float32, len(tokens))
	}
	tt, err := ggufTokenTypes(meta, len(tokens))
	if err != nil {
		return nil, err
	}
	rstrip := llamaTokenTypes(meta, tokens, tt)
	types := make([]int32, len(tokens))
	for i, t := range tt {
		types[i] = int32(t)
	}
	if len(scores) != len(tokens) {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(scores), len(tokens))
	}
	pieces := tokens
	prefix := true
	if b, ok := meta.Bool("tokenizer.ggml.add_space_prefix"); ok {
		prefix = b
	}
	t, err := newSentencePiece(pieces, scores, types,
		int(meta.IntOr("tokenizer.ggml.bos_token_id", 1)), int(meta.IntOr("tokenizer.ggml.eos_token_id", 2)),
		int(meta.IntOr("tokenizer.ggml.unknown_token_id", 0)), prefix, rstrip)
	if err != nil {
		return nil, err
	}
	if b, ok := meta.Bool("tokenizer.ggml.add_bos_token"); ok {
		t.addBOS = b && t.bos >= 0
	}
	if b, ok := meta.Bool("tokenizer.ggml.add_eos_token"); ok {
		t.addEOS = b && t.eos >= 0
	}
	return t, nil
}

func newSentencePiece(pieces []string, scores []float32, types []int32, bos, eos, unk int, prefix bool, rstrip map[int]bool) (*SentencePiece, error) {
	if len(scores) != len(pieces) || len(types) != len(pieces) {
		return nil, fmt.Errorf("tokenizer: %d pieces, %d scores, %d types", len(pieces), len(scores), len(types))
	}
	n := len(pieces)
	for _, id := range []int{bos, eos, unk} {
		if id < -1 || id >= n {
			return nil, fmt.Errorf("tokenizer: special id %d outside vocabulary of %d", id, n)
		}
	}
	t := &SentencePiece{pieces: pieces, scores: scores, types: types, index: newPieceIndex(pieces),
		bos: bos, eos: eos, unk: unk, addSpacePrefix: prefix, addBOS: bos >= 0}
	var specials []special
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	for i, p := range pieces {
		switch types[i] {
		case TypeByte:
			if b, ok := parseBytePiece(p); ok && t.byteID[b] < 0 {
				t.byteID[b] = i
			}
		case TypeControl, TypeUserDefined, TypeUnknown:
			if p != "" {
				specials = append(specials, special{text: p, id: i, control: types[i] != TypeUserDefined, rstrip: rstrip[i]})
			}
		}
	}
	t.specials = newSpecialSet(specials)
	return t, nil
}

// id returns the lowest id whose piece is p.
func (t *SentencePiece) id(p string) (int, bool) { return t.index.find(t.pieces, p) }

// pieceIndex is a hash table from piece to id by linear probing, holding
// only ids (the pieces are the vocabulary's own strings): slots has a power
// of two ≥ 2× the pieces, each id+1 or 0 for empty.
type pieceIndex struct {
	seed  maphash.Seed
	slots []int32
}

// newPieceIndex indexes pieces, keeping the lowest id of duplicates.
func newPieceIndex(pieces []string) pieceIndex {
	size := 1
	for size < 2*len(pieces) {
		size <<= 1
	}
	x := pieceIndex{seed: maphash.MakeSeed(), slots: make([]int32, size)}
	mask := uint64(size - 1)
	for id, p := range pieces {
		for h := maphash.String(x.seed, p) & mask; ; h = (h + 1) & mask {
			if s := x.slots[h]; s == 0 {
				x.slots[h] = int32(id + 1)
				break
			} else if pieces[s-1] == p {
				break // a lower id has this piece
			}
		}
	}
	return x
}

// find returns the id indexed for p.
func (x *pieceIndex) find(pieces []string, p string) (int, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(x.slots) - 1)
	for h := maphash.String(x.seed, p) & mask; ; h = (h + 1) & mask {
		s := x.slots[h]
		if s == 0 {
			return 0, false
		}
		if pieces[s-1] == p {
			return int(s - 1), true
		}
	}
}

func isBytePiece(p string) bool { _, ok := parseBytePiece(p); return ok }

func parseBytePiece(p string) (byte, bool) {
	if len(p) != 6 || !strings.HasPrefix(p, "<0x") || p[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(p[3:5], 16, 8)
	return byte(v), err == nil
}

func (t *SentencePiece) BOS() int       { return t.bos }
func (t *SentencePiece) EOS() int       { return t.eos }
func (t *SentencePiece) VocabSize() int { return len(t.pieces) }

// Piece is the text of id as llama.cpp prints it: control and
// user-defined tokens as written, others decoded.
func (t *SentencePiece) Piece(id int) string {
	if id >= 0 && id < len(t.pieces) && (t.IsControl(id) || t.types[id] == TypeUserDefined) {
		return t.pieces[id]
	}
	return t.Decode(id)
}

// Score is the merge priority of id.
func (t *SentencePiece) Score(id int) float32 { return t.scores[id] }

func (t *SentencePiece) IsControl(id int) bool {
	return id >= 0 && id < len(t.types) && (t.types[id] == TypeControl || t.types[id] == TypeUnknown || t.types[id] == TypeUnused)
}

// Encode tokenizes text, parsing special tokens; addBOS prepends BOS unless
// the vocabulary says not to (tokenizer.ggml.add_bos_token false).
func (t *SentencePiece) Encode(text string, addBOS bool) []int {
	return t.EncodeWith(text, Options{AddSpecial: addBOS, ParseSpecial: true})
}

func (t *SentencePiece) EncodeWith(text string, o Options) []int {
	var ids []int
	if o.AddSpecial && t.addBOS {
		ids = append(ids, t.bos)
	}
	prevSpecial := true // llama.cpp: a dummy prefix at the start and after each special token
	for _, seg := range t.specials.split(text, o.ParseSpecial) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			prevSpecial = true
			continue
		}
		s := seg.text
		if t.addSpacePrefix && prevSpecial {
			s = " " + s
		}
		prevSpecial = false
		ids = t.encodeSegment(ids, strings.ReplaceAll(s, " ", "\u2581"))
	}
	if o.AddSpecial && t.addEOS {
		ids = append(ids, t.eos)
	}
	return ids
}

// utf8Len is the length of the UTF-8 sequence a lead byte announces, as
// llama.cpp's unicode_len_utf8 reads it (a stray continuation byte is 1).
func utf8Len(b byte) int {
	switch {
	case b < 0xC0:
		return 1
	case b < 0xE0:
		return 2
	case b < 0xF0:
		return 3
	}
	return 4
}

// encodeSegment tokenizes escaped text ("▁" for space) with no special
// tokens: split it into characters by their lead bytes, merge, and map
// each final symbol to its piece or, when it is none, its byte tokens.
func (t *SentencePiece) encodeSegment(ids []int, s string) []int {
	var starts []int
	for i := 0; i < len(s); i += utf8Len(s[i]) {
		starts = append(starts, i)
	}
	for _, sym := range t.merge(s, starts) {
		if id, ok := t.id(sym); ok {
			ids = append(ids, id)
			continue
		}
		for k := 0; k < len(sym); k++ {
			if b := t.byteID[sym[k]]; b >= 0 {
				ids = append(ids, b)
			} else if id, ok := t.id(sym[k : k+1]); ok {
				ids = append(ids, id)
			} else if t.unk >= 0 {
				ids = append(ids, t.unk)
			} // else: no byte piece and no <unk>; the byte cannot be represented
		}
	}
	return ids
}

// merge applies the rule — merge the adjacent pair whose concatenation is
// the highest-scoring piece, leftmost on ties, until none applies — to the
// symbols of s starting at starts, with a heap over candidate pairs and a
// linked list of symbols, so a long prompt costs O(n log n) instead of
// run.c's O(n²) rescans. encodeNaive in the tests is the direct
// transcription it is checked against. Symbols are contiguous in s, so a
// pair's text is a substring and looking it up allocates nothing.
func (t *SentencePiece) merge(s string, starts []int) []string {
	n := len(starts)
	end := make([]int, n) // symbol i is s[starts[i]:end[i]]; merged-away symbols have end -1
	next := make([]int, n)
	prev := make([]int, n)
	for i := range starts {
		end[i] = len(s)
		if i+1 < n {
			end[i] = starts[i+1]
		}
		next[i], prev[i] = i+1, i-1
	}
	if n > 0 {
		next[n-1] = -1
	}
	h := minHeap[pairCand]{less: highestScoreFirst}
	push := func(l int) {
		if l < 0 || next[l] < 0 {
			return
		}
		r := next[l]
		if id, ok := t.id(s[starts[l]:end[r]]); ok {
			h.push(pairCand{score: t.scores[id], left: l, right: r, size: end[r] - starts[l]})
		}
	}
	for i := 0; i < n-1; i++ {
		push(i)
	}
	for len(h.items) > 0 {
		c := h.pop()
		// Skip candidates made stale by an earlier merge of either symbol.
		if end[c.left] < 0 || end[c.right] < 0 || next[c.left] != c.right || end[c.right]-starts[c.left] != c.size {
			continue
		}
		end[c.left] = end[c.right]
		end[c.right] = -1
		next[c.left] = next[c.right]
		if next[c.left] >= 0 {
			prev[next[c.left]] = c.left
		}
		push(prev[c.left])
		push(c.left)
	}
	var out []string
	for i := 0; n > 0 && i >= 0; i = next[i] {
		out = append(out, s[starts[i]:end[i]])
	}
	return out
}

// pairCand is a mergeable adjacent pair (left, right symbol indices).
type pairCand struct {
	score       float32
	left, right int
	size        int // bytes of the merged text when the pair was found
}

// highestScoreFirst orders SentencePiece candidates: highest score, then
// the leftmost pair (symbol indices keep text order).
func highestScoreFirst(a, b pairCand) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

func (t *SentencePiece) Decode(id int) string {
	if id < 0 || id >= len(t.pieces) || t.IsControl(id) {
		return ""
	}
	switch t.types[id] {
	case TypeByte:
		if b, ok := parseBytePiece(t.pieces[id]); ok {
			return string([]byte{b})
		}
	case TypeUserDefined:
		return t.pieces[id]
	}
	return strings.ReplaceAll(t.pieces[id], "\u2581", " ")
}

func (t *SentencePiece) DecodeAll(ids []int) string {
	var sb strings.Builder
	prev := -1
	for _, id := range ids {
		s := t.Decode(id)
		if prev == t.bos && t.bos >= 0 {
			s = strings.TrimPrefix(s, " ")
		}
		sb.WriteString(s)
		prev = id
	}
	return sb.String()
}
