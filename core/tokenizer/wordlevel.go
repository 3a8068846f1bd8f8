package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// WordLevel is Hugging Face's WordLevel model (tokenizer.json "model.type":
// "WordLevel" with a whitespace pre-tokenizer): one id per whole word, an
// unknown-word token, and special tokens from "added_tokens". Loom's own
// small models (the Shapes captioner) use it: their vocabularies are closed.
type WordLevel struct {
	vocab   map[string]int
	words   []string
	special map[int]bool
	unk     int
	bos     int
	eos     int
}

// ParseWordLevel reads a WordLevel tokenizer.json. bos and eos name the
// model's start and end tokens (from its config); -1 when it has none.
func ParseWordLevel(data []byte, bos, eos int) (*WordLevel, error) {
	var f struct {
		Model struct {
			Type     string         `json:"type"`
			Vocab    map[string]int `json:"vocab"`
			UnkToken string         `json:"unk_token"`
		} `json:"model"`
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if f.Model.Type != "WordLevel" {
		return nil, fmt.Errorf("tokenizer.json: model type %q, want WordLevel", f.Model.Type)
	}
	n := len(f.Model.Vocab)
	if n == 0 || n > 1<<20 {
		return nil, fmt.Errorf("tokenizer.json: WordLevel vocabulary of %d words", n)
	}
	w := &WordLevel{vocab: f.Model.Vocab, words: make([]string, n), special: map[int]bool{}, unk: -1, bos: bos, eos: eos}
	seen := make([]bool, n)
	for word, id := range f.Model.Vocab {
		if id < 0 || id >= n || seen[id] {
			return nil, fmt.Errorf("tokenizer.json: word %q has id %d; ids must be 0…%d, each once", word, id, n-1)
		}
		seen[id] = true
		w.words[id] = word
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= n || w.words[a.ID] != a.Content {
			return nil, fmt.Errorf("tokenizer.json: added token %q id %d not in the vocabulary", a.Content, a.ID)
		}
		if a.Special {
			w.special[a.ID] = true
		}
	}
	if id, ok := f.Model.Vocab[f.Model.UnkToken]; ok {
		w.unk = id
	}
	for _, id := range []int{bos, eos} {
		if id >= n {
			return nil, fmt.Errorf("tokenizer.json: special id %d outside vocabulary of %d", id, n)
		}
	}
	return w, nil
}

// EncodeWith is Encode with o.AddSpecial for addBOS (a WordLevel
// vocabulary has no special tokens to parse).
func (w *WordLevel) EncodeWith(text string, o Options) []int { return w.Encode(text, o.AddSpecial) }

// Encode splits on whitespace; unknown words become the unknown token (or
// are dropped when the vocabulary has none).
func (w *WordLevel) Encode(text string, addBOS bool) []int {
	var ids []int
	if addBOS && w.bos >= 0 {
		ids = append(ids, w.bos)
	}
	for _, word := range strings.Fields(text) {
		if id, ok := w.vocab[word]; ok {
			ids = append(ids, id)
		} else if w.unk >= 0 {
			ids = append(ids, w.unk)
		}
	}
	return ids
}

// Decode is the word of one id; special tokens decode to "".
func (w *WordLevel) Decode(id int) string {
	if id < 0 || id >= len(w.words) || w.special[id] {
		return ""
	}
	return w.words[id]
}

// DecodeAll joins the words of ids with single spaces, skipping special tokens.
func (w *WordLevel) DecodeAll(ids []int) string {
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		if s := w.Decode(id); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, " ")
}

func (w *WordLevel) BOS() int              { return w.bos }
func (w *WordLevel) EOS() int              { return w.eos }
func (w *WordLevel) VocabSize() int        { return len(w.words) }
func (w *WordLevel) IsControl(id int) bool { return w.special[id] }
