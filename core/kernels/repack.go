package kernels

// Load-time repacking of quantized weights (llama.cpp's CPU "repack" buffer
// type, its block_q4_0x8): a decode step multiplies every weight row by one
// activation row, and the one-row and four-row q4_0 dots spend about ten
// vector instructions per row and 32-element block (scale, unpack, integer
// dot, offset, multiply-add), which bounds them below the memory's speed
// (docs/BENCHMARKS.md). Stored eight rows together, one 512-bit VPDPBUSD
// multiplies four elements of each of the eight rows (two dword lanes a row)
// by the same eight activation bytes, and a block's eight scales widen and
// meet d_x in one instruction each: about eighteen instructions per eight
// rows and block.
//
// A repacked matrix is its own type in the dtype table (q4_0r8), Loom's
// internal layout, never in a file: the loader rewrites a matrix's bytes in
// place (same size), so a model's memory does not grow. Its n rows are
// n/8 groups of eight rows followed by the n mod 8 rows left over in q4_0:
//
//	group (8 rows × nb blocks): nb blocks of 144 bytes, block b:
//	  [ 0,  16) the eight rows' f16 scales d, row 0 first
//	  [16,  80) row r's nibble bytes 0…7  at 16 + 8r
//	  [80, 144) row r's nibble bytes 8…15 at 80 + 8r
//
// Loaded as a 512-bit vector, each 64-byte half gives dword lanes 2r and
// 2r+1 row r's bytes 0…3 and 4…7 (or 8…11, 12…15); their low nibbles are
// elements 0…7 (8…15) and the high ones 16…23 (24…31), so one broadcast
// quadword of the activation block meets both lanes. Lane 2r (elements 0–3,
// 8–11, 16–19, 24–27) also carries the block's offset −8·Σq_x; each lane
// keeps its own float sum, and row r's value is lane 2r's plus lane 2r+1's.
//
// Batches (prefill) unpack a panel of rows back to q4_0 and run the q4_0
// kernels on it (matMulRepacked), so only the decode dot is new arithmetic.

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// RepackRows is the number of rows a repacked group interleaves.
const RepackRows = 8

// quantRows8 is the dot product of the 8·groups rows of consecutive repacked
// groups at w (each nb blocks) with one activation row x, into
// y[0 : 8·groups].
type quantRows8 func(w, x *byte, nb int, y *float32, groups int)

// Q4_0R8, Q4_KR8 and Q6_KR8 are q4_0, q4_K and q6_K repacked eight rows at a time
// (repack.go): Loom's own layouts of a matrix's bytes, made at load, never
// read from or written to a file. Same size as the matrix they come from.
const (
	Q4_0R8 DType = 254
	Q4_KR8 DType = 253
	Q6_KR8 DType = 252
)

// Repacked returns the layout d's matrices are fastest in for one activation
// row under the current implementation (q4_0 → q4_0r8 where the CPU has
// AVX-512 VNNI), or d itself.
func (d DType) Repacked() DType {
	if !d.Known() {
		return d
	}
	r := traits[d].repacked
	if r == 0 || traits[r].rows8[curImpl] == nil {
		return d
	}
	return r
}

// RepackOf returns the file type a repacked layout was made from (q4_0r8 →
// q4_0), or d itself.
func (d DType) RepackOf() DType {
	if d.Known() && traits[d].repackOf != 0 {
		return traits[d].repackOf
	}
	return d
}

// Repack rewrites w, a matrix of n rows of k elements of type d, in place
// into d.Repacked()'s layout and returns that type (d, with w untouched,
// when d has none here). scratch is grown as needed and returned for reuse
// (8 rows' bytes).
func Repack(w []byte, d DType, n, k int, scratch []byte) (DType, []byte, error) {
	r := d.Repacked()
	if r == d {
		return d, scratch, nil
	}
	wb, err := d.matrixBytes(n, k)
	if err != nil {
		return d, scratch, fmt.Errorf("repack: %w", err)
	}
	if len(w) != wb {
		return d, scratch, fmt.Errorf("repack %v %d×%d: %d bytes, want %d: %w", d, n, k, len(w), wb, ErrBadLength)
	}
	rb, nb := wb/max(n, 1), k/d.BlockSize()
	gb := RepackRows * rb
	if cap(scratch) < gb {
		scratch = make([]byte, gb)
	}
	scratch = scratch[:gb]
	for g := 0; g < n/RepackRows; g++ {
		grp := w[g*gb : (g+1)*gb]
		copy(scratch, grp)
		traits[r].pack(grp, scratch, nb)
	}
	return r, scratch, nil
}

