package kernels

// GEMM entry points. Matrices are row-major with explicit leading dimensions.
// The optimised implementation (packed, blocked, SIMD micro-kernels chosen at
// start-up) lives behind these signatures; the *Ref functions are the plain
// loops every implementation is tested against.

// Gemm computes C = beta·C + A·B, with A (m×k, lda), B (k×n, ldb), C (m×n, ldc).
// beta is 0 or 1 (0 overwrites C without reading it).
func Gemm(m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	GemmRef(m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// GemmT computes C = beta·C + A·Wᵀ, with A (m×k, lda), W (n×k, ldw) stored
// [out][in] as checkpoints store weights, C (m×n, ldc).
func GemmT(m, n, k int, a []float32, lda int, w []float32, ldw int, beta float32, c []float32, ldc int) {
	GemmTRef(m, n, k, a, lda, w, ldw, beta, c, ldc)
}

// MatVecT computes y = W·x for W (n×k, row-major, contiguous), x (k), y (n):
// the batch-1 decode path.
func MatVecT(y, w, x []float32, n, k int) {
	GemmTRef(1, n, k, x, k, w, k, 0, y, n)
}

// GemmRef is the reference loop for Gemm.
func GemmRef(m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
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
				c[i*ldc+j] += s
			}
		}
	}
}
