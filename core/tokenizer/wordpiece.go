package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/loomhq/loom/core/formats"
)

// WordPiece is BERT's tokenizer (Devlin et al. 2018; Hugging Face
// BertTokenizer) as llama.cpp reads it from a GGUF vocabulary with
// tokenizer.ggml.model "bert" (llm_tokenizer_wpm_session):
//
//   - normalise: drop NUL, U+FFFD and control characters; with
//     strip_accents (the default) map each character to the first code
//     point of its NFD form and drop combining marks; with lowercase (the
//     default) lower-case;
//   - split at whitespace, and make every punctuation character, ASCII
//     symbol and CJK ideograph a word of its own;
//   - each word, with "▁" prepended (llama.cpp's converter writes word-
//     initial pieces as "▁x" and continuation pieces "##x" as "x"), is cut
//     greedily into the longest pieces of the vocabulary from the left; a
//     word that cannot be cut entirely becomes [UNK].
//
// With Options.AddSpecial the ids are wrapped in [CLS] … [SEP].
type WordPiece struct {
	pieces       []string
	vocab        *byteTrie // piece → id (the last of duplicates, as llama.cpp's token_to_id)
	control      []bool
	specials     *specialSet
	cls, sep     int
	unk          int
	lowercase    bool
	stripAccents bool
}

func wordPieceFromGGUF(meta formats.Metadata) (*WordPiece, error) {
	tokens, err := ggufTokens(meta)
	if err != nil {
		return nil, err
	}
	types, err := ggufTokenTypes(meta, len(tokens))
	if err != nil {
		return nil, err
	}
	llamaTokenTypes(meta, tokens, types)
	n := int64(len(tokens))
	id := func(key string, def int64) int {
		if v, ok := meta.Int(key); ok && v >= 0 && v < n {
			return int(v)
		}
		if def >= n {
			return -1
		}
		return int(def)
	}
	w := &WordPiece{pieces: tokens, vocab: newByteTrie(), control: make([]bool, len(tokens)),
		cls: id("tokenizer.ggml.bos_token_id", 101), sep: id("tokenizer.ggml.seperator_token_id", 102),
		unk: id("tokenizer.ggml.unknown_token_id", 100), lowercase: true}
	if b, ok := meta.Bool("tokenizer.ggml.normalizer.lowercase"); ok {
		w.lowercase = b
	}
	w.stripAccents = w.lowercase
	if b, ok := meta.Bool("tokenizer.ggml.normalizer.strip_accents"); ok {
		w.stripAccents = b
	}
	var specials []special
	for i := len(tokens) - 1; i >= 0; i-- {
		w.vocab.insert(tokens[i], int32(i))
	}
	for i, s := range tokens {
		switch types[i] {
		case TypeControl, TypeUnknown:
			w.control[i] = true
			specials = append(specials, special{text: s, id: i, control: true})
		case TypeUserDefined:
			specials = append(specials, special{text: s, id: i})
		}
	}
	w.specials = newSpecialSet(specials)
	return w, nil
}

func (w *WordPiece) BOS() int       { return w.cls }
func (w *WordPiece) EOS() int       { return w.sep }
func (w *WordPiece) VocabSize() int { return len(w.pieces) }
func (w *WordPiece) IsControl(id int) bool {
	return id >= 0 && id < len(w.control) && w.control[id]
}

// Encode tokenizes text, parsing special tokens; addBOS wraps the ids in
// [CLS] … [SEP].
func (w *WordPiece) Encode(text string, addBOS bool) []int {
	return w.EncodeWith(text, Options{AddSpecial: addBOS, ParseSpecial: true})
}

func (w *WordPiece) EncodeWith(text string, o Options) []int {
	var ids []int
	if o.AddSpecial && w.cls >= 0 {
		ids = append(ids, w.cls)
	}
	for _, seg := range w.specials.split(text, o.ParseSpecial) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		for _, word := range w.words(seg.text) {
			ids = w.encodeWord(ids, word)
		}
	}
	if o.AddSpecial && w.sep >= 0 {
		ids = append(ids, w.sep)
	}
	return ids
}

