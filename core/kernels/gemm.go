package kernels

// GEMM entry points. Matrices are row-major with explicit leading dimensions.
// The *Ref functions are the plain loops every implementation is tested
// against; Gemm, GemmT and MatVecT run the fast path:
//
//   - m == 1 (and MatVecT) is a GEMV: memory-bound, so it streams the weight
//     matrix once, split over the pool by output columns (Gemm) or by rows of
//     W (GemmT), with SIMD dot/axpy kernels (gemv.go).
//   - otherwise the classic blocked algorithm (Goto/BLIS): the k dimension is
//     cut into kc-deep slabs; for each slab a kc×nc block of B is packed into
//     nr-wide column slivers (shared by all threads, lives in L3), each thread
//     packs its mc×kc block of A into mr-tall row slivers (lives in L2), and a
//     register-tiled mr×nr micro-kernel multiplies one A sliver by one B sliver
//     (the B sliver, kc×nr, stays in L1 while A slivers stream past it).
//
// GemmT differs from Gemm only in how B is packed: W is stored [n][k], so a
// B sliver is gathered from nr rows of W instead of copied from rows of B.
// The micro-kernel and everything downstream are shared.

import "fmt"

// Gemm computes C = beta·C + A·B, with A (m×k, lda), B (k×n, ldb), C (m×n, ldc).
// beta is 0 or 1 (0 overwrites C without reading it); other values scale C.
// It panics with a descriptive message if a slice is too short for its shape.
func Gemm(m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm("Gemm", m, n, k, a, lda, b, ldb, false, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleRows(m, n, beta, c, ldc)
		return
	}
	if m == 1 {
		gemvN(n, k, a, b, ldb, beta, c)
		return
	}
	gemmBlocked(false, m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// GemmT computes C = beta·C + A·Wᵀ, with A (m×k, lda), W (n×k, ldw) stored
// [out][in] as checkpoints store weights, C (m×n, ldc).
func GemmT(m, n, k int, a []float32, lda int, w []float32, ldw int, beta float32, c []float32, ldc int) {
	checkGemm("GemmT", m, n, k, a, lda, w, ldw, true, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleRows(m, n, beta, c, ldc)
		return
	}
	if m == 1 {
		gemvT(n, k, a, w, ldw, beta, c)
		return
	}
	gemmBlocked(true, m, n, k, a, lda, w, ldw, beta, c, ldc)
}

// MatVecT computes y = W·x for W (n×k, row-major, contiguous), x (k), y (n):
// the batch-1 decode path.
func MatVecT(y, w, x []float32, n, k int) {
	checkGemm("MatVecT", 1, n, k, x, k, w, k, true, y, n)
	if n == 0 {
		return
	}
	if k == 0 {
		clear(y[:n])
		return
	}
	gemvT(n, k, x, w, k, 0, y)
}

// GemmRef is the reference loop for Gemm.
func GemmRef(m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
		} else if beta != 1 {
			for j := range ci {
				ci[j] *= beta
			}
		}
		for p := 0; p < k; p++ {
			av := a[i*lda+p]
			bp := b[p*ldb : p*ldb+n]
			for j := range ci {
				ci[j] += av * bp[j]
			}
		}
	}
}

// GemmTRef is the reference loop for GemmT.
func GemmTRef(m, n, k int, a []float32, lda int, w []float32, ldw int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ai := a[i*lda : i*lda+k]
		for j := 0; j < n; j++ {
			wj := w[j*ldw : j*ldw+k]
			var s float32
			for p := range ai {
				s += ai[p] * wj[p]
			}
			if beta == 0 {
				c[i*ldc+j] = s
			} else {
				c[i*ldc+j] = beta*c[i*ldc+j] + s
			}
		}
	}
}

// checkGemm panics with the operation's name and shapes when a dimension is
// negative, a leading dimension is too small, or a slice is too short: a
// caller's bug, reported before any memory is touched rather than as an index
// error deep inside a kernel (or, in assembly, as silent corruption).
func checkGemm(op string, m, n, k int, a []float32, lda int, b []float32, ldb int, transB bool, c []float32, ldc int) {
	if err := gemmShapeError(m, n, k, len(a), lda, len(b), ldb, transB, len(c), ldc); err != nil {
		panic(fmt.Sprintf("kernels.%s(m=%d n=%d k=%d lda=%d ldb=%d ldc=%d): %v", op, m, n, k, lda, ldb, ldc, err))
	}
}

