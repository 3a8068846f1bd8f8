package kernels

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"testing"
)

// Tolerances (normalised MSE). tolQuantDot compares MatMulQ with a float64
// dot of the dequantized weights and the activations as the kernel sees them
// (rounded through the VecDot type for the quantized formats), so only
// float32 summation order differs. The tolQuantize* bounds are the round-trip
// error of quantizing uniform [-1,1) data (q8_0: step max/127; q4_0: step
// max/8).
const (
	tolQuantDot = 1e-10
	// The K-quant dots subtract the min term from the scaled sum per
	// super-block (as ggml does), which cancels: a looser bound.
	tolQuantDotK = 1e-7
	// q4_1 and q5_1: the m·s term is modelled exactly (offsetTerm), but its
	// float32 sum cancels against d·Σv·q: K-quant-like.
	tolQuantDotOffset = 1e-7
	tolQuantDotPacked = 1e-8
	tolQuantizeQ8_0   = 1e-4
	tolQuantizeQ5     = 5e-3
	tolQuantizeQ4_0   = 1e-2
	tolQuantizeF16    = 1e-7
	tolQuantizeBF16   = 1e-5
)

// allFormats is every type with a dot product, in id order (the repacked
// layouts, which are matrices rather than rows, have tests of their own).
var allFormats = computableTypes()

func computableTypes() []DType {
	var out []DType
	for _, d := range DTypes() {
		if d.Computable() && d.RepackOf() == d {
			out = append(out, d)
		}
	}
	return out
}

// halfFields are the byte offsets of the f16 scales in a block of the types
// that cannot be written from floats: randomWeights keeps them small and
// finite (any other bits are valid levels).
var halfFields = map[DType][]int{
	IQ4_NL: {0}, Q2_K: {80, 82}, Q3_K: {108}, Q4_K: {0, 2}, Q5_K: {0, 2}, Q6_K: {208},
}

// dotTolerance is the NMSE bound of type f's dot products against a float64
// reference on the values as the kernel sees them.
func dotTolerance(f DType) float64 {
	switch {
	case f.BlockSize() == QKK:
		return tolQuantDotK
	case f.Traits().VecDot == Q8_1:
		return tolQuantDotOffset
	case f.Traits().VecDot == Q8S:
		// The packed GEMM rounds each block's scaled sum to float32 before
		// adding it up (the single-row kernels keep eight partial sums).
		return tolQuantDotPacked
	}
	return tolQuantDot
}

// rowLengths gives odd row lengths allowed for f: everything for unblocked
// formats, multiples of the block for the others.
func rowLengths(f DType) []int {
	if f.BlockSize() == 1 {
		return []int{1, 3, 7, 8, 15, 17, 31, 33, 64, 100, 129, 257}
	}
	var ks []int
	for _, b := range []int{1, 2, 3, 5, 7, 17} {
		ks = append(ks, b*f.BlockSize())
	}
	return ks
}

// randomWeights returns n rows of k elements in format f: quantized random
// floats for writable formats, random blocks with small finite f16 scales for
// the others (any level bits are valid there).
func randomWeights(t testing.TB, r *rand.Rand, f DType, n, k int) []byte {
	t.Helper()
	size, err := f.matrixBytes(n, k)
	if err != nil {
		t.Fatal(err)
	}
	w := make([]byte, size)
	if f.Writable() {
		if err := f.Quantize(w, randSlice(r, n*k)); err != nil {
			t.Fatal(err)
		}
		return w
	}
	offs, ok := halfFields[f]
	if !ok {
		t.Fatalf("randomWeights: no scale offsets for %v", f)
	}
	r.Read(w)
	for b := 0; b < len(w)/f.BlockBytes(); b++ {
		blk := w[b*f.BlockBytes() : (b+1)*f.BlockBytes()]
		for _, off := range offs {
			binary.LittleEndian.PutUint16(blk[off:], F32ToF16(float32(r.Float64()*0.01)))
		}
	}
	return w
}

// actAsSeen returns x as the format's dot product sees it: rounded through
// its VecDot type for the quantized formats, unchanged otherwise.
func actAsSeen(t testing.TB, f DType, x []float32) []float32 {
	act := f.Traits().VecDot
	if act == F32 {
		return x
	}
	rb, err := act.RowBytes(len(x))
	if err != nil {
		t.Fatal(err)
	}
	q := make([]byte, rb)
	if err := act.Quantize(q, x); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(x))
	if err := act.Dequantize(out, q); err != nil {
		t.Fatal(err)
	}
	return out
}

