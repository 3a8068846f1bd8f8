package towers

// Mamba-2 (Dao & Gu 2024, "Transformers are SSMs: Generalized Models and
// Efficient Algorithms Through Structured State Space Duality"): Mamba's
// block with the projections fused and the state space restricted to one
// scalar decay per head, so heads are like attention heads:
//
//	z, xBC, dt = in_proj(h)                 (inner, inner+2·groups·state, heads)
//	xBC  = silu(conv1d(xBC) + b)            causal, depthwise
//	x, B, C = xBC                           (heads × head_dim, groups × state ×2)
//	y    = scan(x, dt + dt_b, A, B, C) + D·x   (kernels.SSM2Scan, D per head)
//	out  = out_proj(RMSNorm_grouped(y · silu(z)))
//
// The state between tokens is again the conv's last d_conv-1 inputs and the
// scan's (inner, state) matrix. Reference: llama.cpp's build_mamba2_layer
// (src/models/mamba-base.cpp), whose GGUF names are bound:
//
//	blk.N.attn_norm.weight, blk.N.ssm_in.weight (2·inner+2·groups·state+heads, dim)
//	blk.N.ssm_conv1d.{weight (inner+2·groups·state, d_conv), bias}
//	blk.N.ssm_dt.bias (heads), blk.N.ssm_a (heads), blk.N.ssm_d (heads)
//	blk.N.ssm_norm.weight (groups, inner/groups), blk.N.ssm_out.weight (dim, inner)
//	token_embd, output_norm, output (tied when absent)

import (
	"fmt"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// Mamba2Config is a Mamba-2 model's shape ("mamba2.*" metadata).
type Mamba2Config struct {
	Dim, Layers, Vocab, Context        int
	Inner, State, ConvK, Heads, Groups int
	NormEps                            float32
}

// Mamba2 is a loaded Mamba-2 model, read-only after load.
type Mamba2 struct {
	Config Mamba2Config
	Embed  nn.Embedding
	Blocks []Mamba2Block
	Norm   nn.RMSNorm
	Output nn.Linear
}

// Mamba2Block is one residual block.
type Mamba2Block struct {
	Norm    nn.RMSNorm
	In      nn.Linear // (2·inner+2·groups·state+heads, dim)
	ConvW   []float32 // (inner+2·groups·state, d_conv)
	ConvB   []float32
	DTBias  []float32 // (heads)
	A, D    []float32 // (heads)
	OutNorm []float32 // (inner): per group of inner/groups
	Out     nn.Linear // (dim, inner)
}

// LoadMamba2 binds a Mamba-2 model to a GGUF file's tensors.
func LoadMamba2(src formats.InfoSource) (*Mamba2, error) {
	meta := src.Meta()
	if a := meta.Arch(); a != "mamba2" {
		return nil, fmt.Errorf("mamba2: architecture %q", a)
	}
	geti := func(s string, def int64) int { return int(meta.IntOr("mamba2."+s, def)) }
	c := Mamba2Config{
		Dim: geti("embedding_length", 0), Layers: geti("block_count", 0), Context: geti("context_length", 1<<20),
		Inner: geti("ssm.inner_size", 0), State: geti("ssm.state_size", 0), ConvK: geti("ssm.conv_kernel", 0),
		Heads: geti("ssm.time_step_rank", 0), Groups: geti("ssm.group_count", 1),
		NormEps: float32(meta.FloatOr("mamba2.attention.layer_norm_rms_epsilon", 1e-5)),
	}
	if emb, err := src.Info("token_embd.weight"); err == nil && len(emb.Shape) == 2 {
		c.Vocab = emb.Shape[0]
	}
	switch {
	case c.Dim <= 0 || c.Layers <= 0 || c.Inner <= 0 || c.State <= 0 || c.ConvK <= 0 || c.Heads <= 0 || c.Groups <= 0 || c.Vocab <= 0 || c.Context <= 0:
		return nil, fmt.Errorf("mamba2: bad shape %+v", c)
	case c.Inner%c.Heads != 0 || c.Heads%c.Groups != 0 || c.Inner%c.Groups != 0:
		return nil, fmt.Errorf("mamba2: inner %d, %d heads and %d groups do not divide", c.Inner, c.Heads, c.Groups)
	case c.Dim > 1<<16 || c.Inner > 1<<18 || c.State > 1024 || c.ConvK > 64 || c.Layers > 1024 || c.Groups > 1024:
		return nil, fmt.Errorf("mamba2: implausible shape %+v", c)
	}
	b := nn.NewBinder(src)
	xbc := c.Inner + 2*c.Groups*c.State
	m := &Mamba2{Config: c}
	m.Embed = b.Embedding("token_embd.weight", c.Vocab, c.Dim)
	for i := 0; i < c.Layers; i++ {
		blk := b.Sub("blk.%d", i)
		m.Blocks = append(m.Blocks, Mamba2Block{
			Norm:    nn.RMSNorm{W: blk.Vector("attn_norm.weight", c.Dim), Eps: c.NormEps},
			In:      blk.Linear("ssm_in", c.Inner+xbc+c.Heads, c.Dim),
			ConvW:   blk.Flat("ssm_conv1d.weight", xbc*c.ConvK),
			ConvB:   blk.Vector("ssm_conv1d.bias", xbc),
			DTBias:  blk.Vector("ssm_dt.bias", c.Heads),
			A:       blk.Flat("ssm_a", c.Heads),
			D:       blk.Flat("ssm_d", c.Heads),
			OutNorm: blk.Flat("ssm_norm.weight", c.Inner),
			Out:     blk.Linear("ssm_out", c.Dim, c.Inner),
		})
	}
	m.Norm, m.Output = bindRMSHead(b, m.Embed, c.Dim, c.Vocab, c.NormEps)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("mamba2: %w", err)
	}
	return m, nil
}

