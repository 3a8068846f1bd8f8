package tokenizer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

// llama.cpp's tokenizer test vectors (models/ggml-vocab-NAME.gguf.inp/.out,
// checked by its tests/test-tokenizer-0) and our own hard strings
// (testdata/vocab/hard.inp, expected ids from llama-tokenize), run on
// compact extracts of the vocabularies (testdata/vocab/NAME.vocab, written
// by TestUpdateVocabExtracts; see testdata/vocab/README.md). Every case is
// tokenized as test-tokenizer-0 does: no BOS, control tokens not parsed.

const vocabCaseSep = "\n__ggml_vocab_test__\n"

// readVocabCases splits an .inp file as test-tokenizer-0 does: every case
// ends with the separator line.
func readVocabCases(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	s := string(b)
	for pos := 0; pos < len(s); {
		k := strings.Index(s[pos:], vocabCaseSep)
		if k < 0 {
			cases = append(cases, s[pos:])
			break
		}
		cases = append(cases, s[pos:pos+k])
		pos += k + len(vocabCaseSep)
	}
	return cases
}

// readVocabOut reads one line of space-separated ids per case.
func readVocabOut(t testing.TB, path string) [][]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]int
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		ids := []int{}
		for _, f := range strings.Fields(line) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			ids = append(ids, id)
		}
		out = append(out, ids)
	}
	return out
}

func formatIDs(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&b, " %d", id)
	}
	return b.String()
}

// An extract keeps the tokenizer.* metadata of a vocabulary GGUF and only
// the tokens and merges its test cases reach (the others become unmatchable
// fillers, so ids stay those of the real vocabulary):
//
//	size 102400
//	meta tokenizer.ggml.pre string "deepseek-llm"
//	tok 100000 3 0 "<｜begin▁of▁sentence｜>"      (id, type, score, text)
//	merge "Ġ" "t"                                  (in rank order)
func readExtract(path string) (formats.Metadata, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	meta := formats.Metadata{}
	var tokens []string
	var types []int32
	var scores []float32
	var merges []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || text[0] == '#' {
			continue
		}
		kind, rest, _ := strings.Cut(text, " ")
		bad := func(err error) error { return fmt.Errorf("%s:%d: %v: %q", path, line, err, text) }
		switch kind {
		case "size":
			n, err := strconv.Atoi(rest)
			if err != nil || n <= 0 || n > 1<<22 {
				return nil, bad(fmt.Errorf("bad size"))
			}
			tokens, types, scores = make([]string, n), make([]int32, n), make([]float32, n)
			for i := range tokens {
				tokens[i], types[i] = "\uE000"+strconv.Itoa(i), TypeNormal
			}
		case "meta":
			key, rest, _ := strings.Cut(rest, " ")
			typ, val, _ := strings.Cut(rest, " ")
			switch typ {
			case "string":
				s, err := strconv.Unquote(val)
				if err != nil {
					return nil, bad(err)
				}
				meta[key] = s
			case "bool":
				meta[key] = val == "true"
			case "u32":
				n, err := strconv.ParseUint(val, 10, 32)
				if err != nil {
					return nil, bad(err)
				}
				meta[key] = uint32(n)
			default:
				return nil, bad(fmt.Errorf("type %q", typ))
			}
		case "tok":
			f := strings.SplitN(rest, " ", 4)
			if len(f) != 4 {
				return nil, bad(fmt.Errorf("want id, type, score, text"))
			}
			id, err1 := strconv.Atoi(f[0])
			typ, err2 := strconv.Atoi(f[1])
			score, err3 := strconv.ParseFloat(f[2], 32)
			s, err4 := strconv.Unquote(f[3])
			if err := errors.Join(err1, err2, err3, err4); err != nil || id < 0 || id >= len(tokens) {
				return nil, bad(fmt.Errorf("token %d: %v", id, err))
			}
			tokens[id], types[id], scores[id] = s, int32(typ), float32(score)
		case "merge":
			a, b, err := unquotePair(rest)
			if err != nil {
				return nil, bad(err)
			}
			merges = append(merges, a+" "+b)
		default:
			return nil, bad(fmt.Errorf("unknown line"))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	meta["tokenizer.ggml.tokens"] = tokens
	meta["tokenizer.ggml.token_type"] = types
	if model, _ := meta.String("tokenizer.ggml.model"); model == "llama" {
		meta["tokenizer.ggml.scores"] = scores
	}
	if merges != nil {
		meta["tokenizer.ggml.merges"] = merges
	}
	return meta, nil
}

func unquotePair(s string) (string, string, error) {
	q1, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	a, _ := strconv.Unquote(q1)
	b, err := strconv.Unquote(strings.TrimSpace(s[len(q1):]))
	return a, b, err
}

// vectorSets are the extracts under test and the case files each has.
func vectorSets(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob("testdata/vocab/*.vocab")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no vocabulary extracts in testdata/vocab (%v)", err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".vocab"))
	}
	return names
}

