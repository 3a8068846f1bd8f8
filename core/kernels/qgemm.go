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
// against m passes of arithmetic.

import "math"

const (
	qgRows       = 16          // weight rows per panel: one zmm of int32 lanes
	qgActRows    = 8           // activation rows per micro-kernel call
	qgBlockBytes = 8*64 + 4*16 // a panel's block: levels, then scales
	qgMinRows    = 8           // MatMulQ takes this path from this many rows
)

// qgemm is one type's packer and micro-kernel.
type qgemm struct {
	pack  func(dst, w *byte, rb, nb, rows int)
	micro func(p, x *byte, xs, nb int, out *[qgActRows * qgRows]float32)
	shift int // the levels' offset is 1<<shift
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
	}
	return nil
}

var (
	qgemmQ4_0 = qgemm{pack: packQ4_0x16, micro: qgemmQ4_0x8VNNI, shift: 3}
	qgemmQ8_0 = qgemm{pack: packQ8_0x16, micro: qgemmQ8_0x8VNNI, shift: 7}
)

// qgemmBufs recycles the quantized activations and the per-worker panels.
var qgemmBufs = newFreeList[[]byte](16, nil)

func qgemmBuf(n int) *[]byte {
	b := qgemmBufs.get()
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
func matMulQgemm(y []float32, w []byte, d DType, g *qgemm, x []float32, m, n, k, rb int) {
	nb := k / qk32
	xs := nb * Q8SBytes
	mpad := (m + qgActRows - 1) / qgActRows * qgActRows
	xbuf := qgemmBuf(mpad * xs)
	xq := *xbuf
	traits[Q8S].fromFloat(xq[:m*xs], x[:m*k])
	clear(xq[m*xs:])
	panels := (n + qgRows - 1) / qgRows
	ParallelFor(panels, 1, func(lo, hi int) {
		pbuf := qgemmBuf(nb * qgBlockBytes)
		p := *pbuf
		var out [qgActRows * qgRows]float32
		for pi := lo; pi < hi; pi++ {
			r0 := pi * qgRows
			rows := min(qgRows, n-r0)
			g.pack(&p[0], &w[r0*rb], rb, nb, rows)
			for i := 0; i < m; i += qgActRows {
				g.micro(&p[0], &xq[i*xs], xs, nb, &out)
				for a := 0; a < min(qgActRows, m-i); a++ {
					copy(y[(i+a)*n+r0:(i+a)*n+r0+rows], out[a*qgRows:a*qgRows+rows])
				}
			}
		}
		qgemmBufs.put(pbuf)
	})
	qgemmBufs.put(xbuf)
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

func getF32(b []byte) float32 {
	return math.Float32frombits(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
}

func putF32(b []byte, v float32) {
	u := math.Float32bits(v)
	b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
}
