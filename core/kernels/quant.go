package kernels

// Row kernels of the block types in the dtype table (dtype.go): how a row of
// k weights is laid out in bytes, how to widen it to float32, how to narrow
// float32 into it, and the dot product MatVecQ uses against an activation
// row. The byte layouts are ggml's, so GGUF tensors are used in place:
//
//	q8_0   (34 bytes): f16 d, 32 int8 q;                          x = d·q
//	q8_1   (36 bytes): f16 d, f16 s = d·Σq, 32 int8 q;            x = d·q
//	q4_0   (18 bytes): f16 d, 16 bytes of nibbles;                x = d·(q-8)
//	q4_1   (20 bytes): f16 d, f16 m, 16 bytes of nibbles;         x = d·q + m
//	q5_0   (22 bytes): f16 d, 4 bytes qh, 16 bytes of nibbles;    x = d·(q-16)
//	q5_1   (24 bytes): f16 d, f16 m, 4 bytes qh, 16 of nibbles;   x = d·q + m
//	iq4_nl (18 bytes): f16 d, 16 bytes of nibbles;                x = d·kvaluesIQ4NL[q]
//
// Every block holds 32 elements. Byte j of the nibbles holds element j in its
// low nibble and element j+16 in its high nibble; for the 5-bit types bit j
// of the little-endian uint32 qh is the fifth bit of element j. The K-quants
// (256-element super-blocks) are in quantk.go.
//
// Quantized dot products take their activations quantized too (ggml's
// vec_dot_type: q8_0, or q8_1 for the types with an offset m, whose s term
// carries Σx), so the inner loop is integer multiply-adds with one float
// scale per block; f32, f16 and bf16 take float32 activations.
//
// Exported entry points (DType methods, MatVecQ, MatMulQ) check lengths and
// return errors; the unexported row kernels they call assume valid input.

import (
	"encoding/binary"
	"errors"
	"math"
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

// ---- 32-element blocks ----

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
		d, id := absMaxScale(x, 127)
		binary.LittleEndian.PutUint16(y, F32ToF16(d))
		for j, v := range x {
			y[2+j] = byte(int8(roundAway(v * id)))
		}
	}
}

// Bytes per block of the 32-element types (QK8_0 = QK4_0 = 32 elements).
const (
	Q8SBytes    = 40
	Q8_1Bytes   = 36
	Q4_1Bytes   = 20
	Q5_0Bytes   = 22
	Q5_1Bytes   = 24
	IQ4NLBytes  = 18
	qk32        = 32
	halfOffsetM = 2 // byte offset of m (q4_1, q5_1) or s (q8_1)
)

// kvaluesIQ4NL are iq4_nl's 16 non-linear levels (ggml's kvalues_iq4nl).
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// levels32 decodes one block of a 32-element type into its integer levels v
// (x_j = d·v_j + m) and returns d and m: the one statement of each layout
// that the references below build on.
type levels32 func(blk []byte, v *[qk32]int32) (d, m float32)

func levelsQ8_0(blk []byte, v *[qk32]int32) (float32, float32) {
	for j, q := range blk[2:Q8_0Bytes] {
		v[j] = int32(int8(q))
	}
	return blockScale(blk), 0
}

func levelsQ8S(blk []byte, v *[qk32]int32) (float32, float32) {
	for j, q := range blk[8:Q8SBytes] {
		v[j] = int32(int8(q))
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(blk)), 0
}

func levelsQ8_1(blk []byte, v *[qk32]int32) (float32, float32) {
	for j, q := range blk[4:Q8_1Bytes] {
		v[j] = int32(int8(q))
	}
	return blockScale(blk), 0
}

// nibbles spreads 16 bytes of nibbles into v: low nibbles to 0..15, high to 16..31.
func nibbles(qs []byte, v *[qk32]int32) {
	for j, q := range qs[:16] {
		v[j] = int32(q & 0xf)
		v[j+16] = int32(q >> 4)
	}
}

// fifthBits adds bit j of the little-endian uint32 qh, as 16, to v[j].
func fifthBits(qh []byte, v *[qk32]int32) {
	h := binary.LittleEndian.Uint32(qh)
	for j := range v {
		v[j] |= int32(h>>j&1) << 4
	}
}

func levelsQ4_0(blk []byte, v *[qk32]int32) (float32, float32) {
	nibbles(blk[2:], v)
	for j := range v {
		v[j] -= 8
	}
	return blockScale(blk), 0
}

