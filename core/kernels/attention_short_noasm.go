//go:build !amd64 || noasm

package kernels

import "unsafe"

// attnShortAVX2 is the generic loop here (shortKeys is false without AVX2,
// so only the tests call it).
func attnShortAVX2(out, q, kt, v, mask, sc *float32, ldq, ldo, nq, d, nb int, scale float32) {
	attnShortGeneric(unsafe.Slice(out, (nq-1)*ldo+d), unsafe.Slice(q, (nq-1)*ldq+d), unsafe.Slice(kt, d*attnShortKeys),
		unsafe.Slice(v, 8*nb*d), unsafe.Slice(mask, attnShortKeys), unsafe.Slice(sc, attnShortKeys), ldq, ldo, nq, d, nb, scale)
}
