package kernels

// The dtype traits table (ggml's type_traits and type_traits_cpu in one): for
// every storage type a GGUF or safetensors file may hold, its name, block
// geometry, how to widen a row to float32, how to narrow float32 into it, the
// activation type its dot product takes and that dot product per
// implementation. It is the one place a storage type is defined: core/formats
// sizes tensors from it, core/nn binds weights through it, and MatMulQ
// dispatches through it. Adding a type is one row here plus its kernels.
//
// Types are numbered by ggml's enum ggml_type, the id GGUF files store, so a
// file's type field is a DType as read. Rows without a toFloat (the integer
// and f64 types) can be sized and stored but not computed on.

import (
	"fmt"
	"math"
)

// DType is a tensor storage type by its ggml_type id.
type DType uint32

// The storage types. The values are ggml's and must not change.
const (
	F32  DType = 0
	F16  DType = 1
	Q4_0 DType = 2
	Q4_1 DType = 3
	Q5_0 DType = 6
	Q5_1 DType = 7
	Q8_0 DType = 8
	Q8_1 DType = 9
	Q2_K DType = 10
	Q3_K DType = 11
	Q4_K DType = 12
	Q5_K DType = 13
	Q6_K DType = 14
	Q8_K DType = 15
	// IQ4_NL is iq4_nl: q4_0's layout with 16 non-linear levels.
	IQ4_NL DType = 20
	I8     DType = 24
	I16    DType = 25
	I32    DType = 26
	F64    DType = 28
	BF16   DType = 30

	// Q8S is Loom's own activation layout for the dot products of q4_0 and
	// q8_0 weights, never stored in a file (the id is outside ggml's): q8_0's
	// levels and scale (d rounded to f16, as ggml's q8_0, but kept as an f32)
	// plus Σq, so the kernels multiply unsigned weight levels straight into
	// VPDPBUSD and take the offset off once per block (40 bytes a block).
	Q8S DType = 255

	numDTypes = 256
)

// Block geometry (the other types' bytes per block are in quant.go and quantk.go).
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

// Implementations a row of the table has a dot product for, indexed as
// curImpl (impl.go) says which one runs.
const (
	implGeneric = iota
	implAVX2
	implAVX512
	numImpls
)

// quantDot is a dot product of nb blocks of a weight row with an activation
// row already quantized to the weight type's VecDot type (both as bytes).
type quantDot func(w, x *byte, nb int) float32

// quantDot4 is quantDot of one weight row against four activation rows
// x, x+xs, x+2·xs, x+3·xs at once (the batched MatMulQ: the weights are
// unpacked once for all four).
type quantDot4 func(w, x *byte, xs, nb int, out *[4]float32)

// quantRows4 is quantDot of the 4·groups weight rows w, w+rb, w+2·rb, …
// against one activation row x, into y[0 : 4·groups] (decode: four rows at a
// time, each activation block read once for the four), each value bit for
// bit the same implementation's quantDot.
type quantRows4 func(w *byte, rb int, x *byte, nb int, y *float32, groups int)

// Traits is one row of the table.
type Traits struct {
	Name       string
	BlockSize  int   // elements per block (1 for f32/f16/bf16 and the integer types)
	BlockBytes int   // bytes per block
	VecDot     DType // the activation type the dot product takes: F32 or a q8 type
	Internal   bool  // Loom's own layout (activations only): never read from or written to a file

	toFloat   func(dst []float32, src []byte) // len(dst) a multiple of BlockSize; nil: no kernels
	fromFloat func(dst []byte, src []float32) // nil: this type cannot be written
	dotF32    func(w []byte, x []float32) float32
	dotQ      [numImpls]quantDot   // when VecDot is not F32: generic, avx2, avx512 (VNNI where present)
	dotQx4    [numImpls]quantDot4  // optional four-row dotQ (nil: MatMulQ loops dotQ)
	rowsQx4   [numImpls]quantRows4 // optional four-weight-row dotQ (nil: loop dotQ)

	// Load-time repacking (repack.go). A file type names its repacked layout;
	// the layout names the type it is made from, its eight-row dot per
	// implementation (nil: none worth repacking for; rows8Ref runs where a
	// repacked matrix meets it anyway) and how a group of eight rows is
	// packed and unpacked. Its dotQ is the source type's, for the rows past
	// the last whole group, which stay in the source layout.
	repacked DType
	repackOf DType
	rows8    [numImpls]quantRows8
	rows8Ref quantRows8
	pack     func(dst, src []byte, nb int)
	unpack   func(dst, src []byte, nb int)
}

