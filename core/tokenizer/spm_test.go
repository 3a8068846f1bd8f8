package tokenizer

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

func sharedModel(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "models", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared model %s not present (%v): tests on real models need ../shared/models next to the repository", rel, err)
	}
	return p
}

func tok512(t testing.TB) *SentencePiece {
	t.Helper()
	v, err := formats.ReadLlama2CVocab(sharedModel(t, "stories260K/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := FromLlama2C(v)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// The README's reference: run.c encodes "Once upon a time" as 1 403 407 261 378.
func TestLlama2CEncodeOnceUponATime(t *testing.T) {
	tk := tok512(t)
	got := tk.Encode("Once upon a time", true)
	want := []int{1, 403, 407, 261, 378}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Encode = %v, want %v", got, want)
	}
	if s := tk.DecodeAll(got); s != "Once upon a time" {
		t.Fatalf("DecodeAll = %q", s)
	}
}

func TestSentencePieceRoundTrip(t *testing.T) {
	tk := tok512(t)
	for _, s := range []string{
		"Once upon a time, there was a little girl named Lily.",
		"  two  spaces\nand a newline\t tab!",
		"naïve café — 日本語 🙂",
		"a<b>c [x] {y} ~`'\"",
	} {
		ids := tk.Encode(s, true)
		if got := tk.DecodeAll(ids); got != s {
			t.Errorf("round trip %q -> %v -> %q", s, ids, got)
		}
	}
	// Non-ASCII has no pieces in a 512-token vocab: it must go through byte
	// tokens (id = byte + 3 in llama2.c files).
	ids := tk.Encode("日", false)
	space, _ := tk.id("\u2581")
	if want := []int{space, 0xE6 + 3, 0x97 + 3, 0xA5 + 3}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("日 -> %v, want %v", ids, want)
	}
	if tk.Encode("", true)[0] != 1 || len(tk.Encode("", true)) != 1 {
		t.Fatal("empty text must be BOS only")
	}
}

// encodeNaive is llama.cpp's SentencePiece loop written directly (rescan
// every pair each step), the reference twin of encodeSegment's heap. s is
// the escaped text ("▁" for space).
func encodeNaive(t *SentencePiece, s string) []int {
	lookup := map[string]int{} // piece → lowest id, as a map (the tokenizer searches a sorted index)
	for id, p := range t.pieces {
		if _, dup := lookup[p]; !dup {
			lookup[p] = id
		}
	}
	var syms []string
	for i := 0; i < len(s); {
		j := min(len(s), i+utf8Len(s[i]))
		syms = append(syms, s[i:j])
		i = j
	}
	for {
		best := -1
		bestScore := float32(0)
		for i := 0; i+1 < len(syms); i++ {
			if id, ok := lookup[syms[i]+syms[i+1]]; ok && (best < 0 || t.scores[id] > bestScore) {
				best, bestScore = i, t.scores[id]
			}
		}
		if best < 0 {
			break
		}
		syms[best] += syms[best+1]
		syms = append(syms[:best+1], syms[best+2:]...)
	}
	var toks []int
	for _, sym := range syms {
		if id, ok := lookup[sym]; ok {
			toks = append(toks, id)
			continue
		}
		for k := 0; k < len(sym); k++ {
			toks = append(toks, t.byteID[sym[k]])
		}
	}
	return toks
}

func TestSentencePieceMatchesNaive(t *testing.T) {
	tk := tok512(t)
	for _, s := range []string{"the cat sat on the mat", "Lily and Ben went to the park to play with the ball.", "aaaaaaaa bbbb", "x"} {
		e := strings.ReplaceAll(" "+s, " ", "\u2581")
		got := tk.encodeSegment(nil, e)
		want := encodeNaive(tk, e)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %v, naive %v", s, got, want)
		}
	}
}

