//go:build !amd64 || noasm

package kernels

import "unsafe"

// vecAddAVX2 is the generic loop without assembly (useAVX2 is false there,
// so only tests reach it).
func vecAddAVX2(out, a, b *float32, n int) {
	vecAddGeneric(unsafe.Slice(out, n), unsafe.Slice(a, n), unsafe.Slice(b, n))
}

// vecMulAVX2 is the generic loop without assembly.
func vecMulAVX2(out, a, b *float32, n int) {
	vecMulGeneric(unsafe.Slice(out, n), unsafe.Slice(a, n), unsafe.Slice(b, n))
}
