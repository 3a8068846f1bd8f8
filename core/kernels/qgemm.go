package kernels

// The int8 GEMM of q4_0 and q8_0 weights against q8s activations, for
// batches (prefill): ggml's repacked GEMM, packing on the fly. MatMulQ packs
// sixteen weight rows at a time into a panel (per block: eight 64-byte
// vectors, vector t holding elements 4t…4t+3 of each of the sixteen rows as
// unsigned levels, then the sixteen f32 block scales), so that one VPDPBUSD
// multiplies four elements of one activation row, broadcast, against sixteen
// weight rows at once; eight activation rows share each panel vector. Per
// block a row's sums are exact integers; the levels' offset (8 for q4_0's
// nibbles, 128 for q8_0's bytes + 128) comes off through q8s's Σq, then one
// multiply-add by d_w·d_x. Packing costs one pass over the weights per call,
// against m passes of arithmetic; a full panel packs by loads and a dword
// transpose (the *Full packers), a tail panel by gathers, which are slow.
//
// The K-quants (q4_K, q5_K, q6_K) pack the same way against q8_K
// activations, per super-block of 256 (kPanel): 64 level vectors (levels
// made unsigned: q6_K's + 32), one vector of int32 sub-block scales per
// group (8 groups of 32 for q4_K/q5_K, 16 of 16 for q6_K), eight vectors of
// int16 pairs that meet q8_K's bsums in VPDPWSSD (q4_K's mins, or q6_K's
// offset 32·scale), then the f32 d (and dmin) of the sixteen rows. Per
// super-block and pair of rows the sums stay exact integers, as in dotK.

import (
	"encoding/binary"
	"math"
)

const (
	qgRows       = 16          // weight rows per panel: one zmm of int32 lanes
	qgActRows    = 8           // activation rows per micro-kernel call
	qgBlockBytes = 8*64 + 4*16 // a panel's block: levels, then scales
	qgMinRows    = 8           // MatMulQ takes this path from this many rows
)

// qgemm is one type's packer and micro-kernel.
type qgemm struct {
	pack  func(dst, w *byte, rb, nb, rows int)
	full  func(dst, w *byte, rb, nb, rows int) // pack for sixteen rows, or nil
	r8    func(dst, w *byte, nb int)           // pack two groups of the type's repacked layout, or nil
	micro func(p, x *byte, xs, nb int, out *[qgActRows * qgRows]float32)
	act   DType // the activations' type: q8s or q8_K
	block int   // bytes of one block (super-block) of a panel
	shift int   // q4_0/q8_0: the levels' offset is 1<<shift
}

// qgemmFor returns the packed GEMM of d for the current implementation, or
// nil.
func qgemmFor(d DType) *qgemm {
	if !useAVX512 || !hasVNNI {
		return nil
	}
	switch d {
	case Q4_0:
		return &qgemmQ4_0
	case Q8_0:
		return &qgemmQ8_0
	case Q4_K:
		return &qgemmQ4_K
	case Q5_K:
		return &qgemmQ5_K
	case Q6_K:
		return &qgemmQ6_K
	}
	return nil
}

var (
	qgemmQ4_0 = qgemm{pack: packQ4_0x16, full: packQ4_0x16Full, r8: packQ4_0R8x16, micro: qgemmQ4_0x8VNNI, act: Q8S, block: qgBlockBytes, shift: 3}
	qgemmQ8_0 = qgemm{pack: packQ8_0x16, full: packQ8_0x16Full, micro: qgemmQ8_0x8VNNI, act: Q8S, block: qgBlockBytes, shift: 7}
	qgemmQ4_K = qgemm{pack: packQ4_Kx16, full: packQ4_Kx16Full, micro: qgemmK8x8VNNI, act: Q8_K, block: kPanelOf(Q4_K).bytes()}
	qgemmQ5_K = qgemm{pack: packQ5_Kx16, full: packQ5_Kx16Full, micro: qgemmK8x8VNNI, act: Q8_K, block: kPanelOf(Q5_K).bytes()}
	qgemmQ6_K = qgemm{pack: packQ6_Kx16, full: packQ6_Kx16Full, micro: qgemmK16x8VNNI, act: Q8_K, block: kPanelOf(Q6_K).bytes()}
)

// packPanel packs rows ≤ 16 weight rows: the gather-free packer for a full
// panel where the type has one.
func (g *qgemm) packPanel(dst, w *byte, rb, nb, rows int) {
	if rows == qgRows && g.full != nil {
		g.full(dst, w, rb, nb, rows)
		return
	}
	g.pack(dst, w, rb, nb, rows)
}

// qgemmBufs recycles the per-worker panels and unpacked rows, qgemmActs
// the quantized activations. Two lists, because a buffer only ever grows: in
// one list every buffer a worker took for a small panel came to hold a
// whole prompt's activations after a later call took it for those.
var qgemmBufs, qgemmActs = newFreeList[[]byte](16, nil), newFreeList[[]byte](16, nil)

