package kernels

// ggml's K-quants: super-blocks of 256 elements with a float16 scale d (and
// for the offset types dmin) and small integer scales per sub-block, the
// types llama.cpp's q2_K…q6_K presets (q4_K_M and friends) store most
// tensors in. Layouts (bytes; "pair p" is elements 64p…64p+63):
//
//	q2_K (84):  scales[16], qs[64], f16 d, f16 dmin.
//	  Element 128n+32j+l (n < 2, j < 4, l < 32) is bits 2j..2j+1 of
//	  qs[32n+l]; group g = e/16 has scale scales[g]&15 and min scales[g]>>4;
//	  x = d·sc·q - dmin·m.
//	q3_K (110): hmask[32], qs[64], scales[12], f16 d.
//	  Low bits as q2_K; the third bit of element 128n+32j+l is bit 4n+j of
//	  hmask[l]; level = low + 4·bit - 4 (in -4..3). The sixteen 6-bit group
//	  scales pack as: low four bits from the nibbles of scales[0..7] (group
//	  g < 8: low nibble of byte g; g ≥ 8: high nibble of byte g-8), top two
//	  bits from bits 2(g/4)… of byte 8+g%4; x = d·(sc-32)·level.
//	q4_K (144): f16 d, f16 dmin, scales[12], qs[128].
//	  Eight sub-blocks of 32 with 6-bit scale sc_i and min m_i (scaleMinK4);
//	  byte l of qs[32p:] holds element 64p+l (low nibble) and 64p+32+l
//	  (high nibble); x = d·sc·q - dmin·m.
//	q5_K (176): f16 d, f16 dmin, scales[12], qh[32], qs[128].
//	  q4_K plus a fifth bit: bit 2p of qh[l] for element 64p+l, bit 2p+1 for
//	  element 64p+32+l.
//	q6_K (210): ql[128], qh[64], int8 scales[16], f16 d.
//	  Element 128h+32i+l (h < 2, i < 4) takes its low four bits from
//	  ql[64h+l+32(i&1)] (low nibble for i < 2, high for i ≥ 2) and its top two
//	  from bits 2i..2i+1 of qh[32h+l]; x = d·scales[e/16]·(q-32).
//	q8_K (292): float32 d, int8 qs[256], int16 bsums[16] (Σq per group of 16):
//	  the activation type the K-quant dot products take; x = d·q.
//
// Every dot product here is exact integer arithmetic per super-block (levels
// times q8_K values, times the integer group scales; the min term through
// bsums) with two float multiplies per super-block.

import (
	"encoding/binary"
	"math"
)

// Bytes per super-block of the K types (QKK = 256 elements).
const (
	Q2_KBytes = 84
	Q3_KBytes = 110
	Q5_KBytes = 176
	Q8_KBytes = 292
	groupsK   = QKK / 16 // 16-element groups per super-block
)

// q8KBlock is one q8_K block of an activation row, as the Go references
// read it: the float32 scale d at byte 0, the 256 int8 values at 4, and at
// 260 sixteen int16 sums, one per 16-value group (the mins' partners).
type q8KBlock []byte

