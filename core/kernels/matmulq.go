package kernels

// Quantized matrix products: MatMulQ multiplies activation rows by a weight
// matrix stored in any type of the dtype table, quantizing the activations
// once per call to the weights' VecDot type (ggml's vec_dot_type) and running
// the table's dot product of the current implementation per output.

import (
	"fmt"
	"math"
	"sync"
)

// rowDot is the dot product of nb blocks of weight row w (type d) with the
// activation row x, already in d's VecDot type, by the current implementation.
func rowDot(d DType, w, x []byte, nb int) float32 {
	if nb == 0 {
		return 0
	}
	return traits[d].dotQ[curImpl](&w[0], &x[0], nb)
}

// ---- matrix-vector products ----

// MatVecQ computes y = W·x for W (n, k) stored row-major in type d (each row
// d.RowBytes(k) bytes, rows contiguous in w), x (k) and y (n), over the
// default pool's threads. For the quantized types x is first quantized to the
// type's VecDot type into pooled scratch, as ggml does; steady-state calls
// allocate nothing beyond the pool's bookkeeping.
func MatVecQ(y []float32, w []byte, d DType, x []float32, n, k int) error {
	return MatMulQ(y, w, d, x, 1, n, k)
}

// MatMulQ computes Y = X·Wᵀ for X (m, k), W (n, k) stored row-major in type d
// and Y (m, n), all contiguous: the batched MatVecQ. Activations are
// quantized once per call; each weight row is then used against all m
// activation rows while it is in cache.
func MatMulQ(y []float32, w []byte, d DType, x []float32, m, n, k int) error {
	if !d.Computable() {
		return fmt.Errorf("MatMulQ: storage type %v has no kernel", d)
	}
	t := &traits[d]
	wb, err := d.matrixBytes(n, k)
	if err != nil {
		return fmt.Errorf("MatMulQ: %w", err)
	}
	if m < 0 || k != 0 && m > math.MaxInt/k || n != 0 && m > math.MaxInt/n {
		return fmt.Errorf("MatMulQ: %d×%d×%d overflows int: %w", m, n, k, ErrBadLength)
	}
	if len(w) != wb || len(x) != m*k || len(y) != m*n {
		return fmt.Errorf("MatMulQ %s (m=%d n=%d k=%d): len(w)=%d want %d, len(x)=%d want %d, len(y)=%d want %d: %w",
			t.Name, m, n, k, len(w), wb, len(x), m*k, len(y), m*n, ErrBadLength)
	}
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 { // empty rows: every dot is 0
		clear(y)
		return nil
	}
	act := &traits[t.VecDot]
	if k%act.BlockSize != 0 {
		return fmt.Errorf("MatMulQ %s: k=%d is not a multiple of %d: %w", t.Name, k, act.BlockSize, ErrBadLength)
	}
	if d == F32 {
		if wf, ok := asF32(w, n*k); ok { // f32 weights in place: the GEMM kernels
			GemmT(m, n, k, x, k, wf, k, 0, y, n)
			return nil
		}
	}
	if t.repackOf != 0 && m > 1 {
		if g := qgemmFor(t.repackOf); g != nil && m >= qgMinRows {
			matMulQgemm(y, w, g, x, m, n, k, wb/n, t)
		} else {
			matMulRepacked(y, w, t, x, m, n, k, wb/n)
		}
		return nil
	}
	if g := qgemmFor(d); g != nil && m >= qgMinRows {
		matMulQgemm(y, w, g, x, m, n, k, wb/n, nil)
		return nil
	}
	if m >= panelMinRows && t.dotQx4[curImpl] == nil {
		matMulPanels(y, w, t, x, m, n, k, wb/n)
		return nil
	}
	job := matJobs.Get().(*matJob)
	job.y, job.w, job.t, job.x, job.m, job.n, job.k = y, w, t, x, m, n, k
	job.rb = wb / n
	if t.VecDot != F32 {
		qb := m * (k / act.BlockSize) * act.BlockBytes
		if cap(job.xq) < qb {
			job.xq = make([]byte, qb)
		}
		job.xq = job.xq[:qb]
		act.fromFloat(job.xq, x)
	}
	// Enough rows per chunk that a chunk is worth a hand-off (~64K MACs).
	grain := max(1, (1<<16)/max(1, k*m))
	if t.repackOf != 0 { // chunks of whole groups
		grain = roundUp(grain, RepackRows)
	}
	ParallelFor(n, grain, job.fn)
	job.y, job.w, job.x, job.t = nil, nil, nil, nil // do not pin caller memory in the pool
	matJobs.Put(job)
	return nil
}

