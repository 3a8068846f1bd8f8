//go:build amd64 && !noasm

package kernels

// gemvSliversAVX512 sets y[32s+j] to the dot product of row j of sliver s
// with x, for slivers contiguous slivers of F32R32 at w (32k floats each),
// any k ≥ 0:
//
//	for s := 0; s < slivers; s++ {
//		for j := 0; j < 32; j++ {
//			var sum float32
//			for p := 0; p < k; p++ {
//				sum += w[s*32*k+p*32+j] * x[p]
//			}
//			y[s*32+j] = sum
//		}
//	}
//
// Per step one broadcast of x[p] and two fused multiply-adds into the
// sliver's two vectors of sums, four steps in flight (eight accumulators,
// added at the sliver's end). Loads split no cache line when &w[0] is
// 64-byte aligned (SliversShift arranges it).
//
//go:noescape
func gemvSliversAVX512(k int, x, w []float32, slivers int, y []float32)
