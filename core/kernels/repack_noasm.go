//go:build !amd64 || noasm

package kernels

// Never chosen: hasVNNI is false without assembly.
var dotQ4_0R8VNNI quantRows8 = rows8Q4_0R8Ref
