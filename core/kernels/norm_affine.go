package kernels

// vecNormAffine sets out[i] = (x[i]−m)·iv·w[i] + b[i]: LayerNorm's
// per-element affine after the row's mean m and inverse deviation iv. A
// transformer over a feature map's pixels normalises thousands of rows of
// 32 or 64 channels per call; the scalar loop was most of LayerNorm there.
// out may alias x.
func vecNormAffine(out, x, w, b []float32, m, iv float32) {
	n := len(x)
	out, w, b = out[:n], w[:n], b[:n]
	if n8 := n &^ 7; useAVX2 && n8 > 0 {
		vecNormAffineAVX2(&out[0], &x[0], &w[0], &b[0], n8, m, iv)
		out, x, w, b = out[n8:], x[n8:], w[n8:], b[n8:]
	}
	vecNormAffineGeneric(out, x, w, b, m, iv)
}

// vecNormAffineGeneric is vecNormAffineAVX2's loop, each step rounded to
// float32 as written (no fused multiply-add), so both agree bit for bit.
func vecNormAffineGeneric(out, x, w, b []float32, m, iv float32) {
	out, w, b = out[:len(x)], w[:len(x)], b[:len(x)]
	for i, v := range x {
		out[i] = (v-m)*iv*w[i] + b[i]
	}
}
