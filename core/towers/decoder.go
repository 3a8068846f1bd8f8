// Package towers composes core/nn layers into whole networks, one file per
// tower family, each readable top to bottom: a Config, a load, a Forward.
package towers

// The Llama decoder (Touvron et al. 2023, "LLaMA" and "Llama 2"): token
// embedding, then per block x += Attn(RMSNorm(x)); x += FFN(RMSNorm(x)), a
// final RMSNorm and the output projection. Attention is GQA with rotary
// positions; the FFN is SwiGLU, or for the Mixtral-style variant (Jiang et
// al. 2024) a Mixture of Experts: router softmax → top-k → renormalise →
// SiLU-gated experts, plus optional shared experts.
//
// Reference implementations: llama2.c's run.c (Karpathy), llama.cpp's
// llm_build_llama. Checkpoint names are llama.cpp's GGUF names, which every
// reader in core/formats presents (llama2.c and Hugging Face files included):
//
//	token_embd.weight              (vocab, dim)
//	blk.N.attn_norm.weight         (dim)
//	blk.N.attn_{q,k,v}.weight      (heads·hd, dim), (kv_heads·hd, dim) ×2 [+ .bias: Qwen2]
//	blk.N.attn_output.weight       (dim, heads·hd)
//	blk.N.ffn_norm.weight          (dim)
//	blk.N.ffn_{gate,up}.weight     (ff, dim)      dense blocks
//	blk.N.ffn_down.weight          (dim, ff)
//	blk.N.ffn_gate_inp.weight      (experts, dim) MoE blocks
//	blk.N.ffn_{gate,up}_exps.weight (experts, ff, dim)
//	blk.N.ffn_down_exps.weight     (experts, dim, ff)
//	blk.N.ffn_{gate,up,down}_shexp.weight         shared experts (optional)
//	output_norm.weight             (dim)
//	output.weight                  (vocab, dim)   absent when tied to token_embd
//	rope_freqs.weight              (rot_dim/2)    optional per-pair divisors (Llama 3.1)