// vnniRows4 is r where the CPU has VNNI, else nil (the avx512 slot then
// loops the AVX2 dot).
func vnniRows4(r quantRows4) quantRows4 {
	if hasVNNI {
		return r
	}
	return nil
}

// vnniRows8 is r where the CPU has VNNI, else nil.
func vnniRows8(r quantRows8) quantRows8 {
	if hasVNNI {
		return r
	}
	return nil
}

// vbmiRows8 is r where the CPU has VNNI and VBMI (VPERMB), else nil.
func vbmiRows8(r quantRows8) quantRows8 {
	if hasVNNI && hasVBMI {
		return r
	}
	return nil
}

// vnniOr picks the VNNI routine where the CPU has it (used in the avx512
// slot: AVX-512 without VNNI runs the AVX2 routine).
func vnniOr(vnni, avx2 quantDot) quantDot {
	if hasVNNI {
		return vnni
	}
	return avx2
}

// vnniOr4 is a four-row routine where the CPU has VNNI, else none.
func vnniOr4(vnni quantDot4) quantDot4 {
	if hasVNNI {
		return vnni
	}
	return nil
}

// traits is the table, indexed by DType; a zero row is an unknown type.
var traits = [numDTypes]Traits{
	F32:  {Name: "f32", BlockSize: 1, BlockBytes: floatBytes, VecDot: F32, toFloat: f32RowFromBytes, fromFloat: f32RowToBytes, dotF32: dotF32Bytes},
	F16:  {Name: "f16", BlockSize: 1, BlockBytes: halfBytes, VecDot: F32, toFloat: f16RowToF32, fromFloat: f32RowToF16, dotF32: dotF16},
	BF16: {Name: "bf16", BlockSize: 1, BlockBytes: halfBytes, VecDot: F32, toFloat: bf16RowToF32, fromFloat: f32RowToBF16, dotF32: dotBF16},

	Q8_0: {Name: "q8_0", BlockSize: qk32, BlockBytes: Q8_0Bytes, VecDot: Q8S,
		toFloat: dequantQ8_0, fromFloat: quantQ8_0,
		dotQ:    [numImpls]quantDot{dotQ8_0Q8SRef, dotQ8_0Q8SAVX2, vnniOr(dotQ8_0Q8SVNNI, dotQ8_0Q8SAVX2)},
		rowsQx4: [numImpls]quantRows4{implAVX512: vnniRows4(dotQ8_0Q8SR4VNNI)}},
	Q4_0: {Name: "q4_0", BlockSize: qk32, BlockBytes: Q4_0Bytes, VecDot: Q8S,
		toFloat: dequantQ4_0, fromFloat: quantQ4_0,
		dotQ:     [numImpls]quantDot{dotQ4_0Q8SRef, dotQ4_0Q8SAVX2, vnniOr(dotQ4_0Q8SVNNI, dotQ4_0Q8SAVX2)},
		rowsQx4:  [numImpls]quantRows4{implAVX512: vnniRows4(dotQ4_0Q8SR4VNNI)},
		repacked: Q4_0R8},
	Q4_0R8: {Name: "q4_0r8", BlockSize: qk32, BlockBytes: Q4_0Bytes, VecDot: Q8S, Internal: true,
		dotQ:     [numImpls]quantDot{dotQ4_0Q8SRef, dotQ4_0Q8SAVX2, vnniOr(dotQ4_0Q8SVNNI, dotQ4_0Q8SAVX2)},
		repackOf: Q4_0, rows8: [numImpls]quantRows8{implAVX512: vnniRows8(dotQ4_0R8VNNI)}, rows8Ref: rows8Q4_0R8Ref,
		pack: packQ4_0R8, unpack: unpackQ4_0R8},
	Q4_1: {Name: "q4_1", BlockSize: qk32, BlockBytes: Q4_1Bytes, VecDot: Q8_1,
		toFloat: dequant32(levelsQ4_1, Q4_1Bytes), fromFloat: quantQ4_1,
		dotQ: [numImpls]quantDot{dotQ4_1Q8_1Ref, dotQ4_1Q8_1AVX2, vnniOr(dotQ4_1Q8_1VNNI, dotQ4_1Q8_1AVX2)}},
	Q5_0: {Name: "q5_0", BlockSize: qk32, BlockBytes: Q5_0Bytes, VecDot: Q8_0,
		toFloat: dequant32(levelsQ5_0, Q5_0Bytes), fromFloat: quantQ5_0,
		dotQ: [numImpls]quantDot{dotQ5_0Q8_0Ref, dotQ5_0Q8_0AVX2, vnniOr(dotQ5_0Q8_0VNNI, dotQ5_0Q8_0AVX2)}},
	Q5_1: {Name: "q5_1", BlockSize: qk32, BlockBytes: Q5_1Bytes, VecDot: Q8_1,
		toFloat: dequant32(levelsQ5_1, Q5_1Bytes), fromFloat: quantQ5_1,
		dotQ: [numImpls]quantDot{dotQ5_1Q8_1Ref, dotQ5_1Q8_1AVX2, vnniOr(dotQ5_1Q8_1VNNI, dotQ5_1Q8_1AVX2)}},
	IQ4_NL: {Name: "iq4_nl", BlockSize: qk32, BlockBytes: IQ4NLBytes, VecDot: Q8_0,
		toFloat: dequant32(levelsIQ4NL, IQ4NLBytes),
		dotQ:    [numImpls]quantDot{dotIQ4NLQ8_0Ref, dotIQ4NLQ8_0AVX2, vnniOr(dotIQ4NLQ8_0VNNI, dotIQ4NLQ8_0AVX2)}},
	Q8_1: {Name: "q8_1", BlockSize: qk32, BlockBytes: Q8_1Bytes, VecDot: Q8_1, // activations only
		toFloat: dequant32(levelsQ8_1, Q8_1Bytes), fromFloat: quantQ8_1},
	Q8S: {Name: "q8s", BlockSize: qk32, BlockBytes: Q8SBytes, VecDot: Q8S, Internal: true,
		toFloat: dequant32(levelsQ8S, Q8SBytes), fromFloat: quantQ8S},

	Q2_K: {Name: "q2_K", BlockSize: QKK, BlockBytes: Q2_KBytes, VecDot: Q8_K, toFloat: dequantK(levelsQ2_K, Q2_KBytes),
		dotQ: [numImpls]quantDot{dotQ2_KQ8_KRef, dotQ2_KQ8_KAVX2, vnniOr(dotQ2_KQ8_KVNNI, dotQ2_KQ8_KAVX2)}},
	Q3_K: {Name: "q3_K", BlockSize: QKK, BlockBytes: Q3_KBytes, VecDot: Q8_K, toFloat: dequantK(levelsQ3_K, Q3_KBytes),
		dotQ: [numImpls]quantDot{dotQ3_KQ8_KRef, dotQ3_KQ8_KAVX2, vnniOr(dotQ3_KQ8_KVNNI, dotQ3_KQ8_KAVX2)}},
	Q4_K: {Name: "q4_K", BlockSize: QKK, BlockBytes: Q4_KBytes, VecDot: Q8_K, toFloat: dequantK(levelsQ4_K, Q4_KBytes),
		dotQ:     [numImpls]quantDot{dotQ4_KQ8_KRef, dotQ4_KQ8_KAVX2, vnniOr(dotQ4_KQ8_KVNNI, dotQ4_KQ8_KAVX2)},
		dotQx4:   [numImpls]quantDot4{implAVX512: vnniOr4(dotQ4_KQ8_Kx4VNNI)},
		repacked: Q4_KR8},
	Q4_KR8: {Name: "q4_Kr8", BlockSize: QKK, BlockBytes: Q4_KBytes, VecDot: Q8_K, Internal: true,
		dotQ:     [numImpls]quantDot{dotQ4_KQ8_KRef, dotQ4_KQ8_KAVX2, vnniOr(dotQ4_KQ8_KVNNI, dotQ4_KQ8_KAVX2)},
		repackOf: Q4_K, rows8: [numImpls]quantRows8{implAVX512: vbmiRows8(dotQ4_KR8VNNI)}, rows8Ref: rows8Q4_KR8Ref,
		pack: packQ4_KR8, unpack: unpackQ4_KR8},
	Q5_K: {Name: "q5_K", BlockSize: QKK, BlockBytes: Q5_KBytes, VecDot: Q8_K, toFloat: dequantK(levelsQ5_K, Q5_KBytes),
		dotQ:   [numImpls]quantDot{dotQ5_KQ8_KRef, dotQ5_KQ8_KAVX2, vnniOr(dotQ5_KQ8_KVNNI, dotQ5_KQ8_KAVX2)},
		dotQx4: [numImpls]quantDot4{implAVX512: vnniOr4(dotQ5_KQ8_Kx4VNNI)}},
	Q6_K: {Name: "q6_K", BlockSize: QKK, BlockBytes: Q6_KBytes, VecDot: Q8_K, toFloat: dequantK(levelsQ6_K, Q6_KBytes),
		dotQ:     [numImpls]quantDot{dotQ6_KQ8_KRef, dotQ6_KQ8_KAVX2, vnniOr(dotQ6_KQ8_KVNNI, dotQ6_KQ8_KAVX2)},
		dotQx4:   [numImpls]quantDot4{implAVX512: vnniOr4(dotQ6_KQ8_Kx4VNNI)},
		repacked: Q6_KR8},
	Q6_KR8: {Name: "q6_Kr8", BlockSize: QKK, BlockBytes: Q6_KBytes, VecDot: Q8_K, Internal: true,
		dotQ:     [numImpls]quantDot{dotQ6_KQ8_KRef, dotQ6_KQ8_KAVX2, vnniOr(dotQ6_KQ8_KVNNI, dotQ6_KQ8_KAVX2)},
		repackOf: Q6_K, rows8: [numImpls]quantRows8{implAVX512: vbmiRows8(dotQ6_KR8VNNI)}, rows8Ref: rows8Q6_KR8Ref,
		pack: packQ6_KR8, unpack: unpackQ6_KR8},
	Q8_K: {Name: "q8_K", BlockSize: QKK, BlockBytes: Q8_KBytes, VecDot: Q8_K, // activations only
		toFloat: dequantQ8_K, fromFloat: quantQ8_K},

	// Stored and sized only: no kernels.
	I8:  {Name: "i8", BlockSize: 1, BlockBytes: 1},
	I16: {Name: "i16", BlockSize: 1, BlockBytes: 2},
	I32: {Name: "i32", BlockSize: 1, BlockBytes: 4},
	F64: {Name: "f64", BlockSize: 1, BlockBytes: 8},
}