// unrepackRows writes rows [r0, r0+rows) of the repacked matrix w (n rows
// of rb bytes, type t) into dst in the source type's row layout; r0 is a
// multiple of 8.
func unrepackRows(dst, w []byte, t *Traits, n, rb, nb, r0, rows int) {
	full := n / RepackRows * RepackRows
	r := r0
	for ; r+RepackRows <= min(r0+rows, full); r += RepackRows {
		t.unpack(dst[(r-r0)*rb:(r-r0+RepackRows)*rb], w[r*rb:(r+RepackRows)*rb], nb)
	}
	copy(dst[(r-r0)*rb:rows*rb], w[r*rb:(r0+rows)*rb])
}

// ---- q4_0r8 ----

const q4r8Block = RepackRows * Q4_0Bytes // 144 bytes: a group's block

// packQ4_0R8 interleaves the eight q4_0 rows of src (nb blocks each, rows
// contiguous) into one group at dst.
func packQ4_0R8(dst, src []byte, nb int) {
	rb := nb * Q4_0Bytes
	for b := 0; b < nb; b++ {
		o := dst[b*q4r8Block : (b+1)*q4r8Block]
		for r := 0; r < RepackRows; r++ {
			blk := src[r*rb+b*Q4_0Bytes : r*rb+(b+1)*Q4_0Bytes]
			copy(o[2*r:2*r+2], blk[:2])
			copy(o[16+8*r:24+8*r], blk[2:10])
			copy(o[80+8*r:88+8*r], blk[10:18])
		}
	}
}

// unpackQ4_0R8 is packQ4_0R8's inverse: one group at src back to eight
// q4_0 rows at dst.
func unpackQ4_0R8(dst, src []byte, nb int) {
	rb := nb * Q4_0Bytes
	for b := 0; b < nb; b++ {
		o := src[b*q4r8Block : (b+1)*q4r8Block]
		for r := 0; r < RepackRows; r++ {
			blk := dst[r*rb+b*Q4_0Bytes : r*rb+(b+1)*Q4_0Bytes]
			copy(blk[:2], o[2*r:2*r+2])
			binary.LittleEndian.PutUint64(blk[2:], binary.LittleEndian.Uint64(o[16+8*r:]))
			binary.LittleEndian.PutUint64(blk[10:], binary.LittleEndian.Uint64(o[80+8*r:]))
		}
	}
}

// rows8Q4_0R8Ref is the q4_0r8 dot of groups groups against the q8s row x:
// per row and block, the two lanes' exact integer sums (lane 0 with the
// offset −8·Σq_x), each times d_w·d_x (one f32 product) added to the lane's
// float sum in block order; the row's value is lane 0's sum plus lane 1's.
// dotQ4_0R8VNNI does the same with fused multiply-adds.
func rows8Q4_0R8Ref(wp, xp *byte, nb int, y *float32, groups int) {
	x := bytesAt(xp, nb*Q8SBytes)
	out := unsafe.Slice(y, RepackRows*groups)
	gb := nb * q4r8Block
	w := bytesAt(wp, groups*gb)
	for g := 0; g < groups; g++ {
		var acc [2 * RepackRows]float32
		for b := 0; b < nb; b++ {
			blk := w[g*gb+b*q4r8Block : g*gb+(b+1)*q4r8Block]
			xb := x[b*Q8SBytes : (b+1)*Q8SBytes]
			dx := math.Float32frombits(binary.LittleEndian.Uint32(xb))
			sumx := int32(binary.LittleEndian.Uint32(xb[4:]))
			xq := xb[8:]
			for r := 0; r < RepackRows; r++ {
				lane := [2]int32{-8 * sumx, 0}
				for c := 0; c < 2; c++ { // bytes 8c…8c+7 of the row's nibbles
					q := blk[16+64*c+8*r : 24+64*c+8*r]
					for j, v := range q {
						p := j / 4 // lane: bytes 0–3 or 4–7
						lane[p] += int32(v&15)*int32(int8(xq[8*c+j])) + int32(v>>4)*int32(int8(xq[16+8*c+j]))
					}
				}
				s := F16ToF32(binary.LittleEndian.Uint16(blk[2*r:])) * dx
				acc[2*r] += float32(lane[0]) * s
				acc[2*r+1] += float32(lane[1]) * s
			}
		}
		for r := 0; r < RepackRows; r++ {
			out[g*RepackRows+r] = acc[2*r] + acc[2*r+1]
		}
	}
}

