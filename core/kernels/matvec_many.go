package kernels

// One decode step runs seven matrix-vector products per Llama block, three
// of them (q, k, v) on one normalised activation and two (gate, up) on
// another. Run one by one, each quantizes the same x again and each is a
// parallel loop of its own: a hand-off to the workers and a barrier, seven
// times a block, for products of a few hundred microseconds. MatVecMany
// runs such a group as one loop over all their rows, x quantized once per
// activation type; the threads take the rows a chunk at a time (rowShare).

import (
	"fmt"
)

// MatVecPart is one matrix of a MatVecMany group: Y (N) = W·x for W (N, k)
// stored in Type (F32 holds f32 weights, rows contiguous, or F32R32's
// slivers when Type says so; Data any other type, rows contiguous), x the
// group's activation or the part's own X.
type MatVecPart struct {
	Y    []float32
	F32  []float32 // (N, k) when the weights are f32 (or f32r32)
	Data []byte    // N × Type.RowBytes(k) otherwise
	Type DType
	N    int
	X    []float32 // (k): this part's activation; nil: MatVecMany's x
}

// MatVecMany computes every part's Y = W·x for one activation x (k), or the
// part's own X (the down projections of a token's experts): the same values
// as MatVecT (f32 parts) or MatVecQ (the others) part by part. x may be nil
// when every part has its X. It fails, writing nothing, on a bad part.
func MatVecMany(parts []MatVecPart, x []float32, k int) error {
	if x != nil && len(x) != k {
		return fmt.Errorf("MatVecMany: len(x)=%d, k=%d: %w", len(x), k, ErrBadLength)
	}
	total := 0
	for i := range parts {
		p := &parts[i]
		if p.X == nil && x == nil || p.X != nil && len(p.X) != k {
			return fmt.Errorf("MatVecMany part %d: no activation of %d: %w", i, k, ErrBadLength)
		}
		if len(p.Y) != p.N {
			return fmt.Errorf("MatVecMany part %d: len(y)=%d want %d: %w", i, len(p.Y), p.N, ErrBadLength)
		}
		if p.F32 != nil {
			if len(p.F32) != p.N*k {
				return fmt.Errorf("MatVecMany part %d: %d f32 weights want %d×%d: %w", i, len(p.F32), p.N, k, ErrBadLength)
			}
			if p.Type == F32R32 && p.N%SliverRows != 0 {
				return fmt.Errorf("MatVecMany part %d: f32r32 with %d rows: %w", i, p.N, ErrBadLength)
			}
		} else {
			if !p.Type.Computable() {
				return fmt.Errorf("MatVecMany part %d: storage type %v has no kernel", i, p.Type)
			}
			wb, err := p.Type.matrixBytes(p.N, k)
			if err != nil {
				return fmt.Errorf("MatVecMany part %d: %w", i, err)
			}
			if len(p.Data) != wb {
				return fmt.Errorf("MatVecMany part %d %v: len(w)=%d want %d: %w", i, p.Type, len(p.Data), wb, ErrBadLength)
			}
			if bs := traits[traits[p.Type].VecDot].BlockSize; k%bs != 0 {
				return fmt.Errorf("MatVecMany part %d %v: k=%d is not a multiple of %d: %w", i, p.Type, k, bs, ErrBadLength)
			}
		}
		total += roundUp(p.N, gemvRowBlock)
	}
	if total == 0 {
		return nil
	}
	if k == 0 {
		for _, p := range parts {
			clear(p.Y)
		}
		return nil
	}
	j := manyJobs.get()
	j.parts = append(j.parts[:0], parts...)
	j.k = k
	j.acts = j.acts[:0]
	j.sx = j.sx[:0]
	for i := range j.parts {
		p := &j.parts[i]
		if p.X == nil {
			p.X = x
		}
		if p.F32 == nil {
			j.quantized(traits[p.Type].VecDot, p.X)
			j.sx = append(j.sx, streamX{})
			continue
		}
		if p.Type == F32R32 { // in place: sh is the slivers' rotation
			j.sx = append(j.sx, streamX{x: p.X, sh: SliversShift(p.F32)})
			continue
		}
		if len(j.xbufs) <= i {
			j.xbufs = append(j.xbufs, make([][]float32, i+1-len(j.xbufs))...)
		}
		var sx streamX
		sx, j.xbufs[i] = newStreamX(p.X, p.F32, k, k, j.xbufs[i])
		j.sx = append(j.sx, sx)
	}
	if th := Default().Threads(); th > 1 && total*k >= parallelGemvFloats {
		j.share.reset(total, gemvChunkRows(k))
		ParallelFor(th, 1, j.fn)
	} else {
		j.rows(0, total)
	}
	clear(j.parts) // do not pin caller memory in the pool
	clear(j.sx)
	for i := range j.acts {
		j.acts[i].x = nil
	}
	manyJobs.put(j)
	return nil
}

