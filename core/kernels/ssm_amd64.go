//go:build amd64 && !noasm

package kernels

// AVX-512 routines of the state-space and linear-attention kernels, in
// ssm_amd64.s. Their references are the generic loops in ssm.go and wkv.go;
// pointers and counts are checked by the Go callers.

// ssmScan16AVX512 runs ssmScanChannelsGeneric over one block of 16
// channels with 16 states: for t < seq and d < 16,
//
//	Δ = softplus(dt[t·ld+d]); s = 0
//	for n < 16: h[d·16+n] = h[d·16+n]·exp(Δ·a[d·16+n]) + b[t·16+n]·(x[t·ld+d]·Δ); s += h[d·16+n]·c[t·16+n]
//	y[t·ld+d] = s
//
//go:noescape
func ssmScan16AVX512(y, h, x, dt, a, b, c *float32, seq, ld int)

// ssm2HeadAVX512 runs ssm2Rows for one head whose state rows
// are n floats, n a multiple of 16: for t < seq, i < p,
//
//	xd = x[t·ld+i]·delta[t]; s = 0
//	for j < n: h[i·n+j] = h[i·n+j]·decay[t] + b[t·ldbc+j]·xd; s += h[i·n+j]·c[t·ldbc+j]
//	y[t·ld+i] = s
//
//go:noescape
func ssm2HeadAVX512(y, h, x, b, c, delta, decay *float32, seq, ld, ldbc, p, n int)

// wkv6HeadAVX512 runs wkv6HeadGeneric for one head of n channels, n a
// multiple of 16, whose rows are ld floats apart (y, k, v, r and w point at
// the head's first channel of token 0, s at its n×n state, u at its n
// bonuses): for t < seq, j < n,
//
//	y[t·ld+j] = Σᵢ (v[t·ld+j]·k[t·ld+i]·u[i] + s[i·n+j])·r[t·ld+i]
//	s[i·n+j]  = s[i·n+j]·w[t·ld+i] + v[t·ld+j]·k[t·ld+i]
//
//go:noescape
func wkv6HeadAVX512(y, s, k, v, r, u, w *float32, seq, ld, n int)
