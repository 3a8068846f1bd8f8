// Package lm reads back-off n-gram language models in the ARPA format (the
// text format SRILM writes and KenLM reads; Stolcke 2002) and scores token
// sequences with them. Loom's speech recogniser fuses one with its decoder
// (shallow fusion, Gulcehre et al. 2015): models/loom-asr's lm.arpa is a
// character model over the tokenizer's byte tokens (tools/asr/ngram.py), and
// its words.arpa a word model (LoadWords numbers its words) that the search
// scores whole words with (core/towers WhisperWordLM).
//
// An ARPA file lists, per order k, the n-grams seen with their log10
// probability and, for those that are a context of a longer n-gram, a log10
// back-off weight:
//
//	\data\
//	ngram 1=N1
//	…
//	\1-grams:
//	logp	w	[bow]
//	\2-grams:
//	logp	v w	[bow]
//	…
//	\end\
//
// p(w | h) is the n-gram's own probability when (h, w) is listed, else
// bow(h) · p(w | h without its first token).
package lm

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Begin and End stand for the ARPA's sentence marks <s> and </s>.
const (
	Begin = -1
	End   = -2
)

// maxID is the largest token id an n-gram key holds (two bytes per token,
// the top two values kept for the sentence marks).
const maxID = 1<<16 - 3

// NGram is a loaded back-off model; it is read-only and safe for concurrent use.
type NGram struct {
	Order int
	// The n-grams by their tokens, two bytes each (appendID): up to three
	// tokens packed in an integer (short), longer ones as a string (long). A
	// heap string per key cost a word 3-gram of 2,357 words 43 MiB of live
	// heap, most of it the strings and their headers.
	short map[uint64]gram
	long  map[string]gram
	floor float64 // ln p of a token the model never saw: its rarest unigram's
}

// shortKey packs a key of at most three tokens (six bytes) with its length
// in the top bits, so keys of different lengths never meet; false for a
// longer key.
func shortKey(key []byte) (uint64, bool) {
	if len(key) > 6 {
		return 0, false
	}
	v := uint64(len(key)) << 48
	for i, b := range key {
		v |= uint64(b) << (8 * i)
	}
	return v, true
}

func (m *NGram) put(key []byte, g gram) {
	if k, ok := shortKey(key); ok {
		m.short[k] = g
		return
	}
	m.long[string(key)] = g
}

func (m *NGram) find(key []byte) (gram, bool) {
	if k, ok := shortKey(key); ok {
		g, found := m.short[k]
		return g, found
	}
	g, found := m.long[string(key)]
	return g, found
}

type gram struct {
	logp, bow float64 // natural logs; bow 0 when the file gives none
}

