package kernels

// f32 weights repacked at load into 32-row slivers (F32R32): a decode step
// multiplies every weight row by one activation row x, and row-major f32
// rows need one dot product per row (a stream of 16-lane products and a
// horizontal sum at its end). Stored 32 rows side by side, element p of
// the 32 rows is 128 contiguous bytes: one broadcast of x[p] meets them in
// two fused multiply-adds, the 32 sums stay in two registers for the whole
// row length, and the matrix is read start to end as one stream, with no
// horizontal sums and no row tails. The same slivers are GemmT's B slivers
// for the AVX-512 tiling (nr = 32, (kb, 32) per k slab), so a prefill
// multiplies by them without transposing W (GemmTSlivers).
//
// The layout of W (n×k, n a multiple of 32), in place and the same size:
// the logical stream L holds sliver s = rows 32s…32s+31 as k steps of 32
// floats, L[s·32k + p·32 + j] = W[32s+j][p]. L is stored rotated by d
// floats, L[i] at w[(i+d) mod n·k], d chosen from w's address so that
// L[0] is on a 64-byte boundary (d = 0 where w already is): GGUF aligns
// tensors to 32 bytes only, and loads that split cache lines cost a fifth
// of a one-stream GEMV's speed (docs/BENCHMARKS.md, "f32 decode: split
// loads"). Every sliver then lies in place from w[d+32sk] except the last
// d floats of the last one (its last step's last d rows), which wrap to
// w[0:d]. d depends on the address, so a repacked matrix must not be moved
// or split (SliversShift).

import (
	"fmt"
	"unsafe"
)

// F32R32 is f32 weights in 32-row slivers (slivers.go): Loom's own layout of
// a matrix's floats, made at load, never read from or written to a file.
// It has no row in the dtype table: only the f32 paths (MatVecTSlivers,
// GemmTSlivers, MatVecMany's F32 parts) read it.
const F32R32 DType = 251

// SliverRows is the number of rows an F32R32 sliver interleaves.
const SliverRows = 32

// SliversFit reports whether an n×k f32 matrix is worth repacking into
// F32R32 under the current implementation: AVX-512 (whose GEMV and GEMM
// read slivers in place) and whole slivers.
func SliversFit(n, k int) bool {
	return useAVX512 && n > 0 && k > 0 && n%SliverRows == 0
}

// SliversShift is d, the rotation of an F32R32 matrix stored at w: the
// floats from w[0] to the next 64-byte boundary.
func SliversShift(w []float32) int {
	return int((64 - uintptr(unsafe.Pointer(&w[0]))%64) % 64 / 4)
}

// PackF32Slivers rewrites w, an n×k row-major f32 matrix (n a multiple of
// 32), in place into F32R32 for its address. It allocates one sliver of
// scratch.
func PackF32Slivers(w []float32, n, k int) error {
	if n%SliverRows != 0 || n <= 0 || k <= 0 || len(w) != n*k {
		return fmt.Errorf("pack f32 slivers %d×%d: %d floats: %w", n, k, len(w), ErrBadLength)
	}
	d, sk := SliversShift(w), SliverRows*k
	var head [16]float32 // w[0:d], row 0's first floats, before the last sliver's tail overwrites them
	copy(head[:d], w)
	tmp := make([]float32, sk)
	// Last sliver first: sliver s is written to [d+s·sk, d+(s+1)·sk), over
	// the first d floats of sliver s+1's rows, already packed.
	for s := n/SliverRows - 1; s >= 0; s-- {
		src := w[s*sk : (s+1)*sk]
		copy(tmp, src)
		if s == 0 {
			copy(tmp[:d], head[:d])
		}
		for j := 0; j < SliverRows; j++ {
			row := tmp[j*k : (j+1)*k]
			for p, v := range row {
				i := d + s*sk + p*SliverRows + j
				if i >= len(w) {
					i -= len(w)
				}
				w[i] = v
			}
		}
	}
	return nil
}

// UnpackF32Slivers writes the row-major matrix of w (F32R32, n×k) into dst.
func UnpackF32Slivers(dst, w []float32, n, k int) {
	d, sk := SliversShift(w), SliverRows*k
	for r := 0; r < n; r++ {
		s, j := r/SliverRows, r%SliverRows
		for p := 0; p < k; p++ {
			i := d + s*sk + p*SliverRows + j
			if i >= len(w) {
				i -= len(w)
			}
			dst[r*k+p] = w[i]
		}
	}
}

