package towers

// The BERT encoder (Devlin et al. 2019) as sentence-embedding models use it
// (bge, MiniLM / all-MiniLM-L6, e5): token + token-type 0 + learned position
// embeddings, a LayerNorm, then post-LN layers x = LN(x + Attn(x));
// x = LN(x + FFN(x)) with bidirectional attention and a GELU feed-forward,
// pooled over the sequence (mean or the [CLS] token) and L2-normalised.
//
// Reference implementation: llama.cpp's src/models/bert.cpp and
// build_pooling, whose GGUF names it binds:
//
//	token_embd.weight                   (vocab, dim)
//	token_types.weight                  (types, dim)    row 0 added to every token (optional)
//	position_embd.weight                (context, dim)
//	token_embd_norm.{weight,bias}       (dim)
//	blk.N.attn_{q,k,v}.{weight,bias}    (dim, dim), (dim)   or fused attn_qkv
//	blk.N.attn_output.{weight,bias}     (dim, dim), (dim)
//	blk.N.attn_output_norm.{weight,bias} (dim)
//	blk.N.ffn_up.{weight,bias}          (ff, dim), (ff)
//	blk.N.ffn_down.{weight,bias}        (dim, ff), (dim)
//	blk.N.layer_output_norm.{weight,bias} (dim)
//
// with bert.pooling_type 1 (mean) or 2 (CLS). The GELU is ggml's
// half-precision table (kernels.GELUF16), as llama.cpp computes it.

