//go:build amd64 && !noasm

package kernels

// vecNormAffineAVX2 is vecNormAffineGeneric (norm_affine.go) for n a
// multiple of 8: subtract, multiply, multiply, add, each rounded.
//
//go:noescape
func vecNormAffineAVX2(out, x, w, b *float32, n int, m, iv float32)
