// Package textnorm is the English text front end of Loom's text-to-speech
// towers: it turns written text into the spoken-form character string the
// acoustic model reads, and that string into symbol ids.
//
// Normalize expands what a reader says but the page does not spell: numbers,
// ordinals, years, decimals, percentages, times, currency amounts, common
// abbreviations (Dr., Mr., St., etc.), initialisms (BBC → "b b c") and symbols
// (&, @, +), lower-cases everything and reduces punctuation to the four marks
// that change prosody: "," (a short pause: commas, colons, semicolons,
// dashes, brackets), and ".", "?", "!" (sentence ends). The result uses only
// the characters of Symbols.
//
// Why characters, not phonemes. A phoneme front end needs a grapheme-to-
// phoneme model or a pronouncing dictionary at serve time. Loom's teacher,
// espeak-ng, knows English pronunciation through thousands of hand-written
// rules; it may only be run offline (tools/tts), and no dictionary can be
// downloaded. A character model trained on espeak-ng's speech learns those
// letter-to-sound rules itself, from the same teacher, and needs nothing at
// serve time beyond this package — the approach of char-level Tacotron and
// FastSpeech baselines, which are intelligible for English given careful
// normalisation (so the model never has to learn to read "$3.50"). The cost
// is some mispronounced rare words; the symbol set could grow a phoneme
// alphabet later without changing the tower.
//
// The same code normalises the training text (tools/tts/normtext runs it), so
// training and serving see identical strings.
package textnorm

import (
	"fmt"
	"strings"
	"unicode"
)

// Symbols is the model's alphabet; a character's index is its id. Id 0 is
// padding and never produced by Encode.
const Symbols = "_ abcdefghijklmnopqrstuvwxyz',.?!"

// Pad is the padding id.
const Pad = 0

var symbolID = func() [128]int8 {
	var t [128]int8
	for i := range t {
		t[i] = -1
	}
	for i := 1; i < len(Symbols); i++ {
		t[Symbols[i]] = int8(i)
	}
	return t
}()

// Encode maps a normalised string to ids. Characters outside Symbols are an
// error (Normalize never produces them).
func Encode(norm string) ([]int, error) {
	ids := make([]int, 0, len(norm))
	for i, r := range norm {
		if r >= 128 || symbolID[r] < 0 {
			return nil, fmt.Errorf("textnorm: %q at byte %d is not a model symbol", r, i)
		}
		ids = append(ids, int(symbolID[r]))
	}
	return ids, nil
}

// Decode maps ids back to characters (for logs and tests).
func Decode(ids []int) (string, error) {
	var b strings.Builder
	for _, id := range ids {
		if id <= 0 || id >= len(Symbols) {
			return "", fmt.Errorf("textnorm: id %d outside 1..%d", id, len(Symbols)-1)
		}
		b.WriteByte(Symbols[id])
	}
	return b.String(), nil
}

// Normalize returns the spoken form of text (see the package comment):
// "Dr. Smith paid $3.50 on May 5th, 1999." → "doctor smith paid three
// dollars and fifty cents on may fifth, nineteen ninety nine." Empty or
// unspeakable input gives "".
func Normalize(text string) string {
	s := foldUnicode(text)
	for _, r := range rules {
		s = r.apply(s)
	}
	return tidy(strings.ToLower(s))
}

// NormalizeEncode is Normalize followed by Encode.
func NormalizeEncode(text string) (string, []int, error) {
	n := Normalize(text)
	ids, err := Encode(n)
	return n, ids, err
}

// foldUnicode maps typographic punctuation to ASCII and strips accents from
// Latin letters (café → cafe); other non-ASCII letters become spaces.
func foldUnicode(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 128:
			b.WriteRune(r)
		case strings.ContainsRune("‘’ʼ′", r):
			b.WriteByte('\'')
		case strings.ContainsRune("“”„«»″", r):
			b.WriteByte('"')
		case strings.ContainsRune("—–―", r):
			b.WriteString(" , ")
		case r == '…':
			b.WriteString("...")
		case r == '£' || r == '€':
			b.WriteRune(r)
		case r == '½':
			b.WriteString(" and a half")
		case r == '°':
			b.WriteString(" degrees")
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			if a, ok := accentFold[r]; ok {
				b.WriteRune(a)
			} else {
				b.WriteByte(' ')
			}
		}
	}
	return b.String()
}

var accentFold = func() map[rune]rune {
	m := map[rune]rune{}
	for _, g := range []struct {
		to   rune
		from string
	}{{'a', "àáâãäåā"}, {'e', "èéêëē"}, {'i', "ìíîïī"}, {'o', "òóôõöøō"}, {'u', "ùúûüū"},
		{'c', "ç"}, {'n', "ñ"}, {'y', "ýÿ"}, {'A', "ÀÁÂÃÄÅ"}, {'E', "ÈÉÊË"}, {'I', "ÌÍÎÏ"},
		{'O', "ÒÓÔÕÖØ"}, {'U', "ÙÚÛÜ"}, {'C', "Ç"}, {'N', "Ñ"}} {
		for _, r := range g.from {
			m[r] = g.to
		}
	}
	return m
}()

// tidy keeps only model symbols and puts punctuation in its canonical form:
// no space before a mark, one space after, one mark per pause, no leading
// pause, and a sentence end at the end.
func tidy(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r == '\'':
			// Keep apostrophes inside words (don't, john's) only.
			if i > 0 && i+1 < len(rs) && isLetter(rs[i-1]) && isLetter(rs[i+1]) {
				b.WriteRune(r)
			} else {
				b.WriteByte(' ')
			}
		case r == ',' || r == ';' || r == ':' || r == '(' || r == ')' || r == '[' || r == ']' || r == '{' || r == '}':
			b.WriteString(" , ")
		case r == '.' || r == '?' || r == '!':
			b.WriteString(" " + string(r) + " ")
		default: // spaces, quotes, stray symbols, hyphens between words
			b.WriteByte(' ')
		}
	}
	var out []string // words and marks
	for _, f := range strings.Fields(b.String()) {
		if !isMark(f) {
			out = append(out, f)
			continue
		}
		if len(out) == 0 {
			continue // no pause before the first word
		}
		if last := out[len(out)-1]; isMark(last) {
			// A run of marks is one pause; the strongest mark wins
			// (sentence end over comma, ? and ! over .).
			if rank(f) > rank(last) {
				out[len(out)-1] = f
			}
			continue
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return ""
	}
	if last := out[len(out)-1]; last == "," {
		out[len(out)-1] = "."
	} else if !isMark(last) {
		out = append(out, ".")
	}
	var o strings.Builder
	for i, f := range out {
		if i > 0 && !isMark(f) {
			o.WriteByte(' ')
		}
		o.WriteString(f)
	}
	return o.String()
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' }

func isMark(f string) bool { return f == "," || f == "." || f == "?" || f == "!" }

func rank(m string) int {
	switch m {
	case ",":
		return 0
	case ".":
		return 1
	}
	return 2
}
