package nn

import (
	"fmt"
	"io"
	"sync"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/tensor"
)

// Linear is y = x·Wᵀ + b with W (out, in) in any storage format.
type Linear struct {
	W      Matrix           // (out, in)
	Bias   []float32        // (out) or nil
	packed *kernels.PackedT // W packed for GEMM once (Pack), or nil
}

// Pack packs an f32 W once for the GEMM (kernels.PackT), so calls of more
// than one row skip packing it: for a tower that runs its weights on many
// short calls (a vocoder's frames in bands). It costs a copy of W, so
// language models, whose weights are most of the process, do not call it.
func (l *Linear) Pack() {
	if !l.W.Quantized() && l.W.Type == kernels.F32 && l.W.Rows > 0 && l.W.Cols > 0 {
		l.packed = kernels.PackT(l.W.F32, l.W.Rows, l.W.Cols, l.W.Cols)
	}
}

// Forward sets y (rows, out) from x (rows, in). f32 weights go through the
// matrix-vector kernel for one row (decode) and GEMM for more (prefill),
// the sliver kernels for f32r32 (kernels.GemmTSlivers);
// quantized weights through MatMulQ, which quantizes the rows once and runs
// the type's integer kernels (several rows per weight row where it has them,
// else f32 GEMM on panels it widens), so each weight is read once per batch
// and no matrix is widened whole.
func (l *Linear) Forward(y, x []float32, rows int) error {
	out, in := l.W.Rows, l.W.Cols
	if len(x) < rows*in || len(y) < rows*out {
		return fmt.Errorf("linear %d→%d: x has %d floats, y %d, for %d rows", in, out, len(x), len(y), rows)
	}
	x, y = x[:rows*in], y[:rows*out]
	switch {
	case l.W.Quantized():
		if err := kernels.MatMulQ(y, l.W.Data, l.W.Type, x, rows, out, in); err != nil {
			return err
		}
	case l.W.Type == kernels.F32R32:
		kernels.GemmTSlivers(rows, x, in, l.W.F32, out, in, 0, y, out)
	case rows == 1:
		kernels.MatVecT(y, l.W.F32, x, out, in)
	case l.packed != nil:
		kernels.GemmTPacked(rows, x, in, l.packed, 0, y, out)
	default:
		kernels.GemmT(rows, out, in, x, in, l.W.F32, in, 0, y, out)
	}
	if l.Bias != nil {
		return kernels.AddBias(y, l.Bias, rows, out)
	}
	return nil
}

// forwardShared sets ys[i] = ls[i](x) for rows rows of x that every linear
// reads: one row (a decode step) through forwardRow, more through each
// linear's own Forward.
func forwardShared(x []float32, rows int, ls []*Linear, ys [][]float32) error {
	if rows == 1 {
		return forwardRow(x, ls, ys)
	}
	for i, l := range ls {
		if err := l.Forward(ys[i], x, rows); err != nil {
			return err
		}
	}
	return nil
}

// forwardRow sets ys[i] (out_i) = ls[i](x) for one row x (in) shared by
// every linear (a block's q, k and v; a feed-forward's gate and up): one
// kernels.MatVecMany, so x is quantized once per activation type and the
// rows of all of them are one parallel loop (a decode step's hand-offs to
// the workers halve). At most 4 linears.
func forwardRow(x []float32, ls []*Linear, ys [][]float32) error {
	var parts [4]kernels.MatVecPart
	if len(ls) > len(parts) || len(ys) != len(ls) {
		return fmt.Errorf("linear: %d outputs for %d linears (at most %d)", len(ys), len(ls), len(parts))
	}
	in := -1
	for i, l := range ls {
		if in >= 0 && l.W.Cols != in {
			return fmt.Errorf("linear: inputs of %d and %d in one group", in, l.W.Cols)
		}
		in = l.W.Cols
		out := l.W.Rows
		if len(ys[i]) < out {
			return fmt.Errorf("linear %d→%d: y has %d floats", in, out, len(ys[i]))
		}
		parts[i] = kernels.MatVecPart{Y: ys[i][:out], N: out, F32: l.W.F32, Data: l.W.Data, Type: l.W.Type}
	}
	if len(x) < in {
		return fmt.Errorf("linear %d→…: x has %d floats", in, len(x))
	}
	if err := kernels.MatVecMany(parts[:len(ls)], x[:in], in); err != nil {
		return err
	}
	for i, l := range ls {
		if l.Bias != nil {
			if err := kernels.AddBias(ys[i][:l.W.Rows], l.Bias, 1, l.W.Rows); err != nil {
				return err
			}
		}
	}
	return nil
}

