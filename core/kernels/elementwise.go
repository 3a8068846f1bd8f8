package kernels

// Elementwise sums and products of two rows: the residual adds and the
// GEGLU product of the transformer blocks (x += attention(x), value ⊙
// gelu(gate)), over every token of a motion module at once (4,096 rows ×
// 32 channels), were 4 % of a guided video step as scalar loops.

// vecAddGeneric sets out[i] = a[i] + b[i]: vecAddAVX2's reference loop.
func vecAddGeneric(out, a, b []float32) {
	out, b = out[:len(a)], b[:len(a)]
	for i, v := range a {
		out[i] = v + b[i]
	}
}

// vecMulGeneric sets out[i] = a[i] · b[i]: vecMulAVX2's reference loop.
func vecMulGeneric(out, a, b []float32) {
	out, b = out[:len(a)], b[:len(a)]
	for i, v := range a {
		out[i] = v * b[i]
	}
}

// addRows sets out = a + b (lengths checked by the caller), 8 lanes at a
// time where AVX2 is in use; out may be a or b.
func addRows(out, a, b []float32) {
	if n8 := len(a) &^ 7; useAVX2 && n8 > 0 {
		vecAddAVX2(&out[0], &a[0], &b[0], n8)
		out, a, b = out[n8:], a[n8:], b[n8:]
	}
	vecAddGeneric(out, a, b)
}

// mulRows is addRows for the product.
func mulRows(out, a, b []float32) {
	if n8 := len(a) &^ 7; useAVX2 && n8 > 0 {
		vecMulAVX2(&out[0], &a[0], &b[0], n8)
		out, a, b = out[n8:], a[n8:], b[n8:]
	}
	vecMulGeneric(out, a, b)
}
