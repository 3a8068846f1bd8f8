package towers

// Mamba (Gu & Dao 2023, "Mamba: Linear-Time Sequence Modeling with Selective
// State Spaces"): a stack of residual blocks x += Mixer(RMSNorm(x)), where
// the mixer is
//
//	x, z = in_proj(h)                      (inner each)
//	x    = silu(conv1d(x) + b)             causal, depthwise, d_conv taps
//	Δ, B, C = x_proj(x)                    (dt_rank, state, state)
//	Δ    = dt_proj(Δ) + b
//	y    = scan(x, Δ, A, B, C) + D·x       the selective scan (kernels.SSMScan)
//	out  = out_proj(y · silu(z))
//
// What the model keeps between tokens is not a cache that grows but two
// fixed states per block: the conv's last d_conv-1 inputs and the scan's
// (inner, state) matrix — the "cache" of a recurrent model.
//
// Reference: llama.cpp's llm_build_mamba (src/models/mamba-base.cpp), whose
// GGUF names are bound (A is stored as −exp(A_log)):
//
//	token_embd.weight           (vocab, dim)
//	blk.N.attn_norm.weight      (dim)
//	blk.N.ssm_in.weight         (2·inner, dim)
//	blk.N.ssm_conv1d.weight     (inner, d_conv)   .bias (inner)
//	blk.N.ssm_x.weight          (dt_rank + 2·state, inner)
//	blk.N.ssm_dt.weight         (inner, dt_rank)  .bias (inner)
//	blk.N.ssm_a                 (inner, state)
//	blk.N.ssm_d                 (inner)
//	blk.N.ssm_out.weight        (dim, inner)
//	output_norm.weight          (dim)
//	output.weight               (vocab, dim)      absent when tied

import (
	"fmt"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// MambaConfig is a Mamba model's shape ("mamba.*" metadata).
type MambaConfig struct {
	Dim, Layers, Vocab, Context int
	Inner, State, ConvK, DTRank int
	NormEps                     float32
	DTBCNorm                    bool // FalconMamba: RMS-normalise Δ, B and C (no weights)
}

// Mamba is a loaded Mamba-1 model, read-only after load.
type Mamba struct {
	Config MambaConfig
	Embed  nn.Embedding
	Blocks []MambaBlock
	Norm   nn.RMSNorm
	Output nn.Linear
	ones   []float32 // unit weights for the Δ/B/C norms
}

// MambaBlock is one residual block: RMSNorm and the selective-SSM mixer.
type MambaBlock struct {
	Norm     nn.RMSNorm
	In       nn.Linear // (2·inner, dim)
	ConvW    []float32 // (inner, d_conv)
	ConvB    []float32 // (inner)
	XProj    nn.Linear // (dt_rank + 2·state, inner)
	DTProj   nn.Linear // (inner, dt_rank), with bias
	A        []float32 // (inner, state)
	D        []float32 // (inner)
	Out      nn.Linear // (dim, inner)
	normEps  float32
	dtbcNorm bool
}

// LoadMamba binds a Mamba model to a GGUF file's tensors.
func LoadMamba(src formats.InfoSource) (*Mamba, error) {
	meta := src.Meta()
	if a := meta.Arch(); a != "mamba" {
		return nil, fmt.Errorf("mamba: architecture %q", a)
	}
	geti := func(s string, def int64) int { return int(meta.IntOr("mamba."+s, def)) }
	c := MambaConfig{
		Dim:     geti("embedding_length", 0),
		Layers:  geti("block_count", 0),
		Context: geti("context_length", 1<<20),
		Inner:   geti("ssm.inner_size", 0),
		State:   geti("ssm.state_size", 0),
		ConvK:   geti("ssm.conv_kernel", 0),
		DTRank:  geti("ssm.time_step_rank", 0),
		NormEps: float32(meta.FloatOr("mamba.attention.layer_norm_rms_epsilon", 1e-5)),
	}
	c.DTBCNorm, _ = meta.Bool("mamba.ssm.dt_b_c_rms")
	if emb, err := src.Info("token_embd.weight"); err == nil && len(emb.Shape) == 2 {
		c.Vocab = emb.Shape[0]
	}
	switch {
	case c.Dim <= 0 || c.Layers <= 0 || c.Inner <= 0 || c.State <= 0 || c.ConvK <= 0 || c.DTRank <= 0 || c.Vocab <= 0 || c.Context <= 0:
		return nil, fmt.Errorf("mamba: bad shape %+v", c)
	case c.Dim > 1<<16 || c.Inner > 1<<18 || c.State > 1024 || c.ConvK > 64 || c.DTRank > c.Inner || c.Layers > 1024:
		return nil, fmt.Errorf("mamba: implausible shape %+v", c)
	}
	b := nn.NewBinder(src)
	m := &Mamba{Config: c, ones: make([]float32, max(c.DTRank, c.State))}
	for i := range m.ones {
		m.ones[i] = 1
	}
	m.Embed = b.Embedding("token_embd.weight", c.Vocab, c.Dim)
	for i := 0; i < c.Layers; i++ {
		blk := b.Sub("blk.%d", i)
		m.Blocks = append(m.Blocks, MambaBlock{
			Norm:    nn.RMSNorm{W: blk.Vector("attn_norm.weight", c.Dim), Eps: c.NormEps},
			In:      blk.Linear("ssm_in", 2*c.Inner, c.Dim),
			ConvW:   blk.Flat("ssm_conv1d.weight", c.Inner*c.ConvK),
			ConvB:   blk.Vector("ssm_conv1d.bias", c.Inner),
			XProj:   blk.Linear("ssm_x", c.DTRank+2*c.State, c.Inner),
			DTProj:  blk.Linear("ssm_dt", c.Inner, c.DTRank),
			A:       blk.Flat("ssm_a", c.Inner*c.State),
			D:       blk.Vector("ssm_d", c.Inner),
			Out:     blk.Linear("ssm_out", c.Dim, c.Inner),
			normEps: c.NormEps, dtbcNorm: c.DTBCNorm,
		})
	}
	m.Norm, m.Output = bindRMSHead(b, m.Embed, c.Dim, c.Vocab, c.NormEps)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("mamba: %w", err)
	}
	return m, nil
}