// offsetTerm is what the q8_1 types' kernels add beyond Σ w·x as seen: they
// take m·Σx of each block from q8_1's s (d·Σq rounded to f16) rather than
// from the rounded values, so the float64 reference does the same. 0 for
// the other types.
func offsetTerm(t testing.TB, f DType, w []byte, x, xs []float32, i, j, k int) float64 {
	levels := map[DType]levels32{Q4_1: levelsQ4_1, Q5_1: levelsQ5_1}[f]
	if levels == nil {
		return 0
	}
	bb := f.BlockBytes()
	xq := make([]byte, k/qk32*Q8_1Bytes)
	if err := Q8_1.Quantize(xq, x[i*k:(i+1)*k]); err != nil {
		t.Fatal(err)
	}
	row := w[j*(k/qk32)*bb:]
	var v [qk32]int32
	var corr float64
	for b := 0; b < k/qk32; b++ {
		_, m := levels(row[b*bb:(b+1)*bb], &v)
		var seen float64
		for _, e := range xs[i*k+b*qk32 : i*k+(b+1)*qk32] {
			seen += float64(e)
		}
		corr += float64(m) * (float64(blockScale(xq[b*Q8_1Bytes+2:])) - seen)
	}
	return corr
}

// Every format, every implementation, odd shapes, batched and not: MatMulQ
// against a float64 reference, outputs inside NaN guard bands.
func TestMatMulQConformance(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, f := range allFormats {
		for _, k := range rowLengths(f) {
			for _, n := range []int{1, 3, 13, 35} {
				w := randomWeights(t, r, f, n, k)
				wd := make([]float32, n*k)
				if err := f.Dequantize(wd, w); err != nil {
					t.Fatal(err)
				}
				for _, m := range []int{1, 3, 4, 9} {
					x := randSlice(r, m*k)
					xs := actAsSeen(t, f, x)
					// Batches MatMulQ widens panel by panel keep x in f32.
					wantSeen, wantRaw := make([]float32, m*n), make([]float32, m*n)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							var s, sr float64
							for p := 0; p < k; p++ {
								s += float64(wd[j*k+p]) * float64(xs[i*k+p])
								sr += float64(wd[j*k+p]) * float64(x[i*k+p])
							}
							wantSeen[i*n+j] = float32(s + offsetTerm(t, f, w, x, xs, i, j, k))
							wantRaw[i*n+j] = float32(sr)
						}
					}
					tol := dotTolerance(f)
					for _, impl := range impls() {
						withImpl(t, impl, func() {
							want := wantSeen
							if f != F32 && m >= panelMinRows && traits[f].dotQx4[curImpl] == nil && qgemmFor(f) == nil {
								want = wantRaw
							}
							y, full := guarded(m * n)
							if err := MatMulQ(y, w, f, x, m, n, k); err != nil {
								t.Fatalf("%s %s: %v", impl, f.String(), err)
							}
							checkGuards(t, full, m*n)
							assertNMSE(t, impl+" MatMulQ "+f.String(), y, want, tol)
							if m == 1 {
								d, err := f.Dot(w[:len(w)/n], x)
								if err != nil {
									t.Fatalf("%s %s: Dot: %v", impl, f.String(), err)
								}
								// One value can cancel: bound it by Σ|w·x| instead of by itself.
								var scale float64
								for p := 0; p < k; p++ {
									scale += math.Abs(float64(wd[p]) * float64(xs[p]))
								}
								if diff := math.Abs(float64(d - want[0])); diff > 1e-6*scale+1e-30 {
									t.Fatalf("%s Dot %v: %v, want %v (Σ|w·x| %v)", impl, f, d, want[0], scale)
								}
							}
						})
					}
				}
			}
		}
	}
}

