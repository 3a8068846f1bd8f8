package tokenizer

import (
	"fmt"
	"sort"
	"sync"
)

// Pre-tokenizers: how byte-level BPE vocabularies cut text into words
// before merging. llama.cpp (src/llama-vocab.cpp, llm_tokenizer_bpe) gives
// each tokenizer.ggml.pre a list of regexes applied in turn: each regex
// cuts every piece the previous ones made, and both its matches and the
// gaps between them become pieces. Go's regexp has no lookahead, and
// llama.cpp runs regexes with Unicode classes on a "collapsed" text where
// every non-ASCII code point stands for its category, so each regex is a
// hand-written pass here, cutting exactly where llama.cpp's would:
//
//	gpt2:     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//	llama3:   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//	           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	qwen2:    llama3 with \p{N} for \p{N}{1,3}
//	gpt4o:    [^\r\n\p{L}\p{N}]?U*L+C?|[^\r\n\p{L}\p{N}]?U+L*C?|\p{N}{1,3}|
//	           ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
//	          (U a letter but not a-z, L a letter but not A-Z, C a contraction:
//	          llama.cpp's lookahead form of \p{Lu}… only tells case apart in ASCII)
//	deepseek3: [!-/:-@[-`{-~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
//	           ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// and the simple passes (isolate one class, runs of a class, three ASCII
// digits, trailing whitespace). A pass works on code points; boundaries are
// code point offsets.

// pass cuts cs[lo:hi] and appends the end offset of each of its pieces.
type pass func(cs []rune, lo, hi int, ends []int) []int

// preTokenizer is a named list of passes.
type preTokenizer struct {
	name   string
	passes []pass
}

// cut returns the end offsets of the words of cs.
func (p preTokenizer) cut(cs []rune) []int {
	if len(cs) == 0 {
		return nil
	}
	ends := []int{len(cs)}
	for _, ps := range p.passes {
		next := make([]int, 0, len(ends)*2)
		lo := 0
		for _, hi := range ends {
			next = ps(cs, lo, hi, next)
			lo = hi
		}
		ends = next
	}
	return ends
}

// split cuts text into words (the pieces of the re-encoded text; see
// codepoints).
func (p preTokenizer) split(text string) []string {
	cs, norm, off := codepoints(text)
	ends := p.cut(cs)
	if len(ends) == 0 {
		return nil
	}
	out := make([]string, len(ends))
	lo := 0
	for i, hi := range ends {
		out[i] = norm[off[lo]:off[hi]]
		lo = hi
	}
	return out
}

// preTokenizers maps tokenizer.ggml.pre names to their passes, as
// llama.cpp's llama_vocab::load and llm_tokenizer_bpe group them. It is built
// on first use: every process that links the tokenizers (loom, the text
// plugin) would otherwise build it, and the DeepSeek classes, in its init.
var preTokenizers = sync.OnceValue(func() map[string]preTokenizer {
	gpt2 := []pass{scanGPT2}
	llama3 := []pass{scanLlama3(3)}
	qwen2 := []pass{scanLlama3(1)}
	starcoder := []pass{isolate(isNumber), scanGPT2}
	deepseekLetters, deepseekPunct := parseClass(deepseekLettersSrc), parseClass(deepseekPunctSrc)
	deepseekCJK, deepseek3CJK := parseClass(deepseekCJKSrc), parseClass(deepseek3CJKSrc)
	m := map[string]preTokenizer{}
	add := func(ps []pass, names ...string) {
		for _, n := range names {
			m[n] = preTokenizer{n, ps}
		}
	}
	add([]pass{runs(isDefaultPunct), scanGPT2, runs(isNumber), asciiDigits3}, "default")
	add(llama3, "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
		"dbrx", "smaug-bpe", "glm4", "chatglm-bpe")
	add(qwen2, "qwen2", "deepseek-r1-qwen", "kormo", "megrez", "stablelm2", "hunyuan", "solar-open", "grok-2")
	add(gpt2, "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "jina-v1-en", "jina-v2-code",
		"roberta-bpe", "gigachat", "mellum", "modern-bert", "a.x-4.0", "exaone4", "mpt", "olmo", "jais", "trillion",
		"granite-docling")
	add(starcoder, "starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2")
	add([]pass{runs(isFalconPunct), scanGPT2, asciiDigits3}, "falcon")
	add([]pass{isolate(isCRLF), spacedRuns(inClass(deepseekLetters)), spacedRuns(inClass(deepseekPunct)),
		trailingSpace, runs(inClass(deepseekCJK)), runs(isNumber)}, "deepseek-llm")
	add([]pass{isolate(isCRLF), spacedRuns(isLetter), spacedRuns(isPunct), runs(inClass(deepseekCJK)),
		isolate(isNumber)}, "deepseek-coder")
	add([]pass{chunkedRuns(isNumber, 3), runs(inClass(deepseek3CJK)), search(deepseek3Match)}, "deepseek-v3", "hunyuan-dense", "joyai-llm")
	add([]pass{scanGPT4o}, "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2")
	return m
})

