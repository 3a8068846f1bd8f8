package kernels

// GEMV (m == 1): every weight is used once, so these paths are bound by
// memory bandwidth, not FLOPs. They stream W (or B) exactly once, in the
// order it lies in memory, and split it over the pool so each core pulls
// its own share.

import (
	"sync/atomic"
	"unsafe"
)

// parallelGemvFloats is the matrix size (floats) from which a GEMV is split
// over the pool; below it the matrix is cache-resident and one core is done
// before the others wake.
const parallelGemvFloats = 1 << 16

// gemvJob carries one GEMV through the pool with its method values bound
// once, so a call allocates nothing.
type gemvJob struct {
	n, k      int
	x, w      []float32
	sx        streamX   // x for w (gemvT)
	xbuf      []float32 // sx's memory, kept between calls
	ld        int
	beta      float32
	y         []float32
	share     rowShare // gemvT's rows, for the threads to take
	rot       int      // MatVecTSlivers: the slivers' rotation (SliversShift)
	sharedFn  func(lo, hi int)
	stripsFn  func(lo, hi int)
	sliversFn func(lo, hi int) // MatVecTSlivers' rows (slivers.go)
}

var gemvJobs = newFreeList(16, func(j *gemvJob) {
	j.sharedFn = j.shared
	j.stripsFn = j.strips
	j.sliversFn = j.slivers
})

// gemvRowBlock is the unit of work of the f32 GEMVs: a chunk of rows is a
// multiple of it, so its edges fall on the four-row quads a serial call
// uses, and on F32R32's 32-row slivers, and every row's value is the same
// whichever thread computes it.
const gemvRowBlock = SliverRows

// gemvChunkRows is how many rows of a k-wide matrix a thread takes at a
// time: whole row blocks, each chunk worth a hand-off (~64K MACs).
func gemvChunkRows(k int) int {
	return max(gemvRowBlock, (1<<16)/max(k, 1)) &^ (gemvRowBlock - 1)
}

// rowShare hands a parallel GEMV's rows out, a chunk at a time, to
// whichever thread asks next, as ggml's mul_mat does at n = 1. Fixed shares
// (one contiguous half per thread) left a thread that started late, or
// lost its core for a moment, holding the other at the barrier: a f32
// decode token at two threads, token by token in one process against fixed
// halves, took 3–10 % less wall time (median) and 5–17 % less CPU
// (docs/BENCHMARKS.md, "f32 decode: split loads").
type rowShare struct {
	next     atomic.Int64
	n, chunk int
}

// reset starts handing out [0, n) in chunks of chunk rows.
func (s *rowShare) reset(n, chunk int) {
	s.n, s.chunk = n, chunk
	s.next.Store(0)
}

// take returns the next chunk, or ok false once every row is handed out.
func (s *rowShare) take() (lo, hi int, ok bool) {
	lo = int(s.next.Add(int64(s.chunk))) - s.chunk
	if lo >= s.n {
		return 0, 0, false
	}
	return lo, min(lo+s.chunk, s.n), true
}

// gemvT computes y = beta·y + W·x for W (n×k, ldw).
func gemvT(n, k int, x, w []float32, ldw int, beta float32, y []float32) {
	j := gemvJobs.get()
	j.n, j.k, j.x, j.w, j.ld, j.beta, j.y = n, k, x, w, ldw, beta, y
	j.sx, j.xbuf = newStreamX(x, w, ldw, k, j.xbuf)
	if th := Default().Threads(); th > 1 && n*k >= parallelGemvFloats {
		j.share.reset(n, gemvChunkRows(k))
		Default().For(th, 1, j.sharedFn)
	} else {
		gemvStreamRows(y, j.sx, w, ldw, k, beta, 0, n)
	}
	j.x, j.w, j.y, j.sx = nil, nil, nil, streamX{}
	gemvJobs.put(j)
}

// shared computes chunks of rows until none are left (one thread's part of
// a parallel gemvT; its range is ignored).
func (j *gemvJob) shared(int, int) {
	for lo, hi, ok := j.share.take(); ok; lo, hi, ok = j.share.take() {
		gemvStreamRows(j.y, j.sx, j.w, j.ld, j.k, j.beta, lo, hi)
	}
}

// streamX is a GEMV's x laid out for one weight matrix's rows: with AVX-512
// and rows whose stride keeps them all at one phase within 64-byte blocks,
// xs[sh+p] = x[p] in 64-byte-aligned memory, sh that phase in floats, and
// gemvStreamRows reads the matrix one row at a time with gemvRows1AVX512;
// else xs is nil and it takes gemvRows, four rows at a time.
//
// Why: a decode step streams every weight once, and f32 GEMV ran at 21–25
// GB/s where llama.cpp's reached 34. GGUF aligns tensor data to 32 bytes, so
// a row often starts halfway into a cache line and every 64-byte load of it
// split two lines; and four rows read side by side, four interleaved streams,
// came from memory slower than one. llama134m-f32's matrices, rows at 32 mod
// 64, one thread, thread CPU time, one sitting (docs/BENCHMARKS.md, "f32
// decode: split loads"): four rows 27–28 GB/s, one row in aligned blocks
// 33–35.
type streamX struct {
	x  []float32
	xs []float32
	sh int
}

