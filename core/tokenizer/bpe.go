package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/loomhq/loom/core/formats"
)

// ByteBPE is byte-level BPE as GPT-2, Llama-3 and Qwen2 use it (Hugging Face
// tokenizer.json, or GGUF tokenizer model "gpt2"): text is cut by the
// pre-tokenizer, each piece's UTF-8 bytes are mapped to printable runes
// (GPT-2's bytes_to_unicode), and merges are applied lowest rank first
// (leftmost on ties). Added tokens are matched in the raw text first.
type ByteBPE struct {
	vocab        map[string]int
	pieces       []string
	ranks        mergeRanks
	added        []special    // added tokens, matched in the text before tokenizing
	specials     *specialSet  // built from added
	control      map[int]bool // special added tokens: decode to ""
	addedText    map[int]bool // added tokens decode to their content as is
	pre          *preTokenizer
	nfc          bool
	prefixSpace  bool
	ignoreMerges bool
	bos, eos     int
	addBOS       bool
	addEOS       bool
	unk          int

	// SentencePiece-style tokenizer.json (Llama-2, Mistral): no byte-level
	// mapping; spaces become "▁", a "▁" is prepended (to every text segment
	// for the Prepend normalizer and Metaspace "always", to the one at the
	// start of the text for Metaspace "first"), symbols are UTF-8
	// characters, and characters left without a piece fall back to
	// "<0xNN>" byte tokens.
	metaspace    bool
	prependAll   bool
	prependFirst bool
	byteFallback bool
	byteID       [256]int
}

var byteToRune, runeToByte = bytesToUnicode()

// bytesToUnicode is GPT-2's table: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100 upwards in byte order, so every
// byte string becomes a string of printable runes. The inverse is an array
// by rune (−1: not a byte's rune), not a map, so building both at init
// allocates nothing.
func bytesToUnicode() (b2r [256]rune, r2b [256 + 68]int16) {
	for i := range r2b {
		r2b[i] = -1
	}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			b2r[b] = rune(b)
		} else {
			b2r[b] = rune(256 + n)
			n++
		}
		r2b[b2r[b]] = int16(b)
	}
	return b2r, r2b
}

// unicodeByte is the byte that GPT-2's table maps to r, if any.
func unicodeByte(r rune) (byte, bool) {
	if r < 0 || int(r) >= len(runeToByte) || runeToByte[r] < 0 {
		return 0, false
	}
	return byte(runeToByte[r]), true
}

