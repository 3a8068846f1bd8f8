package textnorm

import (
	"strconv"
	"strings"
)

var ones = [...]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
	"ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}

var tens = [...]string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}

// scales are the short-scale names of successive powers of a thousand.
var scales = [...]string{"", "thousand", "million", "billion", "trillion", "quadrillion"}

// maxCardinal is the largest integer read as a number; longer digit runs
// (serial numbers, phone numbers) are read digit by digit.
const maxCardinal = 999_999_999_999_999_999

// under1000 spells 0 < n < 1000 without "and" (American style, as espeak-ng
// and most US TTS front ends read it).
func under1000(n int64) []string {
	var w []string
	if n >= 100 {
		w = append(w, ones[n/100], "hundred")
		n %= 100
	}
	switch {
	case n == 0:
	case n < 20:
		w = append(w, ones[n])
	default:
		w = append(w, tens[n/10])
		if n%10 != 0 {
			w = append(w, ones[n%10])
		}
	}
	return w
}

// Cardinal spells a non-negative integer: 1234 → "one thousand two hundred
// thirty four". Negative numbers get "minus".
func Cardinal(n int64) string {
	if n < 0 {
		if n == -n { // math.MinInt64 has no positive twin
			return "minus " + Digits(strconv.FormatInt(n, 10)[1:])
		}
		return "minus " + Cardinal(-n)
	}
	if n == 0 {
		return "zero"
	}
	var groups []int64
	for v := n; v > 0; v /= 1000 {
		groups = append(groups, v%1000)
	}
	if len(groups) > len(scales) {
		return Digits(strconv.FormatInt(n, 10))
	}
	var w []string
	for i := len(groups) - 1; i >= 0; i-- {
		if groups[i] == 0 {
			continue
		}
		w = append(w, under1000(groups[i])...)
		if scales[i] != "" {
			w = append(w, scales[i])
		}
	}
	return strings.Join(w, " ")
}

// Digits reads a run of digits one by one: "007" → "zero zero seven".
func Digits(s string) string {
	w := make([]string, 0, len(s))
	for _, r := range s {
		if r >= '0' && r <= '9' {
			w = append(w, ones[r-'0'])
		}
	}
	return strings.Join(w, " ")
}

// irregular ordinals of the last word of a cardinal.
var ordinalWord = map[string]string{
	"one": "first", "two": "second", "three": "third", "five": "fifth",
	"eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}

// Ordinal spells n as an ordinal: 21 → "twenty first", 100 → "one hundredth".
func Ordinal(n int64) string {
	c := Cardinal(n)
	i := strings.LastIndexByte(c, ' ') + 1
	last := c[i:]
	switch {
	case ordinalWord[last] != "":
		last = ordinalWord[last]
	case strings.HasSuffix(last, "y"):
		last = last[:len(last)-1] + "ieth"
	default:
		last += "th"
	}
	return c[:i] + last
}

// Year reads a four-digit year the way it is spoken: 1999 → "nineteen ninety
// nine", 1905 → "nineteen oh five", 1900 → "nineteen hundred", 2000 → "two
// thousand", 2007 → "two thousand seven", 2019 → "twenty nineteen". Other
// values fall back to Cardinal.
func Year(n int64) string {
	if n < 1000 || n > 9999 {
		return Cardinal(n)
	}
	hi, lo := n/100, n%100
	switch {
	case n%1000 < 10 && n/1000 != 1: // 2000–2009, 3005
		return Cardinal(n)
	case lo == 0:
		return Cardinal(hi) + " hundred"
	case lo < 10:
		return Cardinal(hi) + " oh " + ones[lo]
	}
	return Cardinal(hi) + " " + Cardinal(lo)
}

// pluralNumber turns a spoken number into its plural ("nineteen nineties",
// "sixes", "twenties"), as for decades: the 1990s, the 60s.
func pluralNumber(words string) string {
	switch {
	case strings.HasSuffix(words, "y"):
		return words[:len(words)-1] + "ies"
	case strings.HasSuffix(words, "x"):
		return words + "es"
	}
	return words + "s"
}

// parseInt reads digits with optional thousands commas ("1,000,000"); ok is
// false when the value does not fit maxCardinal.
func parseInt(s string) (int64, bool) {
	s = strings.ReplaceAll(s, ",", "")
	if s == "" || len(s) > 18 {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > maxCardinal {
		return 0, false
	}
	return v, true
}

// integerWords reads an integer string: as a cardinal when it is a plain
// number, digit by digit when it is too long or has a leading zero ("007").
func integerWords(s string) string {
	plain := strings.ReplaceAll(s, ",", "")
	if len(plain) > 1 && plain[0] == '0' {
		return Digits(plain)
	}
	if v, ok := parseInt(s); ok {
		return Cardinal(v)
	}
	return Digits(plain)
}
