//go:build !amd64 || noasm

package kernels

import "unsafe"

// Go twins of the assembly kernels in gemm_amd64.s: each body is the
// reference loop documented there. Without assembly the selector only offers
// "generic", so these run only in tests that call them directly; they keep
// the AVX tilings meaningful on every build.

var (
	tilingAVX512 = gemmTiling{mr: 12, nr: 32, kc: 256, mc: 192, nc: 4096, kcDeep: 512, mcDeep: 96, micro: sgemmMicro12x32AVX512}
	tilingAVX2   = gemmTiling{mr: 6, nr: 16, kc: 256, mc: 96, nc: 4096, micro: sgemmMicro6x16AVX2}
)

func sgemmMicroRef(mr, nr, k int, a, b, c []float32, ldc int, acc bool) {
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[p*mr+i] * b[p*nr+j]
			}
			if acc {
				c[i*ldc+j] += s
			} else {
				c[i*ldc+j] = s
			}
		}
	}
}

func sgemmMicro12x32AVX512(k int, a, b, c []float32, ldc int, acc bool) {
	sgemmMicroRef(12, 32, k, a, b, c, ldc, acc)
}

func sgemmMicro6x16AVX2(k int, a, b, c []float32, ldc int, acc bool) {
	sgemmMicroRef(6, 16, k, a, b, c, ldc, acc)
}

func gemvDot4AVX512(k int, x, w []float32, ldw int, out *[4]float32) {
	for r := 0; r < 4; r++ {
		var s float32
		for p := 0; p < k; p++ {
			s += w[r*ldw+p] * x[p]
		}
		out[r] = s
	}
}

func gemvRows1AVX512(n, k int, xs []float32, sh int, w []float32, ldw int, y []float32) {
	for r := 0; r < n; r++ {
		var s float32
		for p := 0; p < k; p++ {
			s += w[r*ldw+p] * xs[sh+p]
		}
		y[r] = s
	}
}

func gemvDot4AVX2(k int, x, w []float32, ldw int, out *[4]float32) {
	gemvDot4AVX512(k, x, w, ldw, out)
}

func gemvAxpy128AVX512(k int, x, b []float32, ldb int, y []float32) {
	gemvAxpyRef(128, k, x, b, ldb, y)
}

func gemvAxpy64AVX2(k int, x, b []float32, ldb int, y []float32) {
	gemvAxpyRef(64, k, x, b, ldb, y)
}

func gemvAxpyRef(w, k int, x, b []float32, ldb int, y []float32) {
	for j := 0; j < w; j++ {
		s := y[j]
		for p := 0; p < k; p++ {
			s += x[p] * b[p*ldb+j]
		}
		y[j] = s
	}
}

func packRowsFast(dst, src []float32, ld, kb, w int, stream bool) bool { return false }

func packColsFast(dst, src []float32, ld, kb, w int) bool { return false }

func packColsStripFast(dst, src []float32, ld, kb, w, slivers int) bool { return false }

func packGatherAVX(kb int, src *float32, offs *int32, dst *float32, w int) {
	o := unsafe.Slice(offs, kb)
	maxOff := 0
	for _, v := range o {
		maxOff = max(maxOff, int(v))
	}
	packGather(unsafe.Slice(dst, kb*w), unsafe.Slice(src, maxOff+w), o, kb, w, w)
}
