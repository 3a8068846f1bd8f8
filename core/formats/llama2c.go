package formats

// llama2.c checkpoints: Karpathy's llama2.c (run.c, export.py "version 0"
// legacy layout). The file is a 7 x int32 header (dim, hidden_dim, n_layers,
// n_heads, n_kv_heads, vocab_size, seq_len) followed by float32 arrays:
//
//	token_embedding (vocab, dim); rms_att (L, dim); wq (L, dim, dim);
//	wk (L, kv_dim, dim); wv (L, kv_dim, dim); wo (L, dim, dim); rms_ffn (L, dim);
//	w1 (L, hidden, dim); w2 (L, dim, hidden); w3 (L, hidden, dim); rms_final (dim);
//	freq_cis_real, freq_cis_imag (seq_len, head_size/2) each, unused;
//	wcls (vocab, dim) only when vocab_size is negative (untied classifier).
//
// The reader presents them under llama.cpp's GGUF names and llama metadata
// keys so a decoder has one binding path (w1 = ffn_gate, w3 = ffn_up,
// w2 = ffn_down).

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/loomhq/loom/core/kernels"
)

// Llama2CConfig is the checkpoint header.
type Llama2CConfig struct {
	Dim, HiddenDim, Layers, Heads, KVHeads, VocabSize, SeqLen int

	// SharedClassifier: vocab_size was positive, the output layer reuses
	// the token embedding.
	SharedClassifier bool
}

const llama2cHeaderBytes = 28