// Known reports whether d is a row of the table (its geometry is known).
func (d DType) Known() bool { return d < numDTypes && traits[d].BlockSize > 0 }

// Traits returns d's row (the zero Traits for an unknown type).
func (d DType) Traits() Traits {
	if !d.Known() {
		return Traits{}
	}
	return traits[d]
}

func (d DType) String() string {
	if !d.Known() {
		return fmt.Sprintf("ggml_type(%d)", uint32(d))
	}
	return traits[d].Name
}

// BlockSize is the number of elements per block (0 for an unknown type).
func (d DType) BlockSize() int { return d.Traits().BlockSize }

// BlockBytes is the number of bytes per block (0 for an unknown type).
func (d DType) BlockBytes() int { return d.Traits().BlockBytes }

// Quantized reports whether elements are stored in blocks of more than one.
func (d DType) Quantized() bool { return d.BlockSize() > 1 }

// Computable reports whether d has kernels: rows of it can be widened and
// multiplied (MatMulQ), not only stored. The activation-only types (q8_1,
// q8_K) widen but have no dot product of their own.
func (d DType) Computable() bool {
	return d.Known() && (traits[d].repackOf != 0 ||
		traits[d].toFloat != nil && (traits[d].dotF32 != nil || traits[d].dotQ[implGeneric] != nil))
}

