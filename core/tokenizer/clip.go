package tokenizer

// CLIP's byte-level BPE (Radford et al. 2021; the tokenizer of Stable
// Diffusion's text encoders), read from a Hugging Face tokenizer folder:
// vocab.json + merges.txt (as Stable Diffusion repositories ship it) or a
// tokenizer.json whose BPE model has end_of_word_suffix "</w>".
//
// Text is NFC-normalised, runs of whitespace collapse, and everything is
// lower-cased; it is cut into words by CLIP's pattern
// ('s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+, whitespace
// dropped); each word's bytes map to GPT-2's printable runes, its last
// symbol takes the "</w>" end-of-word suffix, and merges apply lowest rank
// first. A prompt for a diffusion model is <|startoftext|> tokens
// <|endoftext|>, truncated and padded to the text encoder's 77 positions.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

const clipEOW = "</w>"

// CLIP is a loaded CLIP tokenizer.
type CLIP struct {
	vocab         map[string]int
	pieces        []string
	ranks         mergeRanks
	bos, eos, pad int
	specials      map[string]int
	unk           int
	cache         map[string][]int
	cacheLimit    int
}

// LoadCLIP reads a tokenizer folder (vocab.json + merges.txt, or
// tokenizer.json) or a tokenizer.json path. The pad token comes from
// special_tokens_map.json or tokenizer_config.json when present
// (SD 1.x pads with <|endoftext|>, SD 2.x with "!").
func LoadCLIP(path string) (*CLIP, error) {
	dir := path
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		dir = filepath.Dir(path)
	}
	var c *CLIP
	if raw, err := os.ReadFile(filepath.Join(dir, "vocab.json")); err == nil {
		merges, err := os.ReadFile(filepath.Join(dir, "merges.txt"))
		if err != nil {
			return nil, fmt.Errorf("clip tokenizer %s: %w", dir, err)
		}
		if c, err = ParseCLIP(raw, merges); err != nil {
			return nil, fmt.Errorf("clip tokenizer %s: %w", dir, err)
		}
	} else {
		tj := path
		if tj == dir {
			tj = filepath.Join(dir, "tokenizer.json")
		}
		raw, err := os.ReadFile(tj)
		if err != nil {
			return nil, fmt.Errorf("clip tokenizer: neither vocab.json nor tokenizer.json in %s: %w", dir, err)
		}
		if c, err = ParseCLIPJSON(raw); err != nil {
			return nil, fmt.Errorf("clip tokenizer %s: %w", tj, err)
		}
	}
	for _, name := range []string{"special_tokens_map.json", "tokenizer_config.json"} {
		if raw, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			c.readPad(raw)
			break
		}
	}
	return c, nil
}

// readPad takes pad_token (a string or {"content": …}) from a config file.
func (c *CLIP) readPad(raw []byte) {
	var m struct {
		Pad json.RawMessage `json:"pad_token"`
	}
	if json.Unmarshal(raw, &m) != nil || len(m.Pad) == 0 {
		return
	}
	var s string
	if json.Unmarshal(m.Pad, &s) != nil {
		var o struct {
			Content string `json:"content"`
		}
		if json.Unmarshal(m.Pad, &o) != nil {
			return
		}
		s = o.Content
	}
	if id, ok := c.vocab[s]; ok {
		c.pad = id
	}
}

