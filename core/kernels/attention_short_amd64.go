//go:build amd64 && !noasm

package kernels

// attnShortAVX2 is attnShortGeneric (attention_short.go) in AVX2+FMA: a
// row's scores in up to four 8-lane vectors, the softmax's exp as
// vecExpSubAVX2's, P·V in one or two vectors. d is 8 or 16, 1 ≤ nb ≤ 4.
//
//go:noescape
func attnShortAVX2(out, q, kt, v, mask, sc *float32, ldq, ldo, nq, d, nb int, scale float32)
