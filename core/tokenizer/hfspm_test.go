package tokenizer

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// hfFromTok512 writes tok512 as a Llama-2-style (SentencePiece BPE)
// tokenizer.json the way Hugging Face's converter does: "▁" pieces, merges
// of every piece's two-piece splits ordered by the merged piece's score,
// Prepend/Replace normalizers, byte fallback, BOS by TemplateProcessing.
func hfFromTok512(t *testing.T) []byte {
	sp := tok512(t)
	vocab := map[string]int{}
	type merge struct {
		a, b  string
		score float32
		id    int
	}
	var merges []merge
	for id, p := range sp.pieces {
		hp := strings.ReplaceAll(p, " ", "\u2581")
		if _, dup := vocab[hp]; !dup {
			vocab[hp] = id
		}
	}
	for id, p := range sp.pieces {
		if sp.types[id] != TypeNormal {
			continue
		}
		hp := strings.ReplaceAll(p, " ", "\u2581")
		for k := 1; k < len(hp); k++ {
			a, b := hp[:k], hp[k:]
			ia, okA := vocab[a]
			ib, okB := vocab[b]
			if okA && okB && sp.types[ia] == TypeNormal && sp.types[ib] == TypeNormal {
				merges = append(merges, merge{a, b, sp.scores[id], id})
			}
		}
	}
	sort.SliceStable(merges, func(i, j int) bool {
		if merges[i].score != merges[j].score {
			return merges[i].score > merges[j].score
		}
		return merges[i].id < merges[j].id
	})
	ms := make([]string, len(merges))
	for i, m := range merges {
		ms[i] = m.a + " " + m.b
	}
	doc := map[string]any{
		"added_tokens": []map[string]any{
			{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []map[string]any{
			{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "\u2581"}}},
		"pre_tokenizer":  nil,
		"post_processor": map[string]any{"type": "TemplateProcessing", "single": []map[string]any{{"SpecialToken": map[string]any{"id": "<s>"}}, {"Sequence": map[string]any{"id": "A"}}}},
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": ms, "unk_token": "<unk>", "byte_fallback": true},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A SentencePiece-style tokenizer.json (as Llama-2 and Mistral folders ship)
// encodes as the llama2.c tokenizer it was made from.
func TestHFSentencePieceMatchesLlama2C(t *testing.T) {
	hf, err := ParseHF(hfFromTok512(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := tok512(t)
	if !hf.AddsBOS() || hf.BOS() != 1 || hf.EOS() != 2 {
		t.Fatalf("bos %d (adds %v) eos %d", hf.BOS(), hf.AddsBOS(), hf.EOS())
	}
	if got := hf.Encode("Once upon a time", true); !reflect.DeepEqual(got, []int{1, 403, 407, 261, 378}) {
		t.Fatalf("Encode = %v", got)
	}
	for _, s := range []string{
		"Lily and Ben went to the park. They saw a big, red ball!",
		"naïve 日本 🙂\n\ttabs  and  spaces",
		"The little dog was very happy. He wagged his tail.",
	} {
		a, b := hf.Encode(s, true), sp.Encode(s, true)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%q:\n hf  %v\n spm %v", s, a, b)
		}
		if got := hf.DecodeAll(a); got != s {
			t.Errorf("round trip %q → %q", s, got)
		}
	}
}
