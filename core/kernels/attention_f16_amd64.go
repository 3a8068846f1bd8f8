//go:build amd64 && !noasm

package kernels

// Assembly twins (attention_f16_amd64.s) of the half-precision attention
// loops; callers check pointers and counts. dotsF16x4AVX512 and
// vecAccRowsF16AVX2 also prefetch the same columns of the rows
// attnPrefetchRows (16, attnDecode's block) further on: hints only, which
// never fault past the end of the cache.

// dotsF16x4AVX512 sets out to the dot products of x with four rows of halves
// w (stride ldw halves); k is a positive multiple of 16:
//
//	for r := 0; r < 4; r++ {
//		var s float32
//		for p := 0; p < k; p++ {
//			s += F16ToF32(w[r*ldw+p]) * x[p]
//		}
//		out[r] = s
//	}
//
//go:noescape
func dotsF16x4AVX512(k int, x *float32, w *uint16, ldw int, out *[4]float32)

// vecAccRowsF16AVX2 is vecAccRowsF16Generic for n a positive multiple of 8
// (F16C's VCVTPH2PS and FMA):
//
//	for j := 0; j < m; j++ {
//		for p := 0; p < n; p++ {
//			y[p] += w[j] * F16ToF32(x[j*ldx+p])
//		}
//	}
//
//go:noescape
func vecAccRowsF16AVX2(y, w *float32, x *uint16, ldx, n, m int)

// f16RowsToF32AVX512 widens m rows of n halves (stride ld) into dst, packed
// (m, n); n is a positive multiple of 16:
//
//	for j := 0; j < m; j++ {
//		for p := 0; p < n; p++ {
//			dst[j*n+p] = F16ToF32(src[j*ld+p])
//		}
//	}
//
//go:noescape
func f16RowsToF32AVX512(dst *float32, src *uint16, ld, n, m int)
