package tokenizer

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

// TestUpdateVocabExtracts rewrites testdata/vocab from full vocabularies and
// llama.cpp's llama-tokenize. It runs only when asked:
//
//	go test ./core/tokenizer -run TestUpdateVocabExtracts -update-vocab \
//	    -vocab-src DIR -llama-tokenize PATH
//
// DIR holds, per vocabulary, NAME.gguf (llama.cpp's models/ggml-vocab-NAME.gguf)
// with NAME.out (its expected ids for llamacpp.inp), or a Hugging Face
// tokenizer.json for the vocabularies llama.cpp's repository holds only as
// large files (see testdata/vocab/README.md for where each comes from).
var (
	updateVocab   = flag.Bool("update-vocab", false, "rewrite testdata/vocab from -vocab-src and -llama-tokenize")
	vocabSrc      = flag.String("vocab-src", "", "folder with the full vocabularies")
	llamaTokenize = flag.String("llama-tokenize", "", "llama.cpp's llama-tokenize binary")
	crossCheck    = flag.Bool("cross-check", false, "also run llama-tokenize where llama.cpp's .out exists, and require the same ids")
)

// vocabSource is one extract to write: from file in -vocab-src, a GGUF
// vocabulary or a tokenizer.json given the pre-tokenizer pre.
type vocabSource struct {
	name, file, pre string
}

var vocabSources = []vocabSource{
	{"llama-spm", "llama-spm.gguf", ""},
	{"phi-3", "phi-3.gguf", ""},
	{"gpt-2", "gpt-2.gguf", ""},
	{"bert-bge", "bert-bge.gguf", ""},
	{"deepseek-coder", "deepseek-coder.gguf", ""},
	{"deepseek-llm", "deepseek-llm.gguf", ""},
	{"falcon", "falcon.gguf", ""},
	{"mpt", "mpt.gguf", ""},
	{"refact", "refact.gguf", ""},
	{"starcoder", "starcoder.gguf", ""},
	{"gpt-neox", "gpt-neox.gguf", ""},
	{"llama-bpe", "llama3.json", "llama-bpe"},
	{"qwen2", "qwen3.json", "qwen2"},
	{"deepseek-v3", "deepseek-v3.json", "deepseek-v3"},
	// Pre-tokenizers whose own vocabularies are not at hand, run on the
	// Llama-3 vocabulary: the splits are what is tested.
	{"llama3-vocab-gpt-4o", "llama3.json", "gpt-4o"},
	{"llama3-vocab-command-r", "llama3.json", "command-r"},
	{"llama3-vocab-default", "llama3.json", "default"},
}

