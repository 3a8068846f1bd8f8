package kernels

// Fused scaled-dot-product attention (flash attention, CPU form): for each
// query row, scores against a tile of keys, an online softmax that keeps a
// running max and sum, and the P·V product accumulated straight into the
// output row — the (SeqQ × SeqKV) score matrix is never materialised. Work is
// split over heads × query tiles on the shared pool; a decode step's one
// query row over an f16 cache (attnDecode) walks the keys in blocks across
// all its heads instead. GQA/MQA broadcast a KV head to Heads/KVHeads query
// heads by index, never by copying.

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"
)

// AttnParams describes one attention call. Q is (SeqQ, Heads, HeadDim), K and
// V are (SeqKV, KVHeads, HeadDim), Out is (SeqQ, Heads, HeadDim), all
// row-major; a row stride of 0 means packed (Heads*HeadDim or
// KVHeads*HeadDim). This layout is a KV cache's, so a decoder passes its cache
// slices straight in.
type AttnParams struct {
	Heads, KVHeads, HeadDim            int // Heads % KVHeads == 0: GQA/MQA by head broadcast
	SeqQ, SeqKV                        int
	QStride, KStride, VStride, OStride int
	Causal                             bool // query i sits at absolute position QPos0+i and sees keys 0..QPos0+i
	QPos0                              int
	Mask                               []float32 // optional additive mask (SeqQ, SeqKV), e.g. padding; nil = none
	Scale                              float32   // 0 means 1/sqrt(HeadDim)
	// Softcap > 0 soft-caps every scaled score s to Softcap·tanh(s/Softcap)
	// before the mask is added (Gemma 2's attn_logit_softcapping).
	Softcap float32
	// Window > 0 (causal only) is a sliding window: query position p sees
	// keys p-Window+1…p, llama.cpp's LLAMA_SWA_TYPE_STANDARD (Gemma 2/3's
	// local layers).
	Window int
}

// A query row that sees no key (every visible score -Inf through Mask) gets
// an all-zero output row in both FlashAttention and AttentionNaive.

// Tile sizes: a K tile and a V tile of attnKTile rows × 64 dims are 16 KiB
// each, so both stay in L1/L2 while a query tile of attnQTile rows walks them.
const (
	attnQTile = 32
	attnKTile = 128
)

// normalize fills strides and scale and checks every dimension and length.
func (p *AttnParams) normalize(out, q []float32, nk, nv int) error {
	switch {
	case p.Heads <= 0 || p.KVHeads <= 0 || p.HeadDim <= 0:
		return fmt.Errorf("attention: heads %d, kv heads %d, head dim %d must be positive", p.Heads, p.KVHeads, p.HeadDim)
	case p.Heads%p.KVHeads != 0:
		return fmt.Errorf("attention: heads %d not a multiple of kv heads %d", p.Heads, p.KVHeads)
	case p.SeqQ < 0 || p.SeqKV < 0 || p.QPos0 < 0:
		return fmt.Errorf("attention: negative seq q %d, seq kv %d or q pos %d", p.SeqQ, p.SeqKV, p.QPos0)
	case p.QStride < 0 || p.KStride < 0 || p.VStride < 0 || p.OStride < 0:
		return errors.New("attention: negative stride")
	case math.IsNaN(float64(p.Scale)) || math.IsInf(float64(p.Scale), 0):
		return fmt.Errorf("attention: scale %v", p.Scale)
	case !(p.Softcap >= 0) || math.IsInf(float64(p.Softcap), 0):
		return fmt.Errorf("attention: soft-cap %v", p.Softcap)
	case p.Window < 0 || p.Window > 0 && !p.Causal:
		return fmt.Errorf("attention: sliding window %d needs a causal, non-negative window", p.Window)
	}
	qw, kw := p.Heads*p.HeadDim, p.KVHeads*p.HeadDim
	if p.QStride == 0 {
		p.QStride = qw
	}
	if p.OStride == 0 {
		p.OStride = qw
	}
	if p.KStride == 0 {
		p.KStride = kw
	}
	if p.VStride == 0 {
		p.VStride = kw
	}
	if p.QStride < qw || p.OStride < qw || p.KStride < kw || p.VStride < kw {
		return fmt.Errorf("attention: strides q %d, o %d below %d or k %d, v %d below %d",
			p.QStride, p.OStride, qw, p.KStride, p.VStride, kw)
	}
	if p.Scale == 0 {
		p.Scale = float32(1 / math.Sqrt(float64(p.HeadDim)))
	}
	need := func(name string, have, rows, stride, width int) error {
		if rows == 0 {
			return nil
		}
		if n := (rows-1)*stride + width; have < n {
			return fmt.Errorf("attention: %s has %d floats, need %d", name, have, n)
		}
		return nil
	}
	if err := need("q", len(q), p.SeqQ, p.QStride, qw); err != nil {
		return err
	}
	if err := need("out", len(out), p.SeqQ, p.OStride, qw); err != nil {
		return err
	}
	if err := need("k", nk, p.SeqKV, p.KStride, kw); err != nil {
		return err
	}
	if err := need("v", nv, p.SeqKV, p.VStride, kw); err != nil {
		return err
	}
	if p.Mask != nil && len(p.Mask) < p.SeqQ*p.SeqKV {
		return fmt.Errorf("attention: mask has %d floats, need %d×%d", len(p.Mask), p.SeqQ, p.SeqKV)
	}
	return nil
}

