package towers

// RWKV-6 "Finch" (Peng et al. 2024, "Eagle and Finch: RWKV with
// Matrix-Valued States and Dynamic Recurrence"): an RNN with the training
// parallelism of a transformer. Each block is
//
//	x += TimeMix(LN₁(x), LN₁(x) one token back)
//	x += ChannelMix(LN₂(x), LN₂(x) one token back)
//
// TimeMix interpolates each input with the previous token's by amounts that
// depend on the data (a low-rank "ddlerp": tanh(xxx·W1)·W2 per branch w, k,
// v, r, g), projects receptance, key, value and gate, makes a per-token
// decay w = exp(−exp(decay + tanh(xw·D1)·D2)), runs the WKV linear
// attention (kernels.WKV6) whose per-head matrix state replaces the KV
// cache, group-norms the heads, gates with silu(g) and projects out.
// ChannelMix is sigmoid(R·xr) ⊙ V·relu(K·xk)². Between tokens a block
// keeps its WKV state (heads × head_size × head_size) and the last token's
// two normalised inputs (the token shift).
//
// Reference: llama.cpp's llm_build_rwkv6 (src/models/rwkv6.cpp,
// rwkv6-base.cpp), whose GGUF names are bound:
//
//	token_embd.weight, token_embd_norm.{weight,bias}      LN₀ after the embedding
//	blk.N.attn_norm{,_2}.{weight,bias}                    LN₁, LN₂
//	blk.N.time_mix_lerp_x (dim), time_mix_lerp_fused (5, dim)
//	  (or time_mix_lerp_{w,k,v,r,g} (dim) each)
//	blk.N.time_mix_w1 (5·extra, dim), time_mix_w2 (5, dim, extra)
//	blk.N.time_mix_first (heads, head_size)              u, the bonus of the current token
//	blk.N.time_mix_decay (dim), time_mix_decay_w1 (dextra, dim), time_mix_decay_w2 (dim, dextra)
//	blk.N.time_mix_{key,value,receptance,gate,output}.weight (dim, dim)
//	blk.N.time_mix_ln.{weight,bias} (dim)                 the per-head group norm's affine
//	blk.N.channel_mix_lerp_{k,r} (dim)
//	blk.N.channel_mix_key (ff, dim), _value (dim, ff), _receptance (dim, dim)
//	output_norm.{weight,bias}, output.weight

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// RWKV6Config is an RWKV-6 model's shape ("rwkv6.*" metadata).
type RWKV6Config struct {
	Dim, Layers, Vocab, Context, FF int
	HeadSize, MixExtra, DecayExtra  int
	NormEps                         float32
	RescaleEvery                    int // halve the residual after every n-th block (0: never)
}

// RWKV6 is a loaded RWKV-6 model, read-only after load.
type RWKV6 struct {
	Config RWKV6Config
	Embed  nn.Embedding
	Norm0  nn.LayerNorm
	Blocks []RWKV6Block
	Norm   nn.LayerNorm
	Output nn.Linear
}

// RWKV6Block is one block's weights.
type RWKV6Block struct {
	Norm1, Norm2 nn.LayerNorm
	// time mix
	LerpX     []float32    // (dim)
	Lerp      [5][]float32 // w, k, v, r, g: (dim) each
	W1        nn.Linear    // (5·extra, dim)
	W2        [5]nn.Linear // (dim, extra) each
	First     []float32    // u (dim)
	Decay     []float32    // (dim)
	DecayW1   nn.Linear    // (dextra, dim)
	DecayW2   nn.Linear    // (dim, dextra)
	Key       nn.Linear
	Value     nn.Linear
	Recept    nn.Linear
	Gate      nn.Linear
	Output    nn.Linear
	LnW, LnB  []float32 // group-norm affine (dim)
	CLerpK    []float32 // channel mix (dim)
	CLerpR    []float32
	CKey      nn.Linear // (ff, dim)
	CValue    nn.Linear // (dim, ff)
	CRecept   nn.Linear // (dim, dim)
	headSize  int
	mixExtra  int
	normEpsGN float32
}