// Info implements LM.
func (m *Mamba) Info() LMInfo {
	c := m.Config
	return LMInfo{Arch: "mamba", Vocab: c.Vocab, Dim: c.Dim, Layers: c.Layers, Context: c.Context}
}

// MambaState is one generation's recurrent state: per block the conv's last
// d_conv-1 inputs (inner, d_conv-1) and the scan state (inner, state),
// Bufs[block] = {conv, scan}. Its size does not depend on how many tokens it
// has seen.
type MambaState struct {
	recurrent
	m    *Mamba
	x, h []float32 // (seq, dim)
	s    mambaScratch
}

type mambaScratch struct {
	xz, xs, xc, xdb, dt, bc, y []float32
}

// NewSession implements LM.
func (m *Mamba) NewSession(maxPos int) Session { return m.NewState(maxPos) }

// NewState returns a zero state for at most maxPos positions (≤ 0 or above
// the context: the context).
func (m *Mamba) NewState(maxPos int) *MambaState {
	c := m.Config
	return &MambaState{m: m, recurrent: newRecurrent("mamba", c.Layers, c.Vocab, maxPos, c.Context,
		c.Inner*(c.ConvK-1), c.Inner*c.State)}
}

// Fork implements Session: a copy of the state and logits.
func (st *MambaState) Fork() Session { return &MambaState{m: st.m, recurrent: st.clone()} }

// Forward implements Session: pos is Len (continue) or 0 (restart).
func (st *MambaState) Forward(tokens []int, pos int) ([]float32, error) {
	return st.forward(tokens, pos, st.step)
}