import (
	"fmt"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// DecoderConfig is the shape of a decoder, read from GGUF-style metadata.
type DecoderConfig struct {
	Arch       string
	Dim        int // model width
	Layers     int
	Heads      int
	KVHeads    int
	HeadDim    int
	FF         int // hidden width of a dense FFN or of each expert
	Vocab      int
	Context    int // positions the KV cache may hold
	NormEps    float32
	RopeTheta  float64
	RopeDim    int  // rotated dims per head
	RopeNeoX   bool // HF rotate_half pairing instead of adjacent pairs
	RopeScale  nn.RoPEScaling
	Experts    int // 0 for a dense model
	ExpertsUse int // experts per token
	ExpertNorm bool
	SharedFF   int // hidden width of the shared expert (0 = none)
	TiedOutput bool
}

// neoxArchs use NeoX (rotate_half) RoPE pairing in llama.cpp's GGUF files.
var neoxArchs = map[string]bool{"qwen2": true, "qwen2moe": false}

// supportedArchs are the architectures this tower runs.
var supportedArchs = map[string]bool{"llama": true, "mistral": true, "mixtral": true, "qwen2": true}

// DecoderConfigFrom reads a decoder's configuration from metadata
// ("<arch>.embedding_length" …) and the tensor table (vocab size, tied output).
func DecoderConfigFrom(src formats.InfoSource) (DecoderConfig, error) {
	meta := src.Meta()
	arch := meta.Arch()
	if !supportedArchs[arch] {
		return DecoderConfig{}, fmt.Errorf("decoder: unsupported architecture %q", arch)
	}
	key := func(s string) string { return arch + "." + s }
	geti := func(s string, def int64) int { return int(meta.IntOr(key(s), def)) }
	c := DecoderConfig{
		Arch:       arch,
		Dim:        geti("embedding_length", 0),
		Layers:     geti("block_count", 0),
		Heads:      geti("attention.head_count", 0),
		FF:         geti("feed_forward_length", 0),
		Context:    geti("context_length", 2048),
		NormEps:    float32(meta.FloatOr(key("attention.layer_norm_rms_epsilon"), 1e-5)),
		RopeTheta:  meta.FloatOr(key("rope.freq_base"), 10000),
		RopeNeoX:   neoxArchs[arch],
		Experts:    geti("expert_count", 0),
		ExpertsUse: geti("expert_used_count", 0),
	}
	c.KVHeads = geti("attention.head_count_kv", int64(c.Heads))
	if c.Heads > 0 {
		c.HeadDim = geti("attention.key_length", int64(c.Dim/c.Heads))
	}
	c.RopeDim = geti("rope.dimension_count", int64(c.HeadDim))
	if v, ok := meta.Bool("loom.rope.neox"); ok {
		c.RopeNeoX = v
	}
	if c.Experts > 0 {
		c.FF = geti("expert_feed_forward_length", int64(c.FF))
		c.SharedFF = geti("expert_shared_feed_forward_length", 0)
		c.ExpertNorm = true // llama.cpp always renormalises for llama-family MoE
		if v, ok := meta.Bool(key("expert_weights_norm")); ok {
			c.ExpertNorm = v
		}
	}
	if t, ok := meta.String(key("rope.scaling.type")); ok {
		c.RopeScale = nn.RoPEScaling{
			Type:           t,
			Factor:         meta.FloatOr(key("rope.scaling.factor"), 1),
			LowFreqFactor:  meta.FloatOr(key("rope.scaling.low_freq_factor"), 1),
			HighFreqFactor: meta.FloatOr(key("rope.scaling.high_freq_factor"), 4),
			OrigContext:    geti("rope.scaling.original_context_length", 8192),
		}
	}
	emb, err := src.Info("token_embd.weight")
	if err != nil {
		return c, fmt.Errorf("decoder: %w", err)
	}
	if len(emb.Shape) == 2 {
		c.Vocab = emb.Shape[0]
	}
	_, err = src.Info("output.weight")
	c.TiedOutput = err != nil
	return c, c.validate()
}

func (c *DecoderConfig) validate() error {
	switch {
	case c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.HeadDim <= 0 || c.Vocab <= 0:
		return fmt.Errorf("decoder: bad shape dim %d, layers %d, heads %d, kv heads %d, head dim %d, vocab %d",
			c.Dim, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.Vocab)
	case c.Heads%c.KVHeads != 0:
		return fmt.Errorf("decoder: heads %d not a multiple of kv heads %d", c.Heads, c.KVHeads)
	case c.FF <= 0:
		return fmt.Errorf("decoder: feed-forward width %d", c.FF)
	case c.Context <= 0:
		return fmt.Errorf("decoder: context length %d", c.Context)
	case c.RopeDim <= 0 || c.RopeDim > c.HeadDim || c.RopeDim%2 != 0:
		return fmt.Errorf("decoder: rotary dims %d for head dim %d", c.RopeDim, c.HeadDim)
	case c.Experts < 0 || c.Experts > 0 && (c.ExpertsUse < 1 || c.ExpertsUse > c.Experts):
		return fmt.Errorf("decoder: %d experts, %d used per token", c.Experts, c.ExpertsUse)
	case c.Dim > 1<<16 || c.FF > 1<<20 || c.Layers > 1024 || c.Heads > 1024:
		return fmt.Errorf("decoder: implausible size dim %d, ff %d, layers %d, heads %d", c.Dim, c.FF, c.Layers, c.Heads)
	}
	return nil
}

// Decoder holds a decoder's weights. It is read-only after load, so one
// Decoder serves any number of concurrent States.
type Decoder struct {
	Config DecoderConfig
	Embed  nn.Embedding
	Blocks []DecoderBlock
	Norm   nn.RMSNorm
	Output nn.Linear // (vocab, dim); token_embd's matrix when tied
}

// DecoderBlock is one transformer block: exactly one of MLP and MoE is set.
type DecoderBlock struct {
	AttnNorm nn.RMSNorm
	Attn     nn.Attention
	FFNNorm  nn.RMSNorm
	MLP      *nn.SwiGLU
	MoE      *nn.MoE
}

// LoadDecoder binds a decoder to a model file's tensors (views, no copies,
// except MoE experts stored in a format the fused kernel cannot read).
func LoadDecoder(src formats.InfoSource) (*Decoder, error) {
	c, err := DecoderConfigFrom(src)
	if err != nil {
		return nil, err
	}
	b := nn.NewBinder(src)
	var freqs []float32
	if b.Has("rope_freqs.weight") {
		freqs = b.Vector("rope_freqs.weight", c.RopeDim/2)
	}
	rope, err := nn.NewRoPE(c.RopeDim, c.RopeTheta, c.RopeNeoX, c.RopeScale, freqs)
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	qw, kw := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	d := &Decoder{Config: c}
	d.Embed = nn.Embedding{Table: b.Matrix("token_embd.weight", c.Vocab, c.Dim)}
	for i := 0; i < c.Layers; i++ {
		blk := b.Sub("blk.%d", i)
		l := DecoderBlock{
			AttnNorm: nn.RMSNorm{W: blk.Vector("attn_norm.weight", c.Dim), Eps: c.NormEps},
			Attn: nn.Attention{
				Q:     blk.Linear("attn_q", qw, c.Dim),
				K:     blk.Linear("attn_k", kw, c.Dim),
				V:     blk.Linear("attn_v", kw, c.Dim),
				O:     blk.Linear("attn_output", c.Dim, qw),
				Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Rope: rope,
			},
			FFNNorm: nn.RMSNorm{W: blk.Vector("ffn_norm.weight", c.Dim), Eps: c.NormEps},
		}
		if c.Experts > 0 {
			moe := nn.BindMoE(blk, kernels.MoEConfig{Dim: c.Dim, FF: c.FF, Experts: c.Experts, TopK: c.ExpertsUse,
				Gating: kernels.MoESoftmax, NormTopK: c.ExpertNorm, SharedFF: c.SharedFF})
			l.MoE = &moe
		} else {
			l.MLP = &nn.SwiGLU{
				Gate: blk.Linear("ffn_gate", c.FF, c.Dim),
				Up:   blk.Linear("ffn_up", c.FF, c.Dim),
				Down: blk.Linear("ffn_down", c.Dim, c.FF),
			}
		}
		d.Blocks = append(d.Blocks, l)
	}
	d.Norm = nn.RMSNorm{W: b.Vector("output_norm.weight", c.Dim), Eps: c.NormEps}
	if c.TiedOutput {
		d.Output = nn.Linear{W: d.Embed.Table}
	} else {
		d.Output = b.Linear("output", c.Vocab, c.Dim)
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	return d, nil
}

// prefillChunk bounds how many prompt tokens one batched step processes, so
// scratch memory stays (chunk × max(dim, ff)) however long the prompt.
const prefillChunk = 256

// State is one generation's mutable part: the KV cache and scratch buffers.
// Not safe for concurrent use; make one per running job.
type State struct {
	d      *Decoder
	Cache  []nn.KVCache // one per block
	Len    int          // positions held in the cache
	s      nn.Scratch
	x, h   []float32 // (chunk, dim) residual stream and block output
	y      []float32 // (chunk, dim) MoE output (the fused kernel must not alias its input)
	logits []float32 // (vocab)
}

// NewState returns an empty state whose cache may grow to maxPos positions
// (≤ 0 or above the model's context: the model's context).
func (d *Decoder) NewState(maxPos int) *State {
	c := d.Config
	if maxPos <= 0 || maxPos > c.Context {
		maxPos = c.Context
	}
	st := &State{d: d, Cache: make([]nn.KVCache, c.Layers), logits: make([]float32, c.Vocab)}
	for i := range st.Cache {
		st.Cache[i] = nn.KVCache{Width: c.KVHeads * c.HeadDim, Max: maxPos}
	}
	return st
}

// Forward runs tokens at positions pos…pos+len-1 (pos ≤ Len: a smaller pos
// rewinds the cache) and returns the logits (vocab) of the last token. The
// prompt goes through in batched chunks; a single token is one decode step.
// The returned slice is reused by the next call.
func (st *State) Forward(tokens []int, pos int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("decoder: no tokens")
	}
	if pos < 0 || pos > st.Len {
		return nil, fmt.Errorf("decoder: position %d beyond the %d cached", pos, st.Len)
	}
	if end := pos + len(tokens); end > st.Cache[0].Max {
		return nil, fmt.Errorf("decoder: %d positions exceed the context of %d", end, st.Cache[0].Max)
	}
	st.Len = pos
	for len(tokens) > 0 {
		n := min(len(tokens), prefillChunk)
		if err := st.step(tokens[:n], st.Len); err != nil {
			return nil, err
		}
		st.Len += n
		tokens = tokens[n:]
	}
	return st.logits, nil
}

// step runs one batch of seq tokens through every block and leaves the last
// token's logits in st.logits.
func (st *State) step(tokens []int, pos int) error {
	d, c := st.d, st.d.Config
	seq := len(tokens)
	x, err := st.blocks(tokens, pos)
	if err != nil {
		return err
	}
	h := st.h
	// Only the last position's logits are needed for generation.
	last := x[(seq-1)*c.Dim : seq*c.Dim]
	if err := d.Norm.Forward(h[:c.Dim], last, 1); err != nil {
		return err
	}
	return d.Output.Forward(st.logits, h[:c.Dim], 1)
}

// blocks runs one batch of seq tokens at positions pos… through the
// embedding and every block, filling the KV cache, and returns the residual
// stream (seq, dim) before the final norm (st.x; st.h is free scratch of the
// same size).
func (st *State) blocks(tokens []int, pos int) ([]float32, error) {
	d, c := st.d, st.d.Config
	seq := len(tokens)
	x := tensor.Grow(&st.x, seq*c.Dim) // (seq, dim) residual stream
	h := tensor.Grow(&st.h, seq*c.Dim) // (seq, dim)
	if err := d.Embed.Forward(x, tokens); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	for i := range d.Blocks {
		blk := &d.Blocks[i]
		if err := blk.AttnNorm.Forward(h, x, seq); err != nil {
			return nil, err
		}
		if err := blk.Attn.Forward(h, h, seq, pos, &st.Cache[i], &st.s); err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		if err := kernels.Add(x, x, h); err != nil {
			return nil, err
		}
		if err := blk.FFNNorm.Forward(h, x, seq); err != nil {
			return nil, err
		}
		out := h
		var err error
		if blk.MoE != nil {
			out = tensor.Grow(&st.y, seq*c.Dim)
			err = blk.MoE.Forward(out, h, seq, &st.s)
		} else {
			err = blk.MLP.Forward(h, h, seq, &st.s)
		}
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		if err := kernels.Add(x, x, out); err != nil {
			return nil, err
		}
	}
	return x, nil
}
