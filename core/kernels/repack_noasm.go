//go:build !amd64 || noasm

package kernels

// Never chosen: hasVNNI is false without assembly.
var dotQ4_0R8VNNI, dotQ4_KR8VNNI, dotQ6_KR8VNNI quantRows8 = rows8Q4_0R8Ref, rows8Q4_KR8Ref, rows8Q6_KR8Ref

// packQ4_0R8x16 is never called without assembly (no packed GEMM); this is
// its reference, for the build.
func packQ4_0R8x16(dst, w *byte, nb int) { packQ4_0R8x16Ref(dst, w, nb) }