// gemmShapeError reports why the shapes are invalid, or nil. B is k×n (ldb ≥ n)
// or, with transB, n×k (ldb ≥ k).
func gemmShapeError(m, n, k, lenA, lda, lenB, ldb int, transB bool, lenC, ldc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("negative dimension")
	}
	// span is the floats a rows×cols matrix with leading dimension ld
	// covers: the last row need not be padded out to ld.
	span := func(rows, cols, ld int) int {
		if rows == 0 || cols == 0 {
			return 0
		}
		return (rows-1)*ld + cols
	}
	// A leading dimension only matters when its matrix has elements, as in
	// BLAS without its max(1, ·) pedantry: k = 0 with lda = 0 is fine.
	if lda < k || lda < 0 {
		return fmt.Errorf("lda %d < k", lda)
	}
	if ldc < n || ldc < 0 {
		return fmt.Errorf("ldc %d < n", ldc)
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	if ldb < bCols || ldb < 0 {
		return fmt.Errorf("ldb %d < %d", ldb, bCols)
	}
	if s := span(m, k, lda); lenA < s {
		return fmt.Errorf("len(a) %d < %d", lenA, s)
	}
	if s := span(bRows, bCols, ldb); lenB < s {
		return fmt.Errorf("len(b) %d < %d", lenB, s)
	}
	if s := span(m, n, ldc); lenC < s {
		return fmt.Errorf("len(c) %d < %d", lenC, s)
	}
	return nil
}

// scaleRows sets C = beta·C (C = 0 when beta is 0, without reading C).
func scaleRows(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		switch beta {
		case 0:
			clear(ci)
		case 1:
		default:
			for j := range ci {
				ci[j] *= beta
			}
		}
	}
}

// microKernel computes one mr×nr tile: C = A·B (acc false) or C += A·B (acc
// true), where a is a packed A sliver (k steps of mr floats), b a packed B
// sliver (k steps of nr floats) and C is row-major with leading dimension ldc.
// Implementations may read the full mr×nr tile of C and write all of it.
type microKernel func(k int, a, b, c []float32, ldc int, acc bool)

// gemmTiling is one implementation's register tile (mr×nr) and cache blocks:
// kc×nr floats of B fit in L1 next to an mr×kc sliver of A, mc×kc of A fits
// in L2, and kc×nc of packed B is shared by all threads from L3. Where
// kcDeep is set, a B narrow enough that a kcDeep-deep slab of it is no
// bigger than kc×nc takes kcDeep and mcDeep instead (k > kc): every k slab
// reads and writes all of C, so deeper slabs save passes over C.
type gemmTiling struct {
	mr, nr         int
	kc, mc, nc     int
	kcDeep, mcDeep int
	micro          microKernel
}

// blocks returns the k slab and A block depths for C = A·B with B k×n. The
// slab depth decides how each element's sum is cut, so it depends on n and
// k only: any split of A's rows (bands, threads) and PackT's slabs give the
// same bits as one call.
func (t *gemmTiling) blocks(n, k int) (kc, mc int) {
	if t.kcDeep > 0 && k > t.kc && min(t.nc, n)*t.kcDeep <= t.nc*t.kc {
		return t.kcDeep, t.mcDeep
	}
	return t.kc, t.mc
}

// tilingGeneric is the portable Go micro-kernel's tiling (every build).
var tilingGeneric = gemmTiling{mr: 4, nr: 4, kc: 256, mc: 64, nc: 2048, micro: sgemmMicroGeneric}

// currentTiling returns the tiling of the implementation chosen by SetImpl.
func currentTiling() *gemmTiling {
	switch {
	case useAVX512:
		return &tilingAVX512
	case useAVX2:
		return &tilingAVX2
	default:
		return &tilingGeneric
	}
}

// streamPackBytes is the size of W above which GemmT takes it to come from
// memory (a layer's weight) and packs it prefetching ahead: a core's L2. A
// smaller W, such as matMulPanels' widened panel or an attention tile, is
// likely in cache, where the prefetches only cost (packT8StreamAVX).
const streamPackBytes = 1 << 20

// parallelGemmFlops is the work (2·m·n·k) below which one thread finishes
// before waking the pool would pay off.
const parallelGemmFlops = 1 << 21

