package towers

// DeepSeek-V2/V3 (DeepSeek-AI 2024, "DeepSeek-V2: A Strong, Economical, and
// Efficient Mixture-of-Experts Language Model"; "DeepSeek-V3 Technical
// Report"): a pre-norm decoder whose attention is multi-head latent
// attention (MLA) and whose feed-forward is, after the first few dense
// blocks, a Mixture of Experts with shared experts.
//
// MLA compresses each token's keys and values into one latent vector c
// (kv_lora_rank) plus a small rotary key k_pe shared by all heads, and the
// cache holds only [c, k_pe] per position — not per-head keys and values.
// Attention runs in the "absorbed" form llama.cpp uses: each head's query
// without rotary part is mapped into the latent space by that head's
// k_b (q̃ = k_bᵀ·q_nope), so scores are [q̃, rope(q_pe)]·[c, rope(k_pe)]
// against the cache directly, the head's output is Σ p·c mapped out by its
// v_b, and every head reads the same cache rows (multi-query attention over
// the latent). Queries may be low-rank too (q_a → RMSNorm → q_b; V2-Lite
// has a plain attn_q). The MoE scores experts by softmax (V2) or sigmoid
// with a selection bias and group-limited top-k (V3): kernels.MoEConfig's
// Bias, Groups, GroupsUsed and Scale.
//
// Reference: llama.cpp's llm_build_deepseek2 (src/models/deepseek2.cpp),
// whose GGUF names are bound:
//
//	token_embd.weight                   (vocab, dim)
//	blk.N.attn_norm.weight              (dim)
//	blk.N.attn_q_a.weight               (q_lora, dim)   with attn_q_a_norm (q_lora)
//	blk.N.attn_q_b.weight               (heads·(nope+rope), q_lora)
//	blk.N.attn_q.weight                 (heads·(nope+rope), dim)  instead, without q_lora
//	blk.N.attn_kv_a_mqa.weight          (kv_lora+rope, dim)
//	blk.N.attn_kv_a_norm.weight         (kv_lora)
//	blk.N.attn_k_b.weight               (heads, kv_lora, nope)
//	blk.N.attn_v_b.weight               (heads, v_dim, kv_lora)
//	blk.N.attn_output.weight            (dim, heads·v_dim)
//	blk.N.ffn_norm.weight               (dim)
//	blk.N.ffn_{gate,up,down}.weight     leading dense blocks
//	blk.N.ffn_gate_inp.weight, exp_probs_b.bias, ffn_{gate,up,down}_exps, ffn_{gate,up,down}_shexp
//	output_norm.weight, output.weight   (tied to token_embd when absent)

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// DeepSeek2Config is a DeepSeek-V2/V3 model's shape ("deepseek2.*").
type DeepSeek2Config struct {
	Dim, Layers, Vocab, Context, Heads int
	QLora, KVLora                      int // ranks (QLora 0: a plain attn_q)
	Nope, Rope, VDim                   int // per-head key dims without and with rotation, value dims
	FF, DenseLead                      int // dense FFN width, leading dense blocks
	Experts, ExpertsUse, ExpertFF      int
	SharedExperts                      int
	Gating                             kernels.MoEGating
	ExpertNorm                         bool
	ExpertScale                        float32
	Groups, GroupsUsed                 int
	NormEps                            float32
	RopeTheta                          float64
}

// DeepSeek2 is a loaded model, read-only after load.
type DeepSeek2 struct {
	Config  DeepSeek2Config
	Embed   nn.Embedding
	Blocks  []DeepSeek2Block
	Norm    nn.RMSNorm
	Output  nn.Linear
	rope    nn.RoPE
	ropeMag float32 // what the rotated q_pe and k_pe are multiplied by (YaRN's magnitude; 1 without)
	scale   float32 // of the attention scores: mscale²/√(nope+rope)
}