// Widenable reports whether rows of d can be widened to float32.
func (d DType) Widenable() bool { return d.Known() && traits[d].toFloat != nil }

// Stored reports whether d may appear in a model file: a known type that is
// not one of Loom's own activation layouts.
func (d DType) Stored() bool { return d.Known() && !traits[d].Internal }

// Writable reports whether float32 data can be quantized into d.
func (d DType) Writable() bool { return d.Known() && traits[d].fromFloat != nil }

// DTypes lists every known type in id order.
func DTypes() []DType {
	var out []DType
	for d := DType(0); d < numDTypes; d++ {
		if d.Known() {
			out = append(out, d)
		}
	}
	return out
}

// ParseDType maps a name ("q4_0", "bf16", …) to its type.
func ParseDType(name string) (DType, error) {
	for _, d := range DTypes() {
		if traits[d].Name == name {
			return d, nil
		}
	}
	return 0, fmt.Errorf("kernels: unknown dtype %q", name)
}

// RowBytes returns the bytes one row of k elements takes, failing when d is
// unknown, k is negative or not a multiple of the block size, or the size
// overflows int.
func (d DType) RowBytes(k int) (int, error) {
	if !d.Known() {
		return 0, fmt.Errorf("%v: unknown storage type: %w", d, ErrBadLength)
	}
	t := &traits[d]
	if k < 0 || k%t.BlockSize != 0 {
		return 0, fmt.Errorf("%s: row of %d elements is not a multiple of the block size %d: %w", t.Name, k, t.BlockSize, ErrBadLength)
	}
	nb := k / t.BlockSize
	if nb > math.MaxInt/t.BlockBytes {
		return 0, fmt.Errorf("%s: row of %d elements overflows int: %w", t.Name, k, ErrBadLength)
	}
	return nb * t.BlockBytes, nil
}