// extractTokenizer loads an extract the way a GGUF file is loaded: written
// with formats.WriteGGUF, parsed back, built by FromGGUF.
func extractTokenizer(t testing.TB, name string) Tokenizer {
	t.Helper()
	meta, err := readExtract(filepath.Join("testdata", "vocab", name+".vocab"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := formats.WriteGGUF(&buf, meta, nil); err != nil {
		t.Fatal(err)
	}
	g, err := formats.ParseGGUF(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	tk, err := FromGGUF(g.Meta())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tk
}

func TestLlamaCppVocabVectors(t *testing.T) {
	for _, name := range vectorSets(t) {
		t.Run(name, func(t *testing.T) {
			tk := extractTokenizer(t, name)
			for _, set := range []struct{ inp, out string }{
				{"llamacpp.inp", name + ".out"},  // llama.cpp's test strings
				{"hard.inp", name + ".hard.out"}, // ours
			} {
				inp := filepath.Join("testdata", "vocab", set.inp)
				out := filepath.Join("testdata", "vocab", set.out)
				if _, err := os.Stat(out); err != nil {
					continue
				}
				cases, want := readVocabCases(t, inp), readVocabOut(t, out)
				if len(cases) != len(want) {
					t.Fatalf("%s: %d cases, %s: %d lines", set.inp, len(cases), set.out, len(want))
				}
				pass := 0
				for i, c := range cases {
					got := tk.EncodeWith(c, Options{})
					if formatIDs(got) == formatIDs(want[i]) {
						pass++
						continue
					}
					t.Errorf("%s case %d %q:\n got %v\nwant %v", set.inp, i, c, got, want[i])
				}
				t.Logf("%s: %d/%d", set.out, pass, len(cases))
			}
		})
	}
}

// The vectors are sensitive to the pre-tokenizer: split another way (GPT-2's
// regex, or llama.cpp's default for GPT-2 itself), every vocabulary fails
// some of its cases. (Not every pair differs on these strings: Qwen2's
// vocabulary has only one-digit numbers, so Llama-3's 3-digit groups give
// the same ids.)
func TestVocabVectorsDetectWrongPreTokenizer(t *testing.T) {
	for _, c := range []struct{ name, wrong string }{
		{"deepseek-llm", "gpt-2"}, {"deepseek-coder", "gpt-2"}, {"falcon", "gpt-2"}, {"mpt", "default"},
		{"starcoder", "gpt-2"}, {"refact", "gpt-2"}, {"llama-bpe", "qwen2"}, {"qwen2", "gpt-2"}, {"gpt-2", "default"},
	} {
		meta, err := readExtract(filepath.Join("testdata", "vocab", c.name+".vocab"))
		if err != nil {
			t.Fatal(err)
		}
		meta["tokenizer.ggml.pre"] = c.wrong
		tk, err := FromGGUF(meta)
		if err != nil {
			t.Fatal(err)
		}
		cases := readVocabCases(t, filepath.Join("testdata", "vocab", "llamacpp.inp"))
		want := readVocabOut(t, filepath.Join("testdata", "vocab", c.name+".out"))
		diff := 0
		for i, s := range cases {
			if formatIDs(tk.EncodeWith(s, Options{})) != formatIDs(want[i]) {
				diff++
			}
		}
		if diff == 0 {
			t.Errorf("%s with pre-tokenizer %s passes all its vectors", c.name, c.wrong)
		}
	}
}