// keyLimit is how many keys query row i sees (keys 0..limit-1).
func (p *AttnParams) keyLimit(i int) int {
	if p.Causal {
		return min(p.SeqKV, p.QPos0+i+1)
	}
	return p.SeqKV
}

// keyStart is the first key query row i sees (0 without a sliding window).
func (p *AttnParams) keyStart(i int) int {
	if p.Window > 0 {
		return max(0, p.QPos0+i-p.Window+1)
	}
	return 0
}

// firstKeyTile is where the key tiles of query rows i0… start: the tile
// holding the first row's first visible key (later rows see no earlier key).
func (p *AttnParams) firstKeyTile(i0 int) int {
	return p.keyStart(i0) / attnKTile * attnKTile
}

// shaped reports whether scores need scoreRow (soft-capping or a window).
func (p *AttnParams) shaped() bool { return p.Softcap > 0 || p.Window > 0 }

// scoreRow turns query row i's raw dot products with keys j0… (sc) into
// scores: scaled, soft-capped, masked, and -Inf before the window; it
// returns their max.
func (p *AttnParams) scoreRow(sc []float32, i, j0 int) float32 {
	negInf := float32(math.Inf(-1))
	lo := p.keyStart(i) - j0
	mx := negInf
	for j, x := range sc {
		x *= p.Scale
		if p.Softcap > 0 {
			x = p.Softcap * float32(math.Tanh(float64(x/p.Softcap)))
		}
		if p.Mask != nil {
			x += p.Mask[i*p.SeqKV+j0+j]
		}
		if j < lo {
			x = negInf
		}
		sc[j] = x
		mx = max(mx, x)
	}
	return mx
}

// attnScratch is one worker's state for a query tile: running max and sum per
// row and a row of scores. Pooled, so steady-state calls do not allocate it.
type attnScratch struct {
	m, l   [attnQTile]float32
	scores [attnKTile]float32
	tile   [attnQTile * attnKTile]float32 // (query rows, keys) of one tile, for the GEMM path
	kf, vf []float32                      // (keys, head_dim) one K and V tile widened from halves, GEMM path
	// attnDecode: a key tile's scores of each of its heads (heads, attnKTile)
	// and each head's running max and sum; grown on first use.
	dsc, dm, dl []float32
	dlive       []bool
	short       attnShortScratch // keys and values of a head on the short path (attention_short.go)
	pk          attnPacked       // the GEMM path's K and V of one KV head, packed once per call
}

