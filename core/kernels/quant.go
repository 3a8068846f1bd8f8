package kernels

// Weight storage formats and their row kernels (ggml's type_traits_cpu): how
// a row of k weights is laid out in bytes, how to widen it to float32, how to
// narrow float32 into it, and the dot product MatVecQ uses against an
// activation row. The byte layouts are ggml's, so GGUF tensors are used in
// place:
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
// Exported entry points (Format methods, MatVecQ, MatMulQ) check lengths and
// return errors; the unexported row kernels they call assume valid input.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// Block geometry of the formats defined here.
const (
	QK8_0      = 32 // elements per q8_0 block
	Q8_0Bytes  = 34 // bytes per q8_0 block: f16 d + 32 int8
	QK4_0      = 32 // elements per q4_0 block
	Q4_0Bytes  = 18 // bytes per q4_0 block: f16 d + 16 bytes of nibbles
	QKK        = 256
	Q4_KBytes  = 144 // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
	Q6_KBytes  = 210 // 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, f16 d
	halfBytes  = 2
	floatBytes = 4
)

// Format describes one weight storage format. The exported fields are its
// geometry; the kernels are reached through the methods and MatVecQ.
type Format struct {
	Name       string
	BlockSize  int  // elements per block (1 for f32/f16/bf16)
	BlockBytes int  // bytes per block
	ActQ8      bool // the dot product wants activations quantized to q8_0

	dequant func(dst []float32, src []byte) // len(dst) is a multiple of BlockSize
	quant   func(dst []byte, src []float32) // nil: cannot be written (K-quants)
	dotF32  func(w []byte, x []float32) float32
	dotQ8   func(w, xq []byte, nb int) float32 // nb blocks of 32; ActQ8 only
}

// The formats. Adding one is a variable here plus its kernels, and a row in
// core/tensor's dtype table.
var (
	FormatF32  = &Format{Name: "f32", BlockSize: 1, BlockBytes: floatBytes, dequant: f32RowFromBytes, quant: f32RowToBytes, dotF32: dotF32Bytes}
	FormatF16  = &Format{Name: "f16", BlockSize: 1, BlockBytes: halfBytes, dequant: f16RowToF32, quant: f32RowToF16, dotF32: dotF16}
	FormatBF16 = &Format{Name: "bf16", BlockSize: 1, BlockBytes: halfBytes, dequant: bf16RowToF32, quant: f32RowToBF16, dotF32: dotBF16}
	FormatQ8_0 = &Format{Name: "q8_0", BlockSize: QK8_0, BlockBytes: Q8_0Bytes, ActQ8: true, dequant: dequantQ8_0, quant: quantQ8_0, dotQ8: dotQ8_0Q8_0}
	FormatQ4_0 = &Format{Name: "q4_0", BlockSize: QK4_0, BlockBytes: Q4_0Bytes, ActQ8: true, dequant: dequantQ4_0, quant: quantQ4_0, dotQ8: dotQ4_0Q8_0}
	FormatQ4_K = &Format{Name: "q4_K", BlockSize: QKK, BlockBytes: Q4_KBytes, dequant: dequantQ4_K, dotF32: dotQ4_K}
	FormatQ6_K = &Format{Name: "q6_K", BlockSize: QKK, BlockBytes: Q6_KBytes, dequant: dequantQ6_K, dotF32: dotQ6_K}
)

// ErrBadLength is wrapped by every length/shape error of this file.
var ErrBadLength = errors.New("bad length")

// RowBytes returns the bytes one row of k elements takes, failing when k is
// negative, not a multiple of the block size, or the size overflows int.
func (f *Format) RowBytes(k int) (int, error) {
	if k < 0 || k%f.BlockSize != 0 {
		return 0, fmt.Errorf("%s: row of %d elements is not a multiple of the block size %d: %w", f.Name, k, f.BlockSize, ErrBadLength)
	}
	nb := k / f.BlockSize
	if nb > math.MaxInt/f.BlockBytes {
		return 0, fmt.Errorf("%s: row of %d elements overflows int: %w", f.Name, k, ErrBadLength)
	}
	return nb * f.BlockBytes, nil
}

// matrixBytes is RowBytes(k)·n with the same checks.
func (f *Format) matrixBytes(n, k int) (int, error) {
	rb, err := f.RowBytes(k)
	if err != nil {
		return 0, err
	}
	if n < 0 || rb != 0 && n > math.MaxInt/rb {
		return 0, fmt.Errorf("%s: %d rows of %d elements overflow int: %w", f.Name, n, k, ErrBadLength)
	}
	return n * rb, nil
}

// Dequantize widens src, holding len(dst) elements in this format (one or
// more whole rows; len(src) must be exactly their size), into dst.
func (f *Format) Dequantize(dst []float32, src []byte) error {
	rb, err := f.RowBytes(len(dst))
	if err != nil {
		return err
	}
	if len(src) != rb {
		return fmt.Errorf("%s: dequantize %d elements from %d bytes, want %d: %w", f.Name, len(dst), len(src), rb, ErrBadLength)
	}
	f.dequant(dst, src)
	return nil
}