// LoadRWKV6 binds an RWKV-6 model to a GGUF file's tensors.
func LoadRWKV6(src formats.InfoSource) (*RWKV6, error) {
	meta := src.Meta()
	if a := meta.Arch(); a != "rwkv6" {
		return nil, fmt.Errorf("rwkv6: architecture %q", a)
	}
	geti := func(s string, def int64) int { return int(meta.IntOr("rwkv6."+s, def)) }
	c := RWKV6Config{
		Dim:          geti("embedding_length", 0),
		Layers:       geti("block_count", 0),
		Context:      geti("context_length", 1<<20),
		FF:           geti("feed_forward_length", 0),
		HeadSize:     geti("wkv.head_size", 0),
		MixExtra:     geti("time_mix_extra_dim", 0),
		DecayExtra:   geti("time_decay_extra_dim", 0),
		RescaleEvery: geti("rescale_every_n_layers", 0),
		NormEps:      float32(meta.FloatOr("rwkv6.attention.layer_norm_epsilon", 1e-5)),
	}
	if emb, err := src.Info("token_embd.weight"); err == nil && len(emb.Shape) == 2 {
		c.Vocab = emb.Shape[0]
	}
	switch {
	case c.Dim <= 0 || c.Layers <= 0 || c.FF <= 0 || c.HeadSize <= 0 || c.MixExtra <= 0 || c.DecayExtra <= 0 || c.Vocab <= 0 || c.Context <= 0 || c.RescaleEvery < 0:
		return nil, fmt.Errorf("rwkv6: bad shape %+v", c)
	case c.Dim%c.HeadSize != 0:
		return nil, fmt.Errorf("rwkv6: width %d is not a multiple of the head size %d", c.Dim, c.HeadSize)
	case c.Dim > 1<<16 || c.FF > 1<<20 || c.Layers > 1024 || c.HeadSize > 1024 || c.MixExtra > 4096 || c.DecayExtra > 4096:
		return nil, fmt.Errorf("rwkv6: implausible shape %+v", c)
	}
	if n := meta.IntOr("rwkv6.token_shift_count", 2); n != 2 {
		return nil, fmt.Errorf("rwkv6: token shift count %d (RWKV-6 has 2)", n)
	}
	b := nn.NewBinder(src)
	D := c.Dim
	m := &RWKV6{Config: c}
	m.Embed = b.Embedding("token_embd.weight", c.Vocab, D)
	m.Norm0 = b.LayerNorm("token_embd_norm", D, c.NormEps)
	for i := 0; i < c.Layers; i++ {
		blk := b.Sub("blk.%d", i)
		l := RWKV6Block{
			Norm1:   blk.LayerNorm("attn_norm", D, c.NormEps),
			Norm2:   blk.LayerNorm("attn_norm_2", D, c.NormEps),
			LerpX:   blk.Flat("time_mix_lerp_x.weight", D),
			W1:      blk.Linear("time_mix_w1", 5*c.MixExtra, D),
			First:   blk.Flat("time_mix_first.weight", D),
			Decay:   blk.Flat("time_mix_decay.weight", D),
			DecayW1: blk.Linear("time_mix_decay_w1", c.DecayExtra, D),
			DecayW2: blk.Linear("time_mix_decay_w2", D, c.DecayExtra),
			Key:     blk.Linear("time_mix_key", D, D),
			Value:   blk.Linear("time_mix_value", D, D),
			Recept:  blk.Linear("time_mix_receptance", D, D),
			Gate:    blk.Linear("time_mix_gate", D, D),
			Output:  blk.Linear("time_mix_output", D, D),
			LnW:     blk.Vector("time_mix_ln.weight", D),
			LnB:     blk.Vector("time_mix_ln.bias", D),
			CLerpK:  blk.Flat("channel_mix_lerp_k.weight", D),
			CLerpR:  blk.Flat("channel_mix_lerp_r.weight", D),
			CKey:    blk.Linear("channel_mix_key", c.FF, D),
			CValue:  blk.Linear("channel_mix_value", D, c.FF),
			CRecept: blk.Linear("channel_mix_receptance", D, D),

			headSize: c.HeadSize, mixExtra: c.MixExtra, normEpsGN: 64e-5,
		}
		for j, w2 := range blk.Stack("time_mix_w2.weight", 5, D, c.MixExtra) {
			l.W2[j] = nn.Linear{W: w2}
		}
		if blk.Has("time_mix_lerp_fused.weight") {
			fused := blk.Flat("time_mix_lerp_fused.weight", 5*D)
			for j := range l.Lerp {
				if fused != nil {
					l.Lerp[j] = fused[j*D : (j+1)*D]
				}
			}
		} else {
			for j, n := range []string{"w", "k", "v", "r", "g"} {
				l.Lerp[j] = blk.Flat("time_mix_lerp_"+n+".weight", D)
			}
		}
		m.Blocks = append(m.Blocks, l)
	}
	m.Norm = b.LayerNorm("output_norm", D, c.NormEps)
	m.Output = b.Linear("output", c.Vocab, D)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("rwkv6: %w", err)
	}
	return m, nil
}

// Info implements LM.
func (m *RWKV6) Info() LMInfo {
	c := m.Config
	return LMInfo{Arch: "rwkv6", Vocab: c.Vocab, Dim: c.Dim, Layers: c.Layers, Context: c.Context}
}