// Load reads an ARPA model whose words id maps to token ids (0…65532);
// <s> and </s> are Begin and End, and <unk> lines are skipped. A word id
// does not know is an error: the model was made for another vocabulary.
func Load(r io.Reader, id func(string) (int, bool)) (*NGram, error) {
	m := &NGram{short: map[uint64]gram{}, long: map[string]gram{}, floor: math.Inf(1)}
	want := map[int]int{}
	seen := map[int]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	section, line := -1, 0 // -1: before \data\, 0: in \data\, k: the k-grams
	ln10 := math.Ln10
	var key []byte
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		switch {
		case s == "":
			continue
		case s == "\\data\\":
			section = 0
			continue
		case s == "\\end\\":
			for k, n := range want {
				if seen[k] != n {
					return nil, fmt.Errorf("arpa: %d %d-grams listed, the header says %d", seen[k], k, n)
				}
			}
			if m.Order == 0 {
				return nil, fmt.Errorf("arpa: no n-grams")
			}
			if math.IsInf(m.floor, 1) {
				return nil, fmt.Errorf("arpa: no unigrams")
			}
			return m, nil
		case strings.HasPrefix(s, "\\") && strings.HasSuffix(s, "-grams:"):
			k, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(s, "\\"), "-grams:"))
			if err != nil || k < 1 {
				return nil, fmt.Errorf("arpa line %d: bad section %q", line, s)
			}
			if _, ok := want[k]; !ok {
				return nil, fmt.Errorf("arpa line %d: section %q not in the header", line, s)
			}
			section = k
			m.Order = max(m.Order, k)
			continue
		}
		switch {
		case section < 0:
			continue // text before \data\ is a comment
		case section == 0:
			var k, n int
			if _, err := fmt.Sscanf(s, "ngram %d=%d", &k, &n); err != nil || k < 1 || n < 0 {
				return nil, fmt.Errorf("arpa line %d: bad count %q", line, s)
			}
			want[k] = n
			continue
		}
		f := strings.Fields(s)
		if len(f) != section+1 && len(f) != section+2 {
			return nil, fmt.Errorf("arpa line %d: want a log-probability, %d words and maybe a back-off weight: %q", line, section, s)
		}
		seen[section]++
		var g gram
		var err error
		if g.logp, err = strconv.ParseFloat(f[0], 64); err != nil {
			return nil, fmt.Errorf("arpa line %d: %w", line, err)
		}
		if len(f) == section+2 {
			if g.bow, err = strconv.ParseFloat(f[section+1], 64); err != nil {
				return nil, fmt.Errorf("arpa line %d: %w", line, err)
			}
		}
		if math.IsNaN(g.logp) || math.IsInf(g.logp, 0) || math.IsNaN(g.bow) || math.IsInf(g.bow, 0) {
			return nil, fmt.Errorf("arpa line %d: a log-probability or back-off weight that is not a finite number: %q", line, s)
		}
		g.logp, g.bow = g.logp*ln10, g.bow*ln10
		key = key[:0]
		unk := false
		for _, w := range f[1 : section+1] {
			var t int
			switch w {
			case "<s>":
				t = Begin
			case "</s>":
				t = End
			case "<unk>":
				unk = true
			default:
				var ok bool
				if t, ok = id(w); !ok || t < 0 || t > maxID {
					return nil, fmt.Errorf("arpa line %d: %q is not a token of the vocabulary", line, w)
				}
			}
			key = appendID(key, t)
		}
		if unk {
			continue
		}
		m.put(key, g)
		if section == 1 && f[1] != "<s>" {
			m.floor = math.Min(m.floor, g.logp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("arpa: %w", err)
	}
	return nil, fmt.Errorf("arpa: no \\end\\ line (truncated file?)")
}

func appendID(key []byte, t int) []byte {
	u := uint16(t) // Begin and End wrap to the top two values
	return append(key, byte(u), byte(u>>8))
}

// LogProb is ln p(w | ctx): ctx is the tokens before w, oldest first (Begin
// first at a sentence's start; only the last Order−1 count), w a token or End.
// A token the model never saw gets the rarest unigram's probability.
func (m *NGram) LogProb(ctx []int, w int) float64 {
	if len(ctx) > m.Order-1 {
		ctx = ctx[len(ctx)-(m.Order-1):]
	}
	var buf [64]byte
	key := buf[:0]
	for _, t := range ctx {
		key = appendID(key, t)
	}
	key = appendID(key, w)
	bo := 0.0
	for {
		if g, ok := m.find(key); ok {
			return bo + g.logp
		}
		if len(key) == 2 {
			return bo + m.floor
		}
		if g, ok := m.find(key[:len(key)-2]); ok {
			bo += g.bow
		}
		key = key[2:]
	}
}

// LoadWords reads an ARPA model over words (tools/asr/ngram.py --words) and
// numbers its words itself, in the order they first appear; it returns the
// model and each word's id. More than 65,533 words is an error.
func LoadWords(r io.Reader) (*NGram, map[string]int, error) {
	ids := map[string]int{}
	m, err := Load(r, func(w string) (int, bool) {
		id, ok := ids[w]
		if !ok {
			if len(ids) > maxID {
				return 0, false
			}
			id = len(ids)
			ids[w] = id
		}
		return id, true
	})
	if err != nil {
		return nil, nil, err
	}
	return m, ids, nil
}
