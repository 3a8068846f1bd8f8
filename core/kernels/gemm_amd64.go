//go:build amd64 && !noasm

package kernels

// Assembly GEMM/GEMV kernels (gemm_amd64.s). Each declaration's doc comment
// is its reference loop; gemm_noasm.go has those loops as Go bodies.

// Tilings measured on the target. AVX-512 (Zen 4 here: 32 KiB L1d, 1 MiB
// L2; Zen 5: 48 KiB L1d): a 256-deep B sliver of 32 floats is 32 KiB, a
// 192×256 A block 192 KiB of L2. A B at most 2048 wide (a 512-deep slab of
// it no bigger than 256×4096) and deeper than 256 (1024³) takes 512-deep
// slabs, half the passes over C: its 64 KiB B sliver is read from L2 as the
// micro-kernel streams it (24 FMAs per 128 bytes), beside a 96×512 A block
// (192 KiB). 1024³ at one thread ran 4-7 % faster than with kc 256; short
// C over a 4096-wide B (a conv over its pixels, a 128-token prefill over
// 4096 outputs) ran 3-8 % slower with it, and keeps kc 256
// (docs/BENCHMARKS.md, "GEMM: deeper slabs for a tall C").
var (
	tilingAVX512 = gemmTiling{mr: 12, nr: 32, kc: 256, mc: 192, nc: 4096, kcDeep: 512, mcDeep: 96, micro: sgemmMicro12x32AVX512}
	tilingAVX2   = gemmTiling{mr: 6, nr: 16, kc: 256, mc: 96, nc: 4096, micro: sgemmMicro6x16AVX2}
)

// sgemmMicro12x32AVX512 computes a 12×32 tile (see microKernel):
//
//	for i := 0; i < 12; i++ {
//		for j := 0; j < 32; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += a[p*12+i] * b[p*32+j]
//			}
//			if acc {
//				c[i*ldc+j] += s
//			} else {
//				c[i*ldc+j] = s
//			}
//		}
//	}
//
//go:noescape
func sgemmMicro12x32AVX512(k int, a, b, c []float32, ldc int, acc bool)

// sgemmMicro6x16AVX2 computes a 6×16 tile (see microKernel):
//
//	for i := 0; i < 6; i++ {
//		for j := 0; j < 16; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += a[p*6+i] * b[p*16+j]
//			}
//			if acc {
//				c[i*ldc+j] += s
//			} else {
//				c[i*ldc+j] = s
//			}
//		}
//	}
//
//go:noescape
func sgemmMicro6x16AVX2(k int, a, b, c []float32, ldc int, acc bool)

// gemvDot4AVX512 computes four dot products of rows of w with x; k is a
// multiple of 16:
//
//	for r := 0; r < 4; r++ {
//		var s float32
//		for p := 0; p < k; p++ {
//			s += w[r*ldw+p] * x[p]
//		}
//		out[r] = s
//	}
//
//go:noescape
func gemvDot4AVX512(k int, x, w []float32, ldw int, out *[4]float32)

// gemvRows1AVX512 sets y[r] to the dot product of row r of w with x for the
// first n rows, x given shifted by sh floats (xs[sh+p] = x[p]; xs[:sh] is
// not read), any k ≥ 0:
//
//	for r := 0; r < n; r++ {
//		var s float32
//		for p := 0; p < k; p++ {
//			s += w[r*ldw+p] * xs[sh+p]
//		}
//		y[r] = s
//	}
//
// It reads each row start to end before the next, in the 64-byte blocks the
// row lies in, taking the row to start sh floats into its block; when &w[0]
// is sh floats past a 64-byte boundary, ldw is a multiple of 16 and &xs[0] is
// 64-byte aligned, no load splits a cache line (streamX arranges it); any
// other alignment computes the same sums, with split loads. 0 ≤ sh < 16.
//
//go:noescape
func gemvRows1AVX512(n, k int, xs []float32, sh int, w []float32, ldw int, y []float32)

// gemvDot4AVX2 is gemvDot4AVX512 for AVX2+FMA; k is a multiple of 8.
//
//go:noescape
func gemvDot4AVX2(k int, x, w []float32, ldw int, out *[4]float32)

// gemvAxpy128AVX512 accumulates x·B into a 128-column strip of y:
//
//	for j := 0; j < 128; j++ {
//		s := y[j]
//		for p := 0; p < k; p++ {
//			s += x[p] * b[p*ldb+j]
//		}
//		y[j] = s
//	}
//
//go:noescape
func gemvAxpy128AVX512(k int, x, b []float32, ldb int, y []float32)