// deepseekRoPE is the rotary embedding of the decoupled keys and queries
// as llama.cpp sets it up for deepseek2 (llama-context.cpp's YaRN
// attention factor, deepseek2.cpp's kq_scale): with YaRN the frequencies
// blend per pair, the rotated values are scaled by the magnitude ggml
// applies, and the scores by mscale² with mscale = magnitude·(1 +
// 0.1·yarn_log_multiplier·ln(factor)); without, plain RoPE and 1/√d_k.
func deepseekRoPE(meta formats.Metadata, c DeepSeek2Config, yarn bool) (nn.RoPE, float32, float32, error) {
	inv := 1 / math.Sqrt(float64(c.Nope+c.Rope))
	attnFactor := meta.FloatOr("deepseek2.rope.scaling.attn_factor", 1)
	if !yarn {
		r, err := nn.NewRoPE(c.Rope, c.RopeTheta, false, nn.RoPEScaling{}, nil)
		return r, float32(attnFactor), float32(attnFactor * attnFactor * inv), err
	}
	y := nn.YaRN{Factor: meta.FloatOr("deepseek2.rope.scaling.factor", 0), BetaFast: 32, BetaSlow: 1,
		OrigContext: int(meta.IntOr("deepseek2.rope.scaling.original_context_length", int64(c.Context)))}
	r, mag, err := nn.NewYaRNRoPE(c.Rope, c.RopeTheta, false, y)
	if err != nil {
		return r, 0, 0, err
	}
	// The converter stores 0.1·mscale_all_dim; llama.cpp divides it out.
	logMul := meta.FloatOr("deepseek2.rope.scaling.yarn_log_multiplier", 0) / 0.1
	getM := func(m float64) float64 { return 0.1*m*math.Log(y.Factor) + 1 }
	af := getM(1)
	if logMul != 0 {
		ms := 1.0
		if logMul != 1 { // DeepSeek-V2's mscale = mscale_all_dim
			ms = logMul
		}
		af = getM(ms) / getM(logMul)
	}
	af = af / mag * attnFactor // llama.cpp cancels ggml's magnitude, then multiplies it back in the kernel
	m := af * mag
	ms := m * (1 + 0.1*logMul*math.Log(y.Factor))
	return r, float32(m), float32(ms * ms * inv), nil
}

// DeepSeek2Block is one block: MLA, then a dense SwiGLU or the MoE.
type DeepSeek2Block struct {
	AttnNorm nn.RMSNorm
	QA       nn.Linear // (q_lora, dim), or nil rows with Q set
	QANorm   nn.RMSNorm
	QB       nn.Linear // (heads·(nope+rope), q_lora)
	Q        nn.Linear // (heads·(nope+rope), dim) when there is no q_lora
	KVA      nn.Linear // (kv_lora+rope, dim)
	KVANorm  nn.RMSNorm
	KB       []nn.Linear // per head (kv_lora, nope)
	VB       []nn.Linear // per head (v_dim, kv_lora)
	O        nn.Linear   // (dim, heads·v_dim)
	FFNNorm  nn.RMSNorm
	MLP      *nn.SwiGLU
	MoE      *nn.MoE
}

