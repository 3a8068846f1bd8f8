package textnorm

import (
	"regexp"
	"strings"
)

// A rule rewrites every match of re; expand sees the whole string and the
// submatch indices, so it can look at the context (St. Louis vs Main St.).
// Rules run in order, each over the previous one's output, most specific
// first: abbreviations with periods before decimals, currency before plain
// numbers, plain numbers last. Replacements are padded with spaces; tidy
// collapses them.
type rule struct {
	re     *regexp.Regexp
	expand func(s string, m []int) string
}

func sub(s string, m []int, i int) string {
	if m[2*i] < 0 {
		return ""
	}
	return s[m[2*i]:m[2*i+1]]
}

func (r rule) apply(s string) string {
	ms := r.re.FindAllStringSubmatchIndex(s, -1)
	if ms == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		b.WriteString(s[last:m[0]])
		b.WriteString(r.expand(s, m))
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

const num = `(?:\d{1,3}(?:,\d{3})+|\d+)` // an integer, optionally with thousands commas

var rules = []rule{
	// Latin abbreviations first: their periods are not initialisms.
	{regexp.MustCompile(`\b(?:e\.g|E\.g|i\.e|I\.e)\.`), func(s string, m []int) string {
		if strings.ToLower(s[m[0]:m[0]+1]) == "e" {
			return " for example, "
		}
		return " that is, "
	}},
	// Dotted initialisms: U.S.A. → "you ess ay".
	{regexp.MustCompile(`\b(?:[A-Za-z]\.){2,}`), func(s string, m []int) string {
		return " " + spellLetters(strings.ReplaceAll(s[m[0]:m[1]], ".", "")) + " "
	}},
	{regexp.MustCompile(`\b([A-Z][a-z]{0,4}|[a-z]{2,6})\.`), expandAbbrev},
	// Currency: $3.50, £1,200, €5 million.
	{regexp.MustCompile(`([$£€])\s?(` + num + `)(?:\.(\d+))?(?:\s+(thousand|million|billion|trillion)\b)?`), expandCurrency},
	// Clock times: 3:30, 10:05 pm, 7:00 a.m.
	{regexp.MustCompile(`\b([01]?\d|2[0-3]):([0-5]\d)(?:\s?([AaPp])\.?\s?[Mm]\b\.?)?`), expandTime},
	{regexp.MustCompile(`\b(\d{1,2})\s?([AaPp])\.?[Mm]\b\.?`), func(s string, m []int) string {
		return " " + integerWords(sub(s, m, 1)) + " " + spellLetters(sub(s, m, 2)+"m") + keptStop(s, m)
	}},
	// Dates: the day after a month is an ordinal (May 5 → "may fifth").
	{regexp.MustCompile(`\b(January|February|March|April|May|June|July|August|September|October|November|December|Jan\.|Feb\.|Mar\.|Apr\.|Jun\.|Jul\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)\s+([1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\b`), func(s string, m []int) string {
		d, _ := parseInt(sub(s, m, 2))
		return " " + sub(s, m, 1) + " " + Ordinal(d) + " "
	}},
	// Ordinals: 1st, 22nd, 103rd, 5th.
	{regexp.MustCompile(`\b(` + num + `)(?:st|nd|rd|th|ST|ND|RD|TH)\b`), func(s string, m []int) string {
		if v, ok := parseInt(sub(s, m, 1)); ok {
			return " " + Ordinal(v) + " "
		}
		return " " + Digits(sub(s, m, 1)) + " "
	}},
	// Decades: 1990s, '60s.
	{regexp.MustCompile(`\b(\d{4}|\d0)'?s\b`), func(s string, m []int) string {
		d := sub(s, m, 1)
		v, _ := parseInt(d)
		if len(d) == 4 {
			return " " + pluralNumber(Year(v)) + " "
		}
		return " " + pluralNumber(Cardinal(v)) + " "
	}},
	// Percentages and units after a number: 5%, 2.5 km, 1 kg.
	{regexp.MustCompile(`(` + num + `(?:\.\d+)?)\s?(%|(?i:km|kg|cm|mm|mph|lbs?|ft|oz|kb|mb|gb|tb|ghz|mhz|khz|hz|ml)\b)`), expandUnit},
	// Negative numbers: -5 (not the hyphen of a range).
	{regexp.MustCompile(`(^|[^\w.])-(\d)`), func(s string, m []int) string {
		return sub(s, m, 1) + " minus " + sub(s, m, 2)
	}},
	// Ranges: 5-10, 1990-1995.
	{regexp.MustCompile(`\b(\d{1,4})-(\d{1,4})\b`), func(s string, m []int) string {
		return sub(s, m, 1) + " to " + sub(s, m, 2)
	}},
	// Decimals: 3.14, 0.5, .75 (digits after the point read one by one).
	{regexp.MustCompile(`(` + num + `)?\.(\d+)`), func(s string, m []int) string {
		if m[2] < 0 {
			if m[0] > 0 && isWordByte(s[m[0]-1]) {
				return s[m[0]:m[1]] // "v.2": not a decimal; the integer rule reads the 2
			}
			return " point " + Digits(sub(s, m, 2)) + " "
		}
		return " " + integerWords(sub(s, m, 1)) + " point " + Digits(sub(s, m, 2)) + " "
	}},
	// Integers and years.
	{regexp.MustCompile(num), func(s string, m []int) string {
		d := s[m[0]:m[1]]
		if len(d) == 4 && d[0] != '0' {
			if v, _ := parseInt(d); v >= 1100 && v <= 2099 {
				return " " + Year(v) + " "
			}
		}
		return " " + integerWords(d) + " "
	}},
	// Symbols that are words.
	{regexp.MustCompile(`[&@+=#%]`), func(s string, m []int) string {
		return " " + map[string]string{"&": "and", "@": "at", "+": "plus", "=": "equals", "#": "number", "%": "percent"}[s[m[0]:m[1]]] + " "
	}},
	// Initialisms in otherwise mixed-case text: BBC → "bee bee see", CDs → "see dees".
	{regexp.MustCompile(`\b([A-Z]{2,5})(s?)\b`), expandInitialism},
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// abbreviations always expanded (titles and the like, which precede a name:
// their period never ends a sentence).
var titles = map[string]string{
	"Dr": "doctor", "Mr": "mister", "Mrs": "missus", "Ms": "miz", "Prof": "professor",
	"Gen": "general", "Capt": "captain", "Lt": "lieutenant", "Sgt": "sergeant", "Rev": "reverend",
	"Hon": "honorable", "Mt": "mount", "Ft": "fort",
}

// abbreviations that may end a sentence: their period is kept as a sentence
// end when a capitalised word follows.
var abbrevs = map[string]string{
	"Jr": "junior", "Sr": "senior", "Ave": "avenue", "Rd": "road", "Blvd": "boulevard",
	"Co": "company", "Corp": "corporation", "Inc": "incorporated", "Ltd": "limited",
	"vs": "versus", "etc": "et cetera", "approx": "approximately", "Dept": "department",
	"dept": "department", "Fig": "figure", "fig": "figure", "Vol": "volume", "vol": "volume",
	"Jan": "january", "Feb": "february", "Mar": "march", "Apr": "april", "Jun": "june",
	"Jul": "july", "Aug": "august", "Sep": "september", "Sept": "september", "Oct": "october",
	"Nov": "november", "Dec": "december", "min": "minutes", "hr": "hours", "hrs": "hours",
}

func expandAbbrev(s string, m []int) string {
	w := sub(s, m, 1)
	rest := strings.TrimLeft(s[m[1]:], " ")
	nextUpper := rest != "" && rest[0] >= 'A' && rest[0] <= 'Z'
	nextDigit := rest != "" && rest[0] >= '0' && rest[0] <= '9'
	switch {
	case w == "St":
		// "St. Louis" is a saint; "Main St." a street.
		prev := strings.Fields(s[:m[0]])
		afterName := len(prev) > 0 && prev[len(prev)-1][0] >= 'A' && prev[len(prev)-1][0] <= 'Z'
		if nextUpper && !afterName {
			return " saint "
		}
		return " street" + sentenceEnd(nextUpper)
	case w == "No" && nextDigit, w == "no" && nextDigit:
		return " number "
	case titles[w] != "":
		return " " + titles[w] + " "
	case abbrevs[w] != "":
		return " " + abbrevs[w] + sentenceEnd(nextUpper)
	}
	return s[m[0]:m[1]] // an ordinary word before a full stop
}

func sentenceEnd(nextUpper bool) string {
	if nextUpper {
		return ". "
	}
	return " "
}

var currencies = map[string][4]string{
	"$": {"dollar", "dollars", "cent", "cents"},
	"£": {"pound", "pounds", "penny", "pence"},
	"€": {"euro", "euros", "cent", "cents"},
}

func expandCurrency(s string, m []int) string {
	c := currencies[sub(s, m, 1)]
	whole, frac, scale := sub(s, m, 2), sub(s, m, 3), sub(s, m, 4)
	if scale != "" { // $3.5 million → "three point five million dollars"
		w := integerWords(whole)
		if frac != "" {
			w += " point " + Digits(frac)
		}
		return " " + w + " " + scale + " " + c[1] + " "
	}
	v, ok := parseInt(whole)
	if !ok {
		return " " + integerWords(whole) + " " + c[1] + " "
	}
	var cents int64
	switch {
	case len(frac) == 1:
		cents = int64(frac[0]-'0') * 10
	case len(frac) == 2:
		cents = int64(frac[0]-'0')*10 + int64(frac[1]-'0')
	case len(frac) > 2: // $1.999: read as a decimal amount
		return " " + integerWords(whole) + " point " + Digits(frac) + " " + c[1] + " "
	}
	unit := func(n int64, one, many string) string {
		if n == 1 {
			return Cardinal(n) + " " + one
		}
		return Cardinal(n) + " " + many
	}
	switch {
	case cents == 0:
		return " " + unit(v, c[0], c[1]) + " "
	case v == 0:
		return " " + unit(cents, c[2], c[3]) + " "
	}
	return " " + unit(v, c[0], c[1]) + " and " + unit(cents, c[2], c[3]) + " "
}

func expandTime(s string, m []int) string {
	h, _ := parseInt(sub(s, m, 1))
	min, _ := parseInt(sub(s, m, 2))
	w := Cardinal(h)
	ampm := sub(s, m, 3)
	switch {
	case min == 0 && ampm == "":
		w += " o'clock"
	case min == 0:
	case min < 10:
		w += " oh " + Cardinal(min)
	default:
		w += " " + Cardinal(min)
	}
	if ampm != "" {
		w += " " + spellLetters(ampm+"m")
	}
	return " " + w + keptStop(s, m)
}

// keptStop gives back the full stop a match swallowed ("7 p.m. Then") when
// it also ends the sentence: a capital or the end of the text follows.
func keptStop(s string, m []int) string {
	if s[m[1]-1] != '.' {
		return " "
	}
	rest := strings.TrimLeft(s[m[1]:], " ")
	if rest == "" || rest[0] >= 'A' && rest[0] <= 'Z' {
		return ". "
	}
	return " "
}

var unitWords = map[string][2]string{
	"%": {"percent", "percent"}, "km": {"kilometer", "kilometers"}, "kg": {"kilogram", "kilograms"},
	"cm": {"centimeter", "centimeters"}, "mm": {"millimeter", "millimeters"},
	"mph": {"mile per hour", "miles per hour"}, "lb": {"pound", "pounds"}, "lbs": {"pound", "pounds"},
	"ft": {"foot", "feet"}, "oz": {"ounce", "ounces"}, "kb": {"kilobyte", "kilobytes"},
	"mb": {"megabyte", "megabytes"}, "gb": {"gigabyte", "gigabytes"}, "tb": {"terabyte", "terabytes"},
	"ghz": {"gigahertz", "gigahertz"}, "mhz": {"megahertz", "megahertz"}, "khz": {"kilohertz", "kilohertz"},
	"hz": {"hertz", "hertz"}, "ml": {"milliliter", "milliliters"},
}

func expandUnit(s string, m []int) string {
	n, u := sub(s, m, 1), unitWords[strings.ToLower(sub(s, m, 2))]
	var w string
	if i := strings.IndexByte(n, '.'); i >= 0 {
		w = integerWords(n[:i]) + " point " + Digits(n[i+1:])
	} else {
		w = integerWords(n)
	}
	if w == "one" {
		return " one " + u[0] + " "
	}
	return " " + w + " " + u[1] + " "
}

// shortWords are all-caps words read as words, not spelled.
var shortWords = map[string]bool{
	"THE": true, "AND": true, "FOR": true, "BUT": true, "NOT": true, "YOU": true, "ARE": true,
	"WAS": true, "HAS": true, "CAN": true, "ALL": true, "ONE": true, "OUT": true, "OUR": true,
	"NEW": true, "NOW": true, "HOW": true, "WHO": true, "WHY": true, "OK": true, "NO": true,
	"GO": true, "SO": true, "TO": true, "DO": true, "IS": true, "IT": true, "IN": true,
	"ON": true, "AT": true, "BY": true, "MY": true, "WE": true, "HE": true, "ME": true,
	"BE": true, "OF": true, "OR": true, "AN": true, "AS": true, "IF": true, "UP": true,
	"US": true, "AM": true, "HI": true, "YES": true, "SHE": true, "HIS": true, "HER": true,
	"ANY": true, "GET": true, "SEE": true, "TOP": true, "BIG": true, "BAD": true, "GOOD": true,
	"STOP": true, "HELP": true,
}

func expandInitialism(s string, m []int) string {
	w, plural := sub(s, m, 1), sub(s, m, 2)
	if shortWords[w] || !hasLower(s) || (len(w) >= 4 && strings.ContainsAny(w, "AEIOU")) {
		return s[m[0]:m[1]] // shouted text or a pronounceable acronym (NASA)
	}
	out := spellLetters(w)
	if plural != "" {
		out += "s" // CDs → "see dees"
	}
	return " " + out + " "
}

func hasLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'a' && s[i] <= 'z' {
			return true
		}
	}
	return false
}

var letterNames = [26]string{"ay", "bee", "see", "dee", "ee", "eff", "gee", "aitch", "eye", "jay", "kay", "el",
	"em", "en", "oh", "pee", "cue", "ar", "ess", "tee", "you", "vee", "double you", "ex", "why", "zee"}

// spellLetters spells letters by name ("bbc" → "bee bee see"), so a
// character model reads initialisms as it would any other words.
func spellLetters(w string) string {
	var out []string
	for _, r := range strings.ToLower(w) {
		if r >= 'a' && r <= 'z' {
			out = append(out, letterNames[r-'a'])
		}
	}
	return strings.Join(out, " ")
}