func (b q8KBlock) d() float32       { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
func (b q8KBlock) qs() []byte       { return b[4:260] }
func (b q8KBlock) bsum(g int) int32 { return int32(int16(binary.LittleEndian.Uint16(b[260+2*g:]))) }

// superLevels is one decoded super-block: x_e = d·scale[e/16]·v_e - dmin·mins[e/16].
type superLevels struct {
	v       [QKK]int32
	scale   [groupsK]int32
	mins    [groupsK]int32
	d, dmin float32
}

// levels256 decodes one super-block of a K type: the one statement of each
// layout that dequantization and the reference dots build on.
type levels256 func(blk []byte, s *superLevels)

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) of q4_K
// and q5_K: sub-blocks 0..3 use the low 6 bits of bytes j and j+4; 4..7
// combine a nibble of byte j+4 with the top two bits of bytes j-4 and j.
func scaleMinK4(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0xf | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

func half(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

func levelsQ2_K(blk []byte, s *superLevels) {
	sc, qs := blk[:16], blk[16:80]
	s.d, s.dmin = half(blk[80:]), half(blk[82:])
	for g := range groupsK {
		s.scale[g], s.mins[g] = int32(sc[g]&0xf), int32(sc[g]>>4)
	}
	for n := 0; n < 2; n++ {
		for j := 0; j < 4; j++ {
			for l := 0; l < 32; l++ {
				s.v[128*n+32*j+l] = int32(qs[32*n+l] >> (2 * j) & 3)
			}
		}
	}
}

func levelsQ3_K(blk []byte, s *superLevels) {
	hm, qs, sc := blk[:32], blk[32:96], blk[96:108]
	s.d, s.dmin = half(blk[108:]), 0
	for g := range groupsK {
		lo := sc[g%8] >> (4 * (g / 8)) & 0xf
		hi := sc[8+g%4] >> (2 * (g / 4)) & 3
		s.scale[g], s.mins[g] = int32(lo|hi<<4)-32, 0
	}
	for n := 0; n < 2; n++ {
		for j := 0; j < 4; j++ {
			for l := 0; l < 32; l++ {
				low := int32(qs[32*n+l] >> (2 * j) & 3)
				bit := int32(hm[l] >> (4*n + j) & 1)
				s.v[128*n+32*j+l] = low + 4*bit - 4
			}
		}
	}
}

func levelsQ4_K(blk []byte, s *superLevels) {
	s.d, s.dmin = half(blk), half(blk[2:])
	scaleMinsK(blk[4:16], s)
	qs := blk[16:144]
	for p := 0; p < 4; p++ {
		for l, b := range qs[32*p : 32*p+32] {
			s.v[64*p+l] = int32(b & 0xf)
			s.v[64*p+32+l] = int32(b >> 4)
		}
	}
}

func levelsQ5_K(blk []byte, s *superLevels) {
	s.d, s.dmin = half(blk), half(blk[2:])
	scaleMinsK(blk[4:16], s)
	qh, qs := blk[16:48], blk[48:176]
	for p := 0; p < 4; p++ {
		for l, b := range qs[32*p : 32*p+32] {
			s.v[64*p+l] = int32(b&0xf) | int32(qh[l]>>(2*p)&1)<<4
			s.v[64*p+32+l] = int32(b>>4) | int32(qh[l]>>(2*p+1)&1)<<4
		}
	}
}

// scaleMinsK spreads q4_K/q5_K's eight sub-block scales and mins over the
// sixteen groups.
func scaleMinsK(packed []byte, s *superLevels) {
	for j := 0; j < 8; j++ {
		sc, m := scaleMinK4(j, packed)
		s.scale[2*j], s.scale[2*j+1] = int32(sc), int32(sc)
		s.mins[2*j], s.mins[2*j+1] = int32(m), int32(m)
	}
}

func levelsQ6_K(blk []byte, s *superLevels) {
	ql, qh, sc := blk[:128], blk[128:192], blk[192:208]
	s.d, s.dmin = half(blk[208:]), 0
	for g := range groupsK {
		s.scale[g], s.mins[g] = int32(int8(sc[g])), 0
	}
	for h := 0; h < 2; h++ {
		for i := 0; i < 4; i++ {
			for l := 0; l < 32; l++ {
				low := ql[64*h+l+32*(i&1)] >> (4 * (i >> 1)) & 0xf
				top := qh[32*h+l] >> (2 * i) & 3
				s.v[128*h+32*i+l] = int32(low|top<<4) - 32
			}
		}
	}
}

// dequantK widens super-blocks of bb bytes with levels.
func dequantK(levels levels256, bb int) func(dst []float32, src []byte) {
	return func(dst []float32, src []byte) {
		var s superLevels
		for b := 0; b < len(dst)/QKK; b++ {
			levels(src[b*bb:(b+1)*bb], &s)
			out := dst[b*QKK : (b+1)*QKK]
			for e, v := range s.v {
				g := e / 16
				out[e] = s.d*float32(s.scale[g])*float32(v) - s.dmin*float32(s.mins[g])
			}
		}
	}
}

// dotK is the reference dot product of nb super-blocks of weights (bb bytes
// each, decoded by levels) with q8_K activations: per super-block the exact
// integers isum = Σ_g scale_g·Σ_{e∈g} v_e·q_e and msum = Σ_g mins_g·bsums_g,
// then s += d_x·(d·isum - dmin·msum), in super-block order (ggml's generic
// vec_dot_*_q8_K up to float rounding).
func dotK(levels levels256, bb int) quantDot {
	return func(wp, xp *byte, nb int) float32 {
		w, x := bytesAt(wp, nb*bb), bytesAt(xp, nb*Q8_KBytes)
		var sl superLevels
		var s float32
		for b := 0; b < nb; b++ {
			levels(w[b*bb:(b+1)*bb], &sl)
			xb := q8KBlock(x[b*Q8_KBytes : (b+1)*Q8_KBytes])
			q := xb.qs()
			var isum, msum int32
			for g := range groupsK {
				var gs int32
				for e := 16 * g; e < 16*g+16; e++ {
					gs += sl.v[e] * int32(int8(q[e]))
				}
				isum += sl.scale[g] * gs
				msum += sl.mins[g] * xb.bsum(g)
			}
			s += xb.d() * (sl.d*float32(isum) - sl.dmin*float32(msum))
		}
		return s
	}
}

// The generic column of the table (and the references of the assembly).
var (
	dotQ2_KQ8_KRef = dotK(levelsQ2_K, Q2_KBytes)
	dotQ3_KQ8_KRef = dotK(levelsQ3_K, Q3_KBytes)
	dotQ4_KQ8_KRef = dotK(levelsQ4_K, Q4_KBytes)
	dotQ5_KQ8_KRef = dotK(levelsQ5_K, Q5_KBytes)
	dotQ6_KQ8_KRef = dotK(levelsQ6_K, Q6_KBytes)
)

// quantQ8_K is ggml's reference q8_K quantizer: the element of largest
// magnitude m maps to -127 (d = m/-127), q = min(127, round-half-even(x/d)),
// and bsums holds Σq per group of 16; an all-zero block is all zeros.
func quantQ8_KGeneric(dst []byte, src []float32) {
	for b := 0; b < len(src)/QKK; b++ {
		x := src[b*QKK : (b+1)*QKK]
		y := dst[b*Q8_KBytes : (b+1)*Q8_KBytes]
		var amax, m float32
		for _, v := range x {
			if a := float32(math.Abs(float64(v))); a > amax {
				amax, m = a, v
			}
		}
		if amax == 0 {
			clear(y)
			continue
		}
		iscale := -127 / m
		for g := range groupsK {
			var sum int32
			for e := 16 * g; e < 16*g+16; e++ {
				q := min(127, int32(math.RoundToEven(float64(iscale*x[e]))))
				y[4+e] = byte(int8(q))
				sum += q
			}
			binary.LittleEndian.PutUint16(y[260+2*g:], uint16(int16(sum)))
		}
		binary.LittleEndian.PutUint32(y, math.Float32bits(1/iscale))
	}
}

// dequantQ8_K widens q8_K blocks (tests and debugging: activations only).
func dequantQ8_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QKK; b++ {
		xb := q8KBlock(src[b*Q8_KBytes : (b+1)*Q8_KBytes])
		d := xb.d()
		for e, q := range xb.qs() {
			dst[b*QKK+e] = d * float32(int8(q))
		}
	}
}
