//go:build amd64 && !noasm

package kernels

// vecAddAVX2 is vecAddGeneric for n a multiple of 8: out[i] = a[i] + b[i],
// each sum rounded once as the loop's. out may be a or b (each block is
// read before it is written).
//
//go:noescape
func vecAddAVX2(out, a, b *float32, n int)

// vecMulAVX2 is vecMulGeneric for n a multiple of 8: out[i] = a[i] · b[i].
//
//go:noescape
func vecMulAVX2(out, a, b *float32, n int)
