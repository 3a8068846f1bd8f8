//go:build !amd64 || noasm

package kernels

// Without assembly (other architectures, or -tags noasm) only the generic Go
// kernels exist.
const (
	hasAVX2FMA = false
	hasAVX512  = false
)