// LoadDeepSeek2 binds a DeepSeek-V2/V3 model to a GGUF file's tensors.
func LoadDeepSeek2(src formats.InfoSource) (*DeepSeek2, error) {
	meta := src.Meta()
	if a := meta.Arch(); a != "deepseek2" {
		return nil, fmt.Errorf("deepseek2: architecture %q", a)
	}
	geti := func(s string, def int64) int { return int(meta.IntOr("deepseek2."+s, def)) }
	c := DeepSeek2Config{
		Dim: geti("embedding_length", 0), Layers: geti("block_count", 0), Context: geti("context_length", 4096),
		Heads: geti("attention.head_count", 0), QLora: geti("attention.q_lora_rank", 0), KVLora: geti("attention.kv_lora_rank", 0),
		Rope: geti("rope.dimension_count", 0), FF: geti("feed_forward_length", 0), DenseLead: geti("leading_dense_block_count", 0),
		Experts: geti("expert_count", 0), ExpertsUse: geti("expert_used_count", 0), ExpertFF: geti("expert_feed_forward_length", 0),
		SharedExperts: geti("expert_shared_count", 0), Groups: geti("expert_group_count", 0), GroupsUsed: geti("expert_group_used_count", 0),
		ExpertScale: float32(meta.FloatOr("deepseek2.expert_weights_scale", 0)),
		NormEps:     float32(meta.FloatOr("deepseek2.attention.layer_norm_rms_epsilon", 1e-6)),
		RopeTheta:   meta.FloatOr("deepseek2.rope.freq_base", 10000),
	}
	c.ExpertNorm, _ = meta.Bool("deepseek2.expert_weights_norm")
	switch g := geti("expert_gating_func", 1); g {
	case 1:
		c.Gating = kernels.MoESoftmax
	case 2:
		c.Gating = kernels.MoESigmoid
	default:
		return nil, fmt.Errorf("deepseek2: expert gating function %d (1 softmax and 2 sigmoid are known)", g)
	}
	kMLA, vMLA := geti("attention.key_length_mla", 0), geti("attention.value_length_mla", 0)
	if kMLA == 0 || vMLA == 0 {
		return nil, fmt.Errorf("deepseek2: no attention.key_length_mla/value_length_mla: a file with the unsplit attn_kv_b (converted before llama.cpp split it into attn_k_b and attn_v_b) must be converted again")
	}
	c.Nope, c.VDim = kMLA-c.Rope, vMLA
	scaling, _ := meta.String("deepseek2.rope.scaling.type")
	switch scaling {
	case "", "none", "yarn":
	default:
		return nil, fmt.Errorf("deepseek2: rope scaling %q (none and yarn are supported)", scaling)
	}
	if emb, err := src.Info("token_embd.weight"); err == nil && len(emb.Shape) == 2 {
		c.Vocab = emb.Shape[0]
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	rope, mag, kqScale, err := deepseekRoPE(meta, c, scaling == "yarn")
	if err != nil {
		return nil, fmt.Errorf("deepseek2: %w", err)
	}
	b := nn.NewBinder(src)
	H, qk := c.Heads, c.Nope+c.Rope
	d := &DeepSeek2{Config: c, rope: rope, ropeMag: mag, scale: kqScale}
	d.Embed = b.Embedding("token_embd.weight", c.Vocab, c.Dim)
	for i := 0; i < c.Layers; i++ {
		blk := b.Sub("blk.%d", i)
		l := DeepSeek2Block{
			AttnNorm: nn.RMSNorm{W: blk.Vector("attn_norm.weight", c.Dim), Eps: c.NormEps},
			KVA:      blk.Linear("attn_kv_a_mqa", c.KVLora+c.Rope, c.Dim),
			KVANorm:  nn.RMSNorm{W: blk.Vector("attn_kv_a_norm.weight", c.KVLora), Eps: c.NormEps},
			O:        blk.Linear("attn_output", c.Dim, H*c.VDim),
			FFNNorm:  nn.RMSNorm{W: blk.Vector("ffn_norm.weight", c.Dim), Eps: c.NormEps},
		}
		if c.QLora > 0 {
			l.QA = blk.Linear("attn_q_a", c.QLora, c.Dim)
			l.QANorm = nn.RMSNorm{W: blk.Vector("attn_q_a_norm.weight", c.QLora), Eps: c.NormEps}
			l.QB = blk.Linear("attn_q_b", H*qk, c.QLora)
		} else {
			l.Q = blk.Linear("attn_q", H*qk, c.Dim)
		}
		for _, w := range blk.Stack("attn_k_b.weight", H, c.KVLora, c.Nope) {
			l.KB = append(l.KB, nn.Linear{W: w})
		}
		for _, w := range blk.Stack("attn_v_b.weight", H, c.VDim, c.KVLora) {
			l.VB = append(l.VB, nn.Linear{W: w})
		}
		if i < c.DenseLead {
			l.MLP = &nn.SwiGLU{Gate: blk.Linear("ffn_gate", c.FF, c.Dim), Up: blk.Linear("ffn_up", c.FF, c.Dim),
				Down: blk.Linear("ffn_down", c.Dim, c.FF)}
		} else {
			moe := nn.BindMoE(blk, kernels.MoEConfig{Dim: c.Dim, FF: c.ExpertFF, Experts: c.Experts, TopK: c.ExpertsUse,
				Gating: c.Gating, NormTopK: c.ExpertNorm, SharedFF: c.ExpertFF * c.SharedExperts,
				Groups: c.Groups, GroupsUsed: c.GroupsUsed, Scale: c.ExpertScale})
			if blk.Has("exp_probs_b.bias") {
				moe.Config.Bias = blk.Vector("exp_probs_b.bias", c.Experts)
			}
			l.MoE = &moe
		}
		d.Blocks = append(d.Blocks, l)
	}
	d.Norm, d.Output = bindRMSHead(b, d.Embed, c.Dim, c.Vocab, c.NormEps)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("deepseek2: %w", err)
	}
	return d, nil
}