// attnPacked is a worker's K and V of one KV head packed as the GEMM path's
// micro-kernels read them, key tile by key tile as its query tiles first
// need them: every query tile of the head (and of the heads sharing it)
// reuses them. Packed per query tile instead, each head's K and Vᵀ were
// packed SeqQ/attnQTile times a call, 8–13 % of FastSpeech 2's decoder.
// Tile ti holds keys [ti·attnKTile, ti·attnKTile+rows) with rows =
// min(attnKTile, SeqKV − ti·attnKTile): K as GemmT's B slab (slivers of nr
// keys, (HeadDim, nr) each) and V as Gemm's (slivers of nr dims, (rows, nr)).
type attnPacked struct {
	kh     int       // the KV head held; -1 none
	done   []bool    // per key tile: packed
	k, v   []float32 // per key tile, kStep and vStep floats apart
	kStep  int
	vStep  int
	kView  PackedT // one tile's slab handed to gemmRun
	vView  PackedT
	kSlabs [1][]float32
	vSlabs [1][]float32
}

// attnPackable reports whether a call's K and V can be packed once (its
// query tiles take the GEMM path more than once) and in the one slab per
// product that gemmRun cuts them into for a tile, so each tile's products
// are the unpacked path's bit for bit.
func (p *AttnParams) attnPackable(qTiles int) bool {
	t := currentTiling()
	kc, _ := t.blocks(attnKTile, p.HeadDim)
	return qTiles > 1 && p.HeadDim <= kc && p.HeadDim <= t.nc && attnKTile <= t.nc && attnKTile <= t.kc
}

// reset empties the pack and sizes it for a call.
func (pk *attnPacked) reset(p *AttnParams) {
	t := currentTiling()
	tiles := (p.SeqKV + attnKTile - 1) / attnKTile
	pk.kh = -1
	pk.kStep = roundUp(attnKTile, t.nr) * p.HeadDim
	pk.vStep = attnKTile * roundUp(p.HeadDim, t.nr)
	if cap(pk.done) < tiles {
		pk.done = make([]bool, tiles)
	}
	pk.done = pk.done[:tiles]
	if cap(pk.k) < tiles*pk.kStep {
		pk.k = make([]float32, tiles*pk.kStep)
	}
	if cap(pk.v) < tiles*pk.vStep {
		pk.v = make([]float32, tiles*pk.vStep)
	}
	pk.kView.slabs, pk.vView.slabs = pk.kSlabs[:], pk.vSlabs[:]
}

// tile returns key tile ti of KV head kh, packing it on first use: K's and
// V's slabs and the tile's rows.
func (pk *attnPacked) tile(k, v kvRows, p *AttnParams, kh, ti int, s *attnScratch) (kp, vp []float32, rows int) {
	if pk.kh != kh {
		pk.kh = kh
		clear(pk.done)
	}
	d, j0 := p.HeadDim, ti*attnKTile
	rows = min(attnKTile, p.SeqKV-j0)
	kp, vp = pk.k[ti*pk.kStep:(ti+1)*pk.kStep], pk.v[ti*pk.vStep:(ti+1)*pk.vStep]
	if !pk.done[ti] {
		nr := currentTiling().nr
		kt, ldk := k.at(j0*p.KStride+kh*d).tile(&s.kf, p.KStride, d, rows)
		vt, ldv := v.at(j0*p.VStride+kh*d).tile(&s.vf, p.VStride, d, rows)
		packRows(kp[:roundUp(rows, nr)*d], kt, ldk, rows, d, nr, false)
		for c := 0; c < d; c += nr {
			packCols(vp[c/nr*rows*nr:(c/nr+1)*rows*nr], vt[c:], ldv, min(nr, d-c), rows, nr)
		}
		pk.done[ti] = true
	}
	return kp, vp, rows
}