func TestUpdateVocabExtracts(t *testing.T) {
	if !*updateVocab {
		t.Skip("regenerates testdata/vocab; run with -update-vocab -vocab-src DIR -llama-tokenize PATH")
	}
	if *vocabSrc == "" {
		t.Fatal("-update-vocab needs -vocab-src (and -llama-tokenize for the hard strings)")
	}
	dir := filepath.Join("testdata", "vocab")
	common := readVocabCases(t, filepath.Join(dir, "llamacpp.inp"))
	hard := readVocabCases(t, filepath.Join(dir, "hard.inp"))
	for _, src := range vocabSources {
		t.Run(src.name, func(t *testing.T) {
			path := filepath.Join(*vocabSrc, src.file)
			var meta formats.Metadata
			gguf := path
			if strings.HasSuffix(src.file, ".json") {
				var err error
				if meta, err = hfVocabMeta(path, src.pre); err != nil {
					t.Fatal(err)
				}
				gguf = filepath.Join(t.TempDir(), src.name+".gguf")
				var buf bytes.Buffer
				if err := formats.WriteGGUF(&buf, meta, nil); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(gguf, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				g, err := formats.OpenGGUF(path)
				if err != nil {
					t.Fatal(err)
				}
				meta = formats.Metadata{}
				for _, k := range g.Meta().Keys() {
					meta[k] = g.Meta()[k]
				}
				g.Close()
			}
			// Where llama.cpp's repository has the expected ids, our
			// llama-tokenize run (on the same or a converted vocabulary)
			// must reproduce them.
			var commonOut, hardOut [][]int
			theirs := filepath.Join(*vocabSrc, src.name+".out")
			if _, err := os.Stat(theirs); err == nil {
				commonOut = readVocabOut(t, theirs)
			}
			if *llamaTokenize != "" {
				if commonOut == nil || *crossCheck {
					ours := llamaTokenizeAll(t, gguf, common)
					for i := range commonOut {
						if formatIDs(commonOut[i]) != formatIDs(ours[i]) {
							t.Fatalf("llama-tokenize on %s disagrees with %s on case %d: %v vs %v", gguf, theirs, i, ours[i], commonOut[i])
						}
					}
					commonOut = ours
				}
				hardOut = llamaTokenizeAll(t, gguf, hard)
			}
			if commonOut == nil {
				t.Fatalf("no expected ids for %s: give -llama-tokenize", src.name)
			}
			tk, err := FromGGUF(meta)
			if err != nil {
				t.Fatal(err)
			}
			keep := map[int]bool{}
			for i, c := range append(append([]string{}, common...), hard...) {
				for _, id := range tk.EncodeWith(c, Options{}) {
					keep[id] = true
				}
				want, j := commonOut, i
				if i >= len(common) {
					want, j = hardOut, i-len(common)
				}
				if j < len(want) {
					for _, id := range want[j] {
						keep[id] = true
					}
				}
			}
			if err := writeExtract(filepath.Join(dir, src.name+".vocab"), src, meta, keep); err != nil {
				t.Fatal(err)
			}
			writeOut(t, filepath.Join(dir, src.name+".out"), commonOut)
			if hardOut != nil {
				writeOut(t, filepath.Join(dir, src.name+".hard.out"), hardOut)
			}
		})
	}
}

// llamaTokenizeAll runs llama-tokenize on each case as test-tokenizer-0
// tokenizes: no BOS, control tokens not parsed, no escape processing.
func llamaTokenizeAll(t *testing.T, gguf string, cases []string) [][]int {
	t.Helper()
	var out [][]int
	for i, c := range cases {
		cmd := exec.Command(*llamaTokenize, "-m", gguf, "--stdin", "--ids", "--no-bos", "--no-parse-special",
			"--no-escape", "--log-disable")
		cmd.Stdin = strings.NewReader(c)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("llama-tokenize case %d: %v\n%s", i, err, stderr.String())
		}
		line := strings.TrimSpace(string(b))
		line = line[strings.LastIndex(line, "[")+1 : len(line)-1]
		ids := []int{}
		for _, f := range strings.Split(line, ",") {
			if f = strings.TrimSpace(f); f != "" {
				id, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("llama-tokenize output %q: %v", b, err)
				}
				ids = append(ids, id)
			}
		}
		out = append(out, ids)
	}
	return out
}