// RWKV6State is one generation's recurrent state: per block the WKV state
// (heads, head_size, head_size) and the token shift, the last token's LN₁
// and LN₂ outputs (2, dim), Bufs[block] = {wkv, shift}. Its size does not
// depend on the tokens seen.
type RWKV6State struct {
	recurrent
	m    *RWKV6
	x, h []float32
	s    rwkvScratch
}

type rwkvScratch struct {
	prev, sx, mix, lora, xs, r, k, v, g, w, y, ff []float32
}

// NewSession implements LM.
func (m *RWKV6) NewSession(maxPos int) Session { return m.NewState(maxPos) }

// NewState returns a zero state for at most maxPos positions (≤ 0 or above
// the context: the context).
func (m *RWKV6) NewState(maxPos int) *RWKV6State {
	c := m.Config
	return &RWKV6State{m: m, recurrent: newRecurrent("rwkv6", c.Layers, c.Vocab, maxPos, c.Context,
		c.Dim*c.HeadSize, 2*c.Dim)}
}

// Fork implements Session.
func (st *RWKV6State) Fork() Session { return &RWKV6State{m: st.m, recurrent: st.clone()} }

// Forward implements Session: pos is Len (continue) or 0 (restart).
func (st *RWKV6State) Forward(tokens []int, pos int) ([]float32, error) {
	return st.forward(tokens, pos, st.step)
}

func (st *RWKV6State) step(tokens []int) error {
	m, c := st.m, st.m.Config
	seq, D := len(tokens), c.Dim
	x := tensor.Grow(&st.x, seq*D)
	h := tensor.Grow(&st.h, seq*D)
	if err := m.Embed.Forward(x, tokens); err != nil {
		return fmt.Errorf("rwkv6: %w", err)
	}
	if err := m.Norm0.Forward(x, x, seq); err != nil {
		return err
	}
	for i := range m.Blocks {
		blk := &m.Blocks[i]
		wkv, shift := st.Bufs[i][0], st.Bufs[i][1]
		if err := blk.Norm1.Forward(h, x, seq); err != nil {
			return err
		}
		if err := blk.timeMix(h, seq, shift[:D], wkv, &st.s); err != nil {
			return fmt.Errorf("rwkv6 block %d time mix: %w", i, err)
		}
		if err := kernels.Add(x, x, h); err != nil {
			return err
		}
		if err := blk.Norm2.Forward(h, x, seq); err != nil {
			return err
		}
		if err := blk.channelMix(h, seq, shift[D:], &st.s); err != nil {
			return fmt.Errorf("rwkv6 block %d channel mix: %w", i, err)
		}
		if err := kernels.Add(x, x, h); err != nil {
			return err
		}
		if c.RescaleEvery > 0 && (i+1)%c.RescaleEvery == 0 {
			if err := kernels.Scale(x, x, 0.5); err != nil {
				return err
			}
		}
	}
	return lastLogits(st.logits, x, h, seq, D, &m.Norm, &m.Output)
}

// shifted sets sx (seq, dim) to prev − cur, where prev is cur one token
// back, the first token's from shift, and then stores cur's last token in
// shift: the token shift.
func shifted(sx, cur, shift []float32, seq, D int) {
	for t := 0; t < seq; t++ {
		prev := shift
		if t > 0 {
			prev = cur[(t-1)*D : t*D]
		}
		row, ct := sx[t*D:(t+1)*D], cur[t*D:(t+1)*D]
		for d := range row {
			row[d] = prev[d] - ct[d]
		}
	}
	copy(shift, cur[(seq-1)*D:seq*D])
}

// lerp sets out = sx ⊙ (mu + add) + cur per row (add nil: none).
func lerp(out, sx, cur, mu, add []float32, seq, D int) {
	for t := 0; t < seq; t++ {
		o, s, c := out[t*D:(t+1)*D], sx[t*D:(t+1)*D], cur[t*D:(t+1)*D]
		for d := range o {
			m := mu[d]
			if add != nil {
				m = add[t*D+d] + m
			}
			o[d] = s[d]*m + c[d]
		}
	}
}

func tanhInPlace(x []float32) {
	for i, v := range x {
		x[i] = float32(math.Tanh(float64(v)))
	}
}