// hfTokenizerJSON is the subset of tokenizer.json this package reads.
type hfTokenizerJSON struct {
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type         string          `json:"type"`
		Vocab        map[string]int  `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
		UnkToken     *string         `json:"unk_token"`
		IgnoreMerges bool            `json:"ignore_merges"`
		ByteFallback bool            `json:"byte_fallback"`
	} `json:"model"`
}

type hfComponent struct {
	Type          string                         `json:"type"`
	AddPrefix     bool                           `json:"add_prefix_space"`
	UseRegex      *bool                          `json:"use_regex"`
	Pattern       struct{ Regex, String string } `json:"pattern"`
	Content       string                         `json:"content"`
	Prepend       string                         `json:"prepend"`
	Replacement   string                         `json:"replacement"`
	PrependScheme string                         `json:"prepend_scheme"`
	Split         *bool                          `json:"split"`
	PreTokenizers []hfComponent                  `json:"pretokenizers"`
	Normalizers   []hfComponent                  `json:"normalizers"`
	Single        []map[string]struct {
		ID string `json:"id"`
	} `json:"single"`
}

// LoadHF reads a Hugging Face tokenizer.json (BPE model, byte-level). meta
// (may be nil) supplies bos/eos ids from config.json; tokenizer_config.json
// beside the file supplies them otherwise.
func LoadHF(path string, meta formats.Metadata) (*ByteBPE, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := ParseHF(b, meta)
	if err != nil {
		return nil, fmt.Errorf("tokenizer %s: %w", path, err)
	}
	if cfg, err := os.ReadFile(filepath.Join(filepath.Dir(path), "tokenizer_config.json")); err == nil {
		t.applyTokenizerConfig(cfg, meta)
	}
	return t, nil
}

// ParseHF parses the bytes of a tokenizer.json.
func ParseHF(b []byte, meta formats.Metadata) (*ByteBPE, error) {
	var j hfTokenizerJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if j.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer.json: model type %q not supported (BPE is)", j.Model.Type)
	}
	merges, err := parseMerges(j.Model.Merges)
	if err != nil {
		return nil, err
	}
	t := &ByteBPE{unk: -1, bos: -1, eos: -1, ignoreMerges: j.Model.IgnoreMerges, byteFallback: j.Model.ByteFallback}
	n := 0
	for _, id := range j.Model.Vocab {
		n = max(n, id+1)
	}
	for _, a := range j.AddedTokens {
		n = max(n, a.ID+1)
	}
	if n > 1<<24 {
		return nil, fmt.Errorf("tokenizer.json: token id %d too large", n-1)
	}
	t.pieces = make([]string, n)
	t.vocab = make(map[string]int, n)
	for s, id := range j.Model.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("tokenizer.json: negative id for %q", s)
		}
		t.pieces[id] = s
		t.vocab[s] = id
	}
	if j.Model.UnkToken != nil {
		if id, ok := t.vocab[*j.Model.UnkToken]; ok {
			t.unk = id
		}
	}
	t.control, t.addedText = map[int]bool{}, map[int]bool{}
	for _, a := range j.AddedTokens {
		if a.ID < 0 || a.Content == "" {
			return nil, fmt.Errorf("tokenizer.json: bad added token %d %q", a.ID, a.Content)
		}
		t.pieces[a.ID] = a.Content
		t.added = append(t.added, special{text: a.Content, id: a.ID, control: a.Special})
		t.addedText[a.ID] = true
		if a.Special {
			t.control[a.ID] = true
		}
	}
	t.setRanks(merges)
	if err := t.configure(j); err != nil {
		return nil, err
	}
	t.sortAdded()
	t.specialIDs(meta)
	return t, nil
}

func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var strs []string
	if json.Unmarshal(raw, &strs) == nil {
		out := make([][2]string, 0, len(strs))
		for _, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return nil, fmt.Errorf("tokenizer: merge %q is not two space-separated pieces", s)
			}
			out = append(out, [2]string{a, b})
		}
		return out, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("tokenizer.json: merges: %w", err)
	}
	return pairs, nil
}

func (t *ByteBPE) setRanks(merges [][2]string) { t.ranks = newMergeRanks(merges) }

func (t *ByteBPE) sortAdded() { t.specials = newSpecialSet(t.added) }

// configure reads the normalizer, pre-tokenizer and post-processor.
func (t *ByteBPE) configure(j hfTokenizerJSON) error {
	var norm hfComponent
	if len(j.Normalizer) > 0 && string(j.Normalizer) != "null" {
		if err := json.Unmarshal(j.Normalizer, &norm); err != nil {
			return fmt.Errorf("tokenizer.json: normalizer: %w", err)
		}
		for _, n := range append([]hfComponent{norm}, norm.Normalizers...) {
			switch n.Type {
			case "NFC":
				t.nfc = true
			case "Prepend":
				if n.Prepend != "\u2581" {
					return fmt.Errorf("tokenizer.json: Prepend normalizer of %q not supported", n.Prepend)
				}
				t.metaspace, t.prependAll = true, true
			case "Replace":
				if n.Pattern.String != " " || n.Content != "\u2581" {
					return fmt.Errorf("tokenizer.json: Replace normalizer %q → %q not supported", n.Pattern.String, n.Content)
				}
				t.metaspace = true
			case "Sequence", "":
			default:
				return fmt.Errorf("tokenizer.json: normalizer %q not supported", n.Type)
			}
		}
	}
	var pre hfComponent
	if len(j.PreTokenizer) > 0 && string(j.PreTokenizer) != "null" {
		if err := json.Unmarshal(j.PreTokenizer, &pre); err != nil {
			return fmt.Errorf("tokenizer.json: pre_tokenizer: %w", err)
		}
	}
	steps := []hfComponent{pre}
	if pre.Type == "Sequence" {
		steps = pre.PreTokenizers
	}
	if pre.Type == "" {
		steps = nil
	}
	byteLevel := false
	for _, s := range steps {
		switch s.Type {
		case "ByteLevel":
			byteLevel = true
			t.prefixSpace = s.AddPrefix
			if s.UseRegex == nil || *s.UseRegex {
				if t.pre != nil {
					return fmt.Errorf("tokenizer.json: two regex splits")
				}
				p := preTokenizers()["gpt-2"]
				t.pre = &p
			}
		case "Metaspace":
			if s.Replacement != "\u2581" || (s.Split != nil && *s.Split) {
				return fmt.Errorf("tokenizer.json: Metaspace pre-tokenizer (replacement %q, split) not supported", s.Replacement)
			}
			t.metaspace = true
			switch s.PrependScheme {
			case "first":
				t.prependFirst = true
			case "always", "":
				t.prependAll = true
			}
		case "Split":
			sp, err := splitFor(s.Pattern.Regex)
			if err != nil {
				return err
			}
			if t.pre != nil {
				return fmt.Errorf("tokenizer.json: two regex splits")
			}
			t.pre = &sp
		default:
			return fmt.Errorf("tokenizer.json: pre-tokenizer %q not supported", s.Type)
		}
	}
	switch {
	case byteLevel && t.metaspace:
		return fmt.Errorf("tokenizer.json: both ByteLevel and Metaspace")
	case !byteLevel && !t.metaspace:
		return fmt.Errorf("tokenizer.json: neither byte-level BPE (ByteLevel) nor SentencePiece-style (Metaspace / ▁ normalizer)")
	}
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	if t.metaspace {
		for i, p := range t.pieces {
			if b, ok := parseBytePiece(p); ok && t.byteID[b] < 0 {
				t.byteID[b] = i
			}
		}
	}
	var post hfComponent
	if json.Unmarshal(j.PostProcessor, &post) == nil && post.Type == "TemplateProcessing" && len(post.Single) > 0 {
		if sp, ok := post.Single[0]["SpecialToken"]; ok {
			if id, ok := t.idOf(sp.ID); ok {
				t.bos, t.addBOS = id, true
			}
		}
	}
	return nil
}

// splitFor recognises the Split regexes this package implements by hand.
func splitFor(re string) (preTokenizer, error) {
	switch {
	case strings.Contains(re, `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+`) && strings.Contains(re, `\p{N}{1,3}`):
		return preTokenizers()["gpt-4o"], nil
	case strings.Contains(re, `[^\r\n\p{L}\p{N}]?\p{L}+`) && strings.Contains(re, `\p{N}{1,3}`):
		return preTokenizers()["llama-bpe"], nil
	case strings.Contains(re, `[^\r\n\p{L}\p{N}]?\p{L}+`) && strings.Contains(re, `|\p{N}|`):
		return preTokenizers()["qwen2"], nil
	case strings.Contains(re, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+`):
		return preTokenizers()["gpt-2"], nil
	}
	return preTokenizer{}, fmt.Errorf("tokenizer.json: split regex %q is not one of GPT-2, Llama-3, Qwen2, GPT-4o", re)
}