// Embedding looks up rows of a (vocab, dim) table in any storage format.
type Embedding struct {
	Table Matrix // (vocab, dim)
	// Disk, when set, reads Table's stored bytes (offset 0 = the first row)
	// from the model file: a table the loader left on disk (formats.Info's
	// Disk) is read a row at a time, so only the rows looked up cost memory
	// (touching Table's mapped pages would fault in their neighbours too).
	Disk io.ReaderAt
}

// Forward sets out (len(ids), dim) to the rows of ids. An id outside the
// vocabulary is an error.
func (e *Embedding) Forward(out []float32, ids []int) error {
	dim := e.Table.Cols
	if len(out) < len(ids)*dim {
		return fmt.Errorf("embedding: out has %d floats, need %d×%d", len(out), len(ids), dim)
	}
	var row []byte // one stored row, read from Disk
	if e.Disk != nil {
		rb, err := e.Table.Type.RowBytes(dim)
		if err != nil {
			return err
		}
		buf := diskRows.Get().(*[]byte)
		defer diskRows.Put(buf)
		if cap(*buf) < rb {
			*buf = make([]byte, rb)
		}
		row = (*buf)[:rb]
	}
	for t, id := range ids {
		if id < 0 || id >= e.Table.Rows {
			return fmt.Errorf("embedding: token %d has id %d outside vocabulary of %d", t, id, e.Table.Rows)
		}
		dst := out[t*dim : (t+1)*dim]
		if e.Disk == nil {
			if err := e.Table.Row(dst, id); err != nil {
				return err
			}
			continue
		}
		if _, err := e.Disk.ReadAt(row, int64(id)*int64(len(row))); err != nil {
			return fmt.Errorf("embedding: read row %d: %w", id, err)
		}
		if err := e.Table.Type.Dequantize(dst, row); err != nil {
			return err
		}
	}
	return nil
}

// diskRows holds the row buffers Embedding.Forward reads from Disk into (an
// Embedding is shared by concurrent sessions), so a decode step's lookup
// does not allocate one.
var diskRows = sync.Pool{New: func() any { return new([]byte) }}

// RMSNorm is x / sqrt(mean(x²) + eps) ⊙ w (Zhang & Sennrich 2019).
type RMSNorm struct {
	W   []float32 // (dim)
	Eps float32
}

// Forward normalises rows of x (rows, dim) into out (may alias x).
func (n *RMSNorm) Forward(out, x []float32, rows int) error {
	return kernels.RMSNorm(out, x, n.W, rows, len(n.W), n.Eps)
}

// SwiGLU is Llama's feed-forward: Down·(silu(Gate·x) ⊙ Up·x) (Shazeer 2020);
// with GeGLU set, Gemma's: gelu in place of silu, as ggml computes it
// (kernels.GELUF16).
type SwiGLU struct {
	Gate, Up Linear // (ff, dim)
	Down     Linear // (dim, ff)
	GeGLU    bool
}

// ffBlock is how many feed-forward units one batched call of a quantized
// Up computes (SwiGLU.Forward): its output then needs (rows, ffBlock) of
// scratch beside the gate's (rows, ff), not a second (rows, ff). A multiple
// of the repacked layouts' row groups and of the packed GEMM's panels.
const ffBlock = 512

// Forward sets out (rows, dim) from x (rows, dim). A batch through
// quantized weights wider than ffBlock runs Up ffBlock rows at a time and
// multiplies each block into the activated gate at once: each weight is
// still read once per batch (x is quantized once more per block), and the
// scratch is (rows, ff + ffBlock) floats instead of (rows, 2·ff) — for a
// 128-token prompt of a 2048-wide feed-forward, 0.75 MiB less at the peak.
func (m *SwiGLU) Forward(out, x []float32, rows int, s *Scratch) error {
	ff := m.Gate.W.Rows
	act := kernels.SiLU
	if m.GeGLU {
		act = kernels.GELUF16
	}
	blocks := rows > 1 && ff > ffBlock && m.Up.W.Quantized()
	uw := ff // Up's output columns per call
	if blocks {
		uw = ffBlock
	}
	ws := s.work(rows * (ff + uw))
	g := ws[:rows*ff]           // (rows, ff)
	u := ws[rows*ff:][:rows*uw] // (rows, uw)
	if !blocks {
		if err := forwardShared(x, rows, []*Linear{&m.Gate, &m.Up}, [][]float32{g, u}); err != nil {
			return fmt.Errorf("ffn gate, up: %w", err)
		}
		if err := act(g, g); err != nil {
			return err
		}
		if err := kernels.Mul(g, g, u); err != nil {
			return err
		}
	} else {
		if err := m.Gate.Forward(g, x, rows); err != nil {
			return fmt.Errorf("ffn gate: %w", err)
		}
		if err := act(g, g); err != nil {
			return err
		}
		for lo := 0; lo < ff; lo += ffBlock {
			hi := min(lo+ffBlock, ff)
			up, err := m.Up.SplitRows(lo, hi)
			if err != nil {
				return fmt.Errorf("ffn up: %w", err)
			}
			if err := up.Forward(u, x, rows); err != nil {
				return fmt.Errorf("ffn up: %w", err)
			}
			w := hi - lo
			for r := range rows {
				gr := g[r*ff+lo : r*ff+hi]
				if err := kernels.Mul(gr, gr, u[r*w:(r+1)*w]); err != nil {
					return err
				}
			}
		}
	}
	if err := m.Down.Forward(out, g, rows); err != nil {
		return fmt.Errorf("ffn down: %w", err)
	}
	return nil
}