// gemmJob carries one blocked GEMM through the pool. Jobs are recycled
// (gemmJobs) together with their packed-B buffer and with method values bound
// once, so the parallel loops allocate nothing per call.
type gemmJob struct {
	t         *gemmTiling
	transB    bool
	m, n, k   int
	a         []float32
	lda       int
	b         []float32
	ldb       int
	beta      float32
	c         []float32
	ldc       int
	kc, mc    int       // k slab and A block depths of this call (gemmTiling.blocks)
	jc, nb    int       // current column block of C: [jc, jc+nb)
	pc, kb    int       // current k slab: [pc, pc+kb)
	bp        []float32 // packed B slab: ceil(nb/nr) slivers of kb×nr
	slab      []float32 // the slab the micro-kernels read: bp, or a PackedT's
	sl        *sliverB  // or a PackedT's F32R32 W, read in place (bSliver)
	bPacker   bPacker   // packs B slivers itself (an implicit B), or nil
	rowSplit  bool      // compute is split over row slivers (else column slivers)
	streamB   bool      // W (transB) is big enough to come from memory: pack it prefetching
	nSlivers  int       // B slivers in the current block
	packFn    func(lo, hi int)
	computeFn func(lo, hi int)
	// packComputeFn packs B slivers [lo, hi) and multiplies all of A by them.
	packComputeFn func(lo, hi int)
}

// freeList recycles kernel state. Unlike sync.Pool it survives garbage
// collections, so a model's steady state stays allocation-free even when the
// rest of the process churns the heap; it holds at most cap items, so a
// burst of concurrent callers cannot pin memory for ever.
type freeList[T any] struct {
	items chan *T
	init  func(*T)
}

func newFreeList[T any](capacity int, init func(*T)) *freeList[T] {
	return &freeList[T]{items: make(chan *T, capacity), init: init}
}

func (f *freeList[T]) get() *T {
	select {
	case x := <-f.items:
		return x
	default:
		x := new(T)
		if f.init != nil {
			f.init(x)
		}
		return x
	}
}

func (f *freeList[T]) put(x *T) {
	select {
	case f.items <- x:
	default:
	}
}

var gemmJobs = newFreeList(8, func(j *gemmJob) {
	j.packFn = j.packB
	j.computeFn = j.compute
	j.packComputeFn = j.packCompute
})

func (j *gemmJob) packCompute(lo, hi int) {
	j.packB(lo, hi)
	j.computeRange(0, (j.m+j.t.mr-1)/j.t.mr, lo, hi)
}

// gemmScratch is one thread's packed A block plus an mr×nr tile for edges.
type gemmScratch struct{ buf []float32 }

var gemmScratches = newFreeList[gemmScratch](64, nil)

func gemmBlocked(transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmRun(transB, m, n, k, a, lda, b, ldb, nil, nil, beta, c, ldc)
}

// PackedT is a weight W (n×k, stored [out][in], row stride ldw) packed once
// into GemmT's B slabs for the tiling in use, so GemmTPacked multiplies by
// it without packing W on every call: for weights a tower runs many short
// calls on (a vocoder's frames split in bands, where each band's GEMM would
// pack all of W again). It keeps W, and GemmTPacked falls back to GemmT
// when the tiling has changed since (tests switching implementations).
type PackedT struct {
	n, k, ldw int
	w         []float32
	t         *gemmTiling
	slabs     [][]float32 // per (jc, pc) block, in gemmRun's order
	sl        *sliverB    // instead of slabs: W in F32R32, its slivers read in place (nr 32)
}

// PackT packs W (n×k, row stride ldw) for GemmTPacked.
func PackT(w []float32, n, k, ldw int) *PackedT {
	checkGemm("PackT", 1, n, k, make([]float32, k), k, w, ldw, true, make([]float32, n), n)
	t := currentTiling()
	p := &PackedT{n: n, k: k, ldw: ldw, w: w, t: t}
	kc, _ := t.blocks(n, k) // gemmRun's slabs
	for jc := 0; jc < n; jc += t.nc {
		nb := min(t.nc, n-jc)
		slivers := (nb + t.nr - 1) / t.nr
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			slab := make([]float32, slivers*kb*t.nr)
			for s := range slivers {
				col := jc + s*t.nr
				packRows(slab[s*kb*t.nr:(s+1)*kb*t.nr], w[col*ldw+pc:], ldw, min(t.nr, jc+nb-col), kb, t.nr, false)
			}
			p.slabs = append(p.slabs, slab)
		}
	}
	return p
}