// TokenID is the id of the token whose text is s (an added token such as
// "<|startoftranscript|>", or a vocabulary piece).
func (t *ByteBPE) TokenID(s string) (int, bool) { return t.idOf(s) }

func (t *ByteBPE) idOf(s string) (int, bool) {
	for _, a := range t.added {
		if a.text == s {
			return a.id, true
		}
	}
	id, ok := t.vocab[s]
	return id, ok
}

// specialIDs fills bos/eos from metadata (config.json ids), keeping what the
// post-processor said about BOS, then falls back to well-known names.
func (t *ByteBPE) specialIDs(meta formats.Metadata) {
	if meta != nil {
		if id, ok := meta.Int("tokenizer.ggml.bos_token_id"); ok && id >= 0 && int(id) < len(t.pieces) && t.bos < 0 {
			t.bos = int(id)
		}
		if id, ok := meta.Int("tokenizer.ggml.eos_token_id"); ok && id >= 0 && int(id) < len(t.pieces) {
			t.eos = int(id)
		}
		if b, ok := meta.Bool("tokenizer.ggml.add_bos_token"); ok {
			t.addBOS = b && t.bos >= 0
		}
	}
	if t.eos < 0 {
		for _, name := range []string{"<|eot_id|>", "<|im_end|>", "<|endoftext|>", "<|end_of_text|>", "</s>"} {
			if id, ok := t.idOf(name); ok {
				t.eos = id
				break
			}
		}
	}
}