func writeOut(t *testing.T, path string, out [][]int) {
	t.Helper()
	var b strings.Builder
	for _, ids := range out {
		b.WriteString(formatIDs(ids) + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeExtract writes the tokenizer metadata, the tokens in keep and
// everything the tokenizer needs to reach them from their characters (the
// merges building each kept BPE token, the two-piece splits of each kept
// SentencePiece piece), and every special, user-defined and byte token.
func writeExtract(path string, src vocabSource, meta formats.Metadata, keep map[int]bool) error {
	tokens, _ := meta.Strings("tokenizer.ggml.tokens")
	types, err := ggufTokenTypes(meta, len(tokens))
	if err != nil {
		return err
	}
	scores, _ := meta.Float32s("tokenizer.ggml.scores")
	mergeStrs, _ := meta.Strings("tokenizer.ggml.merges")
	model, _ := meta.String("tokenizer.ggml.model")
	ids := map[string]int{}
	for i, s := range tokens {
		if _, dup := ids[s]; !dup {
			ids[s] = i
		}
		if types[i] != TypeNormal && types[i] != TypeUnused {
			keep[i] = true
		}
	}
	byResult := map[string][]int{}
	for i, m := range mergeStrs {
		a, b, _ := strings.Cut(m, " ")
		byResult[a+b] = append(byResult[a+b], i)
	}
	keepMerge := map[int]bool{}
	var queue []int
	for id := range keep {
		queue = append(queue, id)
	}
	for len(queue) > 0 {
		id := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		var parts []string
		switch model {
		case "gpt2":
			for _, m := range byResult[tokens[id]] {
				keepMerge[m] = true
				a, b, _ := strings.Cut(mergeStrs[m], " ")
				parts = append(parts, a, b)
			}
		case "llama":
			p := tokens[id]
			for k := 1; k < len(p); k++ {
				if _, okA := ids[p[:k]]; okA {
					if _, okB := ids[p[k:]]; okB {
						parts = append(parts, p[:k], p[k:])
					}
				}
			}
		}
		for _, s := range parts {
			if pid, ok := ids[s]; ok && !keep[pid] {
				keep[pid] = true
				queue = append(queue, pid)
			}
		}
	}
	var b strings.Builder
	pre, _ := meta.String("tokenizer.ggml.pre")
	fmt.Fprintf(&b, "# loom vocabulary extract: %s (tokenizer.ggml.model %q, pre %q), %d of %d tokens, %d of %d merges\n",
		src.file, model, pre, len(keep), len(tokens), len(keepMerge), len(mergeStrs))
	fmt.Fprintf(&b, "size %d\n", len(tokens))
	var keys []string
	for k := range meta {
		if strings.HasPrefix(k, "tokenizer.ggml.") || k == "general.name" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := meta[k].(type) {
		case string:
			fmt.Fprintf(&b, "meta %s string %s\n", k, strconv.Quote(v))
		case bool:
			fmt.Fprintf(&b, "meta %s bool %v\n", k, v)
		case uint32, int32, uint64, int64:
			fmt.Fprintf(&b, "meta %s u32 %d\n", k, v)
		}
	}
	var kept []int
	for id := range keep {
		kept = append(kept, id)
	}
	sort.Ints(kept)
	for _, id := range kept {
		score := float32(0)
		if scores != nil {
			score = scores[id]
		}
		fmt.Fprintf(&b, "tok %d %d %s %s\n", id, types[id], strconv.FormatFloat(float64(score), 'g', -1, 32), strconv.Quote(tokens[id]))
	}
	for i, m := range mergeStrs {
		if keepMerge[i] {
			a, c, _ := strings.Cut(m, " ")
			fmt.Fprintf(&b, "merge %s %s\n", strconv.Quote(a), strconv.Quote(c))
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// hfVocabMeta converts a byte-level BPE tokenizer.json into GGUF vocabulary
// metadata as llama.cpp's convert_hf_to_gguf.py writes it: missing ids
// become "[PADn]" unused tokens, special added tokens control tokens, other
// added tokens user-defined; the architecture keys are those of a tiny
// Llama, so that llama-tokenize loads the file and makes its context fast.
func hfVocabMeta(path, pre string) (formats.Metadata, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var j hfTokenizerJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, err
	}
	merges, err := parseMerges(j.Model.Merges)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, id := range j.Model.Vocab {
		n = max(n, id+1)
	}
	for _, a := range j.AddedTokens {
		n = max(n, a.ID+1)
	}
	tokens := make([]string, n)
	types := make([]int32, n)
	for i := range tokens {
		tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), TypeUnused
	}
	for s, id := range j.Model.Vocab {
		tokens[id], types[id] = s, TypeNormal
	}
	for _, a := range j.AddedTokens {
		tokens[a.ID], types[a.ID] = a.Content, TypeUserDefined
		if a.Special {
			types[a.ID] = TypeControl
		}
	}
	ms := make([]string, len(merges))
	for i, m := range merges {
		ms[i] = m[0] + " " + m[1]
	}
	meta := formats.Metadata{
		"general.architecture": "llama", "general.name": filepath.Base(path),
		"llama.context_length": uint32(64), "llama.embedding_length": uint32(64), "llama.block_count": uint32(1),
		"llama.feed_forward_length": uint32(64), "llama.attention.head_count": uint32(1),
		"llama.attention.head_count_kv": uint32(1), "llama.rope.dimension_count": uint32(64),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5), "llama.vocab_size": uint32(n),
		"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre,
		"tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types, "tokenizer.ggml.merges": ms,
	}
	for _, name := range []string{"<|begin_of_text|>", "<｜begin▁of▁sentence｜>"} {
		for i, s := range tokens {
			if s == name {
				meta["tokenizer.ggml.bos_token_id"] = uint32(i)
			}
		}
	}
	for _, name := range []string{"<|end_of_text|>", "<|endoftext|>", "<｜end▁of▁sentence｜>"} {
		for i, s := range tokens {
			if s == name {
				meta["tokenizer.ggml.eos_token_id"] = uint32(i)
			}
		}
	}
	return meta, nil
}