func (c *DeepSeek2Config) validate() error {
	switch {
	case c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.KVLora <= 0 || c.Rope <= 0 || c.Nope <= 0 || c.VDim <= 0 || c.Vocab <= 0 || c.Context <= 0 || c.QLora < 0:
		return fmt.Errorf("deepseek2: bad shape %+v", *c)
	case c.Dim > 1<<16 || c.Layers > 1024 || c.Heads > 1024 || c.KVLora > 1<<14 || c.QLora > 1<<15 || c.Nope+c.Rope > 4096 || c.VDim > 4096:
		return fmt.Errorf("deepseek2: implausible shape %+v", *c)
	case c.DenseLead < 0 || c.DenseLead > c.Layers || c.DenseLead > 0 && c.FF <= 0:
		return fmt.Errorf("deepseek2: %d leading dense blocks of width %d in %d", c.DenseLead, c.FF, c.Layers)
	case c.DenseLead < c.Layers && (c.Experts <= 0 || c.ExpertsUse < 1 || c.ExpertsUse > c.Experts || c.ExpertFF <= 0 || c.SharedExperts < 0):
		return fmt.Errorf("deepseek2: %d experts of width %d, %d used, %d shared", c.Experts, c.ExpertFF, c.ExpertsUse, c.SharedExperts)
	}
	return nil
}

// Info implements LM.
func (d *DeepSeek2) Info() LMInfo {
	c := d.Config
	return LMInfo{Arch: "deepseek2", Vocab: c.Vocab, Dim: c.Dim, Layers: c.Layers, Context: c.Context}
}

// LatentCache is one MLA layer's cache: per position the normalised latent
// c (kv_lora) followed by the rotated shared key k_pe (rope) — what every
// head's keys and values are made from, kv_lora+rope floats a position
// instead of 2·heads·head_dim.
type LatentCache struct {
	C     []float32 // (capacity, Width)
	Width int       // kv_lora + rope
	Max   int
}

// Reserve makes room for n positions, keeping those stored.
func (c *LatentCache) Reserve(n int) error {
	if n > c.Max {
		return fmt.Errorf("latent cache: %d positions exceed the context of %d", n, c.Max)
	}
	if len(c.C) >= n*c.Width {
		return nil
	}
	capPos := min(c.Max, max(n+n/2, 2*len(c.C)/c.Width, 64))
	grown := make([]float32, capPos*c.Width)
	copy(grown, c.C)
	c.C = grown
	return nil
}

// DeepSeek2State is one generation's latent caches and scratch.
type DeepSeek2State struct {
	d      *DeepSeek2
	Cache  []LatentCache
	Len    int
	logits []float32
	x, h   []float32
	y      []float32
	s      nn.Scratch
	a      mlaScratch
}

type mlaScratch struct {
	qa, q, kv, qh, pe, scores, att, vo, cat []float32
}

// NewSession implements LM.
func (d *DeepSeek2) NewSession(maxPos int) Session { return d.NewState(maxPos) }

// NewState returns an empty state for at most maxPos positions.
func (d *DeepSeek2) NewState(maxPos int) *DeepSeek2State {
	c := d.Config
	if maxPos <= 0 || maxPos > c.Context {
		maxPos = c.Context
	}
	st := &DeepSeek2State{d: d, Cache: make([]LatentCache, c.Layers), logits: make([]float32, c.Vocab)}
	for i := range st.Cache {
		st.Cache[i] = LatentCache{Width: c.KVLora + c.Rope, Max: maxPos}
	}
	return st
}

