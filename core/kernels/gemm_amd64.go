//go:build amd64 && !noasm

package kernels

// Assembly GEMM/GEMV kernels (gemm_amd64.s). Each declaration's doc comment
// is its reference loop; gemm_noasm.go has those loops as Go bodies.

// Tilings measured on the target (Zen 5, 48 KiB L1d, 1 MiB L2): a 256-deep
// B sliver of 32 floats is 32 KiB and stays in L1; a 192×256 A block is
// 192 KiB of L2.
var (
	tilingAVX512 = gemmTiling{mr: 12, nr: 32, kc: 256, mc: 192, nc: 4096, micro: sgemmMicro12x32AVX512}
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

// packRowsFast would pack a full sliver with SIMD transposes; none yet.
func packRowsFast(dst, src []float32, ld, kb, w int) bool { return false }