// ---- batches ----

// repackPanel is the number of rows matMulRepacked unpacks at a time: a
// multiple of 8 and of qgemm's 16, large enough that quantizing the
// activations again for each panel is a few per cent of the panel's
// arithmetic.
const repackPanel = 128

// matMulRepacked is MatMulQ for m > 1 rows of a repacked matrix (type t):
// panel by panel, split over the pool, the rows are unpacked to the source
// type and multiplied by MatMulQ of that type, whose values they are.
func matMulRepacked(y []float32, w []byte, t *Traits, x []float32, m, n, k, rb int) {
	nb := k / t.BlockSize
	ParallelFor((n+repackPanel-1)/repackPanel, 1, func(lo, hi int) {
		buf := qgemmBuf(qgemmBufs, repackPanel*rb)
		yb := panels.get()
		if cap(*yb) < m*repackPanel {
			*yb = make([]float32, m*repackPanel)
		}
		for p := lo; p < hi; p++ {
			r0 := p * repackPanel
			rows := min(repackPanel, n-r0)
			unrepackRows(*buf, w, t, n, rb, nb, r0, rows)
			yp := (*yb)[:m*rows]
			// Cannot fail: MatMulQ checked the shapes for the repacked type.
			_ = MatMulQ(yp, (*buf)[:rows*rb], t.repackOf, x, m, rows, k)
			for i := 0; i < m; i++ {
				copy(y[i*n+r0:i*n+r0+rows], yp[i*rows:(i+1)*rows])
			}
		}
		panels.put(yb)
		qgemmBufs.put(buf)
	})
}

// packQ4_0R8x16Ref is the packed GEMM's panel (packPanelRef) of the sixteen
// rows of the two q4_0r8 groups at w: unpacked to q4_0 rows, then packed.
func packQ4_0R8x16Ref(dst, w *byte, nb int) {
	gb := nb * q4r8Block
	rows := make([]byte, 2*gb)
	src := bytesAt(w, 2*gb)
	unpackQ4_0R8(rows[:gb], src[:gb], nb)
	unpackQ4_0R8(rows[gb:], src[gb:], nb)
	packPanelRef(bytesAt(dst, nb*qgBlockBytes), Q4_0, rows, nb*Q4_0Bytes, nb, qgRows)
}

// ---- q4_Kr8 ----
//
// A group's super-block (1152 bytes, eight rows' 144):
//
//	[  0,   16) the eight rows' f16 d
//	[ 16,   32) the eight rows' f16 dmin
//	[ 32,  128) the packed 6-bit scales and mins as twelve planes: byte i of
//	            row r's twelve at 32 + 8i + r
//	[128, 1152) the nibbles: bytes 32j+8c … 32j+8c+7 of row r's 128 (j, c < 4)
//	            at 128 + 64·(4j+c) + 8r
//
// A 64-byte piece (j, c) gives lanes 2r and 2r+1 row r's bytes 32j+8c+0…3
// and +4…7: low nibbles elements 64j+8c+0…7 of sub-block 2j, high ones
// 64j+32+8c+0…7 of sub-block 2j+1, each met by one broadcast quadword of
// the q8_K row. A lane's sum over a sub-block (16 elements, |Σ| ≤ 16·15·127)
// fits an int16, so one VPDPWSSD multiplies it by the row's scale into the
// super-block's integer sum; the planes decode to all 64 scales and 64 mins
// in a dozen byte operations, and the mins meet q8_K's bsums (pairs of
// groups of 16) by VPDPWSSD too: lane 2r takes sub-blocks 0, 2, 4, 6, lane
// 2r+1 sub-blocks 1, 3, 5, 7.