// ParseCLIP builds the tokenizer from vocab.json and merges.txt bytes.
func ParseCLIP(vocabJSON, merges []byte) (*CLIP, error) {
	var vocab map[string]int
	if err := json.Unmarshal(vocabJSON, &vocab); err != nil {
		return nil, fmt.Errorf("vocab.json: %w", err)
	}
	var pairs [][2]string
	sc := bufio.NewScanner(bytes.NewReader(merges))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for line := 0; sc.Scan(); line++ {
		l := strings.TrimRight(sc.Text(), "\r")
		if l == "" || (line == 0 && strings.HasPrefix(l, "#version")) {
			continue
		}
		a, b, ok := strings.Cut(l, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("merges.txt line %d: %q is not two symbols", line+1, l)
		}
		pairs = append(pairs, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("merges.txt: %w", err)
	}
	return newCLIP(vocab, pairs)
}

// ParseCLIPJSON builds the tokenizer from a tokenizer.json (BPE model with
// the "</w>" end-of-word suffix).
func ParseCLIPJSON(raw []byte) (*CLIP, error) {
	var j struct {
		Model struct {
			Type   string          `json:"type"`
			Vocab  map[string]int  `json:"vocab"`
			Merges json.RawMessage `json:"merges"`
			EOW    *string         `json:"end_of_word_suffix"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if j.Model.Type != "BPE" || j.Model.EOW == nil || *j.Model.EOW != clipEOW {
		return nil, fmt.Errorf("tokenizer.json: not a CLIP BPE model (type %q, end_of_word_suffix %v)", j.Model.Type, j.Model.EOW)
	}
	pairs, err := parseMerges(j.Model.Merges)
	if err != nil {
		return nil, err
	}
	return newCLIP(j.Model.Vocab, pairs)
}

func newCLIP(vocab map[string]int, merges [][2]string) (*CLIP, error) {
	if len(vocab) == 0 {
		return nil, fmt.Errorf("clip tokenizer: empty vocabulary")
	}
	c := &CLIP{vocab: vocab, ranks: newMergeRanks(merges), specials: map[string]int{},
		unk: -1}
	n := 0
	for _, id := range vocab {
		if id < 0 || id >= 1<<24 {
			return nil, fmt.Errorf("clip tokenizer: id %d out of range", id)
		}
		n = max(n, id+1)
	}
	c.pieces = make([]string, n)
	for p, id := range vocab {
		c.pieces[id] = p
	}
	var ok bool
	if c.bos, ok = vocab["<|startoftext|>"]; !ok {
		return nil, fmt.Errorf("clip tokenizer: no <|startoftext|> token")
	}
	if c.eos, ok = vocab["<|endoftext|>"]; !ok {
		return nil, fmt.Errorf("clip tokenizer: no <|endoftext|> token")
	}
	c.pad = c.eos
	c.specials["<|startoftext|>"], c.specials["<|endoftext|>"] = c.bos, c.eos
	if id, ok := vocab["<|endoftext|>"]; ok {
		c.unk = id // CLIPTokenizer's unk_token
	}
	return c, nil
}

// clipWords cuts normalised text by CLIP's pattern.
func clipWords(s string) []string {
	rs := []rune(s)
	var out []string
	for i := 0; i < len(rs); {
		r := rs[i]
		var n int
		switch {
		case unicode.IsSpace(r):
			i++
			continue
		case contraction(rs, i, len(rs), false) > 0:
			n = contraction(rs, i, len(rs), false)
		case isLetter(r):
			n = runEnd(rs, i, len(rs), isLetter) - i
		case isNumber(r):
			n = 1
		default:
			n = runEnd(rs, i, len(rs), isOther) - i
		}
		out = append(out, string(rs[i:i+n]))
		i += n
	}
	return out
}

// normalizeCLIP is NFC, whitespace runs to one space, trimmed, lower case.
func normalizeCLIP(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(norm.NFC.String(s)), " "))
}

// Encode tokenizes text without start/end tokens; "<|startoftext|>" and
// "<|endoftext|>" written in the text become those tokens. addBOS prepends
// <|startoftext|>.
func (c *CLIP) Encode(text string, addBOS bool) []int {
	var ids []int
	if addBOS {
		ids = append(ids, c.bos)
	}
	for _, seg := range newSpecialSet(c.specialList()).split(normalizeCLIP(text), true) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		for _, w := range clipWords(seg.text) {
			ids = c.encodeWord(ids, w)
		}
	}
	return ids
}

func (c *CLIP) specialList() []special {
	return []special{{text: "<|startoftext|>", id: c.bos}, {text: "<|endoftext|>", id: c.eos}}
}

func (c *CLIP) encodeWord(ids []int, word string) []int {
	if word == "" {
		return ids
	}
	// The byte-mapped word with "</w>" on its last symbol.
	var b strings.Builder
	starts := make([]int32, 0, len(word))
	for i := 0; i < len(word); i++ {
		starts = append(starts, int32(b.Len()))
		b.WriteRune(byteToRune[word[i]])
	}
	b.WriteString(clipEOW)
	for _, s := range mergeWord(nil, b.String(), starts, c.ranks) {
		if id, ok := c.vocab[s]; ok {
			ids = append(ids, id)
		} else if c.unk >= 0 {
			ids = append(ids, c.unk)
		}
	}
	return ids
}

// EncodePrompt returns exactly length ids: <|startoftext|>, the prompt's
// tokens (truncated to length-2), <|endoftext|>, then padding.
func (c *CLIP) EncodePrompt(text string, length int) ([]int, error) {
	if length < 2 {
		return nil, fmt.Errorf("clip tokenizer: prompt length %d < 2", length)
	}
	toks := c.Encode(text, false)
	if len(toks) > length-2 {
		toks = toks[:length-2]
	}
	ids := make([]int, 0, length)
	ids = append(ids, c.bos)
	ids = append(ids, toks...)
	ids = append(ids, c.eos)
	for len(ids) < length {
		ids = append(ids, c.pad)
	}
	return ids, nil
}

// Decode is the text of one token: a word-final piece ends in a space.
func (c *CLIP) Decode(id int) string {
	if id < 0 || id >= len(c.pieces) || c.IsControl(id) {
		return ""
	}
	p := c.pieces[id]
	eow := strings.HasSuffix(p, clipEOW)
	p = strings.TrimSuffix(p, clipEOW)
	out := make([]byte, 0, len(p)+1)
	for _, r := range p {
		if b, ok := unicodeByte(r); ok {
			out = append(out, b)
		} else {
			out = append(out, string(r)...)
		}
	}
	if eow {
		out = append(out, ' ')
	}
	return string(out)
}

// DecodeAll joins the tokens' text without the trailing space.
func (c *CLIP) DecodeAll(ids []int) string {
	var sb strings.Builder
	for _, id := range ids {
		sb.WriteString(c.Decode(id))
	}
	return strings.TrimSuffix(sb.String(), " ")
}

func (c *CLIP) BOS() int              { return c.bos }
func (c *CLIP) EOS() int              { return c.eos }
func (c *CLIP) Pad() int              { return c.pad }
func (c *CLIP) VocabSize() int        { return len(c.pieces) }
func (c *CLIP) IsControl(id int) bool { return id == c.bos || id == c.eos }

// EncodeWith is Encode with o.AddSpecial for addBOS; CLIP always matches
// its two special tokens.
func (c *CLIP) EncodeWith(text string, o Options) []int { return c.Encode(text, o.AddSpecial) }

var _ Tokenizer = (*CLIP)(nil)