func (t *ByteBPE) applyTokenizerConfig(b []byte, meta formats.Metadata) {
	var tc struct {
		BOSTok json.RawMessage `json:"bos_token"`
		EOSTok json.RawMessage `json:"eos_token"`
	}
	if json.Unmarshal(b, &tc) != nil {
		return
	}
	name := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		var o struct{ Content string }
		json.Unmarshal(raw, &o)
		return o.Content
	}
	_, metaBOS := meta.Int("tokenizer.ggml.bos_token_id")
	if id, ok := t.idOf(name(tc.BOSTok)); ok && t.bos < 0 && !metaBOS {
		t.bos = id
	}
	if _, metaEOS := meta.Int("tokenizer.ggml.eos_token_id"); !metaEOS {
		if id, ok := t.idOf(name(tc.EOSTok)); ok {
			t.eos = id
		}
	}
}

// bpeFromGGUF builds a byte-level BPE from GGUF tokenizer model "gpt2" the
// way llama.cpp's llama_vocab::load does: the pre-tokenizer named by
// tokenizer.ggml.pre, control and user-defined tokens cut out of the text
// first, Llama-3's ignore_merges, and BOS only where the vocabulary asks
// for it.
func bpeFromGGUF(meta formats.Metadata) (*ByteBPE, error) {
	tokens, err := ggufTokens(meta)
	if err != nil {
		return nil, err
	}
	mergeStrs, _ := meta.Strings("tokenizer.ggml.merges")
	merges, err := parseMergeStrings(mergeStrs)
	if err != nil {
		return nil, err
	}
	types, err := ggufTokenTypes(meta, len(tokens))
	if err != nil {
		return nil, err
	}
	rstrip := llamaTokenTypes(meta, tokens, types)
	pre, _ := meta.String("tokenizer.ggml.pre")
	p, err := preTokenizerFor(pre)
	if err != nil {
		return nil, err
	}
	t := &ByteBPE{pieces: tokens, vocab: make(map[string]int, len(tokens)), control: map[int]bool{}, addedText: map[int]bool{},
		bos: 11, eos: 11, unk: -1, pre: &p}
	for i, s := range tokens {
		if _, dup := t.vocab[s]; !dup {
			t.vocab[s] = i
		}
		switch types[i] {
		case TypeControl, TypeUnknown:
			t.added = append(t.added, special{text: s, id: i, control: true, rstrip: rstrip[i]})
			t.control[i] = true
		case TypeUserDefined:
			t.added = append(t.added, special{text: s, id: i, rstrip: rstrip[i]})
			t.addedText[i] = true
		}
	}
	t.setRanks(merges)
	t.sortAdded()
	switch pre {
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2":
		t.ignoreMerges, t.addBOS = true, true
	case "glm4", "chatglm-bpe":
		t.bos = -1
	}
	if len(tokens) <= 11 {
		t.bos, t.eos = -1, -1
	}
	// Ids named in the metadata replace the defaults when they are inside
	// the vocabulary (llama.cpp warns and keeps the default otherwise).
	if id, ok := meta.Int("tokenizer.ggml.bos_token_id"); ok && id >= 0 && id < int64(len(tokens)) {
		t.bos = int(id)
	}
	if id, ok := meta.Int("tokenizer.ggml.eos_token_id"); ok && id >= 0 && id < int64(len(tokens)) {
		t.eos = int(id)
	}
	if b, ok := meta.Bool("tokenizer.ggml.add_bos_token"); ok {
		t.addBOS = b
	}
	if b, ok := meta.Bool("tokenizer.ggml.add_eos_token"); ok {
		t.addEOS = b
	}
	t.addBOS = t.addBOS && t.bos >= 0
	t.addEOS = t.addEOS && t.eos >= 0
	return t, nil
}