// Each implementation's row kernels against the Go references directly, for
// every quantized type, on weights and activations whose block scales span
// f16's range. Float rounding differs by order only, so |got - want| is
// bounded by 1e-6 of Σ|w·x| (an element mis-read is far above that).
func TestQuantRowKernelsMatchReference(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, f := range allFormats {
		tr := f.Traits()
		if tr.VecDot == F32 {
			continue
		}
		act := tr.VecDot
		for _, nb := range []int{1, 2, 3, 7, 16, 19, 64} {
			k := nb * f.BlockSize()
			x := randSlice(r, k)
			for i := range x {
				if i%act.BlockSize() == 0 {
					x[i] *= float32(math.Pow(10, float64(r.Intn(7)-4)))
				}
			}
			for i := range x {
				x[i] *= float32(math.Pow(10, float64(r.Intn(3)-1)))
			}
			xq := make([]byte, nb*act.BlockBytes())
			if err := act.Quantize(xq, x); err != nil {
				t.Fatal(err)
			}
			w := randomWeights(t, r, f, 1, k)
			wd, xs := make([]float32, k), make([]float32, k)
			if err := f.Dequantize(wd, w); err != nil {
				t.Fatal(err)
			}
			if err := act.Dequantize(xs, xq); err != nil {
				t.Fatal(err)
			}
			var scale float64
			for i := range wd {
				scale += math.Abs(float64(wd[i]) * float64(xs[i]))
			}
			want := tr.dotQ[implGeneric](&w[0], &xq[0], nb)
			for _, impl := range impls() {
				withImpl(t, impl, func() {
					got := rowDot(f, w, xq, nb)
					if d := math.Abs(float64(got) - float64(want)); !(d <= 1e-6*scale+1e-30) {
						t.Fatalf("%s %v·%v, %d blocks: got %v, reference %v (Σ|w·x| %v)", impl, f, act, nb, got, want, scale)
					}
				})
			}
		}
	}
}

// The q8s quantizer's assembly writes the Go twin's bytes, on data whose
// blocks span magnitudes, hold exact halves (ties round to even) and zeros.
func TestQuantQ8SMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, nb := range []int{1, 2, 7, 64} {
		x := randSlice(r, nb*qk32)
		for i := range x {
			x[i] *= float32(math.Pow(10, float64(r.Intn(9)-4)))
		}
		for j := 0; j < qk32; j++ { // block 0: 127 and exact halves
			x[j] = float32(j) - 15.5
		}
		x[0] = 127
		if nb > 1 {
			clear(x[qk32 : 2*qk32]) // an all-zero block
		}
		want := make([]byte, nb*Q8SBytes)
		quantQ8SGeneric(want, x)
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				got := make([]byte, nb*Q8SBytes)
				quantQ8S(got, x)
				if string(got) != string(want) {
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s: %d blocks: byte %d = %d, want %d", impl, nb, i, got[i], want[i])
						}
					}
				}
			})
		}
	}
}

// The q8_K quantizer's assembly writes the reference's bytes: the signed
// element of largest magnitude (first of a tie) sets the scale, halves round
// to even, an all-zero super-block is zeros.
func TestQuantQ8_KMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	for _, nb := range []int{1, 2, 5} {
		x := randSlice(r, nb*QKK)
		for i := range x {
			x[i] *= float32(math.Pow(10, float64(r.Intn(9)-4)))
		}
		x[37], x[200] = -3e5, 3e5 // a tie of magnitudes: the first (negative) wins
		if nb > 1 {
			clear(x[QKK : 2*QKK])
		}
		if nb > 2 {
			for j := 0; j < QKK; j++ { // exact halves after scaling by -127/-127
				x[2*QKK+j] = float32(j%64) - 31.5
			}
			x[2*QKK+255] = -127
		}
		want := make([]byte, nb*Q8_KBytes)
		quantQ8_KGeneric(want, x)
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				got := make([]byte, nb*Q8_KBytes)
				for i := range got {
					got[i] = 0xAA // stale bytes must be overwritten
				}
				quantQ8_K(got, x)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s: %d super-blocks: byte %d = %d, want %d", impl, nb, i, got[i], want[i])
					}
				}
			})
		}
	}
}

