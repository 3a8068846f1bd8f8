package kernels

// Row kernels of the block types in the dtype table (dtype.go): how a row of
// k weights is laid out in bytes, how to widen it to float32, how to narrow
// float32 into it, and the dot product MatVecQ uses against an activation
// row. The byte layouts are ggml's, so GGUF tensors are used in place:
//
//	q8_0 (32 elements, 34 bytes): f16 scale d, then 32 int8 q;       x = q·d
//	q4_0 (32 elements, 18 bytes): f16 scale d, then 16 bytes of nibbles;
//	                              byte j holds element j in its low nibble and
//	                              element j+16 in its high nibble;   x = (q-8)·d
//	q4_K, q6_K (256 elements): see quantk.go.
//
// Quantized dot products take their activations quantized to q8_0 (ggml's
// vec_dot_type), so the inner loop is integer multiply-adds with one float
// scale per 32 elements; f32, f16, bf16 and the K-quants take float32
// activations.
//
// Exported entry points (DType methods, MatVecQ, MatMulQ) check lengths and
// return errors; the unexported row kernels they call assume valid input.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// ErrBadLength is wrapped by every length/shape error of this file.
var ErrBadLength = errors.New("bad length")

// ---- f32 rows stored as bytes (weights read from files) ----

// asF32 views b as float32s without copying when it is 4-byte aligned.
func asF32(b []byte, n int) ([]float32, bool) {
	if n == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 != 0 {
		return nil, n == 0
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n), true
}

func f32RowFromBytes(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func f32RowToBytes(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func dotF32Bytes(w []byte, x []float32) float32 {
	var s float32
	if wf, ok := asF32(w, len(x)); ok {
		for i, v := range x {
			s += wf[i] * v
		}
		return s
	}
	for i, v := range x {
		s += math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:])) * v
	}
	return s
}

// ---- q8_0 and q4_0 ----

// blockScale reads the f16 scale at the start of a block.
func blockScale(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

// roundAway rounds half away from zero, as C's roundf in ggml's quantizer.
func roundAway(v float32) float32 { return float32(math.Round(float64(v))) }

// quantQ8_0Generic is ggml's reference q8_0 quantizer: d = max|x|/127 per
// block, q = round(x/d) in [-127, 127].
func quantQ8_0Generic(dst []byte, src []float32) {
	for b := 0; b < len(src)/QK8_0; b++ {
		x := src[b*QK8_0 : (b+1)*QK8_0]
		y := dst[b*Q8_0Bytes : (b+1)*Q8_0Bytes]
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, F32ToF16(d))
		for j, v := range x {
			y[2+j] = byte(int8(roundAway(v * id)))
		}
	}
}

// dequantQ8_0 widens q8_0 blocks.
func dequantQ8_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QK8_0; b++ {
		blk := src[b*Q8_0Bytes : (b+1)*Q8_0Bytes]
		d := blockScale(blk)
		for j, q := range blk[2:] {
			dst[b*QK8_0+j] = float32(int8(q)) * d
		}
	}
}

// quantQ4_0 is ggml's reference q4_0 quantizer: the element of largest
// magnitude m maps to -8 (d = m/-8), q = min(15, trunc(x/d + 8.5)).
func quantQ4_0(dst []byte, src []float32) {
	for b := 0; b < len(src)/QK4_0; b++ {
		x := src[b*QK4_0 : (b+1)*QK4_0]
		y := dst[b*Q4_0Bytes : (b+1)*Q4_0Bytes]
		var amax, m float32
		for _, v := range x {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, m = a, v
			}
		}
		d := m / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, F32ToF16(d))
		for j := 0; j < QK4_0/2; j++ {
			lo := min(15, int8(x[j]*id+8.5))
			hi := min(15, int8(x[j+QK4_0/2]*id+8.5))
			y[2+j] = byte(lo) | byte(hi)<<4
		}
	}
}

// dequantQ4_0 widens q4_0 blocks.
func dequantQ4_0(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QK4_0; b++ {
		blk := src[b*Q4_0Bytes : (b+1)*Q4_0Bytes]
		d := blockScale(blk)
		out := dst[b*QK4_0 : (b+1)*QK4_0]
		for j, q := range blk[2:] {
			out[j] = float32(int(q&0xf)-8) * d
			out[j+QK4_0/2] = float32(int(q>>4)-8) * d
		}
	}
}

// dotQ8_0Q8_0Generic is the reference for dotQ8_0Q8_0: per block an exact
// integer dot, scaled by the product of the two block scales, summed in
// float32 in block order (ggml's vec_dot_q8_0_q8_0 reference).
func dotQ8_0Q8_0Generic(w, xq []byte, nb int) float32 {
	var s float32
	for b := 0; b < nb; b++ {
		wb := w[b*Q8_0Bytes : (b+1)*Q8_0Bytes]
		xb := xq[b*Q8_0Bytes : (b+1)*Q8_0Bytes]
		var sum int32
		for j := 2; j < Q8_0Bytes; j++ {
			sum += int32(int8(wb[j])) * int32(int8(xb[j]))
		}
		s += float32(sum) * (blockScale(wb) * blockScale(xb))
	}
	return s
}

// dotQ4_0Q8_0Generic is the reference for dotQ4_0Q8_0.
func dotQ4_0Q8_0Generic(w, xq []byte, nb int) float32 {
	var s float32
	for b := 0; b < nb; b++ {
		wb := w[b*Q4_0Bytes : (b+1)*Q4_0Bytes]
		xb := xq[b*Q8_0Bytes : (b+1)*Q8_0Bytes]
		var sum int32
		for j := 0; j < QK4_0/2; j++ {
			q := wb[2+j]
			sum += (int32(q&0xf) - 8) * int32(int8(xb[2+j]))
			sum += (int32(q>>4) - 8) * int32(int8(xb[2+j+QK4_0/2]))
		}
		s += float32(sum) * (blockScale(wb) * blockScale(xb))
	}
	return s
}

// Pointer-signature twins of the references, for the table's generic column.
func dotQ8_0Q8_0Ref(w, x *byte, nb int) float32 {
	return dotQ8_0Q8_0Generic(bytesAt(w, nb*Q8_0Bytes), bytesAt(x, nb*Q8_0Bytes), nb)
}

func dotQ4_0Q8_0Ref(w, x *byte, nb int) float32 {
	return dotQ4_0Q8_0Generic(bytesAt(w, nb*Q4_0Bytes), bytesAt(x, nb*Q8_0Bytes), nb)
}

func bytesAt(p *byte, n int) []byte { return unsafe.Slice(p, n) }

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
	ParallelFor(n, grain, job.fn)
	job.y, job.w, job.x, job.t = nil, nil, nil, nil // do not pin caller memory in the pool
	matJobs.Put(job)
	return nil
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
	dot := t.dotQ[curImpl]
	for r := lo; r < hi; r++ {
		wr := j.w[r*j.rb : (r+1)*j.rb]
		for i := 0; i < j.m; i++ {
			j.y[i*j.n+r] = dot(&wr[0], &j.xq[i*xqb], nb)
		}
	}
}
