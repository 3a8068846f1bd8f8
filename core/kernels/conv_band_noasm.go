//go:build !amd64 || noasm

package kernels

import "unsafe"

func interleaveBiasAVX2(d, e, o *float32, n int, b float32) {
	interleaveBiasGeneric(unsafe.Slice(d, 2*n), unsafe.Slice(e, n), unsafe.Slice(o, n), b)
}