func (st *MambaState) step(tokens []int) error {
	m, c := st.m, st.m.Config
	seq := len(tokens)
	x := tensor.Grow(&st.x, seq*c.Dim)
	h := tensor.Grow(&st.h, seq*c.Dim)
	if err := m.Embed.Forward(x, tokens); err != nil {
		return fmt.Errorf("mamba: %w", err)
	}
	for i := range m.Blocks {
		blk := &m.Blocks[i]
		if err := blk.Norm.Forward(h, x, seq); err != nil {
			return err
		}
		if err := blk.mix(h, h, seq, st.Bufs[i][0], st.Bufs[i][1], m.ones, &st.s); err != nil {
			return fmt.Errorf("mamba block %d: %w", i, err)
		}
		if err := kernels.Add(x, x, h); err != nil {
			return err
		}
	}
	return lastLogits(st.logits, x, h, seq, c.Dim, &m.Norm, &m.Output)
}

// mix runs the selective-SSM mixer on h (seq, dim) into out (may alias h),
// advancing the block's conv and scan states.
func (blk *MambaBlock) mix(out, h []float32, seq int, conv, ssm, ones []float32, s *mambaScratch) error {
	inner, N := blk.D, len(blk.A)/len(blk.D)
	D, R := len(inner), blk.DTProj.W.Cols
	K := len(blk.ConvW) / D
	xz := tensor.Grow(&s.xz, seq*2*D)
	if err := blk.In.Forward(xz, h, seq); err != nil {
		return fmt.Errorf("ssm_in: %w", err)
	}
	xs, xc := tensor.Grow(&s.xs, seq*D), tensor.Grow(&s.xc, seq*D)
	for t := 0; t < seq; t++ {
		copy(xs[t*D:(t+1)*D], xz[t*2*D:t*2*D+D])
	}
	if err := kernels.CausalConv1D(xc, conv, xs, blk.ConvW, blk.ConvB, kernels.CausalConv1DParams{Seq: seq, Channels: D, K: K}); err != nil {
		return err
	}
	if err := kernels.SiLU(xc, xc); err != nil {
		return err
	}
	W := R + 2*N
	xdb := tensor.Grow(&s.xdb, seq*W)
	if err := blk.XProj.Forward(xdb, xc, seq); err != nil {
		return fmt.Errorf("ssm_x: %w", err)
	}
	// Split (seq, R+2N) into Δ (seq, R) in xs's place, B and C (seq, N) each.
	dtIn := xs[:seq*R]
	bc := tensor.Grow(&s.bc, 2*seq*N)
	bm, cm := bc[:seq*N], bc[seq*N:]
	for t := 0; t < seq; t++ {
		row := xdb[t*W : (t+1)*W]
		copy(dtIn[t*R:(t+1)*R], row[:R])
		copy(bm[t*N:(t+1)*N], row[R:R+N])
		copy(cm[t*N:(t+1)*N], row[R+N:])
	}
	if blk.dtbcNorm {
		for _, p := range []struct {
			v []float32
			w int
		}{{dtIn, R}, {bm, N}, {cm, N}} {
			if err := kernels.RMSNorm(p.v, p.v, ones[:p.w], seq, p.w, blk.normEps); err != nil {
				return err
			}
		}
	}
	dt := tensor.Grow(&s.dt, seq*D)
	if err := blk.DTProj.Forward(dt, dtIn, seq); err != nil {
		return fmt.Errorf("ssm_dt: %w", err)
	}
	y := tensor.Grow(&s.y, seq*D)
	if err := kernels.SSMScan(y, ssm, xc, dt, blk.A, bm, cm, kernels.SSMParams{Seq: seq, Channels: D, State: N}); err != nil {
		return err
	}
	// y = (y + D·x) · silu(z)
	for t := 0; t < seq; t++ {
		yt, xt, z := y[t*D:(t+1)*D], xc[t*D:(t+1)*D], xz[t*2*D+D:(t+1)*2*D]
		for d := range yt {
			yt[d] += xt[d] * inner[d]
		}
		if err := kernels.SiLU(z, z); err != nil {
			return err
		}
		if err := kernels.Mul(yt, yt, z); err != nil {
			return err
		}
	}
	if err := blk.Out.Forward(out, y, seq); err != nil {
		return fmt.Errorf("ssm_out: %w", err)
	}
	return nil
}
