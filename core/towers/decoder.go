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
// The families built on it change a few pieces, each as llama.cpp's
// src/models/<arch>.cpp does:
//
//   - Qwen2 (Qwen team 2024): biases on q, k and v; NeoX RoPE.
//   - Qwen3 and Qwen3-MoE (2025): per-head RMSNorm of q and k before RoPE
//     (attn_{q,k}_norm); the MoE variant's experts as Mixtral's.
//   - Phi-3 (Abdin et al. 2024): q, k, v fused into attn_qkv and gate, up
//     into ffn_up (2·ff rows, gate first).
//   - Gemma 2 and 3 (Gemma Team 2024, 2025): embeddings scaled by √dim, a
//     second RMSNorm after attention and after the feed-forward
//     (post_attention_norm, post_ffw_norm), GeGLU, sliding-window layers
//     alternating with global ones (their own RoPE base), and in Gemma 2
//     soft-capped attention scores and output logits; Gemma 3 has QK-norm.
//     GGUF stores Gemma's norm weights with the 1 already added.
//
// Reference implementations: llama2.c's run.c (Karpathy), llama.cpp's
// llm_build_llama. Checkpoint names are llama.cpp's GGUF names, which every
// reader in core/formats presents (llama2.c and Hugging Face files included):
//
//	token_embd.weight              (vocab, dim)
//	blk.N.attn_norm.weight         (dim)
//	blk.N.attn_{q,k,v}.weight      (heads·hd, dim), (kv_heads·hd, dim) ×2 [+ .bias: Qwen2]
//	blk.N.attn_qkv.weight          ((heads+2·kv_heads)·hd, dim) instead of the three (Phi-3)
//	blk.N.attn_{q,k}_norm.weight   (hd)           QK-norm (Qwen3, Gemma 3)
//	blk.N.attn_output.weight       (dim, heads·hd)
//	blk.N.post_attention_norm.weight (dim)         Gemma 2/3
//	blk.N.ffn_norm.weight          (dim)
//	blk.N.ffn_{gate,up}.weight     (ff, dim)      dense blocks
//	blk.N.ffn_up.weight            (2·ff, dim)    gate and up fused, no ffn_gate (Phi-3)
//	blk.N.ffn_down.weight          (dim, ff)
//	blk.N.post_ffw_norm.weight     (dim)          Gemma 2/3
//	blk.N.ffn_gate_inp.weight      (experts, dim) MoE blocks
//	blk.N.ffn_{gate,up}_exps.weight (experts, ff, dim)
//	blk.N.ffn_down_exps.weight     (experts, dim, ff)
//	blk.N.ffn_{gate,up,down}_shexp.weight         shared experts (optional)
//	output_norm.weight             (dim)
//	output.weight                  (vocab, dim)   absent when tied to token_embd [+ .bias: Qwen2]
//	rope_freqs.weight              (rot_dim/2)    optional per-pair divisors (Llama 3.1)

import (
	"fmt"
	"math"
	"os"

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

	// What the families change (zero values: Llama's).
	QKNorm        bool    // attn_{q,k}_norm before RoPE (Qwen3, Gemma 3)
	EmbedScale    float32 // embeddings times this (Gemma: √dim); 0 = 1
	AttnScale     float32 // q·k scale; 0 = 1/√head_dim
	AttnSoftcap   float32 // attention scores soft-capped (Gemma 2); 0 = none
	FinalSoftcap  float32 // output logits soft-capped (Gemma 2); 0 = none
	PostNorms     bool    // post_attention_norm and post_ffw_norm (Gemma 2/3)
	GeGLU         bool    // gelu-gated feed-forward (Gemma)
	SlidingWindow int     // keys a sliding-window layer sees (0: none)
	SWALayers     []bool  // per layer: sliding window (nil: none)
	RopeThetaSWA  float64 // RoPE base of the sliding-window layers
}

// family is what an architecture changes in the Llama decoder, read from
// llama.cpp's src/models/<arch>.cpp and llama_model_rope_type.
type family struct {
	neox   bool // NeoX (rotate_half) RoPE pairing
	qkNorm bool
	gemma  int // 2 or 3: Gemma's embedding scale, post-norms, GeGLU, sliding windows
	moe    bool
}