// manyJob is the pooled state of one MatVecMany call: the parts (each X
// set), and each activation quantized to each type its parts take.
type manyJob struct {
	parts []MatVecPart
	k     int
	acts  []manyAct
	sx    []streamX   // each f32 part's x, laid out for its weights
	xbufs [][]float32 // sx's memory, kept between calls
	share rowShare    // the parts' rows laid end to end, for the threads to take
	fn    func(lo, hi int)
}

// shared computes chunks of rows until none are left (one thread's part of
// a parallel MatVecMany; its range is ignored).
func (j *manyJob) shared(int, int) {
	for lo, hi, ok := j.share.take(); ok; lo, hi, ok = j.share.take() {
		j.rows(lo, hi)
	}
}

type manyAct struct {
	t  DType    // VecDot type
	x  *float32 // the activation it quantizes
	xq []byte
}

var manyJobs = newFreeList(8, func(j *manyJob) { j.fn = j.shared })

// quantized returns x in activation type t, quantizing it on first use in
// this call.
func (j *manyJob) quantized(t DType, x []float32) []byte {
	for _, a := range j.acts {
		if a.t == t && a.x == &x[0] {
			return a.xq
		}
	}
	act := &traits[t]
	n := j.k / act.BlockSize * act.BlockBytes
	if len(j.acts) < cap(j.acts) {
		j.acts = j.acts[:len(j.acts)+1]
	} else {
		j.acts = append(j.acts, manyAct{})
	}
	a := &j.acts[len(j.acts)-1]
	a.t, a.x = t, &x[0]
	if cap(a.xq) < n {
		a.xq = make([]byte, n)
	}
	a.xq = a.xq[:n]
	act.fromFloat(a.xq, x)
	return a.xq
}

// rows computes rows [lo, hi) of the parts laid end to end, each from a
// multiple of gemvRowBlock: chunk edges (multiples of it too) then fall on
// the four-row quads MatVecT would use, so each part's values are its own
// MatVecT's bit for bit.
func (j *manyJob) rows(lo, hi int) {
	base := 0
	for i := range j.parts {
		p := &j.parts[i]
		r0, r1 := max(lo-base, 0), min(hi-base, p.N)
		base += roundUp(p.N, gemvRowBlock)
		if r0 >= r1 {
			continue
		}
		if p.F32 != nil && p.Type == F32R32 {
			sliverRows(p.Y, p.X, p.F32, p.N, j.k, j.sx[i].sh, r0, r1)
			continue
		}
		if p.F32 != nil {
			gemvStreamRows(p.Y, j.sx[i], p.F32, j.k, j.k, 0, r0, r1)
			continue
		}
		t := &traits[p.Type]
		rb := len(p.Data) / p.N
		if t.VecDot == F32 {
			for r := r0; r < r1; r++ {
				p.Y[r] = t.dotF32(p.Data[r*rb:(r+1)*rb], p.X)
			}
			continue
		}
		xq := j.quantized(t.VecDot, p.X) // quantized before the loop: a lookup
		dotRows(t, p.Y[r0:r1], p.Data[r0*rb:r1*rb], rb, xq, j.k/traits[t.VecDot].BlockSize)
	}
}