// maxVocabBytes bounds the text of a GGUF vocabulary (the largest real
// ones, 256k-token Gemma and Command-R, hold a few MB): the lookup tables
// built from it are a multiple of it in memory.
const maxVocabBytes = 64 << 20

// ggufTokens reads tokenizer.ggml.tokens.
func ggufTokens(meta formats.Metadata) ([]string, error) {
	tokens, ok := meta.Strings("tokenizer.ggml.tokens")
	if !ok || len(tokens) == 0 {
		return nil, fmt.Errorf("tokenizer: GGUF has no tokenizer.ggml.tokens")
	}
	n := 0
	for _, t := range tokens {
		if n += len(t); n > maxVocabBytes {
			return nil, fmt.Errorf("tokenizer: vocabulary text over %d MiB", maxVocabBytes>>20)
		}
	}
	return tokens, nil
}

// ggufTokenTypes reads tokenizer.ggml.token_type (all normal when absent).
func ggufTokenTypes(meta formats.Metadata, n int) ([]int64, error) {
	types, ok := meta.Ints("tokenizer.ggml.token_type")
	if !ok {
		types = make([]int64, n)
		for i := range types {
			types[i] = TypeNormal
		}
		return types, nil
	}
	if len(types) != n {
		return nil, fmt.Errorf("tokenizer: %d token types for %d tokens", len(types), n)
	}
	return types, nil
}

func parseMergeStrings(strs []string) ([][2]string, error) {
	out := make([][2]string, 0, len(strs))
	for _, s := range strs {
		// llama.cpp cuts at the first space after the first byte, so a
		// merge whose left piece is a space splits there too.
		k := strings.IndexByte(s[min(1, len(s)):], ' ')
		if k < 0 {
			return nil, fmt.Errorf("tokenizer: merge %q is not two space-separated pieces", s)
		}
		k += min(1, len(s))
		out = append(out, [2]string{s[:k], s[k+1:]})
	}
	return out, nil
}

func (t *ByteBPE) BOS() int       { return t.bos }
func (t *ByteBPE) EOS() int       { return t.eos }
func (t *ByteBPE) VocabSize() int { return len(t.pieces) }

// AddsBOS reports whether the vocabulary prepends BOS (Llama-3 does, GPT-2
// and Qwen2 do not); Encode(text, true) adds it only then.
func (t *ByteBPE) AddsBOS() bool { return t.addBOS }

func (t *ByteBPE) IsControl(id int) bool { return t.control[id] }

// Encode tokenizes text, parsing special tokens; addBOS adds what the
// vocabulary adds around a text (see Options.AddSpecial).
func (t *ByteBPE) Encode(text string, addBOS bool) []int {
	return t.EncodeWith(text, Options{AddSpecial: addBOS, ParseSpecial: true})
}