var families = map[string]family{
	"llama": {}, "mistral": {}, "mixtral": {},
	"qwen2":    {neox: true},
	"qwen3":    {neox: true, qkNorm: true},
	"qwen3moe": {neox: true, qkNorm: true, moe: true},
	"phi3":     {neox: true},
	"gemma2":   {neox: true, gemma: 2},
	"gemma3":   {neox: true, gemma: 3, qkNorm: true},
}

// supportedArchs are the architectures this tower runs.
var supportedArchs = func() map[string]bool {
	m := map[string]bool{}
	for a := range families {
		m[a] = true
	}
	return m
}()

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
		RopeNeoX:   families[arch].neox,
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
	if err := c.readFamily(meta, families[arch]); err != nil {
		return c, err
	}
	return c, c.validate()
}

// readFamily reads what fam changes from the metadata, with llama.cpp's
// defaults where a key is absent.
func (c *DecoderConfig) readFamily(meta formats.Metadata, fam family) error {
	key := func(s string) string { return c.Arch + "." + s }
	c.QKNorm = fam.qkNorm
	if fam.moe && c.Experts == 0 {
		return fmt.Errorf("decoder: %s needs %s", c.Arch, key("expert_count"))
	}
	if fam.gemma == 0 {
		// A sliding window in Mistral's, Qwen's or Phi-3's files is one
		// llama.cpp ignores (Phi-3 disables it), and so does Loom.
		return nil
	}
	c.EmbedScale = float32(math.Sqrt(float64(c.Dim)))
	c.PostNorms, c.GeGLU = true, true
	// gemma_pytorch's query_pre_attn_scalar: dim/heads for the 27B models
	// (which llama.cpp recognises by their layer count), head_dim otherwise.
	c.AttnScale = float32(1 / math.Sqrt(float64(c.HeadDim)))
	if fam.gemma == 2 && c.Layers == 46 || fam.gemma == 3 && c.Layers == 62 {
		c.AttnScale = float32(1 / math.Sqrt(float64(c.Dim/c.Heads)))
	}
	c.RopeThetaSWA = 10000
	period := int64(6)
	window := int64(0)
	if fam.gemma == 2 {
		c.AttnSoftcap = float32(meta.FloatOr(key("attn_logit_softcapping"), 50))
		c.FinalSoftcap = float32(meta.FloatOr(key("final_logit_softcapping"), 30))
		c.RopeThetaSWA = c.RopeTheta
		period, window = 2, 4096
	} else {
		c.FinalSoftcap = float32(meta.FloatOr(key("final_logit_softcapping"), 0))
	}
	window = meta.IntOr(key("attention.sliding_window"), window)
	c.RopeThetaSWA = meta.FloatOr(key("rope.freq_base_swa"), c.RopeThetaSWA)
	if v, ok := meta[key("attention.sliding_window_pattern")]; ok {
		if _, isInt := meta.Int(key("attention.sliding_window_pattern")); !isInt {
			return fmt.Errorf("decoder: %s of type %T: only a period is supported", key("attention.sliding_window_pattern"), v)
		}
	}
	period = meta.IntOr(key("attention.sliding_window_pattern"), period)
	if window < 0 || window > 1<<30 || period < 0 || period > 1<<16 {
		return fmt.Errorf("decoder: sliding window %d, pattern %d", window, period)
	}
	if window > 0 {
		// llama.cpp's set_swa_pattern: every period-th layer is global.
		c.SlidingWindow = int(window)
		c.SWALayers = make([]bool, c.Layers)
		for i := range c.SWALayers {
			c.SWALayers[i] = period == 0 || int64(i)%period < period-1
		}
	}
	for _, v := range []float32{c.AttnSoftcap, c.FinalSoftcap} {
		if !(v >= 0) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("decoder: soft-cap %v", v)
		}
	}
	if !(c.RopeThetaSWA > 0) {
		return fmt.Errorf("decoder: sliding-window RoPE base %v", c.RopeThetaSWA)
	}
	return nil
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
	// KVF32 makes new sessions keep keys and values in float32 instead of
	// IEEE halves (nn.KVCache.Half); LoadDecoder sets it from KVCacheEnv.
	KVF32 bool
	// KVQ8 makes new sessions keep them as q8_0 (nn.KVCache.Q8, llama.cpp's
	// -ctk q8_0 -ctv q8_0) unless KVF32 is set (code that asks for float32
	// gets it whatever the default); a model whose head size is not a
	// multiple of 32 (kernels.KVQ8Block) keeps halves, so that no block
	// spans two heads (llama.cpp refuses such a cache; stories260K's 8-wide
	// heads lose 0.25% perplexity with blocks across 4 heads, a q8_0 file's
	// 64-wide heads 0.07%). LoadDecoder sets it from KVCacheEnv.
	KVQ8 bool
}

