package kernels

// Dispatch of the half-precision row kernels to the implementation chosen in
// impl.go (the quantized dots are columns of the dtype table instead). The
// assembly routines (quant_amd64.s) cover whole vectors; the plain Go
// reference finishes any tail, so every entry here accepts any length.
//
// "avx512" uses 512-bit half/bfloat16 dots; "avx2" uses F16C + FMA.

func quantQ8_0(dst []byte, src []float32) { quantQ8_0Generic(dst, src) }

// vecSplit returns how many leading elements of n the SIMD routine takes for
// the current implementation: multiples of 16 (avx512) or 8 (avx2), 0 for
// generic or when F16C is missing.
func vecSplit(n int) int {
	switch {
	case useAVX512:
		return n &^ 15
	case useAVX2 && hasF16C:
		return n &^ 7
	}
	return 0
}

func dotF16(w []byte, x []float32) float32 {
	var s float32
	v := vecSplit(len(x))
	if v > 0 {
		if useAVX512 {
			s = dotF16AVX512(&w[0], &x[0], v)
		} else {
			s = dotF16AVX2(&w[0], &x[0], v)
		}
	}
	if v < len(x) {
		s += dotF16Generic(w[2*v:], x[v:])
	}
	return s
}

func dotBF16(w []byte, x []float32) float32 {
	var s float32
	v := vecSplit(len(x))
	if v > 0 {
		if useAVX512 {
			s = dotBF16AVX512(&w[0], &x[0], v)
		} else {
			s = dotBF16AVX2(&w[0], &x[0], v)
		}
	}
	if v < len(x) {
		s += dotBF16Generic(w[2*v:], x[v:])
	}
	return s
}

func f16RowToF32(dst []float32, src []byte) {
	v := vecSplit(len(dst))
	if v > 0 {
		f16ToF32AVX2(&dst[0], &src[0], v)
	}
	f16RowToF32Generic(dst[v:], src[2*v:])
}

func f32RowToF16(dst []byte, src []float32) {
	v := vecSplit(len(src))
	if v > 0 {
		f32ToF16AVX2(&dst[0], &src[0], v)
	}
	f32RowToF16Generic(dst[2*v:], src[v:])
}

// The widening of the types MatMulQ widens by panels for batches (no
// batched kernel of their own) and of embedding rows: assembly for whole
// rows under "avx512", the Go reference otherwise.
var (
	dequantQ8_0Ref = dequant32(levelsQ8_0, Q8_0Bytes)
	dequantQ4_0Ref = dequant32(levelsQ4_0, Q4_0Bytes)
)

func dequantQ8_0(dst []float32, src []byte) {
	if useAVX512 && len(dst) > 0 {
		dequantQ8_0AVX512(&dst[0], &src[0], len(dst)/qk32)
		return
	}
	dequantQ8_0Ref(dst, src)
}

func dequantQ4_0(dst []float32, src []byte) {
	if useAVX512 && len(dst) > 0 {
		dequantQ4_0AVX512(&dst[0], &src[0], len(dst)/qk32)
		return
	}
	dequantQ4_0Ref(dst, src)
}

// quantQ8S quantizes activations to q8s: assembly under "avx512", else the
// Go twin (same bytes).
func quantQ8S(dst []byte, src []float32) {
	if useAVX512 && len(src) > 0 {
		quantQ8SAVX512(&dst[0], &src[0], len(src)/qk32)
		return
	}
	quantQ8SGeneric(dst, src)
}

// quantQ8_K quantizes activations to q8_K: assembly under "avx512", else the
// Go reference (same bytes).
func quantQ8_K(dst []byte, src []float32) {
	if useAVX512 && len(src) > 0 {
		quantQ8_KAVX512(&dst[0], &src[0], len(src)/QKK)
		return
	}
	quantQ8_KGeneric(dst, src)
}
