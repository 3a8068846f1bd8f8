//go:build !amd64 || noasm

package kernels

import "unsafe"

// vecScaleMaxAVX2 is the generic loop without assembly (useAVX2 is false
// there, so only tests reach it).
func vecScaleMaxAVX2(x *float32, n int, scale float32) float32 {
	return vecScaleMaxGeneric(unsafe.Slice(x, n), scale)
}
