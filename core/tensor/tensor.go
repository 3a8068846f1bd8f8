// Package tensor holds Loom's n-dimensional arrays: a dtype, a shape
// (innermost dimension last, as GGUF's ne reversed), element strides and an
// offset into a shared byte buffer. Views (Reshape, Permute, Transpose,
// Narrow/Slice) share the buffer; Contiguous copies only when it must. The
// compute lives in core/kernels, which works on plain slices; this package
// only describes memory.
package tensor

// Tensor layout. A Tensor is a header over a byte buffer that many views may
// share:
//
//	element (i0, …, in-1) lives at element offset  e = offset + Σ i_d·strides[d]
//	plain dtypes (block size 1): bytes [e·B, e·B+B)
//	blocked dtypes (q8_0, q4_0, K-quants): element e is e%bs of the block
//	    starting at byte (e/bs)·blockBytes
//
// Strides and offset count elements, not bytes, so a view is the same
// arithmetic for every dtype. Blocked dtypes keep the innermost dimension
// contiguous (stride 1) and every row starting on a block boundary (offset
// and the other strides multiples of the block size): views that would split
// a block are errors. Strides are never negative.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/loomhq/loom/core/kernels"
)

// DType is an element storage type: a row of the dtype table in core/kernels
// (dtype.go), where every type's geometry and kernels are defined.
type DType = kernels.DType

// ErrShape is wrapped by every shape, stride and view error.
var ErrShape = errors.New("tensor: bad shape")

// Tensor is a strided view of elements of one dtype in a byte buffer.
type Tensor struct {
	dtype   DType
	shape   []int // innermost dimension last
	strides []int // elements
	offset  int   // elements from the start of data
	data    []byte
}

// shapeErr formats an error wrapping ErrShape.
func shapeErr(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrShape)
}

// numElems multiplies the dims, failing on a negative dim or overflow.
func numElems(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, shapeErr("negative dimension in %v", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, shapeErr("shape %v overflows int", shape)
		}
		n *= d
	}
	return n, nil
}

// rowMajor returns contiguous strides for shape.
func rowMajor(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// storageBytes returns the bytes n contiguous elements of d take, checking
// the innermost dimension is whole blocks.
func storageBytes(d DType, shape []int) (int, error) {
	if !d.Computable() { // a tensor's values must be readable: types with kernels only
		return 0, shapeErr("dtype %v has no kernels", d)
	}
	n, err := numElems(shape)
	if err != nil {
		return 0, err
	}
	if d.Quantized() {
		if len(shape) == 0 || shape[len(shape)-1]%d.BlockSize() != 0 {
			return 0, shapeErr("%s tensor %v: innermost dimension must be a multiple of %d", d, shape, d.BlockSize())
		}
	}
	b, err := d.RowBytes(n)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrShape, err)
	}
	return b, nil
}

// New returns a zeroed contiguous tensor.
func New(d DType, shape ...int) (*Tensor, error) {
	size, err := storageBytes(d, shape)
	if err != nil {
		return nil, err
	}
	return &Tensor{dtype: d, shape: append([]int(nil), shape...), strides: rowMajor(shape), data: make([]byte, size)}, nil
}

// FromBytes wraps data (exactly the contiguous size of shape in d, e.g. a
// tensor's bytes in an mmapped GGUF file) without copying.
func FromBytes(d DType, data []byte, shape ...int) (*Tensor, error) {
	size, err := storageBytes(d, shape)
	if err != nil {
		return nil, err
	}
	if len(data) != size {
		return nil, shapeErr("%s tensor %v needs %d bytes, got %d", d, shape, size, len(data))
	}
	return &Tensor{dtype: d, shape: append([]int(nil), shape...), strides: rowMajor(shape), data: data}, nil
}

// FromF32 wraps data as an f32 tensor without copying.
func FromF32(data []float32, shape ...int) (*Tensor, error) {
	var b []byte
	if len(data) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), 4*len(data))
	}
	return FromBytes(kernels.F32, b, shape...)
}

func (t *Tensor) DType() DType   { return t.dtype }
func (t *Tensor) Rank() int      { return len(t.shape) }
func (t *Tensor) Shape() []int   { return append([]int(nil), t.shape...) }
func (t *Tensor) Strides() []int { return append([]int(nil), t.strides...) }
func (t *Tensor) Offset() int    { return t.offset }

