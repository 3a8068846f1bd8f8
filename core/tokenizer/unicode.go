package tokenizer

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// Code points as llama.cpp's tokenizers see them (src/unicode.cpp): text is
// decoded leniently — overlong forms and surrogates decode to their value,
// and every byte that starts no well-formed sequence becomes U+FFFD — and
// the pieces handed to BPE are re-encoded from those code points, so an
// invalid byte tokenizes as U+FFFD would. Categories come from Go's unicode
// tables (Unicode 15.0; llama.cpp at 1fd6dfe9f has 16.0, so the few
// thousand characters new in 15.1/16.0 class as unassigned here).

// Code point classes, one per general category group (\p{L}, \p{N}, …).
const (
	clsOther  uint8 = iota // Cn, Cc, Cf, Co, Cs, Z other than whitespace
	clsLetter              // \p{L}
	clsNumber              // \p{N}
	clsMark                // \p{M}
	clsPunct               // \p{P}
	clsSymbol              // \p{S}
	clsSpace               // \s (llama.cpp's White_Space set; Go's unicode.IsSpace)
)

var (
	bmpClassOnce sync.Once
	bmpClass     []uint8 // class of every code point below 0x10000
)

func classOfSlow(r rune) uint8 {
	switch {
	case unicode.IsSpace(r):
		return clsSpace
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsMark(r):
		return clsMark
	case unicode.IsPunct(r):
		return clsPunct
	case unicode.IsSymbol(r):
		return clsSymbol
	}
	return clsOther
}

// classOf is r's class; the Basic Multilingual Plane is one table lookup.
func classOf(r rune) uint8 {
	if r < 0x80 {
		return asciiClass[r]
	}
	if r < 0x10000 {
		bmpClassOnce.Do(func() {
			bmpClass = make([]uint8, 0x10000)
			for c := range bmpClass {
				bmpClass[c] = classOfSlow(rune(c))
			}
		})
		return bmpClass[r]
	}
	return classOfSlow(r)
}

var asciiClass = func() (t [128]uint8) {
	for c := range t {
		t[c] = classOfSlow(rune(c))
	}
	return t
}()

func isLetter(r rune) bool { return classOf(r) == clsLetter }
func isNumber(r rune) bool { return classOf(r) == clsNumber }
func isSpace(r rune) bool  { return classOf(r) == clsSpace }
func isCRLF(r rune) bool   { return r == '\r' || r == '\n' }

// isOther is [^\s\p{L}\p{N}]: punctuation, symbols, marks, controls,
// unassigned code points.
func isOther(r rune) bool {
	c := classOf(r)
	return c != clsSpace && c != clsLetter && c != clsNumber
}

// decodeLenient is llama.cpp's unicode_cpts_from_utf8: a lead byte and the
// continuation bytes it announces decode without range checks; anything
// else is one U+FFFD per byte.
func decodeLenient(s string) []rune {
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		b := s[i]
		n := 0
		switch {
		case b < 0x80:
			out = append(out, rune(b))
			i++
			continue
		case b&0xE0 == 0xC0:
			n = 2
		case b&0xF0 == 0xE0:
			n = 3
		case b&0xF8 == 0xF0:
			n = 4
		}
		ok := n > 0 && i+n <= len(s)
		for k := 1; ok && k < n; k++ {
			ok = s[i+k]&0xC0 == 0x80
		}
		if !ok {
			out = append(out, utf8.RuneError)
			i++
			continue
		}
		r := rune(b & (0x7F >> n))
		for k := 1; k < n; k++ {
			r = r<<6 | rune(s[i+k]&0x3F)
		}
		if r > unicode.MaxRune {
			// llama.cpp cannot re-encode these and throws; U+FFFD keeps going.
			r = utf8.RuneError
		}
		out = append(out, r)
		i += n
	}
	return out
}

// appendCpt encodes one code point as llama.cpp does, surrogates included
// (Go's utf8 would write U+FFFD for them).
func appendCpt(b []byte, r rune) []byte {
	if r >= 0xD800 && r <= 0xDFFF {
		return append(b, 0xED, byte(0x80|(r>>6)&0x3F), byte(0x80|r&0x3F))
	}
	return utf8.AppendRune(b, r)
}

// codepoints returns text's code points and the text they re-encode to,
// with off[i] the byte offset of cs[i] in it (off has len(cs)+1 entries).
// Well-formed UTF-8 comes back unchanged.
func codepoints(text string) (cs []rune, norm string, off []int) {
	off = make([]int, 0, len(text)+1)
	if utf8.ValidString(text) {
		cs = make([]rune, 0, len(text))
		for i, r := range text {
			cs = append(cs, r)
			off = append(off, i)
		}
		return cs, text, append(off, len(text))
	}
	cs = decodeLenient(text)
	b := make([]byte, 0, len(text)+2*len(cs))
	for _, r := range cs {
		off = append(off, len(b))
		b = appendCpt(b, r)
	}
	return cs, string(b), append(off, len(b))
}