func (t *ByteBPE) EncodeWith(text string, o Options) []int {
	var ids []int
	if o.AddSpecial && t.addBOS {
		ids = append(ids, t.bos)
	}
	atStart := true
	for _, seg := range t.specials.split(text, o.ParseSpecial) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			atStart = false
			continue
		}
		s := seg.text
		if t.nfc {
			s = norm.NFC.String(s)
		}
		if t.metaspace {
			s = strings.ReplaceAll(s, " ", "\u2581")
			if t.prependAll || (t.prependFirst && atStart) {
				s = "\u2581" + s
			}
			atStart = false
			ids = t.encodeSymbols(ids, s)
			continue
		}
		if t.prefixSpace && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		if t.pre == nil {
			_, s, _ = codepoints(s)
			ids = t.encodeWord(ids, s)
			continue
		}
		for _, word := range t.pre.split(s) {
			ids = t.encodeWord(ids, word)
		}
	}
	if o.AddSpecial && t.addEOS {
		ids = append(ids, t.eos)
	}
	return ids
}

// encodeWord byte-maps one pre-token and merges it.
func (t *ByteBPE) encodeWord(ids []int, word string) []int {
	var sb strings.Builder
	sb.Grow(2 * len(word))
	for i := 0; i < len(word); i++ {
		sb.WriteRune(byteToRune[word[i]])
	}
	mapped := sb.String()
	if t.ignoreMerges {
		if id, ok := t.vocab[mapped]; ok {
			return append(ids, id)
		}
	}
	return t.encodeSymbols(ids, mapped)
}

// encodeSymbols merges the characters of s by rank and maps the result to
// ids. A symbol outside the vocabulary becomes byte-fallback tokens
// (SentencePiece-style files), else the tokens of its single bytes where
// those exist (llama.cpp), else unk when there is one.
func (t *ByteBPE) encodeSymbols(ids []int, s string) []int {
	starts := make([]int32, 0, len(s))
	for i := range s {
		starts = append(starts, int32(i))
	}
	if len(starts) == 0 {
		return ids
	}
	syms := mergeWord(nil, s, starts, t.ranks)
	for _, s := range syms {
		if id, ok := t.vocab[s]; ok {
			ids = append(ids, id)
			continue
		}
		switch {
		case t.metaspace && t.byteFallback:
			for i := 0; i < len(s); i++ {
				if b := t.byteID[s[i]]; b >= 0 {
					ids = append(ids, b)
				} else if t.unk >= 0 {
					ids = append(ids, t.unk)
				}
			}
		case t.unk >= 0:
			ids = append(ids, t.unk)
		default: // llama.cpp: the tokens of its single bytes, where they exist
			for i := 0; i < len(s); i++ {
				if id, ok := t.vocab[s[i:i+1]]; ok {
					ids = append(ids, id)
				}
			}
		}
	}
	return ids
}

func (t *ByteBPE) Decode(id int) string {
	if id < 0 || id >= len(t.pieces) || t.control[id] {
		return ""
	}
	p := t.pieces[id]
	if t.addedText[id] {
		return p
	}
	if t.metaspace {
		if b, ok := parseBytePiece(p); ok {
			return string([]byte{b})
		}
		return strings.ReplaceAll(p, "\u2581", " ")
	}
	out := make([]byte, 0, len(p))
	for _, r := range p {
		if b, ok := unicodeByte(r); ok {
			out = append(out, b)
		} else {
			out = append(out, string(r)...)
		}
	}
	return string(out)
}

// Piece is the text of id as llama.cpp prints it: control tokens as
// written, other tokens decoded.
func (t *ByteBPE) Piece(id int) string {
	if t.control[id] {
		return t.pieces[id]
	}
	return t.Decode(id)
}

func (t *ByteBPE) DecodeAll(ids []int) string {
	var sb strings.Builder
	prev := -1
	for _, id := range ids {
		s := t.Decode(id)
		// The prepended "▁" after BOS is not part of the text (SentencePiece).
		if t.metaspace && prev == t.bos && t.bos >= 0 {
			s = strings.TrimPrefix(s, " ")
		}
		sb.WriteString(s)
		prev = id
	}
	s := sb.String()
	if t.prefixSpace {
		s = strings.TrimPrefix(s, " ")
	}
	return s
}
