//go:build !amd64 || noasm

package kernels

// gemvSliversAVX512 is the reference loop of slivers_amd64.go's kernel.
func gemvSliversAVX512(k int, x, w []float32, slivers int, y []float32) {
	gemvSliversRef(k, x, w, slivers, y)
}