const q4kr8Block = RepackRows * Q4_KBytes // 1152 bytes

// packQ4_KR8 interleaves the eight q4_K rows of src into one group at dst.
func packQ4_KR8(dst, src []byte, nb int) {
	rb := nb * Q4_KBytes
	for b := 0; b < nb; b++ {
		o := dst[b*q4kr8Block : (b+1)*q4kr8Block]
		for r := 0; r < RepackRows; r++ {
			blk := src[r*rb+b*Q4_KBytes : r*rb+(b+1)*Q4_KBytes]
			copy(o[2*r:2*r+2], blk[0:2])
			copy(o[16+2*r:18+2*r], blk[2:4])
			for i := 0; i < 12; i++ {
				o[32+8*i+r] = blk[4+i]
			}
			for p := 0; p < 16; p++ { // p = 4j + c
				copy(o[128+64*p+8*r:136+64*p+8*r], blk[16+8*p:24+8*p])
			}
		}
	}
}

// unpackQ4_KR8 is packQ4_KR8's inverse (batches unpack panels with it:
// words, not bytes, and no calls).
func unpackQ4_KR8(dst, src []byte, nb int) {
	rb := nb * Q4_KBytes
	le := binary.LittleEndian
	for b := 0; b < nb; b++ {
		o := (*[q4kr8Block]byte)(src[b*q4kr8Block:])
		for r := 0; r < RepackRows; r++ {
			blk := (*[Q4_KBytes]byte)(dst[r*rb+b*Q4_KBytes:])
			le.PutUint32(blk[0:], uint32(le.Uint16(o[2*r:]))|uint32(le.Uint16(o[16+2*r:]))<<16)
			var lo uint64
			var hi uint32
			for i := 0; i < 8; i++ {
				lo |= uint64(o[32+8*i+r]) << (8 * i)
			}
			for i := 0; i < 4; i++ {
				hi |= uint32(o[96+8*i+r]) << (8 * i)
			}
			le.PutUint64(blk[4:], lo)
			le.PutUint32(blk[12:], hi)
			for p := 0; p < 16; p++ {
				le.PutUint64(blk[16+8*p:], le.Uint64(o[128+64*p+8*r:]))
			}
		}
	}
}