// Info implements LM.
func (m *Mamba2) Info() LMInfo {
	c := m.Config
	return LMInfo{Arch: "mamba2", Vocab: c.Vocab, Dim: c.Dim, Layers: c.Layers, Context: c.Context}
}

// Mamba2State is one generation's recurrent state, Bufs[block] = {conv
// (inner+2·groups·state, d_conv-1), scan (inner, state)}.
type Mamba2State struct {
	recurrent
	m    *Mamba2
	x, h []float32
	s    mamba2Scratch
}

type mamba2Scratch struct {
	zxd, xbc, conv, dt, bc, y []float32
}

// NewSession implements LM.
func (m *Mamba2) NewSession(maxPos int) Session { return m.NewState(maxPos) }

// NewState returns a zero state for at most maxPos positions.
func (m *Mamba2) NewState(maxPos int) *Mamba2State {
	c := m.Config
	return &Mamba2State{m: m, recurrent: newRecurrent("mamba2", c.Layers, c.Vocab, maxPos, c.Context,
		(c.Inner+2*c.Groups*c.State)*(c.ConvK-1), c.Inner*c.State)}
}

// Fork implements Session.
func (st *Mamba2State) Fork() Session { return &Mamba2State{m: st.m, recurrent: st.clone()} }

// Forward implements Session: pos is Len (continue) or 0 (restart).
func (st *Mamba2State) Forward(tokens []int, pos int) ([]float32, error) {
	return st.forward(tokens, pos, st.step)
}

