package kernels

// Attention over a q8_0 KV cache (llama.cpp's `-ctk q8_0 -ctv q8_0`): K and
// V held as ggml's q8_0, blocks of 32 consecutive elements of a cache row
// sharing one f16 scale d, each element an int8 level q, the value d·q:
// 34 bytes per 32 elements, 53% of an f16 cache. The levels sit at the
// element's own index (qs, like the f16 cache's halves) and the scales in a
// slice of their own (d, one per 32 elements), so a head's view at any
// offset is a slice of each, as for float32 and halves; the bytes are
// ggml's block_q8_0's, split in two arrays.
//
// The decode path reads the levels straight into its dots and P·V sums
// (AVX-512: VPMOVSXBD and VCVTDQ2PS widen 16 levels, each block's sum
// scaled once); the GEMM path for query tiles widens one K and one V tile
// into the worker's scratch, exactly (d·q has at most 19 significant bits),
// and runs the float32 micro-kernels on it, as for halves.

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// KVQ8Block is the number of consecutive cache elements that share one q8_0
// scale: a cache row's width must be a multiple of it.
const KVQ8Block = QK8_0

// kvQ8 is a view of a q8_0 cache from element off of the whole cache on.
type kvQ8 struct {
	qs  []int8   // the whole cache's levels
	d   []uint16 // the whole cache's f16 scales: element i's is d[i/32]
	off int      // the view's first element in the whole cache
}

// at is the view from element i of c on.
func (c kvQ8) at(i int) kvQ8 { return kvQ8{qs: c.qs, d: c.d, off: c.off + i} }

// value is element i of the view, d·q exactly.
func (c *kvQ8) value(i int) float32 {
	i += c.off
	return F16ToF32(c.d[i/KVQ8Block]) * float32(c.qs[i])
}

// rows checks that m rows of n elements (stride ld) from element off of the
// view lie in the cache, and returns where they start in the whole cache
// and, when the AVX-512 path reads them (whole blocks only), their scales
// from the first row's on.
func (c *kvQ8) rows(off, ld, n, m int) (start int, d []uint16, simd bool) {
	start = c.off + off
	_ = c.qs[start+(m-1)*ld+n-1]
	if !useAVX512 || start%KVQ8Block != 0 || ld%KVQ8Block != 0 || n%KVQ8Block != 0 {
		return start, nil, false
	}
	return start, c.d[start/KVQ8Block : (start+(m-1)*ld+n)/KVQ8Block], true
}

// QuantizeKVQ8 stores src as q8_0 from a block edge: levels in qs[:len(src)],
// one scale per 32 elements in d[:len(src)/32]. It is llama.cpp's run-time
// q8_0 quantizer (ggml-cpu's quantize_row_q8_0, which its cache copy uses
// for -ctk q8_0): d = max|x|/127 stored as f16, q = x·127/max|x| rounded
// half to even; through quantQ8S (assembly under "avx512"), whose blocks
// hold the same levels and scale. len(src) must be a multiple of
// KVQ8Block.
func QuantizeKVQ8(qs []int8, d []uint16, src []float32) {
	if len(src)%KVQ8Block != 0 {
		panic(fmt.Sprintf("kernels: QuantizeKVQ8 of %d elements, not a multiple of %d", len(src), KVQ8Block))
	}
	nb := len(src) / KVQ8Block
	qs, d = qs[:len(src)], d[:nb]
	var buf [kvQ8Chunk * Q8SBytes]byte
	for b0 := 0; b0 < nb; b0 += kvQ8Chunk {
		n := min(kvQ8Chunk, nb-b0)
		quantQ8S(buf[:n*Q8SBytes], src[b0*KVQ8Block:(b0+n)*KVQ8Block])
		for b := range n {
			blk := buf[b*Q8SBytes : (b+1)*Q8SBytes]
			// The q8s scale is the f32 its f16 rounds to: exact as f16.
			d[b0+b] = F32ToF16(math.Float32frombits(binary.LittleEndian.Uint32(blk)))
			copy(i8Bytes(qs[(b0+b)*KVQ8Block:(b0+b+1)*KVQ8Block]), blk[8:])
		}
	}
}

// kvQ8Chunk is how many blocks QuantizeKVQ8 quantizes per quantQ8S call
// (its staging buffer lives on the stack).
const kvQ8Chunk = 16

// i8Bytes views levels as bytes.
func i8Bytes(s []int8) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// DequantizeKVQ8 widens n = len(dst) q8_0 elements from a block edge: the
// values the attention kernels read.
func DequantizeKVQ8(dst []float32, qs []int8, d []uint16) {
	c := &kvQ8{qs: qs, d: d}
	for i := range dst {
		dst[i] = c.value(i)
	}
}

