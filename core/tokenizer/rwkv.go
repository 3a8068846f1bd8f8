package tokenizer

import (
	"strings"

	"github.com/loomhq/loom/core/formats"
)

// RWKV is the RWKV "World" tokenizer as llama.cpp reads it from a GGUF
// vocabulary with tokenizer.ggml.model "rwkv" (llm_tokenizer_rwkv): every
// token is a byte string, written in the file as Python's repr of its bytes
// with the leading b and the quotes cut off (convert_hf_to_gguf.py,
// _set_vocab_rwkv_world: "\x0a",
// "\\t", "\\'"); a text is cut greedily into the longest token that starts
// at each byte, left to right. Id 0 is "<s>" (control), BOS and EOS alike;
// nothing is added around a text.
type RWKV struct {
	pieces   []string // unescaped bytes of each token
	vocab    *byteTrie
	control  []bool
	specials *specialSet
	bos, eos int
}

func rwkvFromGGUF(meta formats.Metadata) (*RWKV, error) {
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
	id := func(key string) int {
		if v, ok := meta.Int(key); ok && v >= 0 && v < n {
			return int(v)
		}
		return -1
	}
	r := &RWKV{pieces: make([]string, len(tokens)), vocab: newByteTrie(), control: make([]bool, len(tokens)),
		bos: id("tokenizer.ggml.bos_token_id"), eos: id("tokenizer.ggml.eos_token_id")}
	var specials []special
	for i, s := range tokens {
		r.pieces[i] = unescapeRWKV(s)
		switch types[i] {
		case TypeControl, TypeUnknown:
			r.control[i] = true
			specials = append(specials, special{text: s, id: i, control: true})
		case TypeUserDefined:
			specials = append(specials, special{text: s, id: i})
		}
	}
	// llama.cpp's trie keeps the last id of a repeated byte string; this
	// one keeps the first inserted, so insert from the end.
	for i := len(r.pieces) - 1; i >= 0; i-- {
		r.vocab.insert(r.pieces[i], int32(i))
	}
	r.specials = newSpecialSet(specials)
	return r, nil
}

// unescapeRWKV undoes the converter's repr: \t \n \r, \xNN, and a
// backslash before any other character stands for that character.
func unescapeRWKV(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'x':
			// Two hex digits, read as llama.cpp reads them (lower case).
			var v byte
			for k := 0; k < 2 && i+1 < len(s); k++ {
				i++
				d := s[i]
				if d >= 'a' {
					d = d - 'a' + 10
				} else {
					d -= '0'
				}
				v = v<<4 + d
			}
			b.WriteByte(v)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func (r *RWKV) BOS() int       { return r.bos }
func (r *RWKV) EOS() int       { return r.eos }
func (r *RWKV) VocabSize() int { return len(r.pieces) }
func (r *RWKV) IsControl(id int) bool {
	return id >= 0 && id < len(r.control) && r.control[id]
}

// Encode tokenizes text, parsing control tokens; the vocabulary adds
// nothing around a text, so addBOS changes nothing (llama.cpp: add_bos
// false for RWKV).
func (r *RWKV) Encode(text string, addBOS bool) []int {
	return r.EncodeWith(text, Options{AddSpecial: addBOS, ParseSpecial: true})
}

func (r *RWKV) EncodeWith(text string, o Options) []int {
	var ids []int
	for _, seg := range r.specials.split(text, o.ParseSpecial) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		s := seg.text
		for i := 0; i < len(s); {
			j, id := i+1, int32(-1)
			r.vocab.walk(s, i, func(end int, v int32) { j, id = end, v })
			if id >= 0 { // llama.cpp adds its unknown token, which RWKV has none of
				ids = append(ids, int(id))
			}
			i = j
		}
	}
	return ids
}

// Decode is the bytes of one token (control tokens: "").
func (r *RWKV) Decode(id int) string {
	if id < 0 || id >= len(r.pieces) || r.control[id] {
		return ""
	}
	return r.pieces[id]
}

// DecodeAll joins the tokens' bytes.
func (r *RWKV) DecodeAll(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(r.Decode(id))
	}
	return b.String()
}
