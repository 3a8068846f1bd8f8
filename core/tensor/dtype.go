// Package tensor holds Loom's n-dimensional arrays: a dtype, a shape
// (innermost dimension last, as GGUF's ne reversed), element strides and an
// offset into a shared byte buffer. Views (Reshape, Permute, Transpose,
// Narrow/Slice) share the buffer; Contiguous copies only when it must. The
// compute lives in core/kernels, which works on plain slices; this package
// only describes memory.
package tensor

import (
	"fmt"

	"github.com/loomhq/loom/core/kernels"
)

// DType is an element storage type.
type DType uint8

// The dtypes. Their order is Loom's own; GGUF ids are in the traits table.
const (
	F32 DType = iota
	F16
	BF16
	Q8_0
	Q4_0
	Q4_K
	Q6_K
	numDTypes
)

// Traits describes a dtype (ggml's type_traits). The compute side — block
// geometry, dequantize/quantize row, vec-dot and the activation format it
// wants — is the kernels.Format, so each fact is stated once.
type Traits struct {
	Name     string
	GGUFType uint32          // ggml_type id in GGUF files
	Format   *kernels.Format // block size/bytes, row kernels
	VecDot   DType           // activation dtype of the vec-dot: F32 or Q8_0
}

// traits is the dtype table: adding a dtype is its kernels.Format and one row.
var traits = [numDTypes]Traits{
	F32:  {Name: "f32", GGUFType: 0, Format: kernels.FormatF32, VecDot: F32},
	F16:  {Name: "f16", GGUFType: 1, Format: kernels.FormatF16, VecDot: F32},
	BF16: {Name: "bf16", GGUFType: 30, Format: kernels.FormatBF16, VecDot: F32},
	Q8_0: {Name: "q8_0", GGUFType: 8, Format: kernels.FormatQ8_0, VecDot: Q8_0},
	Q4_0: {Name: "q4_0", GGUFType: 2, Format: kernels.FormatQ4_0, VecDot: Q8_0},
	Q4_K: {Name: "q4_K", GGUFType: 12, Format: kernels.FormatQ4_K, VecDot: F32},
	Q6_K: {Name: "q6_K", GGUFType: 14, Format: kernels.FormatQ6_K, VecDot: F32},
}

// Valid reports whether d is a known dtype.
func (d DType) Valid() bool { return d < numDTypes }

// Traits returns d's row of the table (the zero Traits for an invalid d).
func (d DType) Traits() Traits {
	if !d.Valid() {
		return Traits{}
	}
	return traits[d]
}

func (d DType) String() string {
	if !d.Valid() {
		return fmt.Sprintf("dtype(%d)", uint8(d))
	}
	return traits[d].Name
}

// BlockSize is the number of elements per block (1 for f32/f16/bf16).
func (d DType) BlockSize() int { return traits[d].Format.BlockSize }

// BlockBytes is the number of bytes per block.
func (d DType) BlockBytes() int { return traits[d].Format.BlockBytes }

// Quantized reports whether elements are stored in blocks of more than one.
func (d DType) Quantized() bool { return d.BlockSize() > 1 }

// DTypes lists every dtype in table order.
func DTypes() []DType {
	out := make([]DType, numDTypes)
	for i := range out {
		out[i] = DType(i)
	}
	return out
}

// FromGGUF maps a GGUF ggml_type id to its dtype.
func FromGGUF(id uint32) (DType, error) {
	for d := range numDTypes {
		if traits[d].GGUFType == id {
			return d, nil
		}
	}
	return 0, fmt.Errorf("tensor: GGUF type %d is not supported", id)
}

// ParseDType maps a name ("q4_0", "bf16", …) to its dtype.
func ParseDType(name string) (DType, error) {
	for d := range numDTypes {
		if traits[d].Name == name {
			return d, nil
		}
	}
	return 0, fmt.Errorf("tensor: unknown dtype %q", name)
}

// RowBytes returns the bytes a row of k elements of d takes; it fails for an
// invalid dtype, k not a multiple of the block size, or overflow.
func RowBytes(d DType, k int) (int, error) {
	if !d.Valid() {
		return 0, fmt.Errorf("tensor: invalid dtype %d", uint8(d))
	}
	return traits[d].Format.RowBytes(k)
}