func levelsQ4_1(blk []byte, v *[qk32]int32) (float32, float32) {
	nibbles(blk[4:], v)
	return blockScale(blk), blockScale(blk[halfOffsetM:])
}

func levelsQ5_0(blk []byte, v *[qk32]int32) (float32, float32) {
	nibbles(blk[6:], v)
	fifthBits(blk[2:], v)
	for j := range v {
		v[j] -= 16
	}
	return blockScale(blk), 0
}

func levelsQ5_1(blk []byte, v *[qk32]int32) (float32, float32) {
	nibbles(blk[8:], v)
	fifthBits(blk[4:], v)
	return blockScale(blk), blockScale(blk[halfOffsetM:])
}

func levelsIQ4NL(blk []byte, v *[qk32]int32) (float32, float32) {
	nibbles(blk[2:], v)
	for j := range v {
		v[j] = int32(kvaluesIQ4NL[v[j]])
	}
	return blockScale(blk), 0
}

// dequant32 widens blocks of bb bytes with levels.
func dequant32(levels levels32, bb int) func(dst []float32, src []byte) {
	return func(dst []float32, src []byte) {
		var v [qk32]int32
		for b := 0; b < len(dst)/qk32; b++ {
			d, m := levels(src[b*bb:(b+1)*bb], &v)
			out := dst[b*qk32 : (b+1)*qk32]
			for j, q := range v {
				out[j] = float32(q) * d
			}
			if m != 0 { // the offset types; adding 0 would turn ggml's -0 into +0
				for j := range out {
					out[j] += m
				}
			}
		}
	}
}

// dot32 is the reference dot product of nb blocks of weights (bb bytes each,
// decoded by levels) with activations in q8_0 (xb = 34) or q8_1 (xb = 36):
// per block an exact integer Σ v·q, scaled by d_w·d_x, plus m_w·s_x for the
// types with an offset; summed in float32 in block order (ggml's generic
// vec_dot_*_q8_0 / _q8_1).
func dot32(levels levels32, bb int, act levels32, xb int) quantDot {
	return func(wp, xp *byte, nb int) float32 {
		w, x := bytesAt(wp, nb*bb), bytesAt(xp, nb*xb)
		var vw, vx [qk32]int32
		var s float32
		for b := 0; b < nb; b++ {
			dw, mw := levels(w[b*bb:(b+1)*bb], &vw)
			xblk := x[b*xb : (b+1)*xb]
			dx, _ := act(xblk, &vx)
			var sum int32
			for j := range vw {
				sum += vw[j] * vx[j]
			}
			s += float32(sum) * (dw * dx)
			if mw != 0 {
				s += mw * blockScale(xblk[halfOffsetM:])
			}
		}
		return s
	}
}

// The generic column of the table (and the references of the assembly).
var (
	dotQ4_1Q8_1Ref  = dot32(levelsQ4_1, Q4_1Bytes, levelsQ8_1, Q8_1Bytes)
	dotQ5_0Q8_0Ref  = dot32(levelsQ5_0, Q5_0Bytes, levelsQ8_0, Q8_0Bytes)
	dotQ5_1Q8_1Ref  = dot32(levelsQ5_1, Q5_1Bytes, levelsQ8_1, Q8_1Bytes)
	dotIQ4NLQ8_0Ref = dot32(levelsIQ4NL, IQ4NLBytes, levelsQ8_0, Q8_0Bytes)
	dotQ8_0Q8SRef   = dot32(levelsQ8_0, Q8_0Bytes, levelsQ8S, Q8SBytes)
	dotQ4_0Q8SRef   = dot32(levelsQ4_0, Q4_0Bytes, levelsQ8S, Q8SBytes)
)

// quantQ4_1 and quantQ5_1 are ggml's reference quantizers of the offset
// types: m = min x, d = (max - min)/(2^bits - 1), q = round-half-up((x-m)/d).
func quantQ4_1(dst []byte, src []float32) { quantOffset(dst, src, 4, Q4_1Bytes) }
func quantQ5_1(dst []byte, src []float32) { quantOffset(dst, src, 5, Q5_1Bytes) }

