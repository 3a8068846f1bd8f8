package kernels

// Attention over an f16 KV cache (llama.cpp's default cache type): K and V
// held as IEEE halves, uint16 bit patterns, half the bytes of float32. The
// decode path reads them straight into its dots and P·V sums (VCVTPH2PS
// widens 16 halves per instruction under "avx512", 8 under "avx2" with F16C);
// the GEMM path for query tiles widens one K and one V tile of ≤ attnKTile
// rows into the worker's scratch and runs the float32 micro-kernels on it.

import "unsafe"

// kvRows is K or V as the attention kernels read them: float32 or, when
// half is set, IEEE halves. A view at an offset is the same kind.
type kvRows struct {
	f32  []float32
	f16  []uint16
	half bool
	q8   kvQ8 // with isQ8: q8_0 levels and scales (attention_q8.go)
	isQ8 bool
}

func (r kvRows) len() int {
	switch {
	case r.half:
		return len(r.f16)
	case r.isQ8:
		return len(r.q8.qs) - r.q8.off
	}
	return len(r.f32)
}

// widened reports whether the kernels read r through a conversion (halves
// or q8_0) rather than as float32.
func (r kvRows) widened() bool { return r.half || r.isQ8 }

// at is the view from element off on.
func (r kvRows) at(off int) kvRows {
	switch {
	case r.half:
		return kvRows{f16: r.f16[off:], half: true}
	case r.isQ8:
		return kvRows{q8: r.q8.at(off), isQ8: true}
	}
	return kvRows{f32: r.f32[off:]}
}

// dots sets out[j] = dot(q[:n], row j) for m rows of stride ld from
// element off on. The hot loops call it with an offset, not on a view
// (at), and through a pointer: a kvRows is too large to copy per call.
func (r *kvRows) dots(off int, out, q []float32, ld, n, m int) {
	switch {
	case r.half:
		vecDotsF16(out, q, r.f16[off:], ld, n, m)
	case r.isQ8:
		vecDotsQ8(out, q, &r.q8, off, ld, n, m)
	default:
		vecDots(out, q, r.f32[off:], ld, n, m)
	}
}

// accRows adds Σ_j w[j]·row j (n elements, m rows of stride ld from
// element off on) to y.
func (r *kvRows) accRows(off int, y, w []float32, ld, n, m int) {
	switch {
	case r.half:
		vecAccRowsF16(y, w, r.f16[off:], ld, n, m)
	case r.isQ8:
		vecAccRowsQ8(y, w, &r.q8, off, ld, n, m)
	default:
		vecAccRows(y, w, r.f32[off:], ld, n, m)
	}
}

// tile returns m rows of n elements (stride ld) as float32 and their
// stride: the rows themselves, or for halves and q8_0 their values widened
// into *buf (m, n), which grows as needed.
func (r kvRows) tile(buf *[]float32, ld, n, m int) ([]float32, int) {
	if !r.widened() {
		return r.f32, ld
	}
	if cap(*buf) < m*n {
		*buf = make([]float32, m*n)
	}
	dst := (*buf)[:m*n]
	if r.isQ8 {
		q8RowsToF32(dst, &r.q8, 0, ld, n, m)
	} else {
		f16RowsToF32(dst, r.f16, ld, n, m)
	}
	return dst, n
}

// f16RowsToF32 widens m rows of n halves (stride ld) into dst (m, n): one
// call per tile under "avx512" (a decode tile's rows are short), row by row
// otherwise.
func f16RowsToF32(dst []float32, src []uint16, ld, n, m int) {
	if m <= 0 || n <= 0 {
		return
	}
	_ = dst[m*n-1]
	_ = src[(m-1)*ld+n-1]
	if useAVX512 && n%16 == 0 {
		f16RowsToF32AVX512(&dst[0], &src[0], ld, n, m)
		return
	}
	for j := 0; j < m; j++ {
		F16ToF32Row(dst[j*n:(j+1)*n], src[j*ld:j*ld+n])
	}
}