// sliverTail is the last step of the last sliver of w (F32R32, n×k), whose
// last d floats wrapped to w's start: 32 floats, one per row.
func sliverTail(w []float32, d int) (t [SliverRows]float32) {
	copy(t[:], w[len(w)-SliverRows+d:])
	copy(t[SliverRows-d:], w[:d])
	return t
}

// gemvSliversRef sets y[32s+j] to the dot product of row j of sliver s with
// x, for the slivers at w (contiguous, 32k floats each): gemvSliversAVX512's
// reference loop, and its stand-in without AVX-512.
func gemvSliversRef(k int, x, w []float32, slivers int, y []float32) {
	for s := 0; s < slivers; s++ {
		var acc [SliverRows]float32
		sl := w[s*SliverRows*k : (s+1)*SliverRows*k]
		for p, xv := range x[:k] {
			step := sl[p*SliverRows : (p+1)*SliverRows]
			for j, v := range step {
				acc[j] += v * xv
			}
		}
		copy(y[s*SliverRows:(s+1)*SliverRows], acc[:])
	}
}

// gemvSlivers is the GEMV kernel in use for whole slivers in place.
func gemvSlivers(k int, x, w []float32, slivers int, y []float32) {
	if useAVX512 {
		gemvSliversAVX512(k, x, w, slivers, y)
		return
	}
	gemvSliversRef(k, x, w, slivers, y)
}

// sliverRows sets y[r] = W[r]·x for rows [r0, r1) (multiples of 32) of w
// (F32R32, n×k, rotation d).
func sliverRows(y, x, w []float32, n, k, d, r0, r1 int) {
	sk := SliverRows * k
	s0, s1 := r0/SliverRows, r1/SliverRows
	last := n/SliverRows - 1
	whole := s1
	if d > 0 && s1 > last {
		whole = last
	}
	if whole > s0 {
		gemvSlivers(k, x, w[d+s0*sk:d+whole*sk], whole-s0, y[r0:whole*SliverRows])
	}
	if whole < s1 { // the last sliver: all but its wrapped last step in place
		ys := y[last*SliverRows : n]
		gemvSlivers(k-1, x, w[d+last*sk:d+last*sk+(k-1)*SliverRows], 1, ys)
		t := sliverTail(w, d)
		xv := x[k-1]
		for j := range ys {
			ys[j] += t[j] * xv
		}
	}
}

// MatVecTSlivers computes y = W·x for W (n×k) in F32R32 at w, x (k), y (n):
// MatVecT for a repacked matrix, split over the pool by slivers.
func MatVecTSlivers(y, w, x []float32, n, k int) {
	if err := checkSlivers(len(w), n, k); err != nil || len(x) < k || len(y) < n {
		panic(fmt.Sprintf("kernels.MatVecTSlivers(n=%d k=%d, len(w)=%d len(x)=%d len(y)=%d): %v", n, k, len(w), len(x), len(y), err))
	}
	j := gemvJobs.get()
	j.n, j.k, j.x, j.w, j.y = n, k, x, w, y
	j.rot = SliversShift(w)
	if th := Default().Threads(); th > 1 && n*k >= parallelGemvFloats {
		j.share.reset(n, gemvChunkRows(k))
		Default().For(th, 1, j.sliversFn)
	} else {
		sliverRows(y, x, w, n, k, j.rot, 0, n)
	}
	j.x, j.w, j.y = nil, nil, nil
	gemvJobs.put(j)
}

// slivers computes chunks of a parallel MatVecTSlivers' rows until none are
// left.
func (j *gemvJob) slivers(int, int) {
	for lo, hi, ok := j.share.take(); ok; lo, hi, ok = j.share.take() {
		sliverRows(j.y, j.x, j.w, j.n, j.k, j.rot, lo, hi)
	}
}

func checkSlivers(lenW, n, k int) error {
	if n <= 0 || k <= 0 || n%SliverRows != 0 || lenW != n*k {
		return fmt.Errorf("f32r32 %d×%d with %d floats: %w", n, k, lenW, ErrBadLength)
	}
	return nil
}

