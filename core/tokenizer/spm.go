package tokenizer

import (
	"container/heap"
	"fmt"
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
// fallback, encoding exactly as llama2.c's run.c: a dummy prefix space, the
// text split into UTF-8 characters (a character without a piece becomes its
// byte tokens), then repeatedly the adjacent pair whose concatenation is a
// piece with the highest score is merged (leftmost on ties) until none is.
// Pieces are held with a plain space where SentencePiece writes "▁".
type SentencePiece struct {
	pieces   []string
	scores   []float32
	types    []int32
	lookup   map[string]int // mergeable pieces (normal / user-defined) → id
	byteID   [256]int       // "<0xNN>" pieces; -1 when absent
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
		pieces[i] = p
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
	return newSentencePiece(pieces, v.Scores, types, 1, 2, 0, true)
}

// FromGGUF builds a tokenizer from GGUF tokenizer.ggml.* metadata:
// SentencePiece ("llama"), byte-level BPE ("gpt2", with the pre-tokenizer
// tokenizer.ggml.pre names) or WordPiece ("bert").
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
	default:
		return nil, fmt.Errorf("tokenizer: GGUF tokenizer model %q not supported (llama, gpt2, bert are)", model)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

func sentencePieceFromGGUF(meta formats.Metadata) (*SentencePiece, error) {
	tokens, ok := meta.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) == 0 {
		return nil, fmt.Errorf("tokenizer: GGUF has no tokenizer.ggml.tokens")
	}
	scores, ok := meta.Float32s("tokenizer.ggml.scores")
	if !ok {
		scores = make([]float32, len(tokens))
	}
	types := make([]int32, len(tokens))
	if tt, ok := meta.Ints("tokenizer.ggml.token_type"); ok {
		if len(tt) != len(tokens) {
			return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(tt), len(tokens))
		}
		for i, t := range tt {
			types[i] = int32(t)
		}
	} else {
		for i := range types {
			types[i] = TypeNormal
		}
	}
	if len(scores) != len(tokens) {
		return nil, fmt.Errorf("tokenizer: %d scores for %d tokens", len(scores), len(tokens))
	}
	pieces := make([]string, len(tokens))
	for i, t := range tokens {
		pieces[i] = strings.ReplaceAll(t, "\u2581", " ")
	}
	prefix := true
	if b, ok := meta.Bool("tokenizer.ggml.add_space_prefix"); ok {
		prefix = b
	}
	t, err := newSentencePiece(pieces, scores, types,
		int(meta.IntOr("tokenizer.ggml.bos_token_id", 1)), int(meta.IntOr("tokenizer.ggml.eos_token_id", 2)),
		int(meta.IntOr("tokenizer.ggml.unknown_token_id", 0)), prefix)
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

func newSentencePiece(pieces []string, scores []float32, types []int32, bos, eos, unk int, prefix bool) (*SentencePiece, error) {
	if len(scores) != len(pieces) || len(types) != len(pieces) {
		return nil, fmt.Errorf("tokenizer: %d pieces, %d scores, %d types", len(pieces), len(scores), len(types))
	}
	n := len(pieces)
	for _, id := range []int{bos, eos, unk} {
		if id < -1 || id >= n {
			return nil, fmt.Errorf("tokenizer: special id %d outside vocabulary of %d", id, n)
		}
	}
	t := &SentencePiece{pieces: pieces, scores: scores, types: types, lookup: make(map[string]int, n),
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
				specials = append(specials, special{text: p, id: i, control: types[i] != TypeUserDefined})
			}
			if types[i] == TypeUserDefined {
				t.addLookup(p, i)
			}
		case TypeNormal:
			t.addLookup(p, i)
		}
	}
	t.specials = newSpecialSet(specials)
	return t, nil
}

// addLookup keeps the lowest id of duplicate pieces.
func (t *SentencePiece) addLookup(p string, id int) {
	if _, dup := t.lookup[p]; !dup {
		t.lookup[p] = id
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

// Piece is the text of id as llama.cpp prints it: control tokens as
// written, byte tokens as their byte.
func (t *SentencePiece) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	if t.types[id] == TypeByte {
		return t.Decode(id)
	}
	return t.pieces[id]
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
		ids = t.encodeSegment(ids, s)
	}
	if o.AddSpecial && t.addEOS {
		ids = append(ids, t.eos)
	}
	return ids
}

// encodeSegment is run.c's encode loop on text with no special tokens.
func (t *SentencePiece) encodeSegment(ids []int, s string) []int {
	start := len(ids)
	// Split into UTF-8 characters as run.c does: a sequence is a lead byte and
	// up to three continuation bytes.
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j]&0xC0 == 0x80 && j-i < 4 {
			j++
		}
		if id, ok := t.lookup[s[i:j]]; ok {
			ids = append(ids, id)
		} else {
			for k := i; k < j; k++ {
				if b := t.byteID[s[k]]; b >= 0 {
					ids = append(ids, b)
				} else if t.unk >= 0 {
					ids = append(ids, t.unk)
				} // else: no byte piece and no <unk>; the byte cannot be represented
			}
		}
		i = j
	}
	return append(ids[:start], t.merge(ids[start:])...)
}

// merge applies run.c's rule — merge the adjacent pair whose concatenation
// is the highest-scoring piece, leftmost on ties, until none applies — with
// a heap over candidate pairs and a linked list of symbols, so a long
// prompt costs O(n log n) instead of run.c's O(n²) rescans. encodeNaive in
// the tests is the direct transcription it is checked against.
func (t *SentencePiece) merge(toks []int) []int {
	n := len(toks)
	if n < 2 {
		return toks
	}
	next := make([]int, n) // -1 at the end
	prev := make([]int, n)
	for i := range toks {
		next[i], prev[i] = i+1, i-1
	}
	next[n-1] = -1
	h := &candHeap[pairCand]{less: highestScoreFirst}
	push := func(l int) {
		r := next[l]
		if l < 0 || r < 0 {
			return
		}
		if id, ok := t.lookup[t.pieces[toks[l]]+t.pieces[toks[r]]]; ok {
			heap.Push(h, pairCand{score: t.scores[id], left: l, right: r, leftID: toks[l], rightID: toks[r], merged: id})
		}
	}
	for i := 0; i < n-1; i++ {
		push(i)
	}
	for h.Len() > 0 {
		c := heap.Pop(h).(pairCand)
		// Skip candidates made stale by an earlier merge of either symbol.
		if toks[c.left] != c.leftID || toks[c.right] != c.rightID || next[c.left] != c.right {
			continue
		}
		toks[c.left] = c.merged
		toks[c.right] = -1
		next[c.left] = next[c.right]
		if next[c.left] >= 0 {
			prev[next[c.left]] = c.left
		}
		if prev[c.left] >= 0 {
			push(prev[c.left])
		}
		push(c.left)
	}
	out := toks[:0]
	for i := 0; i >= 0; i = next[i] {
		out = append(out, toks[i])
	}
	return out
}

// pairCand is a mergeable adjacent pair (left, right symbol indices).
type pairCand struct {
	score           float32
	left, right     int
	leftID, rightID int
	merged          int
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
	if t.types[id] == TypeByte {
		if b, ok := parseBytePiece(t.pieces[id]); ok {
			return string([]byte{b})
		}
	}
	return t.pieces[id]
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
