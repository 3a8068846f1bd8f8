//go:build amd64 && !noasm

package kernels

// interleaveBiasAVX2 sets d[2j] = e[j] + b and d[2j+1] = o[j] + b for j < n
// (n a multiple of 8): the upsampler's two column phases into one output
// row (conv_band_amd64.s). Its reference is interleaveBiasGeneric.
//
//go:noescape
func interleaveBiasAVX2(d, e, o *float32, n int, b float32)
