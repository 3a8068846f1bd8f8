package nn

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/kernels"
)

// QuickGELU sets out to x·σ(1.702·x), the sigmoid approximation of GELU that
// OpenAI's CLIP was trained with (hidden_act "quick_gelu"). out may alias x.
func QuickGELU(out, x []float32) error {
	if len(out) < len(x) {
		return fmt.Errorf("quick_gelu: out has %d floats, x %d", len(out), len(x))
	}
	kernels.ParallelFor(len(x), 4096, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(x[i])
			out[i] = float32(v / (1 + math.Exp(-1.702*v)))
		}
	})
	return nil
}

// SplitRows returns the Linear made of output rows [lo, hi) of l: GEGLU's
// fused projection holds the value half then the gate half.
func (l *Linear) SplitRows(lo, hi int) (Linear, error) {
	m := l.W
	if lo < 0 || hi > m.Rows || lo >= hi {
		return Linear{}, fmt.Errorf("split rows [%d,%d) of %d", lo, hi, m.Rows)
	}
	if r := m.Type.RepackOf(); r != m.Type && (lo%kernels.RepackRows != 0 || hi%kernels.RepackRows != 0 && hi != m.Rows) {
		return Linear{}, fmt.Errorf("split rows [%d,%d) of %d: %v groups rows by %d", lo, hi, m.Rows, m.Type, kernels.RepackRows)
	}
	if m.F32 != nil && m.Type == kernels.F32R32 {
		return Linear{}, fmt.Errorf("split rows [%d,%d) of %d: f32r32's slivers are placed for the whole matrix", lo, hi, m.Rows)
	}
	s := Linear{W: Matrix{Rows: hi - lo, Cols: m.Cols, Type: m.Type}}
	if m.F32 != nil {
		s.W.F32 = m.F32[lo*m.Cols : hi*m.Cols]
	} else {
		rb, err := m.Type.RowBytes(m.Cols)
		if err != nil {
			return Linear{}, err
		}
		s.W.Data = m.Data[lo*rb : hi*rb]
	}
	if l.Bias != nil {
		s.Bias = l.Bias[lo:hi]
	}
	return s, nil
}
