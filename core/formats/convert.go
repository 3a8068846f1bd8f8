package formats

import (
	"fmt"
	"strings"
)

// Llama2CToGGUF gives the metadata and tensors of a GGUF file equivalent to a
// llama2.c checkpoint and its tokenizer, as llama.cpp's
// convert-llama2c-to-ggml writes them: arch "llama", tokenizer model "llama"
// with SentencePiece pieces ("▁" for space, "<s>"/"</s>" for BOS/EOS),
// scores, and token types (unknown 2, control 3, byte 6, normal 1).
// Differences, on purpose: llama.context_length is the checkpoint's seq_len
// (llama.cpp writes its default 128), the rope base is written explicitly,
// and a tied classifier is not duplicated as output.weight (decoders fall
// back to token_embd.weight, as llama.cpp does when it is absent).
func Llama2CToGGUF(m *Llama2CModel, v *Llama2CVocab) (Metadata, []*Info, error) {
	if len(v.Pieces) != m.Config.VocabSize {
		return nil, nil, fmt.Errorf("convert: tokenizer has %d tokens, model vocab_size is %d", len(v.Pieces), m.Config.VocabSize)
	}
	meta := Metadata{}
	for k, val := range m.meta {
		if strings.HasPrefix(k, "llama.") || k == "general.architecture" || k == "general.name" {
			meta[k] = val
		}
	}
	tokens := make([]string, len(v.Pieces))
	types := make([]int32, len(v.Pieces))
	for i, p := range v.Pieces {
		switch {
		case i == 0:
			tokens[i], types[i] = "<unk>", 2
		case i == 1 || i == 2:
			tokens[i], types[i] = strings.Trim(p, "\n"), 3
		case isBytePieceText(p):
			tokens[i], types[i] = p, 6
		default:
			tokens[i], types[i] = strings.ReplaceAll(p, " ", "\u2581"), 1
		}
	}
	meta["tokenizer.ggml.model"] = "llama"
	meta["tokenizer.ggml.tokens"] = tokens
	meta["tokenizer.ggml.scores"] = append([]float32(nil), v.Scores...)
	meta["tokenizer.ggml.token_type"] = types
	meta["tokenizer.ggml.unknown_token_id"] = uint32(0)
	meta["tokenizer.ggml.bos_token_id"] = uint32(1)
	meta["tokenizer.ggml.eos_token_id"] = uint32(2)
	// Tensors in llama.cpp's order: embedding, per-block, final norm, output.
	order := []string{"token_embd.weight"}
	for l := 0; l < m.Config.Layers; l++ {
		for _, s := range []string{"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"} {
			order = append(order, fmt.Sprintf("blk.%d.%s.weight", l, s))
		}
	}
	order = append(order, "output_norm.weight")
	if !m.Config.SharedClassifier {
		order = append(order, "output.weight")
	}
	tensors := make([]*Info, len(order))
	for i, n := range order {
		in, err := m.Info(n)
		if err != nil {
			return nil, nil, fmt.Errorf("convert: %w", err)
		}
		tensors[i] = in
	}
	return meta, tensors, nil
}

// isBytePieceText reports a byte-fallback piece "<0xNN>".
func isBytePieceText(p string) bool {
	const hex = "0123456789ABCDEFabcdef"
	return len(p) == 6 && strings.HasPrefix(p, "<0x") && p[5] == '>' &&
		strings.IndexByte(hex, p[3]) >= 0 && strings.IndexByte(hex, p[4]) >= 0
}