// GemmTPacked computes C = beta·C + A·Wᵀ for A (m×k, lda) and a packed W
// (n×k), C (m×n, ldc): GemmT's values bit for bit, without packing W.
func GemmTPacked(m int, a []float32, lda int, p *PackedT, beta float32, c []float32, ldc int) {
	if m <= 1 || p.n == 0 || p.k == 0 || p.t != currentTiling() {
		GemmT(m, p.n, p.k, a, lda, p.w, p.ldw, beta, c, ldc)
		return
	}
	checkGemm("GemmTPacked", m, p.n, p.k, a, lda, p.w, p.ldw, true, c, ldc)
	gemmRun(true, m, p.n, p.k, a, lda, nil, 0, nil, p, beta, c, ldc)
}

// bPacker writes the B sliver of columns [col, col+cols) and depths
// [pc, pc+kb) into dst laid out (kb, nr), zero past cols: a B that exists
// only as a rule (a convolution's im2col matrix read from the image).
type bPacker func(dst []float32, col, cols, pc, kb, nr int)

// gemmImplicitB computes C = beta·C + A·B with A (m×k, lda) and B (k×n)
// given by its packer (m ≥ 1, n ≥ 1, k ≥ 1; shapes checked by the caller).
func gemmImplicitB(m, n, k int, a []float32, lda int, pack bPacker, beta float32, c []float32, ldc int) {
	gemmRun(false, m, n, k, a, lda, nil, 0, pack, nil, beta, c, ldc)
}

// gemmRun is the blocked GEMM; B is b (row stride ldb, transposed when
// transB), or what pack writes, or pre's slabs.
func gemmRun(transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, pack bPacker, pre *PackedT, beta float32, c []float32, ldc int) {
	if beta != 0 && beta != 1 {
		scaleRows(m, n, beta, c, ldc)
		beta = 1
	}
	t := currentTiling()
	j := gemmJobs.get()
	j.t, j.transB = t, transB
	j.m, j.n, j.k = m, n, k
	j.a, j.lda, j.b, j.ldb, j.c, j.ldc, j.beta = a, lda, b, ldb, c, ldc, beta
	j.bPacker = pack
	j.streamB = transB && 4*n*k > streamPackBytes

	pool := Default()
	threads := pool.Threads()
	parallel := threads > 1 && 2*m*n*k >= parallelGemmFlops
	mSlivers := (m + t.mr - 1) / t.mr
	j.kc, j.mc = t.blocks(n, k)
	slab := min(j.kc, k) * roundUp(min(t.nc, n), t.nr)
	if pre == nil && cap(j.bp) < slab {
		j.bp = make([]float32, slab)
	}
	j.slab = j.bp
	block := 0
	for jc := 0; jc < n; jc += t.nc {
		j.jc, j.nb = jc, min(t.nc, n-jc)
		j.nSlivers = (j.nb + t.nr - 1) / t.nr
		for pc := 0; pc < k; pc += j.kc {
			j.pc, j.kb = pc, min(j.kc, k-pc)
			if pre != nil {
				if j.sl = pre.sl; j.sl == nil {
					j.slab = pre.slabs[block]
					block++
				}
				j.rowSplit = parallel && mSlivers >= j.nSlivers
				switch {
				case !parallel:
					j.computeRange(0, mSlivers, 0, j.nSlivers)
				case j.rowSplit:
					pool.For(mSlivers, 1, j.computeFn)
				default:
					pool.For(j.nSlivers, 1, j.computeFn)
				}
				continue
			}
			// Split C the way that shares the smaller operand between the
			// threads: by rows, every thread streams all of the packed B
			// slab (up to kc×nc floats, 4 MiB, past any core's L2); by
			// columns, every thread packs all of A (m×kb).
			tall := mSlivers >= j.nSlivers
			if parallel && !tall {
				// Short, wide C (a conv's output channels over its pixels,
				// a short prompt over a layer's outputs): each thread packs
				// its own range of B slivers and multiplies them while they
				// are in its cache, then takes all of the small A — one
				// pool round per slab, and no B sliver crosses cores. (Split
				// by rows instead, a 64×4096×576 Gemm ran no faster on two
				// threads than on one.)
				j.rowSplit = false
				pool.For(j.nSlivers, 1, j.packComputeFn)
				continue
			}
			// Packing B costs kb·nb copies against m·kb·nb FMAs; split it
			// only when the slab is big enough to amortise a pool round.
			if parallel && j.nSlivers > 1 && j.kb*j.nb >= 1<<15 {
				pool.For(j.nSlivers, 1, j.packFn)
			} else {
				j.packB(0, j.nSlivers)
			}
			if !parallel {
				j.computeRange(0, mSlivers, 0, j.nSlivers)
			} else {
				// Tall C: each thread packs its own rows of A; B is shared.
				j.rowSplit = true
				pool.For(mSlivers, 1, j.computeFn)
			}
		}
	}
	j.a, j.b, j.c, j.t, j.bPacker, j.slab, j.sl = nil, nil, nil, nil, nil, nil, nil
	gemmJobs.put(j)
}