var attnScratchPool = sync.Pool{New: func() any { return new(attnScratch) }}

// AttnScratchBytes is the working memory one FlashAttention worker holds
// (beyond q, k, v and out): the whole extra memory of a call is this times
// the pool's thread count, independent of sequence length. FlashAttentionF16
// adds two widened tiles of attnKTile × HeadDim floats per worker. A call of
// more than one query tile on the GEMM path adds, per worker, one KV head's
// K and V packed (attnPacked): 2 × SeqKV × HeadDim floats, each rounded up
// to whole key tiles and micro-kernel slivers.
const AttnScratchBytes = int(4*(2*attnQTile+attnKTile+attnQTile*attnKTile)) + int(unsafe.Sizeof(attnShortScratch{}))

// attnGemmRows is the smallest query tile that takes the GEMM path: below it
// (decode, short tails) the per-row SIMD dot products win.
const attnGemmRows = 4

// FlashAttention computes out = softmax(q·kᵀ·Scale + mask)·v per head, with
// the layout and options of AttnParams. It fails, writing nothing, on bad
// dimensions or short slices.
func FlashAttention(out, q, k, v []float32, p AttnParams) error {
	return flashAttention(out, q, kvRows{f32: k}, kvRows{f32: v}, p)
}

// flashAttention is FlashAttention, FlashAttentionF16 and FlashAttentionQ8.
func flashAttention(out, q []float32, k, v kvRows, p AttnParams) error {
	if err := p.normalize(out, q, k.len(), v.len()); err != nil {
		return err
	}
	if p.SeqQ == 0 {
		return nil
	}
	if p.SeqQ == 1 && k.widened() {
		attnDecodeHeads(out, q, k, v, &p)
		return nil
	}
	qTiles := (p.SeqQ + attnQTile - 1) / attnQTile
	items := p.Heads * qTiles
	// Workers pull (head, query tile) items from a counter: causal tiles
	// differ in cost, so a static split would leave one core idle. Items run
	// last tile first (the most keys) so the small ones fill in at the end.
	pool := Default()
	workers := min(pool.Threads(), items)
	if workers <= 1 {
		var next atomic.Int64
		attnWorker(out, q, k, v, &p, qTiles, items, &next)
		return nil
	}
	// A pooled job with its method value bound once: a closure handed to
	// the pool would be a heap allocation per call (per layer and token).
	j := attnJobs.Get().(*attnJob)
	j.out, j.q, j.k, j.v, j.p, j.qTiles, j.items = out, q, k, v, p, qTiles, items
	j.next.Store(0)
	pool.For(workers, 1, j.fn)
	*j = attnJob{fn: j.fn, dfn: j.dfn}
	attnJobs.Put(j)
	return nil
}

// attnJob is one FlashAttention call's shared state for the pool's workers.
type attnJob struct {
	out, q        []float32
	k, v          kvRows
	p             AttnParams
	qTiles, items int
	next          atomic.Int64
	fn            func(lo, hi int) // j.run
	dfn           func(lo, hi int) // j.runDecode
}

var attnJobs = sync.Pool{New: func() any { j := new(attnJob); j.fn = j.run; j.dfn = j.runDecode; return j }}

// runDecode is attnDecode for heads [lo, hi) of a decode step.
func (j *attnJob) runDecode(lo, hi int) {
	s := attnScratchPool.Get().(*attnScratch)
	attnDecode(j.out, j.q, j.k, j.v, &j.p, lo, hi, s)
	attnScratchPool.Put(s)
}