// Logits implements Session.
func (st *DeepSeek2State) Logits() []float32 { return st.logits }

// Fork implements Session: the cached positions and logits are copied.
func (st *DeepSeek2State) Fork() Session {
	f := &DeepSeek2State{d: st.d, Cache: make([]LatentCache, len(st.Cache)), Len: st.Len, logits: append([]float32(nil), st.logits...)}
	for i, c := range st.Cache {
		f.Cache[i] = LatentCache{Width: c.Width, Max: c.Max, C: append([]float32(nil), c.C[:st.Len*c.Width]...)}
	}
	return f
}

// Forward implements Session: tokens at positions pos… (pos ≤ Len; a
// smaller pos rewinds the cache).
func (st *DeepSeek2State) Forward(tokens []int, pos int) ([]float32, error) {
	if err := forwardChunks("deepseek2", tokens, pos, &st.Len, st.Cache[0].Max, st.step); err != nil {
		return nil, err
	}
	return st.logits, nil
}

func (st *DeepSeek2State) step(tokens []int, pos int) error {
	d, c := st.d, st.d.Config
	seq, D := len(tokens), c.Dim
	x, h := tensor.Grow(&st.x, seq*D), tensor.Grow(&st.h, seq*D)
	if err := d.Embed.Forward(x, tokens); err != nil {
		return fmt.Errorf("deepseek2: %w", err)
	}
	for i := range d.Blocks {
		blk := &d.Blocks[i]
		if err := blk.AttnNorm.Forward(h, x, seq); err != nil {
			return err
		}
		if err := d.attention(blk, h, seq, pos, &st.Cache[i], &st.a); err != nil {
			return fmt.Errorf("deepseek2 block %d: %w", i, err)
		}
		if err := kernels.Add(x, x, h); err != nil {
			return err
		}
		if err := blk.FFNNorm.Forward(h, x, seq); err != nil {
			return err
		}
		out, err := h, error(nil)
		if blk.MoE != nil {
			out = tensor.Grow(&st.y, seq*D)
			err = blk.MoE.Forward(out, h, seq, &st.s)
		} else {
			err = blk.MLP.Forward(h, h, seq, &st.s)
		}
		if err != nil {
			return fmt.Errorf("deepseek2 block %d: %w", i, err)
		}
		if err := kernels.Add(x, x, out); err != nil {
			return err
		}
	}
	return lastLogits(st.logits, x, h, seq, D, &d.Norm, &d.Output)
}