// timeMix replaces xn (seq, dim), the LN₁ output, with the time-mix output,
// advancing the WKV state and the token shift.
func (blk *RWKV6Block) timeMix(xn []float32, seq int, shift, wkv []float32, s *rwkvScratch) error {
	D, E := len(blk.LerpX), blk.mixExtra
	sx := tensor.Grow(&s.sx, seq*D)
	shifted(sx, xn, shift, seq, D)
	xxx := tensor.Grow(&s.mix, seq*D)
	lerp(xxx, sx, xn, blk.LerpX, nil, seq, D)
	lora := tensor.Grow(&s.lora, seq*5*E) // (seq, 5, extra)
	if err := blk.W1.Forward(lora, xxx, seq); err != nil {
		return err
	}
	tanhInPlace(lora)
	// Each branch j: its (seq, extra) slice of the LoRA through W2[j],
	// plus its lerp, mixes the previous token in.
	part := tensor.Grow(&s.prev, seq*E)
	xs := tensor.Grow(&s.xs, 5*seq*D) // (5, seq, dim): xw, xk, xv, xr, xg
	for j := 0; j < 5; j++ {
		for t := 0; t < seq; t++ {
			copy(part[t*E:(t+1)*E], lora[(t*5+j)*E:(t*5+j+1)*E])
		}
		xj := xs[j*seq*D : (j+1)*seq*D]
		if err := blk.W2[j].Forward(xj, part, seq); err != nil {
			return err
		}
		lerp(xj, sx, xn, blk.Lerp[j], xj, seq, D)
	}
	xw, xk, xv, xr, xg := xs[:seq*D], xs[seq*D:2*seq*D], xs[2*seq*D:3*seq*D], xs[3*seq*D:4*seq*D], xs[4*seq*D:]
	r, k, v, g := tensor.Grow(&s.r, seq*D), tensor.Grow(&s.k, seq*D), tensor.Grow(&s.v, seq*D), tensor.Grow(&s.g, seq*D)
	for _, p := range []struct {
		l      *nn.Linear
		out, x []float32
	}{{&blk.Recept, r, xr}, {&blk.Key, k, xk}, {&blk.Value, v, xv}, {&blk.Gate, g, xg}} {
		if err := p.l.Forward(p.out, p.x, seq); err != nil {
			return err
		}
	}
	if err := kernels.SiLU(g, g); err != nil {
		return err
	}
	dl := tensor.Grow(&s.ff, seq*blk.DecayW1.W.Rows)
	if err := blk.DecayW1.Forward(dl, xw, seq); err != nil {
		return err
	}
	tanhInPlace(dl)
	w := tensor.Grow(&s.w, seq*D)
	if err := blk.DecayW2.Forward(w, dl, seq); err != nil {
		return err
	}
	for t := 0; t < seq; t++ {
		wt := w[t*D : (t+1)*D]
		for d := range wt {
			wt[d] = kernels.Exp(-kernels.Exp(wt[d] + blk.Decay[d])) // float32, as ggml
		}
	}
	y := tensor.Grow(&s.y, seq*D)
	N := blk.headSize
	if err := kernels.WKV6(y, wkv, k, v, r, blk.First, w, kernels.WKVParams{Seq: seq, Heads: D / N, HeadSize: N}); err != nil {
		return err
	}
	// Group norm per head (no affine), then the per-channel affine, the gate.
	if err := kernels.LayerNorm(y, y, nil, nil, seq*D/N, N, blk.normEpsGN); err != nil {
		return err
	}
	for t := 0; t < seq; t++ {
		yt, gt := y[t*D:(t+1)*D], g[t*D:(t+1)*D]
		for d := range yt {
			yt[d] = (yt[d]*blk.LnW[d] + blk.LnB[d]) * gt[d]
		}
	}
	return blk.Output.Forward(xn, y, seq)
}

// channelMix replaces xn (seq, dim), the LN₂ output, with the channel-mix
// output, advancing the token shift.
func (blk *RWKV6Block) channelMix(xn []float32, seq int, shift []float32, s *rwkvScratch) error {
	D := len(blk.CLerpK)
	sx := tensor.Grow(&s.sx, seq*D)
	shifted(sx, xn, shift, seq, D)
	xk, xr := tensor.Grow(&s.k, seq*D), tensor.Grow(&s.r, seq*D)
	lerp(xk, sx, xn, blk.CLerpK, nil, seq, D)
	lerp(xr, sx, xn, blk.CLerpR, nil, seq, D)
	r := tensor.Grow(&s.v, seq*D)
	if err := blk.CRecept.Forward(r, xr, seq); err != nil {
		return err
	}
	kk := tensor.Grow(&s.ff, seq*blk.CKey.W.Rows)
	if err := blk.CKey.Forward(kk, xk, seq); err != nil {
		return err
	}
	for i, v := range kk {
		v = max(v, 0)
		kk[i] = v * v
	}
	if err := blk.CValue.Forward(xn, kk, seq); err != nil {
		return err
	}
	for i, v := range r {
		xn[i] *= 1 / (1 + kernels.Exp(-v))
	}
	return nil
}