// GemmTSlivers computes C = beta·C + A·Wᵀ for A (m×k, lda), W (n×k) in
// F32R32 at w and C (m×n, ldc): GemmT for a repacked matrix. With the
// AVX-512 tiling the micro-kernels read W's slivers where they lie (only
// the last sliver's wrapped step is copied); with others each B sliver is
// gathered from them.
func GemmTSlivers(m int, a []float32, lda int, w []float32, n, k int, beta float32, c []float32, ldc int) {
	if err := checkSlivers(len(w), n, k); err != nil {
		panic(fmt.Sprintf("kernels.GemmTSlivers(m=%d n=%d k=%d): %v", m, n, k, err))
	}
	checkGemm("GemmTSlivers", m, n, k, a, lda, w, k, true, c, ldc)
	if m == 0 {
		return
	}
	if m == 1 && beta == 0 {
		MatVecTSlivers(c[:n], w, a[:k], n, k)
		return
	}
	pre := sliverPres.get()
	src := &pre.b
	src.w, src.n, src.k, src.d = w, n, k, SliversShift(w)
	t := currentTiling()
	if t.nr != SliverRows {
		gemmRun(false, m, n, k, a, lda, nil, 0, src.pack, nil, beta, c, ldc)
	} else {
		if src.d > 0 { // the last sliver's last k slab, with its wrapped floats
			kc, _ := t.blocks(n, k) // gemmRun's slabs
			pc := (k - 1) / kc * kc
			if cap(pre.wrapped) < (k-pc)*SliverRows {
				pre.wrapped = make([]float32, kc*SliverRows)
			}
			src.wrapped = pre.wrapped[:(k-pc)*SliverRows]
			src.pack(src.wrapped, n-SliverRows, SliverRows, pc, k-pc, SliverRows)
		}
		pre.p = PackedT{n: n, k: k, t: t, sl: src}
		gemmRun(true, m, n, k, a, lda, nil, 0, nil, &pre.p, beta, c, ldc)
	}
	pre.p, pre.b = PackedT{}, sliverB{} // do not pin the caller's W
	sliverPres.put(pre)
}

// sliverPre is GemmTSlivers' per-call state, recycled so a call allocates
// nothing: W as GEMM's B and as the PackedT gemmRun reads it through.
type sliverPre struct {
	p       PackedT
	b       sliverB
	wrapped []float32 // b.wrapped's memory, kept between calls
}

var sliverPres = newFreeList[sliverPre](8, nil)

// sliverB is an F32R32 matrix as GEMM's B (k×n, B[p][c] = W[c][p]).
type sliverB struct {
	w       []float32
	n, k, d int
	wrapped []float32 // the last sliver's last k slab where it wraps (GemmTSlivers)
}

// sliver is B's columns [col, col+32) (a whole sliver) at depths [pc,
// pc+kb) in place, (kb, 32), or wrapped where that reaches past w.
func (b *sliverB) sliver(col, pc, kb int) []float32 {
	i := b.d + col*b.k + pc*SliverRows
	if i+kb*SliverRows > len(b.w) {
		return b.wrapped[:kb*SliverRows]
	}
	return b.w[i : i+kb*SliverRows]
}

// at is W[r][p].
func (b *sliverB) at(r, p int) float32 {
	i := b.d + r/SliverRows*SliverRows*b.k + p*SliverRows + r%SliverRows
	if i >= len(b.w) {
		i -= len(b.w)
	}
	return b.w[i]
}

// pack writes B's columns [col, col+cols) and depths [pc, pc+kb) as a
// (kb, nr) sliver, zero past cols (a bPacker): a copy of the sliver's
// steps where it lies whole and nr is 32.
func (b *sliverB) pack(dst []float32, col, cols, pc, kb, nr int) {
	if nr == SliverRows && cols == SliverRows && col%SliverRows == 0 {
		i := b.d + col*b.k + pc*SliverRows
		if i+kb*SliverRows <= len(b.w) {
			copy(dst[:kb*SliverRows], b.w[i:])
			return
		}
	}
	for p := 0; p < kb; p++ {
		row := dst[p*nr : (p+1)*nr]
		for jj := range row {
			if jj < cols {
				row[jj] = b.at(col+jj, pc+p)
			} else {
				row[jj] = 0
			}
		}
	}
}