// FlashAttentionQ8 is FlashAttention with K and V as q8_0 (levels kq, vq;
// scales kd, vd, one per 32 elements of the whole cache): the same layout,
// options and checks, and the result of FlashAttention on the widened K and
// V up to float32 rounding order.
func FlashAttentionQ8(out, q []float32, kq []int8, kd []uint16, vq []int8, vd []uint16, p AttnParams) error {
	if len(kd)*KVQ8Block < len(kq) || len(vd)*KVQ8Block < len(vq) {
		return fmt.Errorf("attention: q8_0 cache of %d/%d levels has %d/%d scales", len(kq), len(vq), len(kd), len(vd))
	}
	return flashAttention(out, q, kvRows{q8: kvQ8{qs: kq, d: kd}, isQ8: true}, kvRows{q8: kvQ8{qs: vq, d: vd}, isQ8: true}, p)
}

// vecDotsQ8 is vecDots with q8_0 keys: out[j] = dot(q[:n], row j), row j
// the n elements from off + j·ldk of the view k.
func vecDotsQ8(out, q []float32, k *kvQ8, off, ldk, n, m int) {
	if m <= 0 || n <= 0 {
		return
	}
	_, _ = out[m-1], q[n-1]
	s, d, simd := k.rows(off, ldk, n, m)
	if !simd {
		vecDotsQ8Generic(out, q, k, off, ldk, n, m)
		return
	}
	qs := k.qs[s:]
	// Four keys per call; a last group of fewer than four is the last four
	// keys again (m ≥ 4) or one key four times: each key's sum is the same
	// instructions in any lane, so the grouping never changes a score.
	var o [4]float32
	j := 0
	for ; j+4 <= m; j += 4 {
		dotsQ8x4AVX512(n, &q[0], &qs[j*ldk], &d[j*ldk/KVQ8Block], ldk, &o)
		copy(out[j:j+4], o[:])
	}
	switch {
	case j == m:
	case m >= 4:
		j = m - 4
		dotsQ8x4AVX512(n, &q[0], &qs[j*ldk], &d[j*ldk/KVQ8Block], ldk, &o)
		copy(out[j:m], o[:])
	default:
		for ; j < m; j++ {
			dotsQ8x4AVX512(n, &q[0], &qs[j*ldk], &d[j*ldk/KVQ8Block], 0, &o)
			out[j] = o[0]
		}
	}
}

// vecAccRowsQ8 is vecAccRows with q8_0 rows: y[:n] += Σ_j w[j]·row j, row
// j the n elements from off + j·ldx of the view x.
func vecAccRowsQ8(y, w []float32, x *kvQ8, off, ldx, n, m int) {
	if m <= 0 || n <= 0 {
		return
	}
	_, _ = y[n-1], w[m-1]
	if s, d, simd := x.rows(off, ldx, n, m); simd {
		vecAccRowsQ8AVX512(&y[0], &w[0], &x.qs[s], &d[0], ldx, n, m)
		return
	}
	vecAccRowsQ8Generic(y, w, x, off, ldx, n, m)
}

// q8RowsToF32 widens m rows of n q8_0 elements (stride ld, from element off
// of the view src) into dst (m, n).
func q8RowsToF32(dst []float32, src *kvQ8, off, ld, n, m int) {
	if m <= 0 || n <= 0 {
		return
	}
	_ = dst[m*n-1]
	if s, d, simd := src.rows(off, ld, n, m); simd {
		q8RowsToF32AVX512(&dst[0], &src.qs[s], &d[0], ld, n, m)
		return
	}
	q8RowsToF32Generic(dst, src, off, ld, n, m)
}

// vecDotsQ8Generic is the reference for vecDotsQ8: each element widened
// exactly, products summed in float32 in order.
func vecDotsQ8Generic(out, q []float32, k *kvQ8, off, ldk, n, m int) {
	q = q[:n]
	for j := 0; j < m; j++ {
		var s float32
		for p, qv := range q {
			s += qv * k.value(off+j*ldk+p)
		}
		out[j] = s
	}
}

// vecAccRowsQ8Generic is the reference for vecAccRowsQ8.
func vecAccRowsQ8Generic(y, w []float32, x *kvQ8, off, ldx, n, m int) {
	y = y[:n]
	for j := 0; j < m; j++ {
		wj := w[j]
		for p := range y {
			y[p] += wj * x.value(off+j*ldx+p)
		}
	}
}

// q8RowsToF32Generic is the reference for q8RowsToF32.
func q8RowsToF32Generic(dst []float32, src *kvQ8, off, ld, n, m int) {
	for j := 0; j < m; j++ {
		for p := 0; p < n; p++ {
			dst[j*n+p] = src.value(off + j*ld + p)
		}
	}
}
