package kernels

// ggml's K-quants, read only (GGUF files quantized by llama.cpp use them for
// most tensors). A super-block holds 256 elements; only dequantization and a
// dequantize-then-dot kernel exist, both plain Go.
//
//	q4_K (144 bytes): f16 d, f16 dmin, scales[12], qs[128].
//	  Eight sub-blocks of 32; sub-block i has a 6-bit scale sc_i and 6-bit
//	  min m_i packed in scales (see scaleMinK4); x = d·sc_i·q - dmin·m_i.
//	  qs is read 32 bytes at a time: for pair p (sub-blocks 2p, 2p+1) byte l
//	  holds element 64p+l in its low nibble and 64p+32+l in its high nibble.
//	q6_K (210 bytes): ql[128], qh[64], int8 scales[16], f16 d.
//	  Each half h (128 elements) uses ql[64h:], qh[32h:], scales[8h:]; for
//	  l in 0..31 the four elements 128h+l+32i (i = 0..3) take their low four
//	  bits from ql[l] / ql[l+32] (low nibble for i = 0,1, high for i = 2,3)
//	  and their top two bits from qh[l] bits 2i..2i+1; x = d·scale·(q-32)
//	  with scale = scales[8h + l/16 + 2i].

import "encoding/binary"

// scaleMinK4 unpacks the 6-bit scale and min of sub-block j (0..7) of q4_K:
// sub-blocks 0..3 use the low 6 bits of bytes j and j+4; 4..7 combine a
// nibble of byte j+4 with the top two bits of bytes j-4 and j.
func scaleMinK4(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0xf | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

// dequantQ4_KBlock widens one q4_K super-block into dst (256).
func dequantQ4_KBlock(dst []float32, blk []byte) {
	d := F16ToF32(binary.LittleEndian.Uint16(blk))
	dmin := F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
	scales := blk[4:16]
	qs := blk[16:144]
	for p := 0; p < 4; p++ {
		sc0, m0 := scaleMinK4(2*p, scales)
		sc1, m1 := scaleMinK4(2*p+1, scales)
		d0, o0 := d*float32(sc0), dmin*float32(m0)
		d1, o1 := d*float32(sc1), dmin*float32(m1)
		q := qs[32*p : 32*p+32]
		out := dst[64*p : 64*p+64]
		for l, b := range q {
			out[l] = d0*float32(b&0xf) - o0
			out[32+l] = d1*float32(b>>4) - o1
		}
	}
}

// dequantQ6_KBlock widens one q6_K super-block into dst (256).
func dequantQ6_KBlock(dst []float32, blk []byte) {
	d := F16ToF32(binary.LittleEndian.Uint16(blk[208:]))
	for h := 0; h < 2; h++ {
		ql := blk[64*h : 64*h+64]
		qh := blk[128+32*h : 128+32*h+32]
		sc := blk[192+8*h : 192+8*h+8]
		out := dst[128*h : 128*h+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int32(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
			q2 := int32(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
			q3 := int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			out[l] = d * float32(int8(sc[is])) * float32(q1)
			out[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			out[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			out[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
	}
}

func dequantQ4_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QKK; b++ {
		dequantQ4_KBlock(dst[b*QKK:(b+1)*QKK], src[b*Q4_KBytes:])
	}
}

func dequantQ6_K(dst []float32, src []byte) {
	for b := 0; b < len(dst)/QKK; b++ {
		dequantQ6_KBlock(dst[b*QKK:(b+1)*QKK], src[b*Q6_KBytes:])
	}
}

// dotQ4_K dots q4_K weights with x (len(x) a multiple of 256) without
// widening them: per 32-element sub-block it sums q·x and x, then applies
// d·sc and dmin·m once.
func dotQ4_K(w []byte, x []float32) float32 {
	var s float32
	for b := 0; b < len(x)/QKK; b++ {
		blk := w[b*Q4_KBytes : (b+1)*Q4_KBytes]
		xb := x[b*QKK : (b+1)*QKK]
		d := F16ToF32(binary.LittleEndian.Uint16(blk))
		dmin := F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
		for p := 0; p < 4; p++ {
			sc0, m0 := scaleMinK4(2*p, blk[4:16])
			sc1, m1 := scaleMinK4(2*p+1, blk[4:16])
			q := blk[16+32*p : 16+32*p+32]
			x0 := xb[64*p : 64*p+32]
			x1 := xb[64*p+32 : 64*p+64]
			var qx0, qx1, sx0, sx1 float32
			for l, v := range q {
				qx0 += float32(v&0xf) * x0[l]
				qx1 += float32(v>>4) * x1[l]
				sx0 += x0[l]
				sx1 += x1[l]
			}
			s += d*(float32(sc0)*qx0+float32(sc1)*qx1) - dmin*(float32(m0)*sx0+float32(m1)*sx1)
		}
	}
	return s
}

// dotQ6_K dots q6_K weights with x, summing (q-32)·x per 16-element scale
// group and applying d·scale once per group.
func dotQ6_K(w []byte, x []float32) float32 {
	var s float32
	for b := 0; b < len(x)/QKK; b++ {
		blk := w[b*Q6_KBytes : (b+1)*Q6_KBytes]
		xb := x[b*QKK : (b+1)*QKK]
		var acc [16]float32 // by scale index
		for h := 0; h < 2; h++ {
			ql := blk[64*h : 64*h+64]
			qh := blk[128+32*h : 128+32*h+32]
			xh := xb[128*h : 128*h+128]
			a := acc[8*h : 8*h+8]
			for l := 0; l < 32; l++ {
				is := l / 16
				a[is] += float32(int32(ql[l]&0xf|(qh[l]&3)<<4)-32) * xh[l]
				a[is+2] += float32(int32(ql[l+32]&0xf|(qh[l]>>2&3)<<4)-32) * xh[l+32]
				a[is+4] += float32(int32(ql[l]>>4|(qh[l]>>4&3)<<4)-32) * xh[l+64]
				a[is+6] += float32(int32(ql[l+32]>>4|(qh[l]>>6&3)<<4)-32) * xh[l+96]
			}
		}
		var sb float32
		for j, v := range acc {
			sb += float32(int8(blk[192+j])) * v
		}
		s += F16ToF32(binary.LittleEndian.Uint16(blk[208:])) * sb
	}
	return s
}

// dotF32x4 is a plain float32 dot product with four partial sums (lets the
// compiler overlap the adds; the order differs from a single running sum).
func dotF32x4(a, b []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
