package towers

// GPT-2 decoder with cross-attention: "Language Models are Unsupervised
// Multitask Learners" (Radford et al. 2019), as Hugging Face's GPT2LMHeadModel
// with add_cross_attention=True inside a VisionEncoderDecoderModel (the
// ViT+GPT-2 captioners). Tensor names (transformers/models/gpt2/modeling_gpt2.py):
//
//	transformer.wte (V, D), transformer.wpe (Tmax, D),
//	transformer.h.L.{ln_1, attn.c_attn (D, 3D), attn.c_proj (D, D),
//	  ln_cross_attn, crossattention.q_attn (D, D), crossattention.c_attn (D, 2D),
//	  crossattention.c_proj, ln_2, mlp.c_fc (D, F), mlp.c_proj (F, D)},
//	transformer.ln_f, lm_head (tied to wte when absent).
//
// GPT-2's Conv1D stores weights (in, out); they are transposed once at load.
// Self-attention keys/values go to a KV cache; cross-attention keys/values are
// computed once per image. Attention is the core's fused kernel.

import (
	"fmt"
	"math"
	"sort"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// GPT2Config is the part of a GPT2Config (config.json) the decoder needs.
type GPT2Config struct {
	VocabSize         int     `json:"vocab_size"`
	NPositions        int     `json:"n_positions"`
	NEmbd             int     `json:"n_embd"`
	NLayer            int     `json:"n_layer"`
	NHead             int     `json:"n_head"`
	NInner            int     `json:"n_inner"` // 0 means 4·n_embd
	LayerNormEpsilon  float32 `json:"layer_norm_epsilon"`
	AddCrossAttention bool    `json:"add_cross_attention"`
	BOS               int     `json:"bos_token_id"`
	EOS               int     `json:"eos_token_id"`
	Pad               int     `json:"pad_token_id"`
}

type gpt2Block struct {
	ln1, lnx, ln2 nn.LayerNorm
	qkv, proj     nn.Linear // self: (3D, D), (D, D)
	xq, xkv, xo   nn.Linear // cross: (D, D), (2D, D_enc), (D, D)
	mlp           nn.MLP    // c_fc (F, D), gelu (tanh form), c_proj (D, F)
}

// GPT2 is a loaded decoder; Caption-style decoding state lives in a
// GPT2State so several beams share one model.
type GPT2 struct {
	Cfg    GPT2Config
	wte    nn.Matrix // (V, D)
	wpe    []float32 // (Tmax, D)
	blocks []gpt2Block
	lnf    nn.LayerNorm
	lmHead nn.Linear // (V, D): wte unless the checkpoint has its own
}

// LoadGPT2 binds a GPT-2 decoder under b (e.g. "decoder"); encDim is the
// width of the encoder states its cross-attention reads.
func LoadGPT2(b *nn.Binder, cfg GPT2Config, encDim int) (*GPT2, error) {
	if cfg.NInner == 0 {
		cfg.NInner = 4 * cfg.NEmbd
	}
	if cfg.LayerNormEpsilon == 0 {
		cfg.LayerNormEpsilon = 1e-5
	}
	D, F, V := cfg.NEmbd, cfg.NInner, cfg.VocabSize
	switch {
	case D <= 0 || cfg.NHead <= 0 || D%cfg.NHead != 0 || cfg.NLayer <= 0 || V <= 0 || cfg.NPositions <= 0:
		return nil, fmt.Errorf("gpt2: bad config %+v", cfg)
	case !cfg.AddCrossAttention:
		return nil, fmt.Errorf("gpt2: decoder has no cross-attention (add_cross_attention=false)")
	}
	m := &GPT2{Cfg: cfg}
	t := b.Sub("transformer")
	m.wte = t.Matrix("wte.weight", V, D)
	m.wpe = t.Flat("wpe.weight", cfg.NPositions*D)
	eps := cfg.LayerNormEpsilon
	for i := 0; i < cfg.NLayer; i++ {
		h := t.Sub("h.%d", i)
		m.blocks = append(m.blocks, gpt2Block{
			ln1:  h.LayerNorm("ln_1", D, eps),
			qkv:  h.LinearT("attn.c_attn", 3*D, D),
			proj: h.LinearT("attn.c_proj", D, D),
			lnx:  h.LayerNorm("ln_cross_attn", D, eps),
			xq:   h.LinearT("crossattention.q_attn", D, D),
			xkv:  h.LinearT("crossattention.c_attn", 2*D, encDim),
			xo:   h.LinearT("crossattention.c_proj", D, D),
			ln2:  h.LayerNorm("ln_2", D, eps),
			mlp:  nn.MLP{FC1: h.LinearT("mlp.c_fc", F, D), FC2: h.LinearT("mlp.c_proj", D, F), Act: kernels.GELU},
		})
	}
	m.lnf = t.LayerNorm("ln_f", D, eps)
	if b.Has("lm_head.weight") {
		m.lmHead = b.Linear("lm_head", V, D)
	} else {
		m.lmHead = nn.Linear{W: m.wte}
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load gpt2: %w", err)
	}
	return m, nil
}

// GPT2State is one decoding sequence: its self-attention cache and the
// cross-attention keys/values of the image it describes.
type GPT2State struct {
	Pos      int
	k, v     [][]float32 // per layer (Pos, D)
	xk, xv   [][]float32 // per layer (S, D): cross keys/values, shared between beams
	encLen   int
	x, h, q  []float32 // scratch (D)
	att, qkv []float32
	ar       tensor.Arena // the MLP's scratch
	Logits   []float32    // (V) after the last Step
}

// NewState computes the cross-attention keys and values of encoder states
// enc (S, encDim) for every layer.
func (m *GPT2) NewState(enc []float32, S int) (*GPT2State, error) {
	D := m.Cfg.NEmbd
	st := &GPT2State{encLen: S}
	for i := range m.blocks {
		kv := make([]float32, S*2*D) // (S, 2D): keys then values per row
		if err := m.blocks[i].xkv.Forward(kv, enc, S); err != nil {
			return nil, fmt.Errorf("gpt2 layer %d cross k/v: %w", i, err)
		}
		k, v := make([]float32, S*D), make([]float32, S*D)
		for s := 0; s < S; s++ {
			copy(k[s*D:(s+1)*D], kv[s*2*D:s*2*D+D])
			copy(v[s*D:(s+1)*D], kv[s*2*D+D:(s+1)*2*D])
		}
		st.xk, st.xv = append(st.xk, k), append(st.xv, v)
	}
	st.k = make([][]float32, len(m.blocks))
	st.v = make([][]float32, len(m.blocks))
	return st, nil
}

// Clone copies a state for a new beam (the cross keys/values are shared).
func (st *GPT2State) Clone() *GPT2State {
	c := &GPT2State{Pos: st.Pos, xk: st.xk, xv: st.xv, encLen: st.encLen}
	for i := range st.k {
		c.k = append(c.k, append([]float32(nil), st.k[i]...))
		c.v = append(c.v, append([]float32(nil), st.v[i]...))
	}
	return c
}

// Step feeds one token at st.Pos and leaves the next-token logits in st.Logits.
func (m *GPT2) Step(st *GPT2State, token int) error {
	c := m.Cfg
	D, H := c.NEmbd, c.NHead
	if token < 0 || token >= c.VocabSize {
		return fmt.Errorf("gpt2: token %d outside vocabulary of %d", token, c.VocabSize)
	}
	if st.Pos >= c.NPositions {
		return fmt.Errorf("gpt2: position %d beyond the %d the model knows", st.Pos, c.NPositions)
	}
	x, h, q, att := tensor.Grow(&st.x, D), tensor.Grow(&st.h, D), tensor.Grow(&st.q, D), tensor.Grow(&st.att, D)
	qkv := tensor.Grow(&st.qkv, 3*D)
	defer st.ar.Reset()
	if err := m.wte.Row(x, token); err != nil {
		return err
	}
	if err := kernels.Add(x, x, m.wpe[st.Pos*D:(st.Pos+1)*D]); err != nil {
		return err
	}
	self := kernels.AttnParams{Heads: H, KVHeads: H, HeadDim: D / H, SeqQ: 1, SeqKV: st.Pos + 1, Causal: true, QPos0: st.Pos}
	cross := kernels.AttnParams{Heads: H, KVHeads: H, HeadDim: D / H, SeqQ: 1, SeqKV: st.encLen}
	for i := range m.blocks {
		if err := m.block(st, i, x, h, q, att, qkv, self, cross); err != nil {
			return fmt.Errorf("gpt2 layer %d: %w", i, err)
		}
	}
	st.Pos++
	logits := tensor.Grow(&st.Logits, c.VocabSize)
	if err := m.lnf.Forward(h, x, 1); err != nil {
		return fmt.Errorf("gpt2 head: %w", err)
	}
	if err := m.lmHead.Forward(logits, h, 1); err != nil {
		return fmt.Errorf("gpt2 head: %w", err)
	}
	return nil
}

// block runs layer i on the token x (D) in place: self-attention over the
// cache, cross-attention over the image, MLP, each pre-norm with a residual.
// h, q, att (D) and qkv (3D) are scratch.
func (m *GPT2) block(st *GPT2State, i int, x, h, q, att, qkv []float32, self, cross kernels.AttnParams) error {
	D := m.Cfg.NEmbd
	b := &m.blocks[i]
	if err := b.ln1.Forward(h, x, 1); err != nil {
		return err
	}
	if err := b.qkv.Forward(qkv, h, 1); err != nil {
		return err
	}
	st.k[i] = append(st.k[i], qkv[D:2*D]...) // (Pos+1, D) = (Pos+1, heads, head_dim)
	st.v[i] = append(st.v[i], qkv[2*D:]...)
	if err := kernels.FlashAttention(att, qkv[:D], st.k[i], st.v[i], self); err != nil {
		return fmt.Errorf("self-attention: %w", err)
	}
	if err := b.proj.Forward(h, att, 1); err != nil {
		return err
	}
	if err := kernels.Add(x, x, h); err != nil {
		return err
	}
	if err := b.lnx.Forward(h, x, 1); err != nil {
		return err
	}
	if err := b.xq.Forward(q, h, 1); err != nil {
		return err
	}
	if err := kernels.FlashAttention(att, q, st.xk[i], st.xv[i], cross); err != nil {
		return fmt.Errorf("cross-attention: %w", err)
	}
	if err := b.xo.Forward(h, att, 1); err != nil {
		return err
	}
	if err := kernels.Add(x, x, h); err != nil {
		return err
	}
	if err := b.ln2.Forward(h, x, 1); err != nil {
		return err
	}
	if err := b.mlp.Forward(h, h, 1, &st.ar); err != nil {
		return err
	}
	return kernels.Add(x, x, h)
}

// Generate decodes a sequence for encoder states enc (S, encDim), starting
// from start, until EOS or maxLen tokens, keeping the beam best hypotheses by
// total log-probability (beam 1 is greedy). It returns the tokens after start,
// without EOS.
func (m *GPT2) Generate(enc []float32, S, start, beam, maxLen int) ([]int, error) {
	return m.GenerateFrom(enc, S, []int{start}, beam, maxLen)
}

// GenerateFrom is Generate conditioned on a forced prefix: the tokens of
// prefix (the start token first) are fed as given, and up to maxLen tokens
// are decoded after them. It returns the tokens after the prefix.
func (m *GPT2) GenerateFrom(enc []float32, S int, prefix []int, beam, maxLen int) ([]int, error) {
	if beam < 1 {
		return nil, fmt.Errorf("gpt2: beam width %d", beam)
	}
	if len(prefix) == 0 || len(prefix) >= m.Cfg.NPositions {
		return nil, fmt.Errorf("gpt2: prefix of %d tokens (1…%d)", len(prefix), m.Cfg.NPositions-1)
	}
	maxLen = min(maxLen, m.Cfg.NPositions-len(prefix))
	if beam == 1 && m.bandable() {
		return m.greedyBands(enc, S, prefix, maxLen, nil) // gpt2_bands.go
	}
	root, err := m.NewState(enc, S)
	if err != nil {
		return nil, err
	}
	for _, tok := range prefix {
		if err := m.Step(root, tok); err != nil {
			return nil, err
		}
	}
	type hyp struct {
		st     *GPT2State
		toks   []int
		score  float64
		logp   []float64
		closed bool
	}
	logSoftmax := func(l []float32) []float64 {
		mx := math.Inf(-1)
		for _, v := range l {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range l {
			s += math.Exp(float64(v) - mx)
		}
		out := make([]float64, len(l))
		for i, v := range l {
			out[i] = float64(v) - mx - math.Log(s)
		}
		return out
	}
	beams := []*hyp{{st: root, logp: logSoftmax(root.Logits)}}
	for step := 0; step < maxLen; step++ {
		type cand struct {
			from  *hyp
			tok   int
			score float64
		}
		var cands []cand
		for _, h := range beams {
			if h.closed {
				cands = append(cands, cand{h, -1, h.score})
				continue
			}
			for tok, lp := range h.logp {
				cands = append(cands, cand{h, tok, h.score + lp})
			}
		}
		// Highest score first; ties by lower token id so results are stable.
		sort.SliceStable(cands, func(i, j int) bool {
			if cands[i].score != cands[j].score {
				return cands[i].score > cands[j].score
			}
			return cands[i].tok < cands[j].tok
		})
		next := make([]*hyp, 0, beam)
		used := map[*hyp]bool{}
		for _, c := range cands {
			if len(next) == beam {
				break
			}
			if c.tok < 0 {
				next = append(next, c.from)
				continue
			}
			nh := &hyp{toks: append(append([]int(nil), c.from.toks...), c.tok), score: c.score}
			if c.tok == m.Cfg.EOS {
				nh.closed = true
				nh.toks = nh.toks[:len(nh.toks)-1]
			} else {
				st := c.from.st
				if used[c.from] || beam > 1 {
					st = st.Clone()
				}
				used[c.from] = true
				if err := m.Step(st, c.tok); err != nil {
					return nil, err
				}
				nh.st, nh.logp = st, logSoftmax(st.Logits)
			}
			next = append(next, nh)
		}
		beams = next
		done := true
		for _, h := range beams {
			done = done && h.closed
		}
		if done {
			break
		}
	}
	return beams[0].toks, nil
}