// words normalises text and cuts it into words (llama.cpp's preprocess).
func (w *WordPiece) words(text string) []string {
	var words []string
	var cur []byte
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	for _, r := range decodeLenient(text) {
		if w.stripAccents {
			r = nfdFirst(r)
		}
		c := classOf(r)
		switch {
		case c == clsSpace:
			flush()
			continue
		case r == 0 || r == utf8.RuneError || isControlCategory(r):
			continue
		case w.stripAccents && c == clsMark:
			continue
		}
		lr := r
		if w.lowercase {
			lr = unicode.ToLower(r)
		}
		if c == clsPunct || (r < 0x7F && c == clsSymbol) || isCJKIdeograph(r) {
			flush()
			words = append(words, string(appendCpt(nil, lr)))
			continue
		}
		cur = appendCpt(cur, lr)
	}
	flush()
	return words
}

// isControlCategory is \p{C} less unassigned code points: Cc, Cf, Co, Cs.
func isControlCategory(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co) || (r >= 0xD800 && r <= 0xDFFF)
}

// nfdFirst is the first code point of r's canonical decomposition.
func nfdFirst(r rune) rune {
	if r < 0xC0 {
		return r
	}
	if r >= 0xAC00 && r <= 0xD7A3 { // Hangul syllable: its leading jamo
		return 0x1100 + (r-0xAC00)/588
	}
	var b [4]byte
	n := utf8.EncodeRune(b[:], r)
	if d := norm.NFD.Properties(b[:n]).Decomposition(); len(d) > 0 {
		f, _ := utf8.DecodeRune(d)
		return f
	}
	return r
}

// isCJKIdeograph is BERT's _is_chinese_char, with the Extension E bound as
// Hugging Face's Rust code has it (0x2B920).
func isCJKIdeograph(r rune) bool {
	return r >= 0x4E00 && r <= 0x9FFF || r >= 0x3400 && r <= 0x4DBF || r >= 0x20000 && r <= 0x2A6DF ||
		r >= 0x2A700 && r <= 0x2B73F || r >= 0x2B740 && r <= 0x2B81F || r >= 0x2B920 && r <= 0x2CEAF ||
		r >= 0xF900 && r <= 0xFAFF || r >= 0x2F800 && r <= 0x2FA1F
}

// encodeWord cuts "▁"+word greedily into the longest vocabulary pieces,
// one trie walk per piece (no hash of every candidate length).
func (w *WordPiece) encodeWord(ids []int, word string) []int {
	s := "\u2581" + word
	start := len(ids)
	for i := 0; i < len(s); {
		j, id := i, int32(-1)
		w.vocab.walk(s, i, func(end int, v int32) { j, id = end, v })
		if id < 0 { // no piece starts here: the whole word is unknown
			ids = ids[:start]
			break
		}
		ids = append(ids, int(id))
		i = j
	}
	if len(ids) == start && w.unk >= 0 {
		ids = append(ids, w.unk)
	}
	return ids
}

// Decode is the text of one token: word-initial pieces start with a space;
// control tokens decode to "".
func (w *WordPiece) Decode(id int) string {
	if id < 0 || id >= len(w.pieces) || w.control[id] {
		return ""
	}
	return strings.ReplaceAll(w.pieces[id], "\u2581", " ")
}

// Piece is the text of id as llama.cpp prints it (control tokens as written).
func (w *WordPiece) Piece(id int) string {
	if id >= 0 && id < len(w.pieces) && w.control[id] {
		return w.pieces[id]
	}
	return w.Decode(id)
}

// DecodeAll joins the pieces, without the space before the first word.
func (w *WordPiece) DecodeAll(ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(w.Decode(id))
	}
	return strings.TrimPrefix(sb.String(), " ")
}