// gemvAxpy64AVX2 is gemvAxpy128AVX512 for a 64-column strip with AVX2+FMA.
//
//go:noescape
func gemvAxpy64AVX2(k int, x, b []float32, ldb int, y []float32)

// packT8AVX transposes 8 rows of src into 8 columns of dst; kb is a
// multiple of 8:
//
//	for r := 0; r < 8; r++ {
//		for p := 0; p < kb; p++ {
//			dst[p*stride+r] = src[r*ld+p]
//		}
//	}
//
//go:noescape
func packT8AVX(kb int, src []float32, ld int, dst []float32, stride int)

// packT8StreamAVX is packT8AVX for src read once from memory (GemmT's W):
// it also prefetches the same columns of the next 8 rows. Packing W straight
// from memory (32-row slivers of a 768-wide W, 100 MB) ran at 9–17 GB/s
// without (eight short interleaved streams), 19–23 GB/s with; from cache the
// prefetches cost a fifth of packT8AVX's speed, so A and PackT's one-off
// packing keep packT8AVX (docs/BENCHMARKS.md, "f32 prefill: prefetching W").
//
//go:noescape
func packT8StreamAVX(kb int, src []float32, ld int, dst []float32, stride int)

// packT4AVX is packT8AVX for 4 rows.
//
//go:noescape
func packT4AVX(kb int, src []float32, ld int, dst []float32, stride int)

// packRowsFast packs one full sliver of w rows (see packRows) with the AVX
// transposes, covering widths 4, 6, 8, 12, 16 and 32 — every mr and nr of
// the AVX tilings; stream: src is read once from memory (packT8StreamAVX).
// It reports false when it does not apply.
func packRowsFast(dst, src []float32, ld, kb, w int, stream bool) bool {
	if !useAVX2 || kb < 8 {
		return false
	}
	kv := kb &^ 7
	t8 := packT8AVX
	if stream {
		t8 = packT8StreamAVX
	}
	switch w {
	case 4:
		packT4AVX(kv, src, ld, dst, w)
	case 6:
		// Rows 2 and 3 are written twice with the same values.
		packT4AVX(kv, src, ld, dst, w)
		packT4AVX(kv, src[2*ld:], ld, dst[2:], w)
	case 8, 16, 32:
		for r := 0; r < w; r += 8 {
			t8(kv, src[r*ld:], ld, dst[r:], w)
		}
	case 12:
		t8(kv, src, ld, dst, w)
		packT4AVX(kv, src[8*ld:], ld, dst[8:], w)
	default:
		return false
	}
	for r := 0; r < w; r++ {
		row := src[r*ld : r*ld+kb]
		for p := kv; p < kb; p++ {
			dst[p*w+r] = row[p]
		}
	}
	return true
}

// packColsAVX copies a kb×w block (w 16 or 32) into a B sliver:
//
//	for p := 0; p < kb; p++ {
//		copy(dst[p*w:p*w+w], src[p*ld:p*ld+w])
//	}
//
//go:noescape
func packColsAVX(kb int, src []float32, ld int, dst []float32, w int)

// packColsFast packs a full-width B sliver (see packCols) with AVX copies;
// it reports false when it does not apply.
func packColsFast(dst, src []float32, ld, kb, w int) bool {
	if !useAVX2 || (w != 16 && w != 32) {
		return false
	}
	packColsAVX(kb, src, ld, dst, w)
	return true
}

// packColsStripAVX packs slivers full-width B slivers (w 16 or 32) a row of
// B at a time: dst holds them one after another, each (kb, w):
//
//	for p := 0; p < kb; p++ {
//		for s := 0; s < slivers; s++ {
//			copy(dst[s*kb*w+p*w:s*kb*w+p*w+w], src[p*ld+s*w:p*ld+s*w+w])
//		}
//	}
//
//go:noescape
func packColsStripAVX(kb int, src []float32, ld int, dst []float32, w, slivers int)

// packColsStripFast packs slivers full-width B slivers a row at a time (see
// stripPackSlivers); it reports false when it does not apply.
func packColsStripFast(dst, src []float32, ld, kb, w, slivers int) bool {
	if !useAVX2 || (w != 16 && w != 32) || kb < 1 || slivers < 1 {
		return false
	}
	_ = dst[slivers*kb*w-1]
	_ = src[(kb-1)*ld+slivers*w-1]
	packColsStripAVX(kb, src, ld, dst, w, slivers)
	return true
}

// packGatherAVX copies kb rows of w floats (w 16 or 32) from offsets of src
// into a B sliver:
//
//	for p := 0; p < kb; p++ {
//		copy(dst[p*w:p*w+w], src[offs[p]:offs[p]+w])
//	}
//
//go:noescape
func packGatherAVX(kb int, src *float32, offs *int32, dst *float32, w int)