func roundUp(x, to int) int { return (x + to - 1) / to * to }

// packB packs B slivers [lo, hi) of the current slab into j.bp. Sliver s
// holds columns jc+s·nr … jc+s·nr+nr-1 of B for k in [pc, pc+kb), laid out
// (kb, nr) and zero-padded past column n.
func (j *gemmJob) packB(lo, hi int) {
	t := j.t
	nr, kb := t.nr, j.kb
	if !j.transB && j.bPacker == nil && lo == 0 && hi == j.nSlivers && hi >= stripPackSlivers {
		// The range's full slivers a row of B at a time (packColsStripAVX).
		full := min(hi, j.nb/nr) // slivers past it: none or one, part-filled
		if full > lo && packColsStripFast(j.bp[lo*kb*nr:full*kb*nr], j.b[j.pc*j.ldb+j.jc+lo*nr:], j.ldb, kb, nr, full-lo) {
			lo = full
		}
	}
	for s := lo; s < hi; s++ {
		col := j.jc + s*nr
		cols := min(nr, j.jc+j.nb-col)
		dst := j.bp[s*kb*nr : (s+1)*kb*nr]
		if j.bPacker != nil {
			j.bPacker(dst, col, cols, j.pc, kb, nr)
			continue
		}
		if j.transB {
			// W is (n, k): column col+jj of B is row col+jj of W.
			packRows(dst, j.b[col*j.ldb+j.pc:], j.ldb, cols, kb, nr, j.streamB)
		} else {
			packCols(dst, j.b[j.pc*j.ldb+col:], j.ldb, cols, kb, nr)
		}
	}
}

// compute runs the micro-kernels for a range of row slivers (rowSplit) or
// of column slivers.
func (j *gemmJob) compute(lo, hi int) {
	mSlivers := (j.m + j.t.mr - 1) / j.t.mr
	if j.rowSplit {
		j.computeRange(lo, hi, 0, j.nSlivers)
	} else {
		j.computeRange(0, mSlivers, lo, hi)
	}
}

// computeRange multiplies A row slivers [r0, r1) by B slivers [c0, c1) of
// the current slab into C, packing A mc rows at a time.
func (j *gemmJob) computeRange(r0, r1, c0, c1 int) {
	t := j.t
	mr, nr, kb := t.mr, t.nr, j.kb
	s := gemmScratches.get()
	mc := j.mc
	need := mc*kb + mr*nr
	if cap(s.buf) < need {
		s.buf = make([]float32, max(need, t.mc*t.kc+mr*nr, t.mcDeep*t.kcDeep+mr*nr))
	}
	ap := s.buf[:mc*kb]
	tile := s.buf[mc*kb : mc*kb+mr*nr]
	acc := j.pc > 0 || j.beta != 0
	perBlock := mc / mr
	for rb := r0; rb < r1; rb += perBlock {
		re := min(rb+perBlock, r1)
		i0 := rb * mr
		rows := min(re*mr, j.m) - i0
		packRows(ap[:(re-rb)*kb*mr], j.a[i0*j.lda+j.pc:], j.lda, rows, kb, mr, false)
		for js := c0; js < c1; js++ {
			bs := j.bSliver(js)
			col := j.jc + js*nr
			cols := min(nr, j.jc+j.nb-col)
			for is := rb; is < re; is++ {
				as := ap[(is-rb)*kb*mr : (is-rb+1)*kb*mr]
				row := is * mr
				if row+mr <= j.m && cols == nr {
					t.micro(kb, as, bs, j.c[row*j.ldc+col:], j.ldc, acc)
					continue
				}
				// Edge tile: compute the full padded tile aside, then
				// write back only the rows and columns that exist.
				t.micro(kb, as, bs, tile, nr, false)
				for i := 0; i < min(mr, j.m-row); i++ {
					ci := j.c[(row+i)*j.ldc+col : (row+i)*j.ldc+col+cols]
					ti := tile[i*nr : i*nr+cols]
					if acc {
						for jj := range ci {
							ci[jj] += ti[jj]
						}
					} else {
						copy(ci, ti)
					}
				}
			}
		}
	}
	gemmScratches.put(s)
}