// KVCacheEnv names the environment variable that picks the element type of
// a decoder session's KV cache: "f16" (llama.cpp's default type_k/type_v:
// half the memory), "f32" (the cache before f16 existed) or "q8_0" (ggml's
// q8_0, 53% of f16). Unset, a file whose attention weights are
// block-quantised (q4_0, q4_K, q8_0 …) takes q8_0 and any other (f32, f16,
// bf16) f16: see kvDefault.
const KVCacheEnv = "LOOM_KV_CACHE"

// SetKVCache sets the element type of new sessions' KV caches by its
// KVCacheEnv name: "f16", "f32" or "q8_0".
func (d *Decoder) SetKVCache(typ string) error {
	switch typ {
	case "f16":
		d.KVF32, d.KVQ8 = false, false
	case "f32":
		d.KVF32, d.KVQ8 = true, false
	case "q8_0":
		d.KVF32, d.KVQ8 = false, true
	default:
		return fmt.Errorf("kv cache type %q: want f16, f32 or q8_0", typ)
	}
	return nil
}

// KVCacheType is the KVCacheEnv name of the type new sessions' caches take
// (q8_0 falls back to f16 where a head is not whole q8_0 blocks).
func (d *Decoder) KVCacheType() string {
	switch {
	case d.kvQ8():
		return "q8_0"
	case d.KVF32:
		return "f32"
	}
	return "f16"
}

// kvQ8 reports whether new sessions' caches hold q8_0.
func (d *Decoder) kvQ8() bool {
	return d.KVQ8 && !d.KVF32 && d.Config.HeadDim%kernels.KVQ8Block == 0
}

// kvCacheFromEnv sets d's KV cache type from KVCacheEnv (unset: kvDefault).
func (d *Decoder) kvCacheFromEnv() error {
	v := os.Getenv(KVCacheEnv)
	if v == "" {
		v = d.kvDefault()
	}
	if err := d.SetKVCache(v); err != nil {
		return fmt.Errorf("%s: %w", KVCacheEnv, err)
	}
	return nil
}

// kvDefault is the KV cache type of a decoder loaded with KVCacheEnv unset:
// q8_0 when its attention projections are block-quantised, f16 otherwise.
// A q8_0 cache moves a 134M model's logits by 0.009–0.013 on average and
// its perplexity by ±0.14 % (docs/BENCHMARKS.md, "q8_0 KV cache"), far less
// than its weights' own q4/q5/q8 rounding does, for 53 % of an f16 cache's
// memory; a file kept in f32, f16 or bf16 keeps the f16 cache, and so stays
// within 1e-4 of llama.cpp's logits at its default cache.
func (d *Decoder) kvDefault() string {
	if len(d.Blocks) == 0 {
		return "f16"
	}
	w := &d.Blocks[0].Attn.O.W
	switch w.Type.RepackOf() {
	case kernels.F32, kernels.F16, kernels.BF16:
		return "f16"
	}
	if w.F32 != nil {
		return "f16"
	}
	return "q8_0"
}