// f16RowsToF32Generic is the reference for f16RowsToF32.
func f16RowsToF32Generic(dst []float32, src []uint16, ld, n, m int) {
	for j := 0; j < m; j++ {
		for p := 0; p < n; p++ {
			dst[j*n+p] = F16ToF32(src[j*ld+p])
		}
	}
}

// FlashAttentionF16 is FlashAttention with K and V as IEEE halves (an f16
// KV cache): the same layout, options and checks, and the result of
// FlashAttention on the widened K and V up to float32 summation order.
func FlashAttentionF16(out, q []float32, k, v []uint16, p AttnParams) error {
	return flashAttention(out, q, kvRows{f16: k, half: true}, kvRows{f16: v, half: true}, p)
}

// F32ToF16Row narrows src into IEEE halves in dst (len(dst) ≥ len(src)),
// rounding to nearest even as VCVTPS2PH does.
func F32ToF16Row(dst []uint16, src []float32) {
	if len(src) == 0 {
		return
	}
	f32RowToF16(u16Bytes(dst[:len(src)]), src)
}

// F16ToF32Row widens the IEEE halves in src into dst (len(src) ≥ len(dst)).
func F16ToF32Row(dst []float32, src []uint16) {
	if len(dst) == 0 {
		return
	}
	f16RowToF32(dst, u16Bytes(src[:len(dst)]))
}

// u16Bytes views halves as the little-endian bytes the row kernels take.
func u16Bytes(s []uint16) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), 2*len(s))
}

// vecDotsF16 is vecDots with half keys: out[j] = dot(q[:n], k[j*ldk:][:n]).
func vecDotsF16(out, q []float32, k []uint16, ldk, n, m int) {
	if m <= 0 {
		return
	}
	_ = out[m-1]
	_ = q[n-1]
	_ = k[(m-1)*ldk+n-1]
	switch {
	case useAVX512 && n%16 == 0:
		// Four keys per pass: one load of q serves four converted rows.
		var o [4]float32
		j := 0
		for ; j+4 <= m; j += 4 {
			dotsF16x4AVX512(n, &q[0], &k[j*ldk], ldk, &o)
			copy(out[j:j+4], o[:])
		}
		for ; j < m; j++ {
			out[j] = dotF16AVX512((*byte)(unsafe.Pointer(&k[j*ldk])), &q[0], n)
		}
	case useAVX2 && hasF16C && n%8 == 0:
		for j := 0; j < m; j++ {
			out[j] = dotF16AVX2((*byte)(unsafe.Pointer(&k[j*ldk])), &q[0], n)
		}
	default:
		vecDotsF16Generic(out, q, k, ldk, n, m)
	}
}

// vecAccRowsF16 is vecAccRows with half rows: y[:n] += Σ_j w[j]·x[j*ldx:][:n].
func vecAccRowsF16(y, w []float32, x []uint16, ldx, n, m int) {
	if m <= 0 || n <= 0 {
		return
	}
	_ = y[n-1]
	_ = w[m-1]
	_ = x[(m-1)*ldx+n-1]
	n8 := 0
	if useAVX2 && hasF16C {
		n8 = n &^ 7
	}
	if n8 > 0 {
		vecAccRowsF16AVX2(&y[0], &w[0], &x[0], ldx, n8, m)
	}
	if n8 < n {
		vecAccRowsF16Generic(y[n8:], w, x[n8:], ldx, n-n8, m)
	}
}

// vecDotsF16Generic is the reference for vecDotsF16: each half widened
// exactly, products summed in float32 in order.
func vecDotsF16Generic(out, q []float32, k []uint16, ldk, n, m int) {
	q = q[:n]
	for j := 0; j < m; j++ {
		kj := k[j*ldk : j*ldk+n]
		var s float32
		for p, qv := range q {
			s += qv * F16ToF32(kj[p])
		}
		out[j] = s
	}
}

// vecAccRowsF16Generic is the reference for vecAccRowsF16.
func vecAccRowsF16Generic(y, w []float32, x []uint16, ldx, n, m int) {
	y = y[:n]
	for j := 0; j < m; j++ {
		wj := w[j]
		xj := x[j*ldx : j*ldx+n]
		for p := range y {
			y[p] += wj * F16ToF32(xj[p])
		}
	}
}
