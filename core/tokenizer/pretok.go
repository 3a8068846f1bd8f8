package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Pre-tokenizer splits, written by hand because Go's regexp has no
// lookahead. Each function cuts text exactly where the named Hugging Face
// Split regex would (alternatives tried in order, each greedy):
//
//	GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//	Llama-3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	         ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	Qwen2:   the Llama-3 pattern with \p{N} (one digit) for \p{N}{1,3}

type pretokenizer func(text string) []string

func isL(r rune) bool     { return unicode.IsLetter(r) }
func isN(r rune) bool     { return unicode.IsNumber(r) }
func isS(r rune) bool     { return unicode.IsSpace(r) }
func isCRLF(r rune) bool  { return r == '\r' || r == '\n' }
func isOther(r rune) bool { return !isS(r) && !isL(r) && !isN(r) }

// contraction returns the length in runes of 's 't 're 've 'm 'll 'd at i.
func contraction(rs []rune, i int, fold bool) int {
	if rs[i] != '\'' || i+1 >= len(rs) {
		return 0
	}
	low := func(r rune) rune {
		if fold {
			return unicode.ToLower(r)
		}
		return r
	}
	a := low(rs[i+1])
	switch a {
	case 's', 't', 'm', 'd':
		return 2
	}
	if i+2 < len(rs) {
		b := low(rs[i+2])
		if (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') {
			return 3
		}
	}
	return 0
}

func run(rs []rune, i int, pred func(rune) bool) int {
	j := i
	for j < len(rs) && pred(rs[j]) {
		j++
	}
	return j
}

// spaceRun is \s+(?!\S) then \s+: the whole run at the end of text or
// before more whitespace… otherwise the run less its last character (which
// then leads the next word), or one character when the run is that short.
func spaceRun(rs []rune, i int) int {
	j := run(rs, i, isS)
	if j == len(rs) || j-i == 1 {
		return j
	}
	return j - 1
}

// runesOf decodes text keeping each rune's byte offset (offs has one more
// entry, len(text)), so pieces are cut from the original bytes: an invalid
// byte splits as U+FFFD would but keeps its value.
func runesOf(text string) (rs []rune, offs []int) {
	rs = make([]rune, 0, len(text))
	offs = make([]int, 0, len(text)+1)
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		rs = append(rs, r)
		offs = append(offs, i)
		i += n
	}
	return rs, append(offs, len(text))
}

func splitGPT2(text string) []string {
	rs, offs := runesOf(text)
	var out []string
	for i := 0; i < len(rs); {
		j := i
		sp := 0
		if rs[i] == ' ' && i+1 < len(rs) {
			sp = 1
		}
		switch {
		case contraction(rs, i, false) > 0:
			j = i + contraction(rs, i, false)
		case isL(rs[i]):
			j = run(rs, i, isL)
		case sp == 1 && isL(rs[i+1]):
			j = run(rs, i+1, isL)
		case isN(rs[i]):
			j = run(rs, i, isN)
		case sp == 1 && isN(rs[i+1]):
			j = run(rs, i+1, isN)
		case isOther(rs[i]):
			j = run(rs, i, isOther)
		case sp == 1 && isOther(rs[i+1]):
			j = run(rs, i+1, isOther)
		default:
			j = spaceRun(rs, i)
		}
		out = append(out, text[offs[i]:offs[j]])
		i = j
	}
	return out
}

// splitLlama3 is the Llama-3 split with digit groups of up to maxDigits
// (3 for Llama-3, 1 for Qwen2).
func splitLlama3(maxDigits int) pretokenizer {
	return func(text string) []string {
		rs, offs := runesOf(text)
		var out []string
		for i := 0; i < len(rs); {
			j := i
			switch {
			case contraction(rs, i, true) > 0:
				j = i + contraction(rs, i, true)
			case isL(rs[i]):
				j = run(rs, i, isL)
			case !isCRLF(rs[i]) && !isN(rs[i]) && i+1 < len(rs) && isL(rs[i+1]):
				j = run(rs, i+1, isL)
			case isN(rs[i]):
				j = i + 1
				for j < len(rs) && j-i < maxDigits && isN(rs[j]) {
					j++
				}
			case isOther(rs[i]) || (rs[i] == ' ' && i+1 < len(rs) && isOther(rs[i+1])):
				k := i
				if rs[i] == ' ' {
					k++
				}
				j = run(rs, run(rs, k, isOther), isCRLF)
			default: // whitespace
				end := run(rs, i, isS)
				last := -1
				for k := i; k < end; k++ {
					if isCRLF(rs[k]) {
						last = k
					}
				}
				if last >= 0 { // \s*[\r\n]+
					j = last + 1
				} else {
					j = spaceRun(rs, i)
				}
			}
			out = append(out, text[offs[i]:offs[j]])
			i = j
		}
		return out
	}
}
