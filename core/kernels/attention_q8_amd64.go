//go:build amd64 && !noasm

package kernels

// Assembly twins (attention_q8_amd64.s) of the q8_0 attention loops; callers
// check pointers, counts and block alignment: every row starts at a block
// edge, n and the row stride are multiples of 32, d points at the first
// row's first scale and row j's scales follow at d + j·ld/32.

// dotsQ8x4AVX512 sets out to the dot products of x with four q8_0 rows w
// (stride ldw levels; ldw = 0 reads one row four times); k is a positive
// multiple of 32. Each block's 32 products are summed (16 lanes) before its
// scale multiplies them:
//
//	for r := 0; r < 4; r++ {
//		var s float32
//		for p := 0; p < k; p++ {
//			s += F16ToF32(d[(r*ldw+p)/32]) * float32(w[r*ldw+p]) * x[p]
//		}
//		out[r] = s
//	}
//
//go:noescape
func dotsQ8x4AVX512(k int, x *float32, w *int8, d *uint16, ldw int, out *[4]float32)

// vecAccRowsQ8AVX512 is vecAccRowsQ8Generic for n a positive multiple of 32
// (w[j]·d of a block computed once, then one FMA per element):
//
//	for j := 0; j < m; j++ {
//		for p := 0; p < n; p++ {
//			y[p] += w[j] * F16ToF32(d[(j*ldx+p)/32]) * float32(x[j*ldx+p])
//		}
//	}
//
//go:noescape
func vecAccRowsQ8AVX512(y, w *float32, x *int8, d *uint16, ldx, n, m int)

// q8RowsToF32AVX512 widens m rows of n q8_0 elements (stride ld) into dst,
// packed (m, n); n is a positive multiple of 32:
//
//	for j := 0; j < m; j++ {
//		for p := 0; p < n; p++ {
//			dst[j*n+p] = F16ToF32(d[(j*ld+p)/32]) * float32(src[j*ld+p])
//		}
//	}
//
//go:noescape
func q8RowsToF32AVX512(dst *float32, src *int8, d *uint16, ld, n, m int)
