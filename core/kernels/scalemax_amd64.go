//go:build amd64 && !noasm

package kernels

// vecScaleMaxAVX2 is vecScaleMaxGeneric (scalemax.go) for n a multiple of
// 8: x[j] *= scale for j < n, returning the largest product, NaN when any
// is NaN.
//
//go:noescape
func vecScaleMaxAVX2(x *float32, n int, scale float32) float32