// DecoderBlock is one transformer block: exactly one of MLP and MoE is set.
type DecoderBlock struct {
	AttnNorm     nn.RMSNorm
	Attn         nn.Attention
	AttnPostNorm *nn.RMSNorm // Gemma: on the attention output before the residual
	FFNNorm      nn.RMSNorm
	MLP          *nn.SwiGLU
	MoE          *nn.MoE
	FFNPostNorm  *nn.RMSNorm // Gemma: on the feed-forward output before the residual
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
	if b.Has("rope_factors_long.weight") {
		return nil, fmt.Errorf("decoder: LongRoPE (rope_factors_long) is not supported")
	}
	rope, err := nn.NewRoPE(c.RopeDim, c.RopeTheta, c.RopeNeoX, c.RopeScale, freqs)
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	// llama.cpp's sliding-window layers rotate with their own base and no
	// context scaling (rope_freq_scale_train_swa is 1 unless set).
	ropeSWA := rope
	if c.SWALayers != nil {
		if ropeSWA, err = nn.NewRoPE(c.RopeDim, c.RopeThetaSWA, c.RopeNeoX, nn.RoPEScaling{}, freqs); err != nil {
			return nil, fmt.Errorf("decoder: %w", err)
		}
	}
	qw, kw := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	d := &Decoder{Config: c}
	d.Embed = b.Embedding("token_embd.weight", c.Vocab, c.Dim)
	norm := func(b *nn.Binder, name string, n int) *nn.RMSNorm {
		return &nn.RMSNorm{W: b.Vector(name+".weight", n), Eps: c.NormEps}
	}
	// The blocks' and the output's matrices are only multiplied: they are
	// repacked for decoding where the type has such a layout (the fused
	// attn_qkv and Phi-3 ffn_up, split by rows, stay as stored).
	rb := b.Repacking()
	for i := 0; i < c.Layers; i++ {
		blk, fused := rb.Sub("blk.%d", i), b.Sub("blk.%d", i)
		l := DecoderBlock{
			AttnNorm: *norm(blk, "attn_norm", c.Dim),
			Attn: nn.Attention{
				O:     blk.Linear("attn_output", c.Dim, qw),
				Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim, Rope: rope,
				Scale: c.AttnScale, Softcap: c.AttnSoftcap,
			},
			FFNNorm: *norm(blk, "ffn_norm", c.Dim),
		}
		if blk.Has("attn_qkv.weight") {
			l.Attn.Q, l.Attn.K, l.Attn.V = splitQKV(fused, qw, kw, c.Dim)
		} else {
			l.Attn.Q = blk.Linear("attn_q", qw, c.Dim)
			l.Attn.K = blk.Linear("attn_k", kw, c.Dim)
			l.Attn.V = blk.Linear("attn_v", kw, c.Dim)
		}
		if c.QKNorm {
			l.Attn.QNorm, l.Attn.KNorm = norm(blk, "attn_q_norm", c.HeadDim), norm(blk, "attn_k_norm", c.HeadDim)
		}
		if c.SWALayers != nil && c.SWALayers[i] {
			l.Attn.Rope, l.Attn.Window = ropeSWA, c.SlidingWindow
		}
		if c.PostNorms {
			l.AttnPostNorm, l.FFNPostNorm = norm(blk, "post_attention_norm", c.Dim), norm(blk, "post_ffw_norm", c.Dim)
		}
		switch {
		case c.Experts > 0:
			moe := nn.BindMoE(blk, kernels.MoEConfig{Dim: c.Dim, FF: c.FF, Experts: c.Experts, TopK: c.ExpertsUse,
				Gating: kernels.MoESoftmax, NormTopK: c.ExpertNorm, SharedFF: c.SharedFF})
			l.MoE = &moe
		case !blk.Has("ffn_gate.weight"):
			// Phi-3: ffn_up holds the gate rows then the up rows.
			l.MLP = &nn.SwiGLU{Down: blk.Linear("ffn_down", c.Dim, c.FF), GeGLU: c.GeGLU}
			l.MLP.Gate, l.MLP.Up = splitRows2(fused, "ffn_up", c.FF, c.FF, c.Dim)
		default:
			l.MLP = &nn.SwiGLU{
				Gate:  blk.Linear("ffn_gate", c.FF, c.Dim),
				Up:    blk.Linear("ffn_up", c.FF, c.Dim),
				Down:  blk.Linear("ffn_down", c.Dim, c.FF),
				GeGLU: c.GeGLU,
			}
		}
		d.Blocks = append(d.Blocks, l)
	}
	d.Norm = *norm(b, "output_norm", c.Dim)
	if c.TiedOutput {
		d.Output = nn.Linear{W: d.Embed.Table}
	} else {
		d.Output = rb.Linear("output", c.Vocab, c.Dim)
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	if err = d.kvCacheFromEnv(); err != nil { // after the blocks: the default follows their type
		return nil, fmt.Errorf("decoder: %w", err)
	}
	return d, nil
}

// splitQKV views a fused attn_qkv ((qw+2·kw), dim) [+ bias] as q, k and v.
func splitQKV(b *nn.Binder, qw, kw, dim int) (q, k, v nn.Linear) {
	fused := b.Linear("attn_qkv", qw+2*kw, dim)
	if fused.W.F32 == nil && fused.W.Data == nil {
		return // the binder has recorded why
	}
	q, _ = fused.SplitRows(0, qw)
	k, _ = fused.SplitRows(qw, qw+kw)
	v, _ = fused.SplitRows(qw+kw, qw+2*kw)
	return q, k, v
}

// splitRows2 views name ((a+b), cols) as its first a rows and its last b.
func splitRows2(bd *nn.Binder, name string, a, b, cols int) (first, second nn.Linear) {
	fused := bd.Linear(name, a+b, cols)
	if fused.W.F32 == nil && fused.W.Data == nil {
		return
	}
	first, _ = fused.SplitRows(0, a)
	second, _ = fused.SplitRows(a, a+b)
	return first, second
}

// moeChunk bounds the tokens one MoE call routes: the fused kernel's
// scratch is (tokens × top-k) rows of dim and ff, 2.5 MiB for a 128-token
// chunk of the 166M test MoE. 64 tokens halve it (peak RSS −1.0 to −1.1 MiB
// there) for 6–8 % more prefill CPU time (each expert's weights stream twice
// per 128 tokens); a var so tests can compare it with one call.
var moeChunk = 64

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
		// A sliding-window layer caches only its window (nn.KVCache).
		st.Cache[i] = nn.KVCache{Width: c.KVHeads * c.HeadDim, Max: maxPos, Window: d.Blocks[i].Attn.Window, Half: !d.KVF32, Q8: d.kvQ8()}
	}
	return st
}