// Quantize narrows src into dst in this format (dst must be exactly
// RowBytes(len(src)) long). q8_0 and q4_0 follow ggml's reference quantizers,
// f16/bf16 round to nearest even; the K-quants cannot be written.
func (f *Format) Quantize(dst []byte, src []float32) error {
	if f.quant == nil {
		return fmt.Errorf("%s: quantizing to this format is not supported", f.Name)
	}
	rb, err := f.RowBytes(len(src))
	if err != nil {
		return err
	}
	if len(dst) != rb {
		return fmt.Errorf("%s: quantize %d elements into %d bytes, want %d: %w", f.Name, len(src), len(dst), rb, ErrBadLength)
	}
	f.quant(dst, src)
	return nil
}

// Dot returns the dot product of the weight row w (len(x) elements in this
// format) with x, exactly as MatVecQ computes each output (x quantized to
// q8_0 first for the quantized formats).
func (f *Format) Dot(w []byte, x []float32) (float32, error) {
	var y [1]float32
	err := MatVecQ(y[:], w, f, x, 1, len(x))
	return y[0], err
}

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

// ---- matrix-vector products ----

// MatVecQ computes y = W·x for W (n, k) stored row-major in format f (each
// row RowBytes(k) bytes, rows contiguous in w), x (k) and y (n), over the
// default pool's threads. For the q8_0/q4_0 formats x is first quantized to
// q8_0 into pooled scratch, as ggml does; steady-state calls allocate nothing
// beyond the pool's bookkeeping.
func MatVecQ(y []float32, w []byte, f *Format, x []float32, n, k int) error {
	return MatMulQ(y, w, f, x, 1, n, k)
}

// MatMulQ computes Y = X·Wᵀ for X (m, k), W (n, k) stored row-major in format
// f and Y (m, n), all contiguous: the batched MatVecQ. Activations are
// quantized once per call; each weight row is then used against all m
// activation rows while it is in cache.
func MatMulQ(y []float32, w []byte, f *Format, x []float32, m, n, k int) error {
	if f == nil {
		return errors.New("MatMulQ: nil format")
	}
	wb, err := f.matrixBytes(n, k)
	if err != nil {
		return fmt.Errorf("MatMulQ: %w", err)
	}
	if m < 0 || k != 0 && m > math.MaxInt/k || n != 0 && m > math.MaxInt/n {
		return fmt.Errorf("MatMulQ: %d×%d×%d overflows int: %w", m, n, k, ErrBadLength)
	}
	if len(w) != wb || len(x) != m*k || len(y) != m*n {
		return fmt.Errorf("MatMulQ %s (m=%d n=%d k=%d): len(w)=%d want %d, len(x)=%d want %d, len(y)=%d want %d: %w",
			f.Name, m, n, k, len(w), wb, len(x), m*k, len(y), m*n, ErrBadLength)
	}
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 { // empty rows: every dot is 0
		clear(y)
		return nil
	}
	if f.ActQ8 && k%QK8_0 != 0 {
		return fmt.Errorf("MatMulQ %s: k=%d is not a multiple of %d: %w", f.Name, k, QK8_0, ErrBadLength)
	}
	if f == FormatF32 {
		if wf, ok := asF32(w, n*k); ok { // f32 weights in place: the GEMM kernels
			GemmT(m, n, k, x, k, wf, k, 0, y, n)
			return nil
		}
	}
	job := matJobs.Get().(*matJob)
	job.y, job.w, job.f, job.x, job.m, job.n, job.k = y, w, f, x, m, n, k
	job.rb = wb / n
	if f.ActQ8 {
		qb := m * (k / QK8_0) * Q8_0Bytes
		if cap(job.xq) < qb {
			job.xq = make([]byte, qb)
		}
		job.xq = job.xq[:qb]
		quantQ8_0(job.xq, x)
	}
	// Enough rows per chunk that a chunk is worth a hand-off (~64K MACs).
	grain := max(1, (1<<16)/max(1, k*m))
	ParallelFor(n, grain, job.fn)
	job.y, job.w, job.x, job.f = nil, nil, nil, nil // do not pin caller memory in the pool
	matJobs.Put(job)
	return nil
}

// matJob is the pooled state of one MatMulQ call; fn is bound once so handing
// it to the pool does not allocate.
type matJob struct {
	y, x    []float32
	w, xq   []byte
	f       *Format
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
	nb := j.k / QK8_0
	xqb := nb * Q8_0Bytes
	for r := lo; r < hi; r++ {
		wr := j.w[r*j.rb : (r+1)*j.rb]
		for i := 0; i < j.m; i++ {
			if j.f.ActQ8 {
				j.y[i*j.n+r] = j.f.dotQ8(wr, j.xq[i*xqb:(i+1)*xqb], nb)
			} else {
				j.y[i*j.n+r] = j.f.dotF32(wr, j.x[i*j.k:(i+1)*j.k])
			}
		}
	}
}
