package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tinyCLIP writes a CLIP-style vocabulary: the 256 byte runes, each also
// with "</w>", a few merges, and the two special tokens.
func tinyCLIP(t *testing.T) (vocab map[string]int, merges []string) {
	t.Helper()
	vocab = map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[string(byteToRune[b])] = len(vocab)
	}
	for b := 0; b < 256; b++ {
		vocab[string(byteToRune[b])+"</w>"] = len(vocab)
	}
	merges = []string{"t h", "th e</w>", "c a", "ca t</w>", "' s</w>", "d o", "do g", "dog s</w>", "! !</w>", "Ã ©</w>"}
	for _, m := range merges {
		vocab[strings.ReplaceAll(m, " ", "")] = len(vocab)
	}
	vocab["<|startoftext|>"] = len(vocab)
	vocab["<|endoftext|>"] = len(vocab)
	return vocab, merges
}

func writeCLIPFolder(t *testing.T, withPad string) string {
	t.Helper()
	vocab, merges := tinyCLIP(t)
	dir := t.TempDir()
	vj, _ := json.Marshal(vocab)
	if err := os.WriteFile(filepath.Join(dir, "vocab.json"), vj, 0o644); err != nil {
		t.Fatal(err)
	}
	mt := "#version: 0.2\n" + strings.Join(merges, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(mt), 0o644); err != nil {
		t.Fatal(err)
	}
	if withPad != "" {
		sp := `{"pad_token": {"content": "` + withPad + `"}}`
		if err := os.WriteFile(filepath.Join(dir, "special_tokens_map.json"), []byte(sp), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func pieces(c *CLIP, ids []int) []string {
	var out []string
	for _, id := range ids {
		out = append(out, c.pieces[id])
	}
	return out
}

func TestCLIPEncode(t *testing.T) {
	c, err := LoadCLIP(writeCLIPFolder(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	ids := c.Encode("  The\tCAT's 37 dogs!! dogé", false)
	// "dogé" is one word: é (C3 A9) maps to the runes Ã ©, merged apart from "dog".
	want := []string{"the</w>", "cat</w>", "'s</w>", "3</w>", "7</w>", "dogs</w>", "!!</w>", "dog", "Ã©</w>"}
	if got := pieces(c, ids); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pieces %q, want %q", got, want)
	}
	if got := c.DecodeAll(ids); got != "the cat 's 3 7 dogs !! dogé" {
		t.Errorf("decoded %q", got)
	}
	p, err := c.EncodePrompt("the cat", 6)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 6 || p[0] != c.BOS() || p[3] != c.EOS() || p[4] != c.Pad() || p[5] != c.EOS() {
		t.Errorf("prompt ids %v (bos %d eos %d)", p, c.BOS(), c.EOS())
	}
	p, _ = c.EncodePrompt("the cat the cat the cat", 5)
	if len(p) != 5 || p[4] != c.EOS() || pieces(c, p[1:4])[2] != "the</w>" {
		t.Errorf("truncated prompt %v", pieces(c, p))
	}
	if _, err := c.EncodePrompt("x", 1); err == nil {
		t.Error("length 1 accepted")
	}
	if ids := c.Encode("<|endoftext|>the", true); len(ids) != 3 || ids[0] != c.BOS() || ids[1] != c.EOS() {
		t.Errorf("specials in text: %v", ids)
	}
}

func TestCLIPPadAndTokenizerJSON(t *testing.T) {
	c, err := LoadCLIP(writeCLIPFolder(t, "!</w>"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pad() != c.vocab["!</w>"] {
		t.Errorf("pad %d, want the id of !</w>", c.Pad())
	}
	vocab, merges := tinyCLIP(t)
	j, _ := json.Marshal(map[string]any{"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": merges, "end_of_word_suffix": "</w>"}})
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), j, 0o644)
	c2, err := LoadCLIP(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := c.Encode("the dogs", false), c2.Encode("the dogs", false)
	if len(a) != 2 || len(b) != 2 || a[0] != b[0] || a[1] != b[1] {
		t.Errorf("vocab.json %v and tokenizer.json %v differ", a, b)
	}
	bad, _ := json.Marshal(map[string]any{"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": merges}})
	if _, err := ParseCLIPJSON(bad); err == nil {
		t.Error("BPE without </w> accepted as CLIP")
	}
	if _, err := ParseCLIP([]byte(`{"a":0}`), nil); err == nil {
		t.Error("vocabulary without specials accepted")
	}
	if _, err := ParseCLIP([]byte(`{"a":0}`), []byte("a b c\n")); err == nil {
		t.Error("bad merges line accepted")
	}
}

func FuzzCLIPEncode(f *testing.F) {
	vocab, merges := tinyCLIP(&testing.T{})
	vj, _ := json.Marshal(vocab)
	c, err := ParseCLIP(vj, []byte(strings.Join(merges, "\n")))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"the cat's", "", "  \t", "<|endoftext|>x", "ÉÉ!!'ll", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := c.Encode(s, true)
		for _, id := range ids {
			if id < 0 || id >= c.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		p, err := c.EncodePrompt(s, 8)
		if err != nil || len(p) != 8 {
			t.Fatalf("prompt %v %v", p, err)
		}
		_ = c.DecodeAll(ids)
	})
}
