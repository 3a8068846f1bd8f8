// Package tokenizer turns text into token ids and back for Loom's decoders:
// SentencePiece-style BPE with scores and byte fallback (llama2.c tokenizer
// files and GGUF "llama" vocabularies), byte-level BPE from Hugging Face
// tokenizer.json (GPT-2, Llama-3, Qwen2), and chat templates.
package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/loomhq/loom/core/formats"
)

// Tokenizer encodes text to ids and decodes ids to text.
type Tokenizer interface {
	// Encode tokenizes text; addBOS adds what the vocabulary adds around a
	// text (Options.AddSpecial). Text forms of control tokens ("<s>",
	// "<|im_end|>") in text become those tokens, so rendered chat templates
	// encode right.
	Encode(text string, addBOS bool) []int
	// EncodeWith tokenizes text as llama.cpp's llama_tokenize(text,
	// add_special, parse_special) does.
	EncodeWith(text string, o Options) []int
	// Decode is the text of one token: control tokens decode to "", and
	// byte-fallback tokens to their single raw byte.
	Decode(id int) string
	// DecodeAll decodes a sequence; SentencePiece drops the leading space of
	// the piece that follows BOS (llama2.c's rule), so
	// DecodeAll(Encode(x, true)) == x.
	DecodeAll(ids []int) string
	BOS() int // -1 when the vocabulary has none
	EOS() int
	VocabSize() int
	IsControl(id int) bool
}

// Options say what EncodeWith adds and parses.
type Options struct {
	// AddSpecial adds what the vocabulary puts around a text: BOS where it
	// asks for one (SentencePiece and Llama-3 do, GPT-2 and Qwen2 do not;
	// tokenizer.ggml.add_bos_token decides), EOS where it asks for that,
	// BERT's [CLS] … [SEP].
	AddSpecial bool
	// ParseSpecial makes the text of control tokens ("<|im_end|>") in the
	// text those tokens. User-defined tokens (added vocabulary) are always
	// matched; with ParseSpecial off, "<|im_end|>" is tokenized as text.
	ParseSpecial bool
}

// KeyTokenizerPath is a metadata key readers may set to the tokenizer file
// found beside the weights (tok512.bin beside a llama2.c checkpoint,
// tokenizer.json in a Hugging Face folder).
const KeyTokenizerPath = formats.KeyTokenizerPath

// FromSource builds the tokenizer of a model: from tokenizerPath when given
// (a llama2.c tokenizer .bin or a Hugging Face tokenizer.json), else from
// GGUF tokenizer.ggml.* metadata, else from the file the reader found beside
// the weights (metadata key loom.tokenizer_path).
func FromSource(src formats.TensorSource, tokenizerPath string) (Tokenizer, error) {
	return FromMetadata(src.Meta(), tokenizerPath)
}

// FromMetadata is FromSource given only the metadata.
func FromMetadata(meta formats.Metadata, tokenizerPath string) (Tokenizer, error) {
	if tokenizerPath == "" {
		if _, ok := meta.String("tokenizer.ggml.model"); ok {
			return FromGGUF(meta)
		}
		tokenizerPath, _ = meta.String(KeyTokenizerPath)
	}
	if tokenizerPath == "" {
		return nil, fmt.Errorf("tokenizer: model has no tokenizer.ggml.* metadata and no tokenizer file was given")
	}
	return Load(tokenizerPath, meta)
}

// Load reads a tokenizer file by content: tokenizer.json (or a folder holding
// one) for byte-level BPE, otherwise a llama2.c tokenizer .bin. meta may be
// nil; it supplies bos/eos ids a tokenizer.json does not name.
func Load(path string, meta formats.Metadata) (Tokenizer, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "tokenizer.json")
	}
	if strings.HasSuffix(path, ".json") {
		if b, err := os.ReadFile(path); err == nil {
			var head struct {
				Model struct{ Type string } `json:"model"`
			}
			if json.Unmarshal(b, &head) == nil && head.Model.Type == "WordLevel" {
				w, err := ParseWordLevel(b, int(meta.IntOr("tokenizer.ggml.bos_token_id", -1)), int(meta.IntOr("tokenizer.ggml.eos_token_id", -1)))
				if err != nil {
					return nil, fmt.Errorf("tokenizer %s: %w", path, err)
				}
				return w, nil
			}
		}
		t, err := LoadHF(path, meta)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	v, err := formats.ReadLlama2CVocab(path)
	if err != nil {
		return nil, err
	}
	return FromLlama2C(v)
}

// Piece is the text of token id as llama.cpp's token_to_piece shows it:
// special tokens as written, byte tokens as their byte, others decoded.
// Tokenizers that cannot say (WordLevel, CLIP) give Decode's text.
func Piece(t Tokenizer, id int) string {
	if p, ok := t.(interface{ Piece(int) string }); ok {
		return p.Piece(id)
	}
	return t.Decode(id)
}