func (st *Mamba2State) step(tokens []int) error {
	m, c := st.m, st.m.Config
	seq := len(tokens)
	x, h := tensor.Grow(&st.x, seq*c.Dim), tensor.Grow(&st.h, seq*c.Dim)
	if err := m.Embed.Forward(x, tokens); err != nil {
		return fmt.Errorf("mamba2: %w", err)
	}
	for i := range m.Blocks {
		blk := &m.Blocks[i]
		if err := blk.Norm.Forward(h, x, seq); err != nil {
			return err
		}
		if err := blk.mix(h, seq, c, st.Bufs[i][0], st.Bufs[i][1], &st.s); err != nil {
			return fmt.Errorf("mamba2 block %d: %w", i, err)
		}
		if err := kernels.Add(x, x, h); err != nil {
			return err
		}
	}
	return lastLogits(st.logits, x, h, seq, c.Dim, &m.Norm, &m.Output)
}

// mix replaces h (seq, dim) with the Mamba-2 mixer's output, advancing the
// block's conv and scan states.
func (blk *Mamba2Block) mix(h []float32, seq int, c Mamba2Config, conv, ssm []float32, s *mamba2Scratch) error {
	I, H, GN := c.Inner, c.Heads, c.Groups*c.State
	X := I + 2*GN
	W := I + X + H
	zxd := tensor.Grow(&s.zxd, seq*W)
	if err := blk.In.Forward(zxd, h, seq); err != nil {
		return fmt.Errorf("ssm_in: %w", err)
	}
	xbc, dt := tensor.Grow(&s.xbc, seq*X), tensor.Grow(&s.dt, seq*H)
	for t := 0; t < seq; t++ {
		row := zxd[t*W : (t+1)*W]
		copy(xbc[t*X:(t+1)*X], row[I:I+X])
		for hd, v := range row[I+X:] {
			dt[t*H+hd] = v + blk.DTBias[hd]
		}
	}
	xc := tensor.Grow(&s.conv, seq*X)
	if err := kernels.CausalConv1D(xc, conv, xbc, blk.ConvW, blk.ConvB, kernels.CausalConv1DParams{Seq: seq, Channels: X, K: c.ConvK}); err != nil {
		return err
	}
	if err := kernels.SiLU(xc, xc); err != nil {
		return err
	}
	// Split into x (seq, inner) in xbc's place, B and C (seq, groups·state).
	xs := xbc[:seq*I]
	bc := tensor.Grow(&s.bc, 2*seq*GN)
	bm, cm := bc[:seq*GN], bc[seq*GN:]
	for t := 0; t < seq; t++ {
		row := xc[t*X : (t+1)*X]
		copy(xs[t*I:(t+1)*I], row[:I])
		copy(bm[t*GN:(t+1)*GN], row[I:I+GN])
		copy(cm[t*GN:(t+1)*GN], row[I+GN:])
	}
	y := tensor.Grow(&s.y, seq*I)
	P := I / H
	if err := kernels.SSM2Scan(y, ssm, xs, dt, blk.A, bm, cm, kernels.SSM2Params{Seq: seq, Heads: H, HeadDim: P, State: c.State, Groups: c.Groups}); err != nil {
		return err
	}
	// y = (y + D·x) · silu(z), then RMS-normalised per group.
	for t := 0; t < seq; t++ {
		yt, xt, z := y[t*I:(t+1)*I], xs[t*I:(t+1)*I], zxd[t*W:t*W+I]
		for d := range yt {
			yt[d] += xt[d] * blk.D[d/P]
		}
		if err := kernels.SiLU(z, z); err != nil {
			return err
		}
		if err := kernels.Mul(yt, yt, z); err != nil {
			return err
		}
	}
	gw := I / c.Groups
	for g := 0; g < c.Groups; g++ {
		// Each group's slice of every token is normalised with its weights.
		for t := 0; t < seq; t++ {
			v := y[t*I+g*gw : t*I+(g+1)*gw]
			if err := kernels.RMSNorm(v, v, blk.OutNorm[g*gw:(g+1)*gw], 1, gw, c.NormEps); err != nil {
				return err
			}
		}
	}
	if err := blk.Out.Forward(h, y, seq); err != nil {
		return fmt.Errorf("ssm_out: %w", err)
	}
	return nil
}