// bSliver is B sliver js of the current slab, (kb, nr).
func (j *gemmJob) bSliver(js int) []float32 {
	kb, nr := j.kb, j.t.nr
	if j.sl != nil {
		return j.sl.sliver(j.jc+js*nr, j.pc, kb)
	}
	return j.slab[js*kb*nr : (js+1)*kb*nr]
}

// packRows packs rows of src as the columns of a panel: for each sliver of w
// consecutive rows of src (row stride ld), dst holds (kb, w) with
// dst[p*w+r] = src[r*ld+p]; rows past `rows` are zero. Used for A (slivers of
// mr rows) and for W in GemmT (slivers of nr rows); stream says src comes
// from memory once (a layer's weight), where prefetching pays.
func packRows(dst, src []float32, ld, rows, kb, w int, stream bool) {
	for s0 := 0; s0 < rows; s0 += w {
		d := dst[s0*kb : s0*kb+kb*w]
		n := min(w, rows-s0)
		if n == w && packRowsFast(d, src[s0*ld:], ld, kb, w, stream) {
			continue
		}
		for r := 0; r < n; r++ {
			row := src[(s0+r)*ld : (s0+r)*ld+kb]
			for p, v := range row {
				d[p*w+r] = v
			}
		}
		for r := n; r < w; r++ {
			for p := 0; p < kb; p++ {
				d[p*w+r] = 0
			}
		}
	}
	if pad := roundUp(rows, w); pad*kb < len(dst) {
		clear(dst[pad*kb:])
	}
}

// stripPackSlivers is the width, in B slivers, from which packB packs a
// whole slab of B (one thread packing it all) a row of B at a time across
// every sliver (packColsStripAVX) instead of one sliver at a time: each row
// is then read as one stretch of at least 64 slivers × 32 floats (8 KiB),
// which the hardware prefetchers follow, where sliver by sliver every step
// of k is a 128-byte read a row apart. Short, wide A·B at one thread ran
// 1-13 % faster (64×4096×576, 256×2048×1024, 64×2048×1024, 512×4096×512);
// two threads each packing their half that way ran 1-5 % slower, so they
// keep packing by slivers (docs/BENCHMARKS.md, "GEMM: deeper slabs for a
// tall C").
const stripPackSlivers = 64

// packCols copies a kb×cols block of src (row stride ld) into dst laid out
// (kb, w), zero-padding columns cols … w-1.
func packCols(dst, src []float32, ld, cols, kb, w int) {
	if cols == w && packColsFast(dst, src, ld, kb, w) {
		return
	}
	for p := 0; p < kb; p++ {
		d := dst[p*w : p*w+w]
		copy(d, src[p*ld:p*ld+cols])
		clear(d[cols:])
	}
}

// sgemmMicroGeneric is the portable 4×4 micro-kernel (see microKernel).
func sgemmMicroGeneric(k int, a, b, c []float32, ldc int, acc bool) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a = a[:4*k]
	b = b[:4*k]
	for p := 0; p < 4*k; p += 4 {
		ap := a[p : p+4 : p+4]
		bp := b[p : p+4 : p+4]
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	rows := [4][4]float32{{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}, {c30, c31, c32, c33}}
	for i := range rows {
		ci := c[i*ldc : i*ldc+4 : i*ldc+4]
		if acc {
			ci[0] += rows[i][0]
			ci[1] += rows[i][1]
			ci[2] += rows[i][2]
			ci[3] += rows[i][3]
		} else {
			copy(ci, rows[i][:])
		}
	}
}
