//go:build amd64 && !noasm

package kernels

// fftStageAVX512 is fftStageGeneric (fft.go) on z of n points for half a
// multiple of 8, eight butterflies at a time, the twiddle products as fused
// multiply-adds: for every group start a0 (step 2·half) and k < half,
// t = z[a0+half+k]·w[half+k]; z[a0+half+k] = z[a0+k] − t; z[a0+k] += t.
//
//go:noescape
func fftStageAVX512(zr, zi, wr, wi *float64, n, half int)