// attention replaces h (seq, dim) with multi-head latent attention of its
// tokens at positions pos… over themselves and the cached positions,
// appending their latents to cache.
func (d *DeepSeek2) attention(blk *DeepSeek2Block, h []float32, seq, pos int, cache *LatentCache, s *mlaScratch) error {
	c := d.Config
	H, R, L, N := c.Heads, c.Rope, c.KVLora, c.Nope
	qk, W := N+R, L+R
	if err := cache.Reserve(pos + seq); err != nil {
		return err
	}
	// Queries (seq, heads, nope+rope).
	q := tensor.Grow(&s.q, seq*H*qk)
	if c.QLora > 0 {
		qa := tensor.Grow(&s.qa, seq*c.QLora)
		if err := blk.QA.Forward(qa, h, seq); err != nil {
			return fmt.Errorf("attn_q_a: %w", err)
		}
		if err := blk.QANorm.Forward(qa, qa, seq); err != nil {
			return err
		}
		if err := blk.QB.Forward(q, qa, seq); err != nil {
			return fmt.Errorf("attn_q_b: %w", err)
		}
	} else if err := blk.Q.Forward(q, h, seq); err != nil {
		return fmt.Errorf("attn_q: %w", err)
	}
	// The new positions' latents and shared rotary keys go straight into
	// the cache: kv_a → [c, k_pe], c RMS-normalised, k_pe rotated.
	rows := cache.C[pos*W : (pos+seq)*W]
	if err := blk.KVA.Forward(rows, h, seq); err != nil {
		return fmt.Errorf("attn_kv_a_mqa: %w", err)
	}
	pe := tensor.Grow(&s.pe, seq*H*R)
	for t := 0; t < seq; t++ {
		row := rows[t*W : (t+1)*W]
		if err := blk.KVANorm.Forward(row[:L], row[:L], 1); err != nil {
			return err
		}
		copy(pe[t*R:(t+1)*R], row[L:])
	}
	if err := d.applyRoPE(pe[:seq*R], seq, 1, pos); err != nil {
		return err
	}
	for t := 0; t < seq; t++ {
		copy(rows[t*W+L:(t+1)*W], pe[t*R:(t+1)*R])
	}
	// Absorbed queries (heads, seq, kv_lora+rope): k_b per head maps the
	// non-rotary part into the latent space; the rotary part is rotated.
	qh := tensor.Grow(&s.qh, H*seq*W)
	nope := tensor.Grow(&s.kv, seq*N)
	for t := 0; t < seq; t++ {
		for hd := 0; hd < H; hd++ {
			copy(pe[(t*H+hd)*R:(t*H+hd+1)*R], q[(t*H+hd)*qk+N:(t*H+hd+1)*qk])
		}
	}
	if err := d.applyRoPE(pe, seq, H, pos); err != nil {
		return err
	}
	lat := tensor.Grow(&s.vo, seq*L)
	for hd := 0; hd < H; hd++ {
		for t := 0; t < seq; t++ {
			copy(nope[t*N:(t+1)*N], q[(t*H+hd)*qk:(t*H+hd)*qk+N])
		}
		if err := blk.KB[hd].Forward(lat, nope, seq); err != nil {
			return fmt.Errorf("attn_k_b: %w", err)
		}
		for t := 0; t < seq; t++ {
			dst := qh[(hd*seq+t)*W : (hd*seq+t+1)*W]
			copy(dst[:L], lat[t*L:(t+1)*L])
			copy(dst[L:], pe[(t*H+hd)*R:(t*H+hd+1)*R])
		}
	}
	// Scores of every head against the shared cache rows in one product,
	// causal softmax, then Σ p·c (the latent prefix of each cache row).
	P := pos + seq
	scores := tensor.Grow(&s.scores, H*seq*P)
	kernels.GemmT(H*seq, P, W, qh, W, cache.C, W, 0, scores, P)
	for r := 0; r < H*seq; r++ {
		vis := pos + r%seq + 1
		row := scores[r*P : (r+1)*P]
		for j := range row[:vis] {
			row[j] *= d.scale
		}
		if err := kernels.Softmax(row[:vis], 1, vis); err != nil {
			return err
		}
		clear(row[vis:])
	}
	att := tensor.Grow(&s.att, H*seq*L)
	kernels.Gemm(H*seq, L, P, scores, P, cache.C, W, 0, att, L)
	// Each head's v_b maps its latent output to values; heads concatenate.
	vo := tensor.Grow(&s.vo, seq*c.VDim)
	cat := tensor.Grow(&s.cat, seq*H*c.VDim)
	for hd := 0; hd < H; hd++ {
		if err := blk.VB[hd].Forward(vo, att[hd*seq*L:(hd+1)*seq*L], seq); err != nil {
			return fmt.Errorf("attn_v_b: %w", err)
		}
		for t := 0; t < seq; t++ {
			copy(cat[(t*H+hd)*c.VDim:(t*H+hd+1)*c.VDim], vo[t*c.VDim:(t+1)*c.VDim])
		}
	}
	return blk.O.Forward(h, cat, seq)
}

// applyRoPE rotates x (seq, heads, rope) for positions pos… and scales it
// by the rotary magnitude.
func (d *DeepSeek2) applyRoPE(x []float32, seq, heads, pos int) error {
	if err := d.rope.Apply(x, seq, heads, d.Config.Rope, pos); err != nil {
		return err
	}
	if d.ropeMag != 1 {
		return kernels.Scale(x, x, d.ropeMag)
	}
	return nil
}