// Dim returns the size of dimension i (negative i counts from the end).
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// NumElems is the product of the shape.
func (t *Tensor) NumElems() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// IsContiguous reports whether the elements are in row-major order with no
// gaps (dimensions of size 1 may have any stride).
func (t *Tensor) IsContiguous() bool {
	s := 1
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.strides[i] != s {
			return false
		}
		s *= t.shape[i]
	}
	return true
}

// byteAt converts an element offset (a block start for blocked dtypes) into
// a byte offset.
func (t *Tensor) byteAt(e int) int {
	bs := t.dtype.BlockSize()
	return e / bs * t.dtype.BlockBytes()
}

// Bytes returns the storage of a contiguous tensor (no copy).
func (t *Tensor) Bytes() ([]byte, error) {
	if !t.IsContiguous() {
		return nil, shapeErr("Bytes of a non-contiguous %v view", t.shape)
	}
	size, err := storageBytes(t.dtype, t.shape)
	if err != nil {
		return nil, err
	}
	start := t.byteAt(t.offset)
	return t.data[start : start+size : start+size], nil
}

// F32 returns the elements of a contiguous f32 tensor as a slice sharing its
// storage.
func (t *Tensor) F32() ([]float32, error) {
	if t.dtype != kernels.F32 {
		return nil, fmt.Errorf("tensor: F32 of a %s tensor", t.dtype)
	}
	b, err := t.Bytes()
	if err != nil || len(b) == 0 {
		return nil, err
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, fmt.Errorf("tensor: f32 storage is not 4-byte aligned")
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), nil
}

// index returns the element offset of idx, checking bounds.
func (t *Tensor) index(idx []int) (int, error) {
	if len(idx) != len(t.shape) {
		return 0, shapeErr("index %v for shape %v", idx, t.shape)
	}
	e := t.offset
	for i, v := range idx {
		if v < 0 || v >= t.shape[i] {
			return 0, shapeErr("index %v out of range for shape %v", idx, t.shape)
		}
		e += v * t.strides[i]
	}
	return e, nil
}

// At returns one element as float32 (a blocked dtype dequantizes its block:
// for tests and debugging, not loops).
func (t *Tensor) At(idx ...int) (float32, error) {
	e, err := t.index(idx)
	if err != nil {
		return 0, err
	}
	bs := t.dtype.BlockSize()
	start := t.byteAt(e - e%bs)
	buf := make([]float32, bs)
	if err := t.dtype.Dequantize(buf, t.data[start:start+t.dtype.BlockBytes()]); err != nil {
		return 0, err
	}
	return buf[e%bs], nil
}

// Set stores v at idx in an f32 tensor.
func (t *Tensor) Set(v float32, idx ...int) error {
	if t.dtype != kernels.F32 {
		return fmt.Errorf("tensor: Set on a %s tensor", t.dtype)
	}
	e, err := t.index(idx)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(t.data[4*e:], math.Float32bits(v))
	return nil
}

// view returns a header sharing t's storage.
func (t *Tensor) view(shape, strides []int, offset int) *Tensor {
	return &Tensor{dtype: t.dtype, shape: shape, strides: strides, offset: offset, data: t.data}
}

// Reshape returns a view with a new shape of the same element count; at most
// one dimension may be -1 (inferred). The tensor must be contiguous (call
// Contiguous first otherwise).
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	shape = append([]int(nil), shape...)
	infer, known := -1, 1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			return nil, shapeErr("reshape %v to %v", t.shape, shape)
		default:
			if d != 0 && known > math.MaxInt/d {
				return nil, shapeErr("reshape to %v overflows", shape)
			}
			known *= d
		}
	}
	n := t.NumElems()
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, shapeErr("reshape %v to %v: cannot infer -1", t.shape, shape)
		}
		shape[infer] = n / known
	} else if known != n {
		return nil, shapeErr("reshape %v (%d elements) to %v", t.shape, n, shape)
	}
	if !t.IsContiguous() {
		return nil, shapeErr("reshape of a non-contiguous %v view", t.shape)
	}
	if t.dtype.Quantized() && (len(shape) == 0 || shape[len(shape)-1]%t.dtype.BlockSize() != 0) {
		return nil, shapeErr("reshape %s %v to %v splits blocks", t.dtype, t.shape, shape)
	}
	return t.view(shape, rowMajor(shape), t.offset), nil
}

