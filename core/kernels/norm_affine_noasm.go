//go:build !amd64 || noasm

package kernels

import "unsafe"

// vecNormAffineAVX2 is the generic loop without assembly (useAVX2 is false
// there, so only tests reach it).
func vecNormAffineAVX2(out, x, w, b *float32, n int, m, iv float32) {
	vecNormAffineGeneric(unsafe.Slice(out, n), unsafe.Slice(x, n), unsafe.Slice(w, n), unsafe.Slice(b, n), m, iv)
}
