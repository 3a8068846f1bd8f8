package kernels

import (
	"encoding/binary"
	"math"
	"testing"
)

// f16Value decodes a half independently of F16ToF32 (float64 arithmetic).
func f16Value(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * mant * math.Ldexp(1, -24)
	case 0x1f:
		if mant != 0 {
			return math.NaN()
		}
		return sign * math.Inf(1)
	}
	return sign * (1024 + mant) * math.Ldexp(1, exp-25)
}

// halfBytesOf packs halves little-endian.
func halfBytesOf(hs []uint16) []byte {
	b := make([]byte, 2*len(hs))
	for i, h := range hs {
		binary.LittleEndian.PutUint16(b[2*i:], h)
	}
	return b
}

func sameFloat(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b && math.Signbit(float64(a)) == math.Signbit(float64(b))
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// All 65536 halves: widening is exact, narrowing the widened value gives the
// half back (NaNs stay NaN with their sign), and every implementation of the
// row conversions agrees bit for bit.
func TestF16Exhaustive(t *testing.T) {
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	src := halfBytesOf(all)
	for _, h := range all {
		f := F16ToF32(h)
		want := f16Value(h)
		if math.IsNaN(want) {
			if f == f {
				t.Fatalf("F16ToF32(%#04x) = %v, want NaN", h, f)
			}
			if back := F32ToF16(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 || back&0x8000 != h&0x8000 {
				t.Fatalf("F32ToF16(NaN from %#04x) = %#04x, not a NaN of the same sign", h, back)
			}
			continue
		}
		if float64(f) != want || math.Signbit(float64(f)) != math.Signbit(want) {
			t.Fatalf("F16ToF32(%#04x) = %v, want %v", h, f, want)
		}
		if back := F32ToF16(f); back != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, back)
		}
	}
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			got, full := guarded(len(all))
			traits[F16].toFloat(got, src)
			checkGuards(t, full, len(all))
			for i, h := range all {
				if !sameFloat(got[i], F16ToF32(h)) {
					t.Fatalf("%s: f16 row widen [%#04x] = %v, want %v", impl, h, got[i], F16ToF32(h))
				}
			}
			back := make([]byte, len(src))
			traits[F16].fromFloat(back, got)
			for i, h := range all {
				b := binary.LittleEndian.Uint16(back[2*i:])
				if b != h && !(h&0x7c00 == 0x7c00 && h&0x3ff != 0 && b&0x7c00 == 0x7c00 && b&0x3ff != 0) {
					t.Fatalf("%s: f16 row narrow of %#04x = %#04x", impl, h, b)
				}
			}
		})
	}
}

// Rounding: for every pair of adjacent finite halves (a, b), their midpoint
// rounds to the even one, and one float32 ulp either side rounds to the
// nearer. The midpoint of 65504 and 65536 (the first value past the largest
// half) overflows to Inf. Checked through F32ToF16 and every row impl.
func TestF16RoundingMidpoints(t *testing.T) {
	var in []float32
	var want []uint16
	for h := uint16(0); h < 0x7c00; h++ {
		a := f16Value(h)
		b := 65536.0
		if h+1 < 0x7c00 {
			b = f16Value(h + 1)
		}
		mid := float32((a + b) / 2) // exact: 12 significant bits
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		below := math.Nextafter32(mid, float32(math.Inf(-1)))
		above := math.Nextafter32(mid, float32(math.Inf(1)))
		for _, s := range []uint16{0, 0x8000} {
			neg := float32(1)
			if s != 0 {
				neg = -1
			}
			in = append(in, neg*mid, neg*below, neg*above)
			want = append(want, s|even, s|h, s|(h+1))
		}
	}
	for i, f := range in {
		if got := F32ToF16(f); got != want[i] {
			t.Fatalf("F32ToF16(%g) = %#04x, want %#04x", f, got, want[i])
		}
	}
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			out := make([]byte, 2*len(in))
			traits[F16].fromFloat(out, in)
			for i, f := range in {
				if got := binary.LittleEndian.Uint16(out[2*i:]); got != want[i] {
					t.Fatalf("%s: narrow %g = %#04x, want %#04x", impl, f, got, want[i])
				}
			}
		})
	}
	// Past the largest half, and below the smallest subnormal's half.
	for _, c := range []struct {
		f    float32
		want uint16
	}{
		{65520, 0x7c00}, {1e10, 0x7c00}, {-1e10, 0xfc00}, {float32(math.Inf(1)), 0x7c00},
		{float32(math.Ldexp(1, -25)), 0}, {float32(math.Ldexp(1.0001, -25)), 1}, {-float32(math.Ldexp(1, -26)), 0x8000},
		{math.SmallestNonzeroFloat32, 0}, {float32(math.Ldexp(3, -25)), 2}, // 1.5 units: tie to even 2
	} {
		if got := F32ToF16(c.f); got != c.want {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
}

// bfloat16: all 65536 patterns round-trip; adjacent-pair midpoints round to
// even; NaN stays NaN.
func TestBF16Exhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := BF16ToF32(h)
		if f != f {
			if b := F32ToBF16(f); b&0x7f80 != 0x7f80 || b&0x7f == 0 || b&0x8000 != h&0x8000 {
				t.Fatalf("F32ToBF16(NaN %#04x) = %#04x", h, b)
			}
			continue
		}
		if b := F32ToBF16(f); b != h {
			t.Fatalf("F32ToBF16(BF16ToF32(%#04x)) = %#04x", h, b)
		}
		if h&0x7fff >= 0x7f7f { // no finite upper neighbour
			continue
		}
		a, c := float64(f), float64(BF16ToF32(h+1))
		mid := float32((a + c) / 2)
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		if b := F32ToBF16(mid); b != even {
			t.Fatalf("F32ToBF16(mid %g of %#04x) = %#04x, want %#04x", mid, h, b, even)
		}
		if b := F32ToBF16(math.Nextafter32(mid, float32(a))); b != h {
			t.Fatalf("F32ToBF16(below mid of %#04x) = %#04x", h, b)
		}
	}
	if got := F32ToBF16(math.MaxFloat32); got != 0x7f80 {
		t.Errorf("F32ToBF16(MaxFloat32) = %#04x, want +Inf", got)
	}
}