// rows8Q4_KR8Ref is the q4_Kr8 dot of groups groups against the q8_K row
// x: per row and super-block, two lanes' exact integer sums (lane p: the
// scaled sums of its bytes over the eight sub-blocks, Σ sc·Σ q·q_x) and
// min sums (lane p: sub-blocks p, p+2, p+4, p+6, Σ m·(bsum_2s + bsum_2s+1)),
// then lane += isum·(d·d_x) and lane −= msum·(dmin·d_x) in float32, in
// super-block order; a row's value is lane 0's sum plus lane 1's.
// dotQ4_KR8VNNI does the same with fused multiply-adds.
func rows8Q4_KR8Ref(wp, xp *byte, nb int, y *float32, groups int) {
	x := bytesAt(xp, nb*Q8_KBytes)
	out := unsafe.Slice(y, RepackRows*groups)
	gb := nb * q4kr8Block
	w := bytesAt(wp, groups*gb)
	for g := 0; g < groups; g++ {
		var acc [2 * RepackRows]float32
		for b := 0; b < nb; b++ {
			blk := w[g*gb+b*q4kr8Block : g*gb+(b+1)*q4kr8Block]
			xb := q8KBlock(x[b*Q8_KBytes : (b+1)*Q8_KBytes])
			dx, q, bsum := xb.d(), xb.qs(), xb.bsum
			for r := 0; r < RepackRows; r++ {
				var sc [12]byte
				for i := range sc {
					sc[i] = blk[32+8*i+r]
				}
				var isum, msum [2]int32
				for j := 0; j < 4; j++ {
					for h := 0; h < 2; h++ { // sub-block 2j+h: low (h = 0) or high nibbles
						s := 2*j + h
						scale, m := scaleMinK4(s, sc[:])
						var lane [2]int32
						for c := 0; c < 4; c++ {
							piece := blk[128+64*(4*j+c)+8*r : 136+64*(4*j+c)+8*r]
							for t, v := range piece {
								lv := int32(v & 15)
								if h == 1 {
									lv = int32(v >> 4)
								}
								lane[t/4] += lv * int32(int8(q[64*j+32*h+8*c+t]))
							}
						}
						isum[0] += int32(scale) * lane[0]
						isum[1] += int32(scale) * lane[1]
						msum[s%2] += int32(m) * (bsum(2*s) + bsum(2*s+1))
					}
				}
				ds := F16ToF32(binary.LittleEndian.Uint16(blk[2*r:])) * dx
				dm := F16ToF32(binary.LittleEndian.Uint16(blk[16+2*r:])) * dx
				for p := 0; p < 2; p++ {
					acc[2*r+p] += float32(isum[p]) * ds
					acc[2*r+p] -= float32(msum[p]) * dm
				}
			}
		}
		for r := 0; r < RepackRows; r++ {
			out[g*RepackRows+r] = acc[2*r] + acc[2*r+1]
		}
	}
}

// ---- q6_Kr8 ----
//
// A group's super-block (1680 bytes, eight rows' 210):
//
//	[   0,   16) the eight rows' f16 d
//	[  16,  144) the int8 scales: group g (of 16 elements) of row r at 16 + 8g + r
//	[ 144, 1168) ql: bytes 8p … 8p+7 of row r's 128 (p < 16) at 144 + 64p + 8r
//	[1168, 1680) qh: bytes 8p … 8p+7 of row r's 64 (p < 8) at 1168 + 64p + 8r
//
// For half h and eight-element chunk c of l (element 128h+32i+l), ql pieces
// 8h+c and 8h+4+c and qh piece 4h+c give the four level vectors i = 0…3
// (low nibbles of the first, of the second, high of the first, of the
// second, each with qh's bits 2i…2i+1 on top): lanes 2r and 2r+1 row r's
// elements l = 8c+0…3 and 8c+4…7. A 16-element group's lane sums (eight
// levels of 0…63) are multiplied by the rows' int8 scales as int32
// (VPMULLD); the levels' offset 32 comes off once per super-block through
// q8_K's bsums, Σ_g scale·bsum by VPDPWSSD (lane 2r groups 4q, 4q+1, lane
// 2r+1 groups 4q+2, 4q+3).

const q6kr8Block = RepackRows * Q6_KBytes // 1680 bytes

// packQ6_KR8 interleaves the eight q6_K rows of src into one group at dst.
func packQ6_KR8(dst, src []byte, nb int) {
	rb := nb * Q6_KBytes
	for b := 0; b < nb; b++ {
		o := dst[b*q6kr8Block : (b+1)*q6kr8Block]
		for r := 0; r < RepackRows; r++ {
			blk := src[r*rb+b*Q6_KBytes : r*rb+(b+1)*Q6_KBytes]
			copy(o[2*r:2*r+2], blk[208:210])
			for g := 0; g < groupsK; g++ {
				o[16+8*g+r] = blk[192+g]
			}
			for p := 0; p < 16; p++ {
				copy(o[144+64*p+8*r:152+64*p+8*r], blk[8*p:8*p+8])
			}
			for p := 0; p < 8; p++ {
				copy(o[1168+64*p+8*r:1176+64*p+8*r], blk[128+8*p:136+8*p])
			}
		}
	}
}