// Permute returns a view whose dimension i is t's dimension perm[i]. Blocked
// dtypes must keep their innermost dimension last.
func (t *Tensor) Permute(perm ...int) (*Tensor, error) {
	if len(perm) != len(t.shape) {
		return nil, shapeErr("permute %v of shape %v", perm, t.shape)
	}
	seen := make([]bool, len(perm))
	shape := make([]int, len(perm))
	strides := make([]int, len(perm))
	for i, p := range perm {
		if p < 0 || p >= len(perm) || seen[p] {
			return nil, shapeErr("permute %v is not a permutation of %d dims", perm, len(perm))
		}
		seen[p] = true
		shape[i], strides[i] = t.shape[p], t.strides[p]
	}
	if t.dtype.Quantized() && perm[len(perm)-1] != len(perm)-1 {
		return nil, shapeErr("permute %v moves the innermost dimension of a %s tensor", perm, t.dtype)
	}
	return t.view(shape, strides, t.offset), nil
}

// Transpose swaps dimensions a and b (negative counts from the end).
func (t *Tensor) Transpose(a, b int) (*Tensor, error) {
	r := len(t.shape)
	if a < 0 {
		a += r
	}
	if b < 0 {
		b += r
	}
	if a < 0 || a >= r || b < 0 || b >= r {
		return nil, shapeErr("transpose %d,%d of rank %d", a, b, r)
	}
	perm := make([]int, r)
	for i := range perm {
		perm[i] = i
	}
	perm[a], perm[b] = b, a
	return t.Permute(perm...)
}

// Narrow returns the view of elements start..start+length-1 along dim.
// Blocked dtypes narrow their innermost dimension only at block boundaries.
func (t *Tensor) Narrow(dim, start, length int) (*Tensor, error) {
	if dim < 0 {
		dim += len(t.shape)
	}
	if dim < 0 || dim >= len(t.shape) || start < 0 || length < 0 || start > t.shape[dim]-length {
		return nil, shapeErr("narrow dim %d [%d, +%d) of shape %v", dim, start, length, t.shape)
	}
	if bs := t.dtype.BlockSize(); bs > 1 && dim == len(t.shape)-1 && (start%bs != 0 || length%bs != 0) {
		return nil, shapeErr("narrow of a %s row at [%d, +%d) splits blocks of %d", t.dtype, start, length, bs)
	}
	shape := t.Shape()
	shape[dim] = length
	return t.view(shape, t.Strides(), t.offset+start*t.strides[dim]), nil
}

// Slice is Narrow by [start, end).
func (t *Tensor) Slice(dim, start, end int) (*Tensor, error) { return t.Narrow(dim, start, end-start) }

// Contiguous returns t if it is contiguous, else a row-major copy.
func (t *Tensor) Contiguous() (*Tensor, error) {
	if t.IsContiguous() {
		return t, nil
	}
	out, err := New(t.dtype, t.shape...)
	if err != nil {
		return nil, err
	}
	t.copyInto(out.data)
	return out, nil
}

// copyInto writes t's elements in row-major order into dst. Runs along the
// innermost dimension are copied whole when they are contiguous (always for
// blocked dtypes).
func (t *Tensor) copyInto(dst []byte) {
	r := len(t.shape)
	if r == 0 {
		copy(dst, t.data[t.byteAt(t.offset):][:t.dtype.BlockBytes()])
		return
	}
	inner := t.shape[r-1]
	if t.NumElems() == 0 {
		return
	}
	eb := t.dtype.BlockBytes() // bytes per element for plain dtypes
	runBytes := inner / t.dtype.BlockSize() * eb
	idx := make([]int, r-1)
	o := 0
	for {
		e := t.offset
		for i, v := range idx {
			e += v * t.strides[i]
		}
		if t.strides[r-1] == 1 || inner == 1 {
			b := t.byteAt(e)
			o += copy(dst[o:], t.data[b:b+runBytes])
		} else {
			for j := 0; j < inner; j++ {
				b := (e + j*t.strides[r-1]) * eb
				o += copy(dst[o:], t.data[b:b+eb])
			}
		}
		// Advance the outer index like an odometer.
		i := r - 2
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < t.shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// ToF32 returns a new contiguous f32 tensor holding t's values (dequantized
// row by row through the dtype's kernels).
func (t *Tensor) ToF32() (*Tensor, error) {
	c, err := t.Contiguous()
	if err != nil {
		return nil, err
	}
	src, err := c.Bytes()
	if err != nil {
		return nil, err
	}
	out, err := New(kernels.F32, t.shape...)
	if err != nil {
		return nil, err
	}
	dst, err := out.F32()
	if err != nil {
		return nil, err
	}
	if err := t.dtype.Dequantize(dst, src); err != nil {
		return nil, err
	}
	return out, nil
}