// The assembly widenings are bit for bit their references.
func TestDequantMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	for _, c := range []struct {
		d   DType
		ref func([]float32, []byte)
	}{{Q8_0, dequantQ8_0Ref}, {Q4_0, dequantQ4_0Ref}} {
		for _, nb := range []int{1, 2, 5, 33} {
			w := randomWeights(t, r, c.d, 1, nb*qk32)
			want := make([]float32, nb*qk32)
			c.ref(want, w)
			for _, impl := range impls() {
				withImpl(t, impl, func() {
					got, full := guarded(nb * qk32)
					if err := c.d.Dequantize(got, w); err != nil {
						t.Fatal(err)
					}
					checkGuards(t, full, nb*qk32)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %v element %d: %v, want %v", impl, c.d, i, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

// q8_0 weights may hold -128 and 127 (ggml never writes -128, but a file
// could): the sign trick takes |w| as unsigned, w+128 spans 0…255, so the
// SIMD dots still match exactly, at the extremes of the activations too.
func TestQ8_0WeightMinus128(t *testing.T) {
	w := make([]byte, Q8_0Bytes)
	xq := make([]byte, Q8SBytes)
	binary.LittleEndian.PutUint16(w, 0x3c00)               // d = 1
	binary.LittleEndian.PutUint32(xq, math.Float32bits(1)) // d = 1
	var sum int32
	for j := 0; j < 32; j++ {
		w[2+j] = byte(int8(-128 + 255*(j%2))) // -128, 127
		q := int8(j%3*127 - 127)              // -127, 0, 127
		xq[8+j] = byte(q)
		sum += int32(q)
	}
	binary.LittleEndian.PutUint32(xq[4:], uint32(sum))
	want := dotQ8_0Q8SRef(&w[0], &xq[0], 1)
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			if got := rowDot(Q8_0, w, xq, 1); got != want {
				t.Fatalf("%s: q8_0 with -128 weights = %v, want %v", impl, got, want)
			}
		})
	}
}

// Round trips stay within the format's precision.
func TestQuantizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, c := range []struct {
		f   DType
		tol float64
	}{{F32, 0}, {F16, tolQuantizeF16}, {BF16, tolQuantizeBF16}, {Q8_0, tolQuantizeQ8_0}, {Q4_0, tolQuantizeQ4_0},
		{Q4_1, tolQuantizeQ4_0}, {Q5_0, tolQuantizeQ5}, {Q5_1, tolQuantizeQ5}, {Q8_1, tolQuantizeQ8_0}, {Q8_K, tolQuantizeQ8_0}} {
		k := 256 * 33
		x := randSlice(r, k)
		q := make([]byte, k/c.f.BlockSize()*c.f.BlockBytes())
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				if err := c.f.Quantize(q, x); err != nil {
					t.Fatal(err)
				}
				got, full := guarded(k)
				if err := c.f.Dequantize(got, q); err != nil {
					t.Fatal(err)
				}
				checkGuards(t, full, k)
				assertNMSE(t, impl+" round trip "+c.f.String(), got, x, c.tol)
			})
		}
	}
}

// q8_K of a ramp: the element of largest magnitude (-128 at index 0) maps
// to -127, halves round to even, and bsums are the group sums.
func TestQ8_KKnownPattern(t *testing.T) {
	x := make([]float32, QKK)
	for i := range x {
		x[i] = float32(i - 128)
	}
	got := make([]byte, Q8_KBytes)
	if err := Q8_K.Quantize(got, x); err != nil {
		t.Fatal(err)
	}
	if d := math.Float32frombits(binary.LittleEndian.Uint32(got)); d != 1/(-127/float32(-128)) {
		t.Fatalf("q8_K d = %v", d)
	}
	// x·127/128: index 0 → -127; index 64 (x=-64) → -63.5 → -64 (even);
	// index 192 (x=64) → 63.5 → 64; index 255 (x=127) → 126.0078 → 126.
	for i, want := range map[int]int8{0: -127, 64: -64, 128: 0, 192: 64, 255: 126} {
		if q := int8(got[4+i]); q != want {
			t.Errorf("q8_K q[%d] = %d, want %d", i, q, want)
		}
	}
	for g := 0; g < 16; g++ {
		var sum int32
		for e := 16 * g; e < 16*g+16; e++ {
			sum += int32(int8(got[4+e]))
		}
		if b := int16(binary.LittleEndian.Uint16(got[260+2*g:])); int32(b) != sum {
			t.Errorf("bsums[%d] = %d, want %d", g, b, sum)
		}
	}
}

// Known bit patterns worked out by hand from ggml's reference quantizers.
func TestQ4_0KnownPattern(t *testing.T) {
	// x[i] = i-16: the largest magnitude is -16, so d = -16/-8 = 2 (f16
	// 0x4000) and q = min(15, trunc(x/2 + 8.5)).
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i - 16)
	}
	want := []byte{0x00, 0x40,
		0x80, 0x91, 0x91, 0xa2, 0xa2, 0xb3, 0xb3, 0xc4, 0xc4, 0xd5, 0xd5, 0xe6, 0xe6, 0xf7, 0xf7, 0xf8}
	got := make([]byte, Q4_0Bytes)
	if err := Q4_0.Quantize(got, x); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("q4_0 of i-16:\n got % x\nwant % x", got, want)
	}
	deq := make([]float32, 32)
	if err := Q4_0.Dequantize(deq, got); err != nil {
		t.Fatal(err)
	}
	// Element 1 (-15) has nibble 1 → (1-8)·2 = -14; element 31 (15) clamps to 15 → 14.
	if deq[0] != -16 || deq[1] != -14 || deq[16] != 0 || deq[31] != 14 {
		t.Fatalf("q4_0 dequantize: %v", deq)
	}
}