// qgemmBuf returns a buffer of n bytes from list.
func qgemmBuf(list *freeList[[]byte], n int) *[]byte {
	b := list.get()
	if cap(*b) < n {
		*b = make([]byte, n)
	}
	*b = (*b)[:n]
	return b
}

// matMulQgemm is MatMulQ for a batch of m ≥ qgMinRows rows of a type with a
// packed GEMM: quantize the rows to q8s once (padded with zero rows to a
// multiple of eight), then, panel by panel of sixteen weight rows split over
// the pool, pack the panel and run every group of eight rows against it.
// rt, when not nil, is the repacked layout w is in: a panel of two whole
// groups packs from it directly where g has r8, other panels by way of the
// source layout (unpacked sixteen rows at a time).
func matMulQgemm(y []float32, w []byte, g *qgemm, x []float32, m, n, k, rb int, rt *Traits) {
	act := &traits[g.act]
	nb := k / act.BlockSize
	xs := nb * act.BlockBytes
	mpad := (m + qgActRows - 1) / qgActRows * qgActRows
	xbuf := qgemmBuf(qgemmActs, mpad*xs)
	xq := *xbuf
	act.fromFloat(xq[:m*xs], x[:m*k])
	clear(xq[m*xs:])
	panels := (n + qgRows - 1) / qgRows
	ParallelFor(panels, 1, func(lo, hi int) {
		pbuf := qgemmBuf(qgemmBufs, nb*g.block)
		p := *pbuf
		var out [qgActRows * qgRows]float32
		var ubuf *[]byte // the last panel of a repacked matrix, unpacked
		for pi := lo; pi < hi; pi++ {
			r0 := pi * qgRows
			rows := min(qgRows, n-r0)
			switch {
			case rt == nil:
				g.packPanel(&p[0], &w[r0*rb], rb, nb, rows)
			case g.r8 != nil && r0+qgRows <= n/RepackRows*RepackRows:
				g.r8(&p[0], &w[r0*rb], nb)
			default:
				if ubuf == nil {
					ubuf = qgemmBuf(qgemmBufs, qgRows*rb)
				}
				unrepackRows(*ubuf, w, rt, n, rb, nb, r0, rows)
				g.packPanel(&p[0], &(*ubuf)[0], rb, nb, rows)
			}
			for i := 0; i < m; i += qgActRows {
				g.micro(&p[0], &xq[i*xs], xs, nb, &out)
				for a := 0; a < min(qgActRows, m-i); a++ {
					copy(y[(i+a)*n+r0:(i+a)*n+r0+rows], out[a*qgRows:a*qgRows+rows])
				}
			}
		}
		qgemmBufs.put(pbuf)
		if ubuf != nil {
			qgemmBufs.put(ubuf)
		}
	})
	qgemmActs.put(xbuf)
}

// packPanelRef is the panel layout's reference: rows ≤ 16 weight rows of
// type d (q4_0 or q8_0) from w, rb bytes apart; lanes past rows are zero.
func packPanelRef(dst []byte, d DType, w []byte, rb, nb, rows int) {
	var v [qk32]int32
	levels, off := levelsQ4_0, int32(8)
	if d == Q8_0 {
		levels, off = levelsQ8_0, 128
	}
	bb := d.BlockBytes()
	clear(dst[:nb*qgBlockBytes])
	for b := 0; b < nb; b++ {
		p := dst[b*qgBlockBytes : (b+1)*qgBlockBytes]
		for r := 0; r < rows; r++ {
			dw, _ := levels(w[r*rb+b*bb:r*rb+(b+1)*bb], &v)
			for e, q := range v {
				p[64*(e/4)+4*r+e%4] = byte(q + off)
			}
			putF32(p[512+4*r:], dw)
		}
	}
}

// qgemmRef is the micro-kernel's reference: out[i·16+j] = Σ over nb blocks
// of d_w[j]·d_x[i]·(Σ u·q − (Σq << shift)) for activation row i (xs bytes
// apart, q8s) and panel lane j.
func qgemmRef(p, x []byte, xs, nb, shift int, out []float32) {
	clear(out[:qgActRows*qgRows])
	for i := 0; i < qgActRows; i++ {
		for b := 0; b < nb; b++ {
			xb := x[i*xs+b*Q8SBytes:]
			dx := getF32(xb)
			sq := int32(uint32(xb[4]) | uint32(xb[5])<<8 | uint32(xb[6])<<16 | uint32(xb[7])<<24)
			pb := p[b*qgBlockBytes:]
			for j := 0; j < qgRows; j++ {
				var acc int32
				for e := 0; e < qk32; e++ {
					acc += int32(pb[64*(e/4)+4*j+e%4]) * int32(int8(xb[8+e]))
				}
				acc -= sq << shift
				out[i*qgRows+j] += float32(acc) * (getF32(pb[512+4*j:]) * dx)
			}
		}
	}
}