// attnDecodeHeads runs a decode step's attention (SeqQ = 1): attnDecode over
// all heads on one thread, or split by heads over the pool's.
func attnDecodeHeads(out, q []float32, k, v kvRows, p *AttnParams) {
	pool := Default()
	if min(pool.Threads(), p.Heads) <= 1 {
		s := attnScratchPool.Get().(*attnScratch)
		attnDecode(out, q, k, v, p, 0, p.Heads, s)
		attnScratchPool.Put(s)
		return
	}
	j := attnJobs.Get().(*attnJob)
	j.out, j.q, j.k, j.v, j.p = out, q, k, v, *p
	pool.For(p.Heads, 1, j.dfn)
	*j = attnJob{fn: j.fn, dfn: j.dfn}
	attnJobs.Put(j)
}

func (j *attnJob) run(lo, hi int) {
	for w := lo; w < hi; w++ {
		attnWorker(j.out, j.q, j.k, j.v, &j.p, j.qTiles, j.items, &j.next)
	}
}

// attnWorker runs (head, query tile) items taken from next until none is
// left (qTiles tiles per head, items in all).
func attnWorker(out, q []float32, k, v kvRows, p *AttnParams, qTiles, items int, next *atomic.Int64) {
	s := attnScratchPool.Get().(*attnScratch)
	short := p.shortKeys(k)
	var pk *attnPacked
	if !short && p.attnPackable(qTiles) {
		pk = &s.pk
		pk.reset(p)
	}
	for {
		it := int(next.Add(1) - 1)
		if it >= items {
			break
		}
		tile := qTiles - 1 - it/p.Heads
		h := it % p.Heads
		if pk != nil {
			// Head by head, so a worker packs each KV head it meets
			// once; within a head still last tile first.
			tile, h = qTiles-1-it%qTiles, it/qTiles
		}
		i0, i1 := tile*attnQTile, min((tile+1)*attnQTile, p.SeqQ)
		if short {
			attnShort(out, q, k, v, p, h, i0, i1, &s.short)
		} else if i1-i0 >= attnGemmRows {
			attnTileGemm(out, q, k, v, p, h, i0, i1, s, pk)
		} else {
			attnTile(out, q, k, v, p, h, i0, i1, s)
		}
	}
	attnScratchPool.Put(s)
}

// scaleMax multiplies the scores by scale and returns their max (-Inf for
// none; a NaN score is skipped, and comes out of the softmax as NaN anyway).
// Comparisons rather than the max builtin, whose NaN rule costs a branch
// chain per element: this loop was a quarter of a decode step's attention.
func scaleMax(sc []float32, scale float32) float32 {
	mx := float32(math.Inf(-1))
	for j, x := range sc {
		x *= scale
		sc[j] = x
		if x > mx {
			mx = x
		}
	}
	return mx
}

// attnTile runs head h for query rows [i0, i1): for each K/V tile, each row's
// scores, online-softmax rescale, and P·V accumulated into the output row.
func attnTile(out, q []float32, k, v kvRows, p *AttnParams, h, i0, i1 int, s *attnScratch) {
	d := p.HeadDim
	kh := h / (p.Heads / p.KVHeads)
	negInf := float32(math.Inf(-1))
	for i := i0; i < i1; i++ {
		s.m[i-i0], s.l[i-i0] = negInf, 0
		clear(out[i*p.OStride+h*d : i*p.OStride+h*d+d])
	}
	// The causal limit of the tile's last row bounds every row in it: key
	// tiles past it are skipped whole.
	kEnd := p.keyLimit(i1 - 1)
	for j0 := p.firstKeyTile(i0); j0 < kEnd; j0 += attnKTile {
		j1 := min(j0+attnKTile, kEnd)
		ko, vo := j0*p.KStride+kh*d, j0*p.VStride+kh*d
		for i := i0; i < i1; i++ {
			n := min(j1, p.keyLimit(i)) - j0
			if n <= 0 {
				continue
			}
			sc := s.scores[:n]
			k.dots(ko, sc, q[i*p.QStride+h*d:], p.KStride, d, n)
			o := out[i*p.OStride+h*d : i*p.OStride+h*d+d]
			if p.softmaxStep(sc, i, j0, &s.m[i-i0], &s.l[i-i0], o) {
				v.accRows(vo, o, sc, p.VStride, d, n)
			}
		}
	}
	for i := i0; i < i1; i++ {
		normalizeRow(out[i*p.OStride+h*d:i*p.OStride+h*d+d], s.l[i-i0])
	}
}