// Forward runs tokens at positions pos…pos+len-1 (pos ≤ Len: a smaller pos
// rewinds the cache) and returns the logits (vocab) of the last token. The
// prompt goes through in batched chunks; a single token is one decode step.
// The returned slice is reused by the next call.
func (st *State) Forward(tokens []int, pos int) ([]float32, error) {
	if err := forwardChunks("decoder", tokens, pos, &st.Len, st.Cache[0].Max, st.step); err != nil {
		return nil, err
	}
	return st.logits, nil
}

// forwardChunks is the Forward of every cached session: it checks tokens
// and pos against the cached length and the context max, rewinds the length
// to pos, and runs step on chunks of at most prefillChunk tokens, advancing
// *length after each.
func forwardChunks(tower string, tokens []int, pos int, length *int, max int, step func(tokens []int, pos int) error) error {
	if len(tokens) == 0 {
		return fmt.Errorf("%s: no tokens", tower)
	}
	if pos < 0 || pos > *length {
		return fmt.Errorf("%s: position %d beyond the %d cached", tower, pos, *length)
	}
	if end := pos + len(tokens); end > max {
		return fmt.Errorf("%s: %d positions exceed the context of %d", tower, end, max)
	}
	*length = pos
	for len(tokens) > 0 {
		n := min(len(tokens), prefillChunk)
		if err := step(tokens[:n], *length); err != nil {
			return err
		}
		*length += n
		tokens = tokens[n:]
	}
	return nil
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
	if err := d.Output.Forward(st.logits, h[:c.Dim], 1); err != nil {
		return err
	}
	if sc := c.FinalSoftcap; sc > 0 {
		for i, v := range st.logits {
			st.logits[i] = sc * float32(math.Tanh(float64(v/sc)))
		}
	}
	return nil
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
	if c.EmbedScale != 0 {
		if err := kernels.Scale(x, x, c.EmbedScale); err != nil {
			return nil, err
		}
	}
	for i := range d.Blocks {
		blk := &d.Blocks[i]
		if err := blk.AttnNorm.Forward(h, x, seq); err != nil {
			return nil, err
		}
		if err := blk.Attn.Forward(h, h, seq, pos, &st.Cache[i], &st.s); err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		if blk.AttnPostNorm != nil {
			if err := blk.AttnPostNorm.Forward(h, h, seq); err != nil {
				return nil, err
			}
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
			for t0 := 0; t0 < seq && err == nil; t0 += moeChunk {
				n := min(moeChunk, seq-t0)
				err = blk.MoE.Forward(out[t0*c.Dim:(t0+n)*c.Dim], h[t0*c.Dim:(t0+n)*c.Dim], n, &st.s)
			}
		} else {
			err = blk.MLP.Forward(h, h, seq, &st.s)
		}
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		if blk.FFNPostNorm != nil {
			if err := blk.FFNPostNorm.Forward(out, out, seq); err != nil {
				return nil, err
			}
		}
		if err := kernels.Add(x, x, out); err != nil {
			return nil, err
		}
	}
	return x, nil
}