// kPanel is the layout of a K-quant panel's super-block: 64 level vectors,
// then groups vectors of int32 scales, eight of int16 pairs against q8_K's
// bsums, sixteen f32 d and, for the types with mins, sixteen f32 dmin.
type kPanel struct {
	groups int  // 8 (sub-blocks of 32) or 16 (of 16)
	sym    bool // no mins: the pairs carry the levels' offset, d·(isum − msum)
	offset int32
}

func kPanelOf(d DType) kPanel {
	if d == Q6_K {
		return kPanel{groups: 16, sym: true, offset: 32}
	}
	return kPanel{groups: 8}
}

func (k kPanel) scales() int { return 64 * 64 }
func (k kPanel) pairs() int  { return k.scales() + 64*k.groups }
func (k kPanel) d() int      { return k.pairs() + 8*64 }
func (k kPanel) dmin() int   { return k.d() + 64 }
func (k kPanel) bytes() int {
	if k.sym {
		return k.d() + 64
	}
	return k.dmin() + 64
}

// packPanelKRef is the K panel layout's reference: rows ≤ 16 weight rows
// of K type d from w, rb bytes apart, nb super-blocks; lanes past rows are
// zero.
func packPanelKRef(dst []byte, d DType, w []byte, rb, nb, rows int) {
	kp := kPanelOf(d)
	levels := map[DType]levels256{Q4_K: levelsQ4_K, Q5_K: levelsQ5_K, Q6_K: levelsQ6_K}[d]
	bb, per := d.BlockBytes(), QKK/kp.groups
	var sl superLevels
	clear(dst[:nb*kp.bytes()])
	for b := 0; b < nb; b++ {
		p := dst[b*kp.bytes() : (b+1)*kp.bytes()]
		for r := 0; r < rows; r++ {
			levels(w[r*rb+b*bb:r*rb+(b+1)*bb], &sl)
			for e, v := range sl.v {
				p[64*(e/4)+4*r+e%4] = byte(v + kp.offset)
			}
			for g := 0; g < kp.groups; g++ {
				binary.LittleEndian.PutUint32(p[kp.scales()+64*g+4*r:], uint32(sl.scale[g*per/16]))
			}
			for q := 0; q < groupsK; q++ { // one int16 per q8_K bsum
				mn := sl.mins[q]
				if kp.sym {
					mn = kp.offset * sl.scale[q]
				}
				binary.LittleEndian.PutUint16(p[kp.pairs()+64*(q/2)+4*r+2*(q%2):], uint16(int16(mn)))
			}
			putF32(p[kp.d()+4*r:], sl.d)
			if !kp.sym {
				putF32(p[kp.dmin()+4*r:], sl.dmin)
			}
		}
	}
}

// qgemmKRef is the K micro-kernels' reference: for activation row i (q8_K,
// xs bytes apart) and panel lane j, per super-block the exact isum = Σ_g
// scale_g·Σ u·q and msum = Σ pairs·bsums, then out += isum·(d·d_x) −
// msum·(dmin·d_x), or (isum − msum)·(d·d_x) for a symmetric type.
func qgemmKRef(p, x []byte, xs, nb int, kp kPanel, out []float32) {
	clear(out[:qgActRows*qgRows])
	per := QKK / kp.groups
	i32 := func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) }
	i16 := func(b []byte) int32 { return int32(int16(binary.LittleEndian.Uint16(b))) }
	for i := 0; i < qgActRows; i++ {
		for b := 0; b < nb; b++ {
			xb := x[i*xs+b*Q8_KBytes:]
			dx := getF32(xb)
			pb := p[b*kp.bytes():]
			for j := 0; j < qgRows; j++ {
				var isum, msum int32
				for g := 0; g < kp.groups; g++ {
					var gs int32
					for e := g * per; e < (g+1)*per; e++ {
						gs += int32(pb[64*(e/4)+4*j+e%4]) * int32(int8(xb[4+e]))
					}
					isum += gs * i32(pb[kp.scales()+64*g+4*j:])
				}
				for q := 0; q < groupsK; q++ {
					msum += i16(pb[kp.pairs()+64*(q/2)+4*j+2*(q%2):]) * i16(xb[260+2*q:])
				}
				dw := getF32(pb[kp.d()+4*j:])
				if kp.sym {
					out[i*qgRows+j] += float32(isum-msum) * (dw * dx)
					continue
				}
				out[i*qgRows+j] += float32(isum) * (dw * dx)
				out[i*qgRows+j] -= float32(msum) * (getF32(pb[kp.dmin()+4*j:]) * dx)
			}
		}
	}
}

func getF32(b []byte) float32 {
	return math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
}

func putF32(b []byte, v float32) {
	u := math.Float32bits(v)
	b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
}
