//go:build !amd64 || noasm

package kernels

import "unsafe"

// Without assembly the SIMD entry points are the generic loops; the
// dispatchers never call them here (useAVX512 is false).

func ssmScan16AVX512(y, h, x, dt, a, b, c *float32, seq, ld int) {
	span := (seq-1)*ld + 16
	ssmScanChannelsGeneric(unsafe.Slice(y, span), unsafe.Slice(h, 256), unsafe.Slice(x, span), unsafe.Slice(dt, span),
		unsafe.Slice(a, 256), unsafe.Slice(b, seq*16), unsafe.Slice(c, seq*16), SSMParams{Seq: seq, Channels: ld, State: 16}, 0, 16)
}

func ssm2HeadAVX512(y, h, x, b, c, delta, decay *float32, seq, ld, ldbc, p, n int) {
	span, bspan := (seq-1)*ld+p, (seq-1)*ldbc+n
	ssm2Rows(unsafe.Slice(y, span), unsafe.Slice(h, p*n), unsafe.Slice(x, span), unsafe.Slice(b, bspan), unsafe.Slice(c, bspan),
		unsafe.Slice(delta, seq), unsafe.Slice(decay, seq), ld, ldbc, p, n)
}

func wkv6HeadAVX512(y, s, k, v, r, u, w *float32, seq, ld, n int) {
	span := (seq-1)*ld + n
	sl := func(p *float32) []float32 { return unsafe.Slice(p, span) }
	wkv6HeadGeneric(sl(y), unsafe.Slice(s, n*n), sl(k), sl(v), sl(r), unsafe.Slice(u, n), sl(w), WKVParams{Seq: seq, Heads: 1, HeadSize: n}, ld, 0)
}