// softmaxStep turns query row i's raw dot products with keys j0… (sc) into
// the softmax numerators under the row's running max *m, rescaling what
// the output row o and the running sum *l hold when the max grows. It
// reports false when every key so far is masked out (sc is then not to be
// accumulated).
func (p *AttnParams) softmaxStep(sc []float32, i, j0 int, m, l *float32, o []float32) bool {
	negInf := float32(math.Inf(-1))
	mx := negInf
	if p.shaped() {
		mx = p.scoreRow(sc, i, j0)
	} else if p.Mask != nil {
		mrow := p.Mask[i*p.SeqKV+j0 : i*p.SeqKV+j0+len(sc)]
		for j, x := range sc {
			x = x*p.Scale + mrow[j]
			sc[j] = x
			mx = max(mx, x)
		}
	} else {
		mx = scaleMax(sc, p.Scale)
	}
	mOld := *m
	mNew := max(mOld, mx)
	if mNew == negInf {
		return false
	}
	sum := vecExpSub(sc, mNew)
	if mNew != mOld {
		// Rescale what was accumulated under the old max.
		alpha := expf(mOld - mNew)
		*l *= alpha
		for c := range o {
			o[c] *= alpha
		}
	}
	*l += sum
	*m = mNew
	return true
}

// normalizeRow divides an output row by its softmax sum l (a row that saw
// no key, l = 0, is all zeros).
func normalizeRow(o []float32, l float32) {
	if l == 0 {
		clear(o)
		return
	}
	inv := 1 / l
	for c := range o {
		o[c] *= inv
	}
}

// attnDecodeRows is the number of keys attnDecode reads for every head
// before moving on: a multiple of the four-key score kernels' step, so
// each head's scores group as attnTile's do.
const attnDecodeRows = 16

// attnDecode is attnTile for the one query row of a decode step (SeqQ = 1),
// heads [h0, h1): the same scores, online softmax and P·V sums, bit for
// bit, in another order. attnTile takes a head at a time through the whole
// cache, one head's HeadDim halves of each position (a stride of the
// cache row): a token's attention was a quarter of a quantized decode step,
// most of it waiting on memory (docs/BENCHMARKS.md). Here, within each key
// tile, a block of attnDecodeRows positions is read for every head before
// the next block, so each cache row is consumed whole while it is in L1,
// and the score and P·V kernels' prefetches of the rows a block further on
// (attention_f16_amd64.s) fetch the next block's rows whole.
func attnDecode(out, q []float32, k, v kvRows, p *AttnParams, h0, h1 int, s *attnScratch) {
	d := p.HeadDim
	g := p.Heads / p.KVHeads
	nh := h1 - h0
	if cap(s.dm) < nh {
		s.dm, s.dl, s.dlive = make([]float32, nh), make([]float32, nh), make([]bool, nh)
	}
	if cap(s.dsc) < nh*attnKTile {
		s.dsc = make([]float32, nh*attnKTile)
	}
	ms, ls, live := s.dm[:nh], s.dl[:nh], s.dlive[:nh]
	negInf := float32(math.Inf(-1))
	for r := range nh {
		ms[r], ls[r] = negInf, 0
		clear(out[(h0+r)*d : (h0+r)*d+d])
	}
	kEnd := p.keyLimit(0)
	for j0 := p.firstKeyTile(0); j0 < kEnd; j0 += attnKTile {
		n := min(j0+attnKTile, kEnd) - j0
		for b := 0; b < n; b += attnDecodeRows {
			nb := min(attnDecodeRows, n-b)
			for h := h0; h < h1; h++ {
				sc := s.dsc[(h-h0)*attnKTile+b : (h-h0)*attnKTile+b+nb]
				k.dots((j0+b)*p.KStride+h/g*d, sc, q[h*d:], p.KStride, d, nb)
			}
		}
		for h := h0; h < h1; h++ {
			r := h - h0
			live[r] = p.softmaxStep(s.dsc[r*attnKTile:r*attnKTile+n], 0, j0, &ms[r], &ls[r], out[h*d:h*d+d])
		}
		for b := 0; b < n; b += attnDecodeRows {
			nb := min(attnDecodeRows, n-b)
			for h := h0; h < h1; h++ {
				if live[h-h0] {
					w := s.dsc[(h-h0)*attnKTile+b : (h-h0)*attnKTile+b+nb]
					v.accRows((j0+b)*p.VStride+h/g*d, out[h*d:h*d+d], w, p.VStride, d, nb)
				}
			}
		}
	}
	for h := h0; h < h1; h++ {
		normalizeRow(out[h*d:h*d+d], ls[h-h0])
	}
}