// dotRows sets y (rows) to the dot products of the weight rows w (rb bytes
// apart) with one activation row xq of nb blocks: four rows at a time in one
// call where the type has a four-row kernel (each value the one-row dot's),
// then one. For a repacked type w starts on a group and runs to a group's
// end or the matrix's: its whole groups go through the eight-row dot, the
// rows after them (the matrix's last n mod 8) through the source type's.
func dotRows(t *Traits, y []float32, w []byte, rb int, xq []byte, nb int) {
	dot, rows4 := t.dotQ[curImpl], t.rowsQx4[curImpl]
	r := 0
	if g := len(y) / RepackRows; t.repackOf != 0 && g > 0 {
		rows8 := t.rows8[curImpl]
		if rows8 == nil {
			rows8 = t.rows8Ref
		}
		_ = w[g*RepackRows*rb-1] // the kernel reads groups [0, g)
		rows8(&w[0], &xq[0], nb, &y[0], g)
		r = g * RepackRows
	}
	if g := len(y) / 4; rows4 != nil && g > 0 {
		_ = w[4*g*rb-1] // the kernel reads rows [0, 4g)
		rows4(&w[0], rb, &xq[0], nb, &y[0], g)
		r = 4 * g
	}
	for ; r < len(y); r++ {
		y[r] = dot(&w[r*rb], &xq[0], nb)
	}
}

// matJob is the pooled state of one MatMulQ call; fn is bound once so handing
// it to the pool does not allocate.
type matJob struct {
	y, x    []float32
	w, xq   []byte
	t       *Traits
	m, n, k int
	rb      int // bytes per weight row
	fn      func(lo, hi int)
}

var matJobs = sync.Pool{New: func() any {
	j := new(matJob)
	j.fn = j.rows
	return j
}}

// rows computes output columns [lo, hi) for every activation row.
func (j *matJob) rows(lo, hi int) {
	t := j.t
	if t.VecDot == F32 {
		for r := lo; r < hi; r++ {
			wr := j.w[r*j.rb : (r+1)*j.rb]
			for i := 0; i < j.m; i++ {
				j.y[i*j.n+r] = t.dotF32(wr, j.x[i*j.k:(i+1)*j.k])
			}
		}
		return
	}
	act := &traits[t.VecDot]
	nb := j.k / act.BlockSize
	xqb := nb * act.BlockBytes
	dot, dot4 := t.dotQ[curImpl], t.dotQx4[curImpl]
	if j.m == 1 { // decode: one activation row, every weight row once
		dotRows(t, j.y[lo:hi], j.w[lo*j.rb:hi*j.rb], j.rb, j.xq, nb)
		return
	}
	m4 := 0
	if dot4 != nil {
		m4 = j.m &^ 3
	}
	// Blocks of weight rows: a quad of activation rows stays in L1 while
	// it meets every row of the block.
	const block = 8
	var out [4]float32
	for r0 := lo; r0 < hi; r0 += block {
		r1 := min(r0+block, hi)
		for i := 0; i < m4; i += 4 {
			for r := r0; r < r1; r++ {
				dot4(&j.w[r*j.rb], &j.xq[i*xqb], xqb, nb, &out)
				for q, v := range out {
					j.y[(i+q)*j.n+r] = v
				}
			}
		}
		for r := r0; r < r1; r++ {
			for i := m4; i < j.m; i++ {
				j.y[i*j.n+r] = dot(&j.w[r*j.rb], &j.xq[i*xqb], nb)
			}
		}
	}
}

// Without a batched kernel for the type (q4_0, q8_0, q4_K, q5_K and q6_K
// have the packed int8 GEMM of qgemm.go, q4_K…q6_K also four-row dots when
// there is no VNNI), a batch of panelMinRows or more
// activation rows runs as f32 GEMM on the weights widened one panel of
// panelRows rows at a time (each panel, panelRows×k floats, stays in cache
// while every activation row meets it): each weight is widened once per call
// instead of dotted once per activation row, and no whole matrix is ever
// widened.
const (
	panelMinRows = 8
	panelRows    = 64
)

// panels holds the widened panels of matMulPanels, reused across calls.
var panels = newFreeList[[]float32](8, nil)

func matMulPanels(y []float32, w []byte, t *Traits, x []float32, m, n, k, rb int) {
	buf := panels.get()
	if cap(*buf) < panelRows*k {
		*buf = make([]float32, panelRows*k)
	}
	p := (*buf)[:panelRows*k]
	for r0 := 0; r0 < n; r0 += panelRows {
		rows := min(panelRows, n-r0)
		t.toFloat(p[:rows*k], w[r0*rb:(r0+rows)*rb])
		GemmT(m, rows, k, x, k, p[:rows*k], k, 0, y[r0:], n)
	}
	panels.put(buf)
}
