package kernels

// IEEE 754 binary16 ("f16", GGUF type 1) and bfloat16 ("bf16", GGUF type 30)
// conversions and the row kernels behind the F16 and BF16 rows of the dtype
// table. Half values travel as uint16 bit patterns (Go has no half type);
// rows are little-endian byte slices as stored in weight files, checked by
// the DType methods (dtype.go) before they reach the unchecked kernels here.
//
// Narrowing (f32 → f16/bf16) rounds to nearest, ties to even, as the hardware
// VCVTPS2PH/VCVTNEPS2BF16 instructions do; overflow gives ±Inf, NaN stays NaN
// (quieted, sign and top payload bits kept), and f16 subnormals are produced
// and read exactly.

import (
	"encoding/binary"
	"math"
)

// F16ToF32 widens an IEEE half to float32 (exact).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: mant × 2^-24, exact in float32.
		f := float32(mant) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(f))
	case 0x1f:
		// Inf or NaN: keep the payload in the top mantissa bits.
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// F32ToF16 narrows float32 to an IEEE half, rounding to nearest even.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 { // NaN: quiet it, keep the top payload bits
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 112 // half exponent field if normal
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Half subnormal (or zero): count units of 2^-24. The float32 value is
		// m·2^(exp-150) with the implicit bit, i.e. m >> (126-exp) units.
		shift := uint(126 - exp)
		if exp == 0 || shift > 24 {
			return sign // below half the smallest subnormal (float32 subnormals included)
		}
		m := mant | 0x800000
		h := m >> shift
		rem := m & (1<<shift - 1)
		halfway := uint32(1) << (shift - 1)
		if rem > halfway || rem == halfway && h&1 == 1 {
			h++ // may carry into the smallest normal: still the right bits
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // a carry out of the mantissa bumps the exponent, up to Inf
	}
	return sign | uint16(h)
}

// BF16ToF32 widens a bfloat16 to float32 (exact: bf16 is the top half).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 narrows float32 to bfloat16, rounding to nearest even.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN: quiet it, keep sign and top payload
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// f16RowToF32Generic is the reference loop for f16RowToF32.
func f16RowToF32Generic(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// f32RowToF16Generic is the reference loop for f32RowToF16.
func f32RowToF16Generic(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
	}
}

// dotF16Generic is the reference loop for dotF16: products summed in
// float32, in order.
func dotF16Generic(w []byte, x []float32) float32 {
	var s float32
	for i, v := range x {
		s += F16ToF32(binary.LittleEndian.Uint16(w[2*i:])) * v
	}
	return s
}

// dotBF16Generic is the reference loop for dotBF16.
func dotBF16Generic(w []byte, x []float32) float32 {
	var s float32
	for i, v := range x {
		s += BF16ToF32(binary.LittleEndian.Uint16(w[2*i:])) * v
	}
	return s
}

// bf16RowToF32 widens the bfloat16s in src into dst (a shift; no SIMD twin).
func bf16RowToF32(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// f32RowToBF16 narrows src into bfloat16s in dst.
func f32RowToBF16(dst []byte, src []float32) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
	}
}