func quantOffset(dst []byte, src []float32, bits, bb int) {
	for b := 0; b < len(src)/qk32; b++ {
		x := src[b*qk32 : (b+1)*qk32]
		y := dst[b*bb : (b+1)*bb]
		lo, hi := float32(math.MaxFloat32), float32(-math.MaxFloat32)
		for _, v := range x {
			lo, hi = min(lo, v), max(hi, v)
		}
		d := (hi - lo) / float32(int(1)<<bits-1)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, F32ToF16(d))
		binary.LittleEndian.PutUint16(y[halfOffsetM:], F32ToF16(lo))
		var q [qk32]uint8
		for j, v := range x {
			u := int8((v-lo)*id + 0.5) // C's (int8_t) cast truncates toward zero
			if bits == 4 {
				u = min(15, u)
			}
			q[j] = uint8(u)
		}
		packNibbles(y[bb-16:], y[4:], q, bits)
	}
}

// quantQ4_0 and quantQ5_0 are ggml's reference quantizers of the symmetric
// types: the element of largest magnitude m maps to the lowest level
// (d = m/-8 or m/-16), q = min(top, trunc(x/d + 8.5 or 16.5)).
func quantQ4_0(dst []byte, src []float32) { quantSymmetric(dst, src, 4, Q4_0Bytes) }
func quantQ5_0(dst []byte, src []float32) { quantSymmetric(dst, src, 5, Q5_0Bytes) }

func quantSymmetric(dst []byte, src []float32, bits, bb int) {
	half := float32(int(1) << (bits - 1))
	for b := 0; b < len(src)/qk32; b++ {
		x := src[b*qk32 : (b+1)*qk32]
		y := dst[b*bb : (b+1)*bb]
		var amax, m float32
		for _, v := range x {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, m = a, v
			}
		}
		d := m / -half
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(y, F32ToF16(d))
		var q [qk32]uint8
		for j, v := range x {
			q[j] = uint8(min(int8(2*half-1), int8(v*id+half+0.5)))
		}
		packNibbles(y[bb-16:], y[2:], q, bits)
	}
}

// packNibbles stores 32 levels: low four bits as nibbles in qs (element j and
// j+16 share byte j), and for 5-bit levels the fifth bit into the uint32 qh.
func packNibbles(qs, qh []byte, q [qk32]uint8, bits int) {
	var h uint32
	for j := 0; j < 16; j++ {
		qs[j] = q[j]&0xf | (q[j+16]&0xf)<<4
	}
	for j, u := range q {
		h |= uint32(u>>4&1) << j
	}
	if bits == 5 {
		binary.LittleEndian.PutUint32(qh, h)
	}
}

// quantQ8_1 is ggml's reference q8_1 quantizer: q8_0's levels and scale,
// plus s = d·Σq (d before its rounding to f16), which lets the offset types
// add m·Σx without a pass over x.
func quantQ8_1(dst []byte, src []float32) {
	for b := 0; b < len(src)/qk32; b++ {
		x := src[b*qk32 : (b+1)*qk32]
		y := dst[b*Q8_1Bytes : (b+1)*Q8_1Bytes]
		d, id := absMaxScale(x, 127)
		var sum int32
		for j, v := range x {
			q := int8(roundAway(v * id))
			y[4+j] = byte(q)
			sum += int32(q)
		}
		binary.LittleEndian.PutUint16(y, F32ToF16(d))
		binary.LittleEndian.PutUint16(y[halfOffsetM:], F32ToF16(float32(sum)*d))
	}
}

// quantQ8SGeneric quantizes to Loom's q8s layout as llama.cpp's x86 q8_0
// quantizer does at run time (ggml-cpu's quantize_row_q8_0, not the
// reference): d = max|x|/127 rounded to f16 (stored as the f32 it rounds
// to), q = round-half-even(x·127/max|x|); and Σq as an int32.
func quantQ8SGeneric(dst []byte, src []float32) {
	for b := 0; b < len(src)/qk32; b++ {
		x := src[b*qk32 : (b+1)*qk32]
		y := dst[b*Q8SBytes : (b+1)*Q8SBytes]
		var amax float32
		for _, v := range x {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		var sum int32
		for j, v := range x {
			q := int8(math.RoundToEven(float64(v * id)))
			y[8+j] = byte(q)
			sum += int32(q)
		}
		binary.LittleEndian.PutUint32(y, math.Float32bits(F16ToF32(F32ToF16(amax/127))))
		binary.LittleEndian.PutUint32(y[4:], uint32(sum))
	}
}

// absMaxScale returns d = max|x|/levels and its inverse (0 for an all-zero x).
func absMaxScale(x []float32, levels float32) (d, id float32) {
	var amax float32
	for _, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	d = amax / levels
	if d != 0 {
		id = 1 / d
	}
	return d, id
}

func bytesAt(p *byte, n int) []byte { return unsafe.Slice(p, n) }