// PreTokenizers lists the tokenizer.ggml.pre names this package implements.
func PreTokenizers() []string {
	var out []string
	for n := range preTokenizers() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func preTokenizerFor(name string) (preTokenizer, error) {
	if name == "" {
		name = "default" // llama.cpp warns and uses its default regexes
	}
	p, ok := preTokenizers()[name]
	if !ok {
		return preTokenizer{}, fmt.Errorf("tokenizer: GGUF pre-tokenizer %q not supported", name)
	}
	return p, nil
}

// runEnd is the end of the run of pred characters at i (i when there is none).
func runEnd(cs []rune, i, hi int, pred func(rune) bool) int {
	for i < hi && pred(cs[i]) {
		i++
	}
	return i
}

// isolate makes every pred character a piece of its own ([\r\n], \p{N}).
func isolate(pred func(rune) bool) pass {
	return func(cs []rune, lo, hi int, ends []int) []int {
		for i := lo; i < hi; i++ {
			if pred(cs[i]) {
				if i > lo && !pred(cs[i-1]) {
					ends = append(ends, i)
				}
				ends = append(ends, i+1)
			}
		}
		if len(ends) == 0 || ends[len(ends)-1] != hi {
			ends = append(ends, hi)
		}
		return ends
	}
}

// runs makes every maximal run of pred characters a piece (X+); the gaps
// between runs are pieces too.
func runs(pred func(rune) bool) pass { return chunkedRuns(pred, 0) }

// chunkedRuns is runs with each run cut every n characters (X{1,n}); n 0
// leaves runs whole.
func chunkedRuns(pred func(rune) bool, n int) pass {
	return func(cs []rune, lo, hi int, ends []int) []int {
		for i := lo; i < hi; {
			j := runEnd(cs, i, hi, pred)
			if j == i { // a gap: up to the next run
				for j < hi && !pred(cs[j]) {
					j++
				}
				ends = append(ends, j)
				i = j
				continue
			}
			for ; n > 0 && j-i > n; i += n {
				ends = append(ends, i+n)
			}
			ends = append(ends, j)
			i = j
		}
		return ends
	}
}

// search cuts a piece as a regex iterator does: at each position, match
// gives the end of a match starting there (-1 for none); the matches and
// the gaps between them are the pieces.
func search(match func(cs []rune, i, hi int) int) pass {
	return func(cs []rune, lo, hi int, ends []int) []int {
		gap := lo
		for i := lo; i < hi; {
			j := match(cs, i, hi)
			if j <= i {
				i++
				continue
			}
			if i > gap {
				ends = append(ends, i)
			}
			ends = append(ends, j)
			i, gap = j, j
		}
		if gap < hi {
			ends = append(ends, hi)
		}
		return ends
	}
}

// spacedRuns is \s?X+: runs of pred characters, each taking one
// whitespace character just before it.
func spacedRuns(pred func(rune) bool) pass {
	return search(func(cs []rune, i, hi int) int {
		switch {
		case pred(cs[i]):
			return runEnd(cs, i, hi, pred)
		case isSpace(cs[i]) && i+1 < hi && pred(cs[i+1]):
			return runEnd(cs, i+1, hi, pred)
		}
		return -1
	})
}

// trailingSpace is \s+$: the whitespace at the end of the piece.
func trailingSpace(cs []rune, lo, hi int, ends []int) []int {
	k := hi
	for k > lo && isSpace(cs[k-1]) {
		k--
	}
	if k > lo && k < hi {
		ends = append(ends, k)
	}
	return append(ends, hi)
}

// asciiDigits3 is [0-9][0-9][0-9], searched left to right.
var asciiDigits3 = search(func(cs []rune, i, hi int) int {
	for k := i; k < i+3; k++ {
		if k >= hi || cs[k] < '0' || cs[k] > '9' {
			return -1
		}
	}
	return i + 3
})

// contraction is the length of 's 't 're 've 'm 'll 'd at i (ASCII
// letters, either case when fold), 0 when there is none.
func contraction(cs []rune, i, hi int, fold bool) int {
	if i+1 >= hi || cs[i] != '\'' {
		return 0
	}
	low := func(r rune) rune {
		if fold && r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	switch low(cs[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if i+2 < hi && low(cs[i+2]) == 'e' {
			return 3
		}
	case 'l':
		if i+2 < hi && low(cs[i+2]) == 'l' {
			return 3
		}
	}
	return 0
}

// spaceEnd is the end of \s+(?!\S)|\s+ at i: the whole whitespace run at
// the end of the piece, else the run less its last character (which then
// leads the next word), or one character when the run is that short.
func spaceEnd(cs []rune, i, hi int) int {
	j := runEnd(cs, i, hi, isSpace)
	if j == hi || j-i == 1 {
		return j
	}
	return j - 1
}

// lineBreakEnd is the end of \s*[\r\n]+ at i (just past the last CR or LF
// of the whitespace run), or -1 when the run has none.
func lineBreakEnd(cs []rune, i, hi int) int {
	end := -1
	for k := i; k < hi && isSpace(cs[k]); k++ {
		if isCRLF(cs[k]) {
			end = k + 1
		}
	}
	return end
}

func scanGPT2(cs []rune, lo, hi int, ends []int) []int {
	for i := lo; i < hi; {
		j := i + 1
		k := i // where the class run starts: after an optional leading space
		if cs[i] == ' ' && i+1 < hi {
			k = i + 1
		}
		switch {
		case contraction(cs, i, hi, false) > 0:
			j = i + contraction(cs, i, hi, false)
		case isLetter(cs[k]):
			j = runEnd(cs, k, hi, isLetter)
		case isNumber(cs[k]):
			j = runEnd(cs, k, hi, isNumber)
		case isOther(cs[k]):
			j = runEnd(cs, k, hi, isOther)
		default:
			j = spaceEnd(cs, i, hi)
		}
		ends = append(ends, j)
		i = j
	}
	return ends
}

// scanLlama3 is the Llama-3 split with digit groups of up to maxDigits
// (3 for Llama-3, 1 for Qwen2).
func scanLlama3(maxDigits int) pass {
	return func(cs []rune, lo, hi int, ends []int) []int {
		for i := lo; i < hi; {
			c := cs[i]
			var j int
			switch {
			case contraction(cs, i, hi, true) > 0:
				j = i + contraction(cs, i, hi, true)
			case isLetter(c):
				j = runEnd(cs, i, hi, isLetter)
			case !isCRLF(c) && !isNumber(c) && i+1 < hi && isLetter(cs[i+1]):
				j = runEnd(cs, i+1, hi, isLetter)
			case isNumber(c):
				for j = i + 1; j < hi && j-i < maxDigits && isNumber(cs[j]); j++ {
				}
			case isOther(c) || (c == ' ' && i+1 < hi && isOther(cs[i+1])):
				k := i
				if c == ' ' {
					k++
				}
				j = runEnd(cs, runEnd(cs, k, hi, isOther), hi, isCRLF)
			default: // whitespace
				if j = lineBreakEnd(cs, i, hi); j < 0 {
					j = spaceEnd(cs, i, hi)
				}
			}
			ends = append(ends, j)
			i = j
		}
		return ends
	}
}

// In the gpt-4o pattern as llama.cpp runs it, letters are upper (U) when
// not a-z and lower (L) when not A-Z: a non-ASCII letter is both.
func isUpperish(r rune) bool { return isLetter(r) && !(r >= 'a' && r <= 'z') }
func isLowerish(r rune) bool { return isLetter(r) && !(r >= 'A' && r <= 'Z') }

// gpt4oWord is U*L+C? | U+L*C? at j (cs[j] a letter), as a backtracking
// regex engine finds it: U* takes the whole upper run, then gives back
// characters until L+ can start.
func gpt4oWord(cs []rune, j, hi int) int {
	k := runEnd(cs, j, hi, isUpperish)
	var e int
	switch {
	case k < hi && cs[k] >= 'a' && cs[k] <= 'z':
		e = runEnd(cs, k, hi, isLowerish)
	default:
		e = k // U+L*: L* is empty, as cs[k] is neither U nor a-z
		for p := k - 1; p >= j; p-- {
			if isLowerish(cs[p]) { // U*L+ with L+ the last non-ASCII letter
				e = p + 1
				break
			}
		}
	}
	return e + contraction(cs, e, hi, true)
}

func scanGPT4o(cs []rune, lo, hi int, ends []int) []int {
	for i := lo; i < hi; {
		c := cs[i]
		var j int
		switch {
		case isLetter(c):
			j = gpt4oWord(cs, i, hi)
		case !isCRLF(c) && !isNumber(c) && i+1 < hi && isLetter(cs[i+1]):
			j = gpt4oWord(cs, i+1, hi)
		case isNumber(c):
			for j = i + 1; j < hi && j-i < 3 && isNumber(cs[j]); j++ {
			}
		case isOther(c) || (c == ' ' && i+1 < hi && isOther(cs[i+1])):
			k := i
			if c == ' ' {
				k++
			}
			j = runEnd(cs, runEnd(cs, k, hi, isOther), hi, func(r rune) bool { return isCRLF(r) || r == '/' })
		default:
			if j = lineBreakEnd(cs, i, hi); j < 0 {
				j = spaceEnd(cs, i, hi)
			}
		}
		ends = append(ends, j)
		i = j
	}
	return ends
}

// The DeepSeek-V3 pattern runs on llama.cpp's collapsed text, where \p{S}
// is [$+<=>^`|] in ASCII ('~' is left out) and \p{P} is ASCII punctuation.
func isDS3Punct(r rune) bool {
	if r < 0x80 {
		return r != '~' && (classOf(r) == clsPunct || classOf(r) == clsSymbol)
	}
	c := classOf(r)
	return c == clsPunct || c == clsSymbol
}

func isASCIIPunct(r rune) bool {
	return r >= '!' && r <= '/' || r >= ':' && r <= '@' || r >= '[' && r <= '`' || r >= '{' && r <= '~'
}

func isASCIILetter(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' }

func isLetterOrMark(r rune) bool { c := classOf(r); return c == clsLetter || c == clsMark }

// deepseek3Match is the DeepSeek-V3 pattern's match at i (-1 for none:
// a digit or a control character not before a letter is left in a gap).
func deepseek3Match(cs []rune, i, hi int) int {
	c := cs[i]
	switch {
	case isASCIIPunct(c) && i+1 < hi && isASCIILetter(cs[i+1]):
		return runEnd(cs, i+1, hi, isASCIILetter)
	case isLetterOrMark(c):
		return runEnd(cs, i, hi, isLetterOrMark)
	case !isCRLF(c) && !isLetter(c) && !isDS3Punct(c) && i+1 < hi && isLetterOrMark(cs[i+1]):
		return runEnd(cs, i+1, hi, isLetterOrMark)
	case isDS3Punct(c) || (c == ' ' && i+1 < hi && isDS3Punct(cs[i+1])):
		k := i
		if c == ' ' {
			k++
		}
		return runEnd(cs, runEnd(cs, k, hi, isDS3Punct), hi, isCRLF)
	case isSpace(c):
		if j := lineBreakEnd(cs, i, hi); j > 0 {
			return j
		}
		return spaceEnd(cs, i, hi)
	}
	return -1
}

// isDefaultPunct is [\p{P}\$\+<=>\^~\|]; isFalconPunct adds '`'.
func isDefaultPunct(r rune) bool {
	switch r {
	case '$', '+', '<', '=', '>', '^', '~', '|':
		return true
	}
	return classOf(r) == clsPunct
}

func isFalconPunct(r rune) bool { return r == '`' || isDefaultPunct(r) }

func isPunct(r rune) bool { return classOf(r) == clsPunct }

// charClass is a regex character class of literal characters and ranges,
// sorted, as [lo, hi] pairs.
type charClass [][2]rune

// parseClass reads the inside of a literal class like "A-Za-zµÀ-Ö".
func parseClass(s string) charClass {
	rs := []rune(s)
	var c charClass
	for i := 0; i < len(rs); i++ {
		if i+2 < len(rs) && rs[i+1] == '-' {
			c = append(c, [2]rune{rs[i], rs[i+2]})
			i += 2
			continue
		}
		c = append(c, [2]rune{rs[i], rs[i]})
	}
	sort.Slice(c, func(a, b int) bool { return c[a][0] < c[b][0] })
	return c
}

// inClass is membership in c of the character a std::wregex sees: llama.cpp
// hands non-ASCII whitespace to it as \v, so those never match a literal
// range (the ideographic space in DeepSeek's "　-。" does not).
func inClass(c charClass) func(rune) bool {
	return func(r rune) bool {
		if r >= 0x80 && isSpace(r) {
			return false
		}
		i := sort.Search(len(c), func(i int) bool { return c[i][1] >= r })
		return i < len(c) && c[i][0] <= r
	}
}

// The literal classes of DeepSeek's tokenizer.json Split regexes.
const (
	deepseekLettersSrc = "A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃"
	deepseekPunctSrc   = "!-/:-~！-／：-～‘-‟　-。"
	deepseekCJKSrc     = "一-龥ࠀ-一가-퟿"
	deepseek3CJKSrc    = "一-龥぀-ゟ゠-ヿ"
)
