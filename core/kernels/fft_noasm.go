//go:build !amd64 || noasm

package kernels

import "unsafe"

// fftStageAVX512 is the generic stage without assembly (useAVX512 is false
// there, so only tests reach it).
func fftStageAVX512(zr, zi, wr, wi *float64, n, half int) {
	fftStageGeneric(unsafe.Slice(zr, n), unsafe.Slice(zi, n), unsafe.Slice(wr, 2*half), unsafe.Slice(wi, 2*half), half)
}