func TestQ8_0KnownPattern(t *testing.T) {
	// x[i] = (i-16)/16: max|x| = 1, d = 1/127 (f16 0x2008), q = round(127x)
	// with halves away from zero: i=8 → -63.5 → -64, i=24 → 63.5 → 64.
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i-16) / 16
	}
	got := make([]byte, Q8_0Bytes)
	if err := Q8_0.Quantize(got, x); err != nil {
		t.Fatal(err)
	}
	if d := binary.LittleEndian.Uint16(got); d != 0x2008 {
		t.Fatalf("q8_0 scale = %#04x, want 0x2008", d)
	}
	for i, want := range map[int]int8{0: -127, 8: -64, 16: 0, 24: 64, 31: 119} {
		if q := int8(got[2+i]); q != want {
			t.Errorf("q8_0 q[%d] = %d, want %d", i, q, want)
		}
	}
}

// q4_K and q6_K dequantization on hand-built super-blocks, expected values
// derived from the layout description in quantk.go.
func TestQ4_KKnownBlock(t *testing.T) {
	blk := make([]byte, Q4_KBytes)
	binary.LittleEndian.PutUint16(blk[0:], 0x3c00) // d = 1
	binary.LittleEndian.PutUint16(blk[2:], 0x3800) // dmin = 0.5
	copy(blk[4:], []byte{0x41, 2, 3, 4, 0, 0, 0, 0, 0x15, 0x26, 0x37, 0x48})
	for i := 16; i < Q4_KBytes; i++ {
		blk[i] = 0x21 // low nibble 1 (even sub-blocks), high nibble 2 (odd)
	}
	sc := []float32{1, 2, 3, 4, 5 + 16, 6, 7, 8} // byte 0's top bits feed sub-block 4
	mn := []float32{0, 0, 0, 0, 1, 2, 3, 4}
	got := make([]float32, QKK)
	if err := Q4_K.Dequantize(got, blk); err != nil {
		t.Fatal(err)
	}
	for e := range got {
		s := e / 32
		q := float32(1 + s%2)
		if want := sc[s]*q - 0.5*mn[s]; got[e] != want {
			t.Fatalf("q4_K element %d = %v, want %v", e, got[e], want)
		}
	}
}

func TestQ6_KKnownBlock(t *testing.T) {
	blk := make([]byte, Q6_KBytes)
	for i := 0; i < 128; i++ {
		blk[i] = 0x21 // ql: low nibble 1, high nibble 2
	}
	for i := 128; i < 192; i++ {
		blk[i] = 0xe4 // qh: top bits 0,1,2,3 for quarters 0..3
	}
	for i := 0; i < 16; i++ {
		blk[192+i] = byte(int8(i - 8))
	}
	binary.LittleEndian.PutUint16(blk[208:], 0x4000) // d = 2
	qs := []float32{1 - 32, 1 + 16 - 32, 2 + 32 - 32, 2 + 48 - 32}
	got := make([]float32, QKK)
	if err := Q6_K.Dequantize(got, blk); err != nil {
		t.Fatal(err)
	}
	for e := range got {
		h, quarter, l := e/128, e%128/32, e%32
		scale := float32(8*h + l/16 + 2*quarter - 8)
		if want := 2 * scale * qs[quarter]; got[e] != want {
			t.Fatalf("q6_K element %d = %v, want %v", e, got[e], want)
		}
	}
}