// matrixBytes is RowBytes(k)·n with the same checks.
func (d DType) matrixBytes(n, k int) (int, error) {
	rb, err := d.RowBytes(k)
	if err != nil {
		return 0, err
	}
	if n < 0 || rb != 0 && n > math.MaxInt/rb {
		return 0, fmt.Errorf("%v: %d rows of %d elements overflow int: %w", d, n, k, ErrBadLength)
	}
	return n * rb, nil
}

// Dequantize widens src, holding len(dst) elements of type d (one or more
// whole rows; len(src) must be exactly their size), into dst.
func (d DType) Dequantize(dst []float32, src []byte) error {
	if !d.Widenable() {
		return fmt.Errorf("%v: widening this storage type is not supported", d)
	}
	rb, err := d.RowBytes(len(dst))
	if err != nil {
		return err
	}
	if len(src) != rb {
		return fmt.Errorf("%v: dequantize %d elements from %d bytes, want %d: %w", d, len(dst), len(src), rb, ErrBadLength)
	}
	traits[d].toFloat(dst, src)
	return nil
}

// Quantize narrows src into dst in type d (dst must be exactly
// RowBytes(len(src)) long). q8_0 and q4_0 follow ggml's reference quantizers,
// f16/bf16 round to nearest even; types without a quantizer are errors.
func (d DType) Quantize(dst []byte, src []float32) error {
	if !d.Writable() {
		return fmt.Errorf("%v: quantizing to this format is not supported", d)
	}
	rb, err := d.RowBytes(len(src))
	if err != nil {
		return err
	}
	if len(dst) != rb {
		return fmt.Errorf("%v: quantize %d elements into %d bytes, want %d: %w", d, len(src), len(dst), rb, ErrBadLength)
	}
	traits[d].fromFloat(dst, src)
	return nil
}

// Dot returns the dot product of the weight row w (len(x) elements of type d)
// with x, exactly as MatVecQ computes each output (x quantized to d's VecDot
// type first).
func (d DType) Dot(w []byte, x []float32) (float32, error) {
	var y [1]float32
	err := MatVecQ(y[:], w, d, x, 1, len(x))
	return y[0], err
}