// newStreamX prepares x (k) for the matrix whose first row starts at w[0]
// (stride ld), copying it into buf, which it grows as needed and returns for
// the next call.
func newStreamX(x, w []float32, ld, k int, buf []float32) (streamX, []float32) {
	if !useAVX512 || k == 0 || ld%16 != 0 || len(w) == 0 {
		return streamX{x: x}, buf
	}
	sh := int(uintptr(unsafe.Pointer(&w[0])) % 64 / 4)
	// sh+k floats from a 64-byte boundary; 15 more to find one.
	if n := sh + k + 15; cap(buf) < n {
		buf = make([]float32, n)
	}
	buf = buf[:cap(buf)]
	a := int((64 - uintptr(unsafe.Pointer(&buf[0]))%64) % 64 / 4)
	xs := buf[a : a+sh+k]
	copy(xs[sh:], x[:k])
	return streamX{x: x, xs: xs, sh: sh}, buf
}

// gemvStreamRows is gemvRows for a W read from memory once (a layer's
// weights), with x prepared by newStreamX for this W.
func gemvStreamRows(y []float32, x streamX, w []float32, ld, k int, beta float32, r0, r1 int) {
	if x.xs == nil || r0 >= r1 {
		gemvRows(y, x.x, w, ld, k, beta, r0, r1)
		return
	}
	_ = w[(r1-1)*ld+k-1]
	if beta == 0 {
		gemvRows1AVX512(r1-r0, k, x.xs, x.sh, w[r0*ld:], ld, y[r0:r1])
		return
	}
	var part [64]float32
	for r := r0; r < r1; r += len(part) {
		n := min(r1-r, len(part))
		gemvRows1AVX512(n, k, x.xs, x.sh, w[r*ld:], ld, part[:n])
		for i, s := range part[:n] {
			y[r+i] = gemvMerge(beta, y[r+i], s)
		}
	}
}

// gemvRows sets y[r] = beta·y[r] + W[r]·x for rows [r0, r1) of W (k, ldw),
// four rows at a time.
func gemvRows(y, x, w []float32, ld, k int, beta float32, r0, r1 int) {
	// kv is the part of k the SIMD kernel covers; the rest is added here.
	var kv int
	switch {
	case useAVX512:
		kv = k &^ 15
	case useAVX2:
		kv = k &^ 7
	}
	var out [4]float32
	r := r0
	for ; r+4 <= r1; r += 4 {
		switch {
		case useAVX512 && kv > 0:
			gemvDot4AVX512(kv, x, w[r*ld:], ld, &out)
		case useAVX2 && kv > 0:
			gemvDot4AVX2(kv, x, w[r*ld:], ld, &out)
		default:
			out = [4]float32{}
		}
		if kv < k {
			dot4Generic(&out, x[kv:k], w[r*ld+kv:], ld)
		}
		for i, s := range out {
			y[r+i] = gemvMerge(beta, y[r+i], s)
		}
	}
	for ; r < r1; r++ {
		row := w[r*ld : r*ld+k]
		var s float32
		for p, v := range row {
			s += v * x[p]
		}
		y[r] = gemvMerge(beta, y[r], s)
	}
}

// dot4Generic adds the dot products of x with four rows of w (stride ld) to
// out, four partial sums per row so the additions pipeline.
func dot4Generic(out *[4]float32, x, w []float32, ld int) {
	k := len(x)
	w0 := w[0*ld : 0*ld+k]
	w1 := w[1*ld : 1*ld+k]
	w2 := w[2*ld : 2*ld+k]
	w3 := w[3*ld : 3*ld+k]
	var s0, s1, s2, s3 float32
	for p, xv := range x {
		s0 += w0[p] * xv
		s1 += w1[p] * xv
		s2 += w2[p] * xv
		s3 += w3[p] * xv
	}
	out[0] += s0
	out[1] += s1
	out[2] += s2
	out[3] += s3
}

func gemvMerge(beta, old, s float32) float32 {
	switch beta {
	case 0:
		return s
	case 1:
		return old + s
	default:
		return beta*old + s
	}
}

// gemvStrip is the width of a column strip of gemvN per implementation:
// eight vector accumulators.
func gemvStrip() int {
	switch {
	case useAVX512:
		return 128
	case useAVX2:
		return 64
	default:
		return 64
	}
}

// gemvN computes y = beta·y + x·B for B (k×n, ldb).
func gemvN(n, k int, x, b []float32, ldb int, beta float32, y []float32) {
	scaleRows(1, n, beta, y, n)
	j := gemvJobs.get()
	j.n, j.k, j.x, j.w, j.ld, j.y = n, k, x, b, ldb, y
	strips := (n + gemvStrip() - 1) / gemvStrip()
	if Default().Threads() > 1 && n*k >= parallelGemvFloats {
		Default().For(strips, 1, j.stripsFn)
	} else {
		j.strips(0, strips)
	}
	j.x, j.w, j.y = nil, nil, nil
	gemvJobs.put(j)
}

// strips accumulates x·B into column strips [lo, hi) of y.
func (j *gemvJob) strips(lo, hi int) {
	sw := gemvStrip()
	k, ld, x, b, y := j.k, j.ld, j.x[:j.k], j.w, j.y
	c0, c1 := lo*sw, min(hi*sw, j.n)
	c := c0
	for ; c+sw <= c1; c += sw {
		switch {
		case useAVX512:
			gemvAxpy128AVX512(k, x, b[c:], ld, y[c:c+sw])
		case useAVX2:
			gemvAxpy64AVX2(k, x, b[c:], ld, y[c:c+sw])
		default:
			axpyRowsGeneric(x, b[c:], ld, y[c:c+sw])
		}
	}
	if c < c1 {
		axpyRowsGeneric(x, b[c:], ld, y[c:c1])
	}
}

// axpyRowsGeneric adds Σ_p x[p]·b[p*ld : p*ld+len(y)] to y, row by row.
func axpyRowsGeneric(x, b []float32, ld int, y []float32) {
	for p, xv := range x {
		row := b[p*ld : p*ld+len(y)]
		for i, v := range row {
			y[i] += xv * v
		}
	}
}