// Bad lengths are errors, never panics.
func TestQuantErrors(t *testing.T) {
	for _, f := range allFormats {
		if f.BlockSize() > 1 {
			if _, err := f.RowBytes(f.BlockSize() + 1); !errors.Is(err, ErrBadLength) {
				t.Errorf("%s: RowBytes(non-multiple) err = %v", f.String(), err)
			}
			if err := f.Dequantize(make([]float32, f.BlockSize()-1), nil); err == nil {
				t.Errorf("%s: Dequantize of a partial block succeeded", f.String())
			}
		}
		if _, err := f.RowBytes(-f.BlockSize()); err == nil {
			t.Errorf("%s: RowBytes(negative) succeeded", f.String())
		}
		big := math.MaxInt / f.BlockSize() * f.BlockSize()
		if _, err := f.RowBytes(big); err == nil && f.BlockBytes() > f.BlockSize() {
			t.Errorf("%s: RowBytes(%d) did not overflow", f.String(), big)
		}
		k := 2 * max(QK8_0, f.BlockSize())
		rb, _ := f.RowBytes(k)
		w := make([]byte, 3*rb)
		x := make([]float32, k)
		y := make([]float32, 3)
		if err := MatVecQ(y, w[1:], f, x, 3, k); err == nil {
			t.Errorf("%s: MatVecQ with short weights succeeded", f.String())
		}
		if err := MatVecQ(y[:2], w, f, x, 3, k); err == nil {
			t.Errorf("%s: MatVecQ with short y succeeded", f.String())
		}
		if err := MatMulQ(make([]float32, 6), w, f, x, 2, 3, k); err == nil {
			t.Errorf("%s: MatMulQ with short x succeeded", f.String())
		}
		if err := MatVecQ(y, w, f, x, 3, k); err != nil {
			t.Errorf("%s: MatVecQ valid call: %v", f.String(), err)
		}
		if !f.Writable() {
			if err := f.Quantize(make([]byte, rb), x); err == nil {
				t.Errorf("%s: Quantize succeeded for a read-only format", f.String())
			}
		}
	}
	if err := MatVecQ(nil, nil, DType(5), nil, 0, 0); err == nil {
		t.Error("MatVecQ with an unknown type succeeded")
	}
	if err := MatMulQ(nil, nil, F32, nil, math.MaxInt, 2, 2); err == nil {
		t.Error("MatMulQ with overflowing m succeeded")
	}
}

// Steady-state MatVecQ allocates nothing of its own: at most the pool's
// per-loop WaitGroup.
func TestMatVecQAllocs(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	const n, k = 64, 512
	w := randomWeights(t, r, Q4_0, n, k)
	x := randSlice(r, k)
	y := make([]float32, n)
	allocs := testing.AllocsPerRun(20, func() {
		if err := MatVecQ(y, w, Q4_0, x, n, k); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("MatVecQ allocates %v times per call, want ≤ 1", allocs)
	}
}

// FuzzRowBytes: any (format, k, n) gives either an error or a size that
// matches block arithmetic, and MatMulQ on buffers of fuzzed sizes never
// panics.
func FuzzRowBytes(f *testing.F) {
	f.Add(uint8(3), 64, 2, 1, 0)
	f.Add(uint8(4), 33, 1, 1, 1)
	f.Add(uint8(5), 256, 3, 2, -1)
	f.Add(uint8(0), math.MaxInt, 1, 1, 0)
	f.Add(uint8(0), 0, 3, 1, 0) // empty f32 rows
	f.Fuzz(func(t *testing.T, fi uint8, k, n, m, skew int) {
		fm := allFormats[int(fi)%len(allFormats)]
		rb, err := fm.RowBytes(k)
		if err == nil {
			if k < 0 || k%fm.BlockSize() != 0 || rb != k/fm.BlockSize()*fm.BlockBytes() || rb < 0 {
				t.Fatalf("%s RowBytes(%d) = %d", fm.String(), k, rb)
			}
		}
		if k < 0 || k > 1024 || n < 0 || n > 16 || m < 0 || m > 4 || skew < -2 || skew > 2 {
			return
		}
		wlen := max(0, n*max(rb, 0)+skew)
		y := make([]float32, m*n)
		err = MatMulQ(y, make([]byte, wlen), fm, make([]float32, m*k), m, n, k)
		if ok := wlen == n*rb && (k%fm.BlockSize() == 0) && (fm.Traits().VecDot == F32 || k%QK8_0 == 0); (err == nil) != ok && !(n == 0 || m == 0) {
			t.Fatalf("%s MatMulQ(m=%d n=%d k=%d, skew %d) err = %v", fm.String(), m, n, k, skew, err)
		}
		for _, v := range y {
			if err == nil && v != 0 {
				t.Fatalf("zero weights gave %v", v)
			}
		}
	})
}