import (
	"fmt"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// Pooling types, llama.cpp's enum llama_pooling_type as GGUF files name
// them (ARCH.pooling_type).
const (
	PoolNone = 0 // per-token states: the decoders here pool them by mean
	PoolMean = 1
	PoolCLS  = 2
	PoolLast = 3
)

// BERTConfig is an encoder's shape, from "bert.*" metadata.
type BERTConfig struct {
	Dim, Layers, Heads, FF, Vocab int
	Context                       int // positions (rows of position_embd)
	NormEps                       float32
	Pooling                       int // PoolMean or PoolCLS
}

// BERT holds an encoder's weights; read-only after load.
type BERT struct {
	Config  BERTConfig
	Embed   nn.Embedding
	Pos     nn.Embedding // (context, dim)
	TypeRow []float32    // (dim) token type 0, or nil
	EmbNorm nn.LayerNorm
	Layers  []BERTLayer
}

// BERTLayer is one post-LN encoder layer.
type BERTLayer struct {
	Attn     nn.CrossAttention // bidirectional self-attention
	AttnNorm nn.LayerNorm      // attn_output_norm, after the residual
	MLP      nn.MLP            // ffn_up, GELU, ffn_down
	OutNorm  nn.LayerNorm      // layer_output_norm, after the residual
}

// LoadBERT binds a BERT encoder to a GGUF file's tensors.
func LoadBERT(src formats.InfoSource) (*BERT, error) {
	meta := src.Meta()
	if a := meta.Arch(); a != "bert" {
		return nil, fmt.Errorf("bert: architecture %q", a)
	}
	geti := func(k string, def int64) int { return int(meta.IntOr("bert."+k, def)) }
	c := BERTConfig{
		Dim: geti("embedding_length", 0), Layers: geti("block_count", 0), Heads: geti("attention.head_count", 0),
		FF: geti("feed_forward_length", 0), Context: geti("context_length", 512),
		NormEps: float32(meta.FloatOr("bert.attention.layer_norm_epsilon", 1e-12)),
		Pooling: geti("pooling_type", PoolMean),
	}
	if emb, err := src.Info("token_embd.weight"); err == nil && len(emb.Shape) == 2 {
		c.Vocab = emb.Shape[0]
	}
	switch {
	case c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.FF <= 0 || c.Vocab <= 0 || c.Context <= 0 || c.Dim%c.Heads != 0:
		return nil, fmt.Errorf("bert: bad shape %+v", c)
	case c.Dim > 1<<16 || c.FF > 1<<20 || c.Layers > 1024 || c.Context > 1<<20:
		return nil, fmt.Errorf("bert: implausible size %+v", c)
	case c.Pooling != PoolMean && c.Pooling != PoolCLS:
		return nil, fmt.Errorf("bert: pooling type %d (only mean, 1, and CLS, 2)", c.Pooling)
	case meta.IntOr("bert.attention.causal", 0) != 0:
		return nil, fmt.Errorf("bert: causal attention is not BERT")
	}
	b := nn.NewBinder(src)
	m := &BERT{Config: c}
	m.Embed = b.Embedding("token_embd.weight", c.Vocab, c.Dim)
	m.Pos = nn.Embedding{Table: b.Matrix("position_embd.weight", c.Context, c.Dim)}
	if b.Has("token_types.weight") {
		types, err := src.Info("token_types.weight")
		if err == nil && len(types.Shape) == 2 {
			row := make([]float32, c.Dim)
			tt := b.Matrix("token_types.weight", types.Shape[0], c.Dim)
			if err := tt.Row(row, 0); err != nil {
				return nil, fmt.Errorf("bert: token_types: %w", err)
			}
			m.TypeRow = row
		}
	}
	m.EmbNorm = b.LayerNorm("token_embd_norm", c.Dim, c.NormEps)
	hd := c.Dim / c.Heads
	for i := 0; i < c.Layers; i++ {
		blk := b.Sub("blk.%d", i)
		l := BERTLayer{
			Attn:     nn.CrossAttention{O: blk.Linear("attn_output", c.Dim, c.Dim), Heads: c.Heads, HeadDim: hd},
			AttnNorm: blk.LayerNorm("attn_output_norm", c.Dim, c.NormEps),
			MLP:      nn.MLP{FC1: blk.Linear("ffn_up", c.FF, c.Dim), FC2: blk.Linear("ffn_down", c.Dim, c.FF), Act: kernels.GELUF16},
			OutNorm:  blk.LayerNorm("layer_output_norm", c.Dim, c.NormEps),
		}
		if blk.Has("attn_qkv.weight") {
			l.Attn.Q, l.Attn.K, l.Attn.V = splitQKV(blk, c.Dim, c.Dim, c.Dim)
		} else {
			l.Attn.Q, l.Attn.K, l.Attn.V = blk.Linear("attn_q", c.Dim, c.Dim), blk.Linear("attn_k", c.Dim, c.Dim), blk.Linear("attn_v", c.Dim, c.Dim)
		}
		m.Layers = append(m.Layers, l)
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("bert: %w", err)
	}
	return m, nil
}

// Forward sets hidden (len(ids), dim) to the last layer's states of ids
// (at most Context of them, [CLS] … [SEP] as the tokenizer adds them).
func (m *BERT) Forward(hidden []float32, ids []int, ar *tensor.Arena) error {
	c, T := m.Config, len(ids)
	switch {
	case T == 0:
		return fmt.Errorf("bert: no tokens")
	case T > c.Context:
		return fmt.Errorf("bert: %d tokens exceed the context of %d", T, c.Context)
	case len(hidden) < T*c.Dim:
		return fmt.Errorf("bert: hidden has %d floats, want %d", len(hidden), T*c.Dim)
	}
	x := hidden[:T*c.Dim]
	if err := m.Embed.Forward(x, ids); err != nil {
		return fmt.Errorf("bert: %w", err)
	}
	if m.TypeRow != nil {
		for t := 0; t < T; t++ {
			row := x[t*c.Dim : (t+1)*c.Dim]
			for j, v := range m.TypeRow {
				row[j] += v
			}
		}
	}
	pos := ar.Scratch(T * c.Dim)
	positions := make([]int, T)
	for i := range positions {
		positions[i] = i
	}
	if err := m.Pos.Forward(pos, positions); err != nil {
		return err
	}
	if err := kernels.Add(x, pos, x); err != nil {
		return err
	}
	if err := m.EmbNorm.Forward(x, x, T); err != nil {
		return err
	}
	h := ar.Scratch(T * c.Dim)
	for i := range m.Layers {
		l := &m.Layers[i]
		if err := l.Attn.Forward(h, x, T, x, T, ar); err != nil {
			return fmt.Errorf("bert layer %d: %w", i, err)
		}
		if err := kernels.Add(x, h, x); err != nil {
			return err
		}
		if err := l.AttnNorm.Forward(x, x, T); err != nil {
			return err
		}
		if err := l.MLP.Forward(h, x, T, ar); err != nil {
			return fmt.Errorf("bert layer %d: %w", i, err)
		}
		if err := kernels.Add(x, h, x); err != nil {
			return err
		}
		if err := l.OutNorm.Forward(x, x, T); err != nil {
			return err
		}
	}
	return nil
}

// Pooled writes into out (dim) the pooled, L2-normalised sentence embedding
// of ids: llama.cpp's pooled embedding (llama_get_embeddings_seq) scaled to
// unit length, as llama-embedding --embd-normalize 2 prints it.
func (m *BERT) Pooled(out []float32, ids []int) error {
	c := m.Config
	if len(out) != c.Dim {
		return fmt.Errorf("bert: pooled output of %d floats, want %d", len(out), c.Dim)
	}
	ar := &tensor.Arena{}
	hidden := make([]float32, len(ids)*c.Dim)
	if err := m.Forward(hidden, ids, ar); err != nil {
		return err
	}
	sum := make([]float64, c.Dim)
	if c.Pooling == PoolCLS {
		for j, v := range hidden[:c.Dim] {
			sum[j] = float64(v)
		}
	} else {
		for i, v := range hidden {
			sum[i%c.Dim] += float64(v)
		}
	}
	return normalize(out, sum)
}