func FuzzSentencePiece(f *testing.F) {
	v, err := formats.ReadLlama2CVocab(filepath.Join("..", "..", "..", "shared", "models", "stories260K", "tok512.bin"))
	if err != nil {
		f.Skip("tok512.bin not present")
	}
	tk, _ := FromLlama2C(v)
	f.Add("Once upon a time")
	f.Add("é\xff\x80 <s>")
	f.Fuzz(func(t *testing.T, s string) {
		ids := tk.Encode(s, true)
		if got := tk.DecodeAll(ids); got != s && !containsSpecial(s) {
			t.Fatalf("%q -> %q", s, got)
		}
		e := strings.ReplaceAll(" "+s, " ", "\u2581")
		if got, want := tk.encodeSegment(nil, e), encodeNaive(tk, e); !containsSpecial(s) && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %v, naive %v", s, got, want)
		}
	})
}

func containsSpecial(s string) bool {
	for _, sp := range []string{"<s>", "</s>"} {
		if len(s) >= len(sp) && (indexOf(s, sp) >= 0) {
			return true
		}
	}
	return false
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// The GGUF vocabulary of the same model ("▁" pieces, token types) must
// encode identically to the llama2.c file.
func TestGGUFSentencePieceMatchesLlama2C(t *testing.T) {
	g, err := formats.OpenGGUF(sharedModel(t, "stories260K/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	gt, err := FromSource(g, "")
	if err != nil {
		t.Fatal(err)
	}
	lt := tok512(t)
	if got, want := gt.Encode("Once upon a time", true), []int{1, 403, 407, 261, 378}; !reflect.DeepEqual(got, want) {
		t.Fatalf("gguf Encode = %v, want %v", got, want)
	}
	for _, s := range []string{"Lily saw a big dog. It was happy!", "naïve 日本 🙂\n\ttabs", "<s> hi </s>"} {
		a, b := gt.Encode(s, true), lt.Encode(s, true)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q: gguf %v, llama2.c %v", s, a, b)
		}
		if got := gt.DecodeAll(a); got != lt.DecodeAll(b) {
			t.Errorf("%q: decode %q vs %q", s, got, lt.DecodeAll(b))
		}
	}
	if gt.BOS() != 1 || gt.EOS() != 2 || gt.VocabSize() != 512 || !gt.IsControl(2) || gt.IsControl(403) {
		t.Fatal("special ids")
	}
	if gt.Decode(2) != "" || gt.Decode(3+'A') != "A" {
		t.Fatalf("decode control %q byte %q", gt.Decode(2), gt.Decode(3+'A'))
	}
}

// Opening the llama2.c checkpoint finds tok512.bin beside it.
func TestFromSourceLlama2C(t *testing.T) {
	m, err := formats.Open(sharedModel(t, "stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tk, err := FromSource(m, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := tk.Encode("Once upon a time", true); !reflect.DeepEqual(got, []int{1, 403, 407, 261, 378}) {
		t.Fatalf("%v", got)
	}
}

// Control-token text splits out as that token, with a dummy prefix after it
// (llama.cpp's rule), so rendered chat templates encode as intended.
func TestSentencePieceSpecialText(t *testing.T) {
	tk := tok512(t)
	ids := tk.Encode("hi</s><s>yo", false)
	want := append(append(tk.encodeSegment(nil, "\u2581hi"), 2, 1), tk.encodeSegment(nil, "\u2581yo")...)
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("%v, want %v", ids, want)
	}
}

// The sorted index answers as the map it replaced: the lowest id of a
// duplicated piece, no id for a piece that is not in the vocabulary.
func TestSentencePieceIDLowestOfDuplicates(t *testing.T) {
	pieces := []string{"<unk>", "<s>", "</s>", "b", "a", "\u2581a", "a", "ab", "b", ""}
	types := make([]int32, len(pieces))
	for i := range types {
		types[i] = TypeNormal
	}
	types[0], types[1], types[2] = TypeUnknown, TypeControl, TypeControl
	tk, err := newSentencePiece(pieces, make([]float32, len(pieces)), types, 1, 2, 0, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]int{"a": 4, "b": 3, "ab": 7, "\u2581a": 5, "": 9, "<s>": 1} {
		if got, ok := tk.id(p); !ok || got != want {
			t.Errorf("id(%q) = %d, %v; want %d", p, got, ok, want)
		}
	}
	for _, p := range []string{"c", "aa", "ba", "\u2581", "<s"} {
		if got, ok := tk.id(p); ok {
			t.Errorf("id(%q) = %d, want none", p, got)
		}
	}
}