// unpackQ6_KR8 is packQ6_KR8's inverse (words, not bytes, and no calls).
func unpackQ6_KR8(dst, src []byte, nb int) {
	rb := nb * Q6_KBytes
	le := binary.LittleEndian
	for b := 0; b < nb; b++ {
		o := (*[q6kr8Block]byte)(src[b*q6kr8Block:])
		for r := 0; r < RepackRows; r++ {
			blk := (*[Q6_KBytes]byte)(dst[r*rb+b*Q6_KBytes:])
			le.PutUint16(blk[208:], le.Uint16(o[2*r:]))
			var lo, hi uint64
			for g := 0; g < 8; g++ {
				lo |= uint64(o[16+8*g+r]) << (8 * g)
				hi |= uint64(o[80+8*g+r]) << (8 * g)
			}
			le.PutUint64(blk[192:], lo)
			le.PutUint64(blk[200:], hi)
			for p := 0; p < 16; p++ {
				le.PutUint64(blk[8*p:], le.Uint64(o[144+64*p+8*r:]))
			}
			for p := 0; p < 8; p++ {
				le.PutUint64(blk[128+8*p:], le.Uint64(o[1168+64*p+8*r:]))
			}
		}
	}
}

// rows8Q6_KR8Ref is the q6_Kr8 dot of groups groups against the q8_K row
// x: per row and super-block, two lanes' exact integer sums (lane p: Σ_g
// scale_g · its bytes' Σ q·q_x over group g, less 32·Σ scale·bsum over its
// groups 4q+2p, 4q+2p+1), then lane += isum·(d·d_x) in float32, in
// super-block order; a row's value is lane 0's sum plus lane 1's.
// dotQ6_KR8VNNI does the same with fused multiply-adds.
func rows8Q6_KR8Ref(wp, xp *byte, nb int, y *float32, groups int) {
	x := bytesAt(xp, nb*Q8_KBytes)
	out := unsafe.Slice(y, RepackRows*groups)
	gb := nb * q6kr8Block
	w := bytesAt(wp, groups*gb)
	for g := 0; g < groups; g++ {
		var acc [2 * RepackRows]float32
		for b := 0; b < nb; b++ {
			blk := w[g*gb+b*q6kr8Block : g*gb+(b+1)*q6kr8Block]
			xb := q8KBlock(x[b*Q8_KBytes : (b+1)*Q8_KBytes])
			dx, q := xb.d(), xb.qs()
			for r := 0; r < RepackRows; r++ {
				var isum [2]int32
				for h := 0; h < 2; h++ {
					for c := 0; c < 4; c++ {
						a := blk[144+64*(8*h+c)+8*r : 152+64*(8*h+c)+8*r]
						bb := blk[144+64*(8*h+4+c)+8*r : 152+64*(8*h+4+c)+8*r]
						qh := blk[1168+64*(4*h+c)+8*r : 1176+64*(4*h+c)+8*r]
						for i := 0; i < 4; i++ {
							grp := 8*h + 2*i + c/2
							sc := int32(int8(blk[16+8*grp+r]))
							for t := 0; t < 8; t++ {
								src := a
								if i&1 == 1 {
									src = bb
								}
								low := src[t] >> (4 * (i >> 1)) & 0xf
								top := qh[t] >> (2 * i) & 3
								lv := int32(low | top<<4)
								isum[t/4] += sc * lv * int32(int8(q[128*h+32*i+8*c+t]))
							}
						}
					}
				}
				for grp := 0; grp < groupsK; grp++ {
					p := grp / 2 % 2
					sc := int32(int8(blk[16+8*grp+r]))
					isum[p] -= 32 * sc * xb.bsum(grp)
				}
				ds := F16ToF32(binary.LittleEndian.Uint16(blk[2*r:])) * dx
				for p := 0; p < 2; p++ {
					acc[2*r+p] += float32(isum[p]) * ds
				}
			}
		}
		for r := 0; r < RepackRows; r++ {
			out[g*RepackRows+r] = acc[2*r] + acc[2*r+1]
		}
	}
}