// MoE is a Mixture-of-Experts feed-forward (Mixtral: router softmax, top-k,
// renormalised weights, SwiGLU experts; optional shared experts) run by the
// fused kernels.MoE.
type MoE struct {
	Config  kernels.MoEConfig
	Weights kernels.MoEWeights
}

// Forward sets out (rows, dim) from x (rows, dim).
func (m *MoE) Forward(out, x []float32, rows int, s *Scratch) error {
	_, err := kernels.MoE(out[:rows*m.Config.Dim], x[:rows*m.Config.Dim], rows, &m.Weights, m.Config, &s.moe)
	return err
}

// BindMoE binds llama.cpp's MoE tensors under b: ffn_gate_inp (E, D), the
// expert stacks ffn_{gate,up}_exps (E, FF, D) and ffn_down_exps (E, D, FF),
// and, when sharedFF > 0, ffn_{gate,up,down}_shexp. Experts stay in their
// storage type as views on the file (the fused kernel multiplies any type
// with kernels); only the small router is widened to f32.
func BindMoE(b *Binder, cfg kernels.MoEConfig) MoE {
	m := MoE{Config: cfg}
	router := b.Matrix("ffn_gate_inp.weight", cfg.Experts, cfg.Dim)
	m.Weights.Router = dense(b, "ffn_gate_inp", &router)
	m.Weights.Gate = experts(b.Stack("ffn_gate_exps.weight", cfg.Experts, cfg.FF, cfg.Dim))
	m.Weights.Up = experts(b.Stack("ffn_up_exps.weight", cfg.Experts, cfg.FF, cfg.Dim))
	m.Weights.Down = experts(b.Stack("ffn_down_exps.weight", cfg.Experts, cfg.Dim, cfg.FF))
	if cfg.SharedFF > 0 {
		m.Weights.SharedGate = experts([]Matrix{b.Matrix("ffn_gate_shexp.weight", cfg.SharedFF, cfg.Dim)})
		m.Weights.SharedUp = experts([]Matrix{b.Matrix("ffn_up_shexp.weight", cfg.SharedFF, cfg.Dim)})
		m.Weights.SharedDown = experts([]Matrix{b.Matrix("ffn_down_shexp.weight", cfg.Dim, cfg.SharedFF)})
	}
	return m
}

// experts views bound matrices of one storage type as the kernel's Experts
// (empty when the binding failed, which the binder has recorded).
func experts(ms []Matrix) kernels.Experts {
	if len(ms) == 0 || ms[0].F32 == nil && ms[0].Data == nil {
		return kernels.Experts{}
	}
	e := kernels.Experts{Type: ms[0].Type}
	for _, m := range ms {
		if m.F32 != nil {
			e.F32 = append(e.F32, m.F32)
		} else {
			e.Q = append(e.Q, m.Data)
		}
	}
	return e
}

func dense(b *Binder, name string, m *Matrix) []float32 {
	if m.F32 == nil && m.Data == nil {
		return nil // binding already failed and said so
	}
	d, err := m.Dense()
	if err != nil {
		b.fail("bind %s: %w", b.name(name), err)
	}
	return d
}

// Scratch holds the working buffers of a tower's layers, grown on first use
// to the largest batch seen and reused, so a decode step does not allocate.
// Layers run one after another, so one Scratch serves a whole tower; it is not
// safe for concurrent use.
//
// Attention and the feed-forward never run at once, so they cut their
// buffers from one working slice: attention's q, output and new values
// ((2·heads + kv_heads)·head_dim floats a token), then the feed-forward's
// gate and up ((ff + min(ff, ffBlock)) a token), not the sum of the two —
// for a 128-token prompt of a 768-wide, 2048-ff Llama 1.25 MiB where four
// buffers of their own held 2 MiB.
type Scratch struct {
	ws  []float32
	moe kernels.MoEScratch
}

// work returns the first n floats of the working slice, grown when short;
// contents are whatever the last layer left.
func (s *Scratch) work(n int) []float32 { return tensor.Grow(&s.ws, n) }