// attnTileGemm is attnTile for a block of query rows, with both products as
// small GEMMs on the core's micro-kernels: S = Q_tile·K_tileᵀ (rows × keys,
// one L1-sized tile), the online-softmax update per row in place, then
// O_tile += P·V_tile. Same algorithm and result as attnTile (online softmax
// over key tiles, no score matrix beyond one tile), at GEMM speed.
//
// pk, when not nil, holds (or packs on first use) the head's K and V tiles:
// the products read them without packing. A tile cut short by the causal
// limit (nk below its packed rows) reads the packed K's first nk keys, but
// multiplies by V unpacked: Gemm's V slab is laid out by its depth.
func attnTileGemm(out, q []float32, k, v kvRows, p *AttnParams, h, i0, i1 int, s *attnScratch, pk *attnPacked) {
	d := p.HeadDim
	kh := h / (p.Heads / p.KVHeads)
	nq := i1 - i0
	negInf := float32(math.Inf(-1))
	for i := i0; i < i1; i++ {
		s.m[i-i0], s.l[i-i0] = negInf, 0
		clear(out[i*p.OStride+h*d : i*p.OStride+h*d+d])
	}
	qt := q[i0*p.QStride+h*d:]
	ot := out[i0*p.OStride+h*d:]
	kEnd := p.keyLimit(i1 - 1)
	for j0 := p.firstKeyTile(i0); j0 < kEnd; j0 += attnKTile {
		nk := min(j0+attnKTile, kEnd) - j0
		st := s.tile[:nq*attnKTile]
		var vp []float32
		if pk != nil {
			kp, vpk, rows := pk.tile(k, v, p, kh, j0/attnKTile, s)
			pk.kSlabs[0] = kp
			gemmRun(true, nq, nk, d, qt, p.QStride, nil, 0, nil, &pk.kView, 0, st, attnKTile) // (nq, nk)
			if nk == rows {
				vp = vpk
			}
		} else {
			kt, ldk := k.at(j0*p.KStride+kh*d).tile(&s.kf, p.KStride, d, nk)
			GemmT(nq, nk, d, qt, p.QStride, kt, ldk, 0, st, attnKTile) // (nq, nk)
		}
		for r := 0; r < nq; r++ {
			i := i0 + r
			sc := st[r*attnKTile : r*attnKTile+nk]
			n := min(nk, p.keyLimit(i)-j0) // keys this row sees in the tile
			mx := negInf
			switch {
			case p.shaped():
				mx = p.scoreRow(sc[:max(n, 0)], i, j0)
			case p.Mask == nil:
				mx = vecScaleMax(sc[:max(n, 0)], p.Scale)
			default:
				for j := 0; j < max(n, 0); j++ {
					x := sc[j] * p.Scale
					if p.Mask != nil {
						x += p.Mask[i*p.SeqKV+j0+j]
					}
					sc[j] = x
					mx = max(mx, x)
				}
			}
			mNew := max(s.m[r], mx)
			if n <= 0 || mNew == negInf {
				clear(sc) // nothing visible yet: this row adds nothing
				continue
			}
			clear(sc[n:])
			sum := vecExpSub(sc[:n], mNew)
			if mOld := s.m[r]; mNew != mOld {
				alpha := expf(mOld - mNew)
				s.l[r] *= alpha
				vecScaleMax(ot[r*p.OStride:r*p.OStride+d], alpha) // o *= alpha
			}
			s.l[r] += sum
			s.m[r] = mNew
		}
		if vp != nil {
			pk.vSlabs[0] = vp
			gemmRun(false, nq, d, nk, st, attnKTile, nil, 0, nil, &pk.vView, 1, ot, p.OStride) // O += P·V
		} else {
			vt, ldv := v.at(j0*p.VStride+kh*d).tile(&s.vf, p.VStride, d, nk)
			Gemm(nq, d, nk, st, attnKTile, vt, ldv, 1, ot, p.OStride) // O += P·V
		}
	}
	for r := 0; r < nq; r++ {
		o := ot[r*p.OStride : r*p.OStride+d]
		if l := s.l[r]; l == 0 {
			clear(o)
		} else {
			vecScaleMax(o, 1/l) // o *= 1/l
		}
	}
}