// parseLlama2CHeader validates the header against the file size and returns
// the config and the exact byte size the file must have.
func parseLlama2CHeader(b []byte) (Llama2CConfig, int64, error) {
	var c Llama2CConfig
	if len(b) < llama2cHeaderBytes {
		return c, 0, formatErr("llama2.c: file of %d bytes is shorter than the 28-byte header", len(b))
	}
	if binary.LittleEndian.Uint32(b) == 0x616b3432 { // "ak42": export.py version 1/2
		return c, 0, formatErr("llama2.c: versioned export (magic ak42) is not supported; use the legacy (version 0) export")
	}
	var h [7]int32
	for i := range h {
		h[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	c = Llama2CConfig{Dim: int(h[0]), HiddenDim: int(h[1]), Layers: int(h[2]), Heads: int(h[3]), KVHeads: int(h[4]),
		VocabSize: int(h[5]), SeqLen: int(h[6]), SharedClassifier: h[5] > 0}
	if h[5] < 0 {
		if h[5] == math.MinInt32 {
			return c, 0, formatErr("llama2.c: vocab_size out of range")
		}
		c.VocabSize = -c.VocabSize
	}
	switch {
	case c.Dim <= 0 || c.HiddenDim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.VocabSize <= 0 || c.SeqLen <= 0:
		return c, 0, formatErr("llama2.c: header %v has a non-positive field", h)
	case c.Dim%c.Heads != 0:
		return c, 0, formatErr("llama2.c: dim %d not divisible by n_heads %d", c.Dim, c.Heads)
	case c.KVHeads > c.Heads || c.Heads%c.KVHeads != 0:
		return c, 0, formatErr("llama2.c: n_heads %d not a multiple of n_kv_heads %d", c.Heads, c.KVHeads)
	case (c.Dim/c.Heads)%2 != 0:
		return c, 0, formatErr("llama2.c: odd head size %d", c.Dim/c.Heads)
	}
	floats, ok := c.floatCount(int64(len(b)))
	if !ok {
		return c, 0, formatErr("llama2.c: header %v describes more weights than the file's %d bytes", h, len(b))
	}
	return c, llama2cHeaderBytes + 4*floats, nil
}

// floatCount is the number of float32 values after the header; false when it
// overflows or exceeds limit bytes.
func (c Llama2CConfig) floatCount(limit int64) (int64, bool) {
	limit /= 4
	d, f, L, v, s := int64(c.Dim), int64(c.HiddenDim), int64(c.Layers), int64(c.VocabSize), int64(c.SeqLen)
	kv := d / int64(c.Heads) * int64(c.KVHeads)
	headSize := d / int64(c.Heads)
	parts := [][]int64{
		{v, d}, {L, d}, {L, d, d}, {L, kv, d}, {L, kv, d}, {L, d, d}, {L, d},
		{L, f, d}, {L, d, f}, {L, f, d}, {d}, {s, headSize},
	}
	if !c.SharedClassifier {
		parts = append(parts, []int64{v, d})
	}
	total := int64(0)
	for _, p := range parts {
		n, ok := checkedMul(limit, p...)
		if !ok || total > limit-n {
			return 0, false
		}
		total += n
	}
	return total, true
}

// Llama2CModel is an open llama2.c checkpoint.
type Llama2CModel struct {
	*source
	Config Llama2CConfig
}

// OpenLlama2C maps a llama2.c checkpoint.
func OpenLlama2C(path string) (*Llama2CModel, error) {
	f, err := mapFile(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open llama2.c %s: %w", path, err)
	}
	m, err := ParseLlama2C(f.Data)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open llama2.c %s: %w", path, err)
	}
	m.closers = append(m.closers, f)
	m.meta["general.name"] = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	// llama2.c keeps the tokenizer in its own file; name the one beside the
	// checkpoint (tok<vocab>.bin, then tokenizer.bin) so a tokenizer can be
	// built from the source alone.
	for _, name := range []string{fmt.Sprintf("tok%d.bin", m.Config.VocabSize), "tokenizer.bin"} {
		p := filepath.Join(filepath.Dir(path), name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			m.meta[KeyTokenizerPath] = p
			break
		}
	}
	return m, nil
}

// ParseLlama2C reads a checkpoint held in memory; tensors are views on data.
func ParseLlama2C(data []byte) (*Llama2CModel, error) {
	c, size, err := parseLlama2CHeader(data)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != size {
		return nil, formatErr("llama2.c: file is %d bytes, header implies %d", len(data), size)
	}
	m := &Llama2CModel{source: newSource(), Config: c}
	off := llama2cHeaderBytes
	next := func(shape ...int) []byte {
		n := 4
		for _, d := range shape {
			n *= d
		}
		s := data[off : off+n : off+n]
		off += n
		return s
	}
	// addLayers splits one (L, rows, cols) array into per-layer tensors.
	addLayers := func(suffix string, rows, cols int) {
		all := next(c.Layers, rows, cols)
		per := 4 * rows * cols
		for l := 0; l < c.Layers; l++ {
			shape := []int{rows, cols}
			if rows == 1 {
				shape = []int{cols}
			}
			m.infos[fmt.Sprintf("blk.%d.%s", l, suffix)] = &Info{Name: fmt.Sprintf("blk.%d.%s", l, suffix),
				Type: kernels.F32, Shape: shape, Data: all[l*per : (l+1)*per : (l+1)*per]}
		}
	}
	kv := c.Dim / c.Heads * c.KVHeads
	emb := next(c.VocabSize, c.Dim)
	m.infos["token_embd.weight"] = &Info{Name: "token_embd.weight", Type: kernels.F32, Shape: []int{c.VocabSize, c.Dim}, Data: emb}
	addLayers("attn_norm.weight", 1, c.Dim)
	addLayers("attn_q.weight", c.Dim, c.Dim)
	addLayers("attn_k.weight", kv, c.Dim)
	addLayers("attn_v.weight", kv, c.Dim)
	addLayers("attn_output.weight", c.Dim, c.Dim)
	addLayers("ffn_norm.weight", 1, c.Dim)
	addLayers("ffn_gate.weight", c.HiddenDim, c.Dim)
	addLayers("ffn_down.weight", c.Dim, c.HiddenDim)
	addLayers("ffn_up.weight", c.HiddenDim, c.Dim)
	m.infos["output_norm.weight"] = &Info{Name: "output_norm.weight", Type: kernels.F32, Shape: []int{c.Dim}, Data: next(c.Dim)}
	next(c.SeqLen, c.Dim/c.Heads) // legacy RoPE tables (real half + imaginary half), unused
	if !c.SharedClassifier {
		m.infos["output.weight"] = &Info{Name: "output.weight", Type: kernels.F32, Shape: []int{c.VocabSize, c.Dim}, Data: next(c.VocabSize, c.Dim)}
	}
	m.meta = Metadata{
		"general.architecture":                   "llama",
		"general.name":                           "llama2c",
		"llama.context_length":                   uint32(c.SeqLen),
		"llama.embedding_length":                 uint32(c.Dim),
		"llama.block_count":                      uint32(c.Layers),
		"llama.feed_forward_length":              uint32(c.HiddenDim),
		"llama.attention.head_count":             uint32(c.Heads),
		"llama.attention.head_count_kv":          uint32(c.KVHeads),
		"llama.rope.dimension_count":             uint32(c.Dim / c.Heads),
		"llama.rope.freq_base":                   float32(10000),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.vocab_size":                       uint32(c.VocabSize),
	}
	return m, nil
}

// Llama2CVocab is a llama2.c tokenizer file (tokenizer.bin, tok512.bin):
// int32 max_token_length, then per token float32 score, int32 length, bytes.
// Pieces are kept as stored: a plain space for SentencePiece's "▁", "\n<s>\n"
// and "\n</s>\n" for BOS/EOS, "<0xNN>" for byte-fallback pieces.
type Llama2CVocab struct {
	MaxTokenLength int
	Pieces         []string
	Scores         []float32
}

// ReadLlama2CVocab reads a llama2.c tokenizer file. The file does not store
// its size; every record up to the end of the file is read.
func ReadLlama2CVocab(path string) (*Llama2CVocab, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read llama2.c tokenizer: %w", err)
	}
	v, err := ParseLlama2CVocab(data)
	if err != nil {
		return nil, fmt.Errorf("read llama2.c tokenizer %s: %w", path, err)
	}
	return v, nil
}

// ParseLlama2CVocab parses the bytes of a llama2.c tokenizer file.
func ParseLlama2CVocab(data []byte) (*Llama2CVocab, error) {
	c := &cursor{b: data}
	maxLen := c.i32()
	if c.err != nil {
		return nil, c.err
	}
	if maxLen <= 0 {
		return nil, formatErr("llama2.c tokenizer: max_token_length %d", maxLen)
	}
	v := &Llama2CVocab{MaxTokenLength: int(maxLen)}
	for c.remaining() > 0 {
		score := c.f32()
		n := c.i32()
		if c.err != nil {
			return nil, fmt.Errorf("token %d: %w", len(v.Pieces), c.err)
		}
		if n < 0 || int(n) > c.remaining() {
			return nil, formatErr("llama2.c tokenizer: token %d has length %d with %d bytes left", len(v.Pieces), n, c.remaining())
		}
		v.Pieces = append(v.Pieces, string(c.take(int(n))))
		v.Scores = append(v.Scores, score)
	}
	if len(v.Pieces) == 0 {
		return nil, formatErr("llama2.c tokenizer: no tokens")
	}
	return v, nil
}