// AttentionNaive is the reference: per head it materialises the full
// (SeqQ × SeqKV) score matrix, takes a row softmax in float64 and multiplies
// by V with plain loops. It allocates the score matrix once per call.
func AttentionNaive(out, q, k, v []float32, p AttnParams) error {
	if err := p.normalize(out, q, len(k), len(v)); err != nil {
		return err
	}
	d := p.HeadDim
	scores := make([]float64, p.SeqQ*p.SeqKV) // (SeqQ, SeqKV), one head at a time
	acc := make([]float64, d)                 // one output row
	for h := 0; h < p.Heads; h++ {
		kh := h / (p.Heads / p.KVHeads)
		for i := 0; i < p.SeqQ; i++ {
			qi := q[i*p.QStride+h*d : i*p.QStride+h*d+d]
			row := scores[i*p.SeqKV : (i+1)*p.SeqKV]
			for j := range row {
				if j >= p.keyLimit(i) || j < p.keyStart(i) {
					row[j] = math.Inf(-1)
					continue
				}
				kj := k[j*p.KStride+kh*d : j*p.KStride+kh*d+d]
				var dot float64
				for c := range qi {
					dot += float64(qi[c]) * float64(kj[c])
				}
				row[j] = dot * float64(p.Scale)
				if p.Softcap > 0 {
					row[j] = float64(p.Softcap) * math.Tanh(row[j]/float64(p.Softcap))
				}
				if p.Mask != nil {
					row[j] += float64(p.Mask[i*p.SeqKV+j])
				}
			}
			mx := math.Inf(-1)
			for _, x := range row {
				mx = math.Max(mx, x)
			}
			var sum float64
			for j, x := range row {
				e := 0.0
				if !math.IsInf(mx, -1) {
					e = math.Exp(x - mx)
				}
				row[j] = e
				sum += e
			}
			for j := range row {
				if sum > 0 {
					row[j] /= sum
				}
			}
		}
		for i := 0; i < p.SeqQ; i++ {
			clear(acc)
			for j, w := range scores[i*p.SeqKV : (i+1)*p.SeqKV] {
				if w == 0 {
					continue
				}
				for c, x := range v[j*p.VStride+kh*d : j*p.VStride+kh*d+d] {
					acc[c] += w * float64(x)
				}
			}
			o := out[i*p.OStride+h*d : i*p.OStride+h*d+d]
			for c := range o {
				o[c] = float32(acc[c])
			}
		}
	}
	return nil
}
