package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"
)

// randomBands splits [0, n) into 1–4 contiguous bands at random edges.
func randomBands(r *rand.Rand, n int) [][2]int {
	var bands [][2]int
	for lo := 0; lo < n; {
		hi := min(n, lo+1+r.Intn(max(1, n/2)))
		if len(bands) == 3 {
			hi = n
		}
		bands = append(bands, [2]int{lo, hi})
		lo = hi
	}
	return bands
}

// TestConv2DBand computes random stride-1 convolutions band by band (odd
// sides, kernels 1–4, paddings, dilations, row chunks of the band from one
// row up) with NaN everywhere the band must not write. Kernels one column
// wide want Conv2D's values bit for bit (both Conv2D paths as reference);
// wider ones, whose column taps sum in the output pass, want the float64
// definition to tolConv, and the same values bit for bit as one band over
// the whole map. add mode adds to what is there. Every implementation.
func TestConv2DBand(t *testing.T) {
	old, oldChunk := conv2dTapsMinPixels, convBandChunkFloats
	defer func() { conv2dTapsMinPixels, convBandChunkFloats = old, oldChunk }()
	nan := float32(math.NaN())
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			r := rand.New(rand.NewSource(21))
			for i := 0; i < 160; i++ {
				conv2dTapsMinPixels = []int{1, 1 << 30}[i%2]
				convBandChunkFloats = []int{1 << 17, 1, 300}[i%3]
				p := Conv2DParams{N: 1, C: 1 + r.Intn(20), H: 1 + r.Intn(24), W: 1 + r.Intn(24), K: 2 + r.Intn(20),
					KH: 1 + r.Intn(4), KW: 1 + r.Intn(4), DilH: 1 + r.Intn(2), DilW: 1 + r.Intn(2), PadH: r.Intn(3), PadW: r.Intn(3)}
				if i%5 == 0 { // the 1×1 unpadded shortcut path
					p.KH, p.KW, p.PadH, p.PadW = 1, 1, 0, 0
				}
				oh, ow := p.OutSize()
				if oh <= 0 || ow <= 0 {
					continue
				}
				x := randSlice(r, p.C*p.H*p.W)
				w := randSlice(r, p.K*p.C*p.KH*p.KW)
				var bias []float32
				if i%4 >= 2 {
					bias = randSlice(r, p.K)
				}
				want := make([]float32, p.K*oh*ow)
				if err := Conv2D(want, x, w, bias, p); err != nil {
					t.Fatal(err)
				}
				if p.KW > 1 {
					want = refConv2D(x, w, bias, p)
				}
				base := randSlice(r, len(want))
				add := i%2 == 0
				name := fmt.Sprintf("%s %+v add %v", impl, p, add)
				got := make([]float32, len(want))
				for j := range got {
					got[j] = nan
				}
				for _, b := range randomBands(r, oh) {
					if add {
						for k := 0; k < p.K; k++ {
							copy(got[(k*oh+b[0])*ow:(k*oh+b[1])*ow], base[(k*oh+b[0])*ow:(k*oh+b[1])*ow])
						}
					}
					if err := Conv2DBand(got, x, w, bias, p, b[0], b[1], add); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					for k := 0; k < p.K; k++ { // rows past the band still NaN
						for j := (k*oh + b[1]) * ow; j < (k+1)*oh*ow; j++ {
							if got[j] == got[j] {
								t.Fatalf("%s: band [%d, %d) wrote channel %d element %d", name, b[0], b[1], k, j-k*oh*ow)
							}
						}
					}
				}
				if p.KW > 1 {
					whole := slices.Clone(base)
					if err := Conv2DBand(whole, x, w, bias, p, 0, oh, add); err != nil {
						t.Fatal(err)
					}
					if add {
						for j := range want {
							want[j] += base[j]
						}
					}
					assertNMSE(t, name, got, want, tolConv)
					want = whole
				}
				// The kernel stacked once gives the same values.
				ws, err := StackColumnTaps(w, p.K, p.C, p.KH, p.KW)
				if err != nil {
					t.Fatal(err)
				}
				viaStacked := slices.Clone(base)
				if err := Conv2DBandStacked(viaStacked, x, ws, bias, p, 0, oh, add); err != nil {
					t.Fatal(err)
				}
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(viaStacked[j]) {
						t.Fatalf("%s: element %d = %v in bands, %v with the kernel stacked once", name, j, got[j], viaStacked[j])
					}
				}
				for j := range want {
					wv := want[j]
					if add && p.KW == 1 {
						wv = base[j] + want[j]
					}
					if math.Float32bits(got[j]) != math.Float32bits(wv) {
						t.Fatalf("%s: element %d = %v, want %v", name, j, got[j], wv)
					}
				}
			}
		})
	}
	if _, err := StackColumnTaps(make([]float32, 35), 2, 2, 3, 3); err == nil {
		t.Fatal("a short kernel stacked")
	}
	p := Conv2DParams{N: 2, C: 2, H: 4, W: 4, K: 2, KH: 3, KW: 3, PadH: 1, PadW: 1}
	if err := Conv2DBandStacked(make([]float32, 64), make([]float32, 64), make([]float32, 35), nil, Conv2DParams{N: 1, C: 2, H: 4, W: 4, K: 2, KH: 3, KW: 3, PadH: 1, PadW: 1}, 0, 2, false); err == nil {
		t.Fatal("a short stacked kernel accepted")
	}
	if err := Conv2DBand(make([]float32, 64), make([]float32, 64), make([]float32, 36), nil, p, 0, 2, false); err == nil {
		t.Fatal("a band of two images accepted")
	}
	p.N = 1
	for _, b := range [][2]int{{-1, 2}, {2, 2}, {3, 5}} {
		if err := Conv2DBand(make([]float32, 32), make([]float32, 32), make([]float32, 36), nil, p, b[0], b[1], false); err == nil {
			t.Fatalf("band %v of 4 rows accepted", b)
		}
	}
}

// TestUpsample2xConv2DBand computes random 3×3 convolutions of nearest ×2
// upsampled maps band by band from the small map and the folded kernel
// (odd small sides, channel counts off the GEMM tiles, bands of odd and
// even rows, one row, row chunks from one row up) with NaN everywhere a band must not write, against
// the float64 definition on the upsampled map; every implementation.
func TestUpsample2xConv2DBand(t *testing.T) {
	oldChunk := convBandChunkFloats
	defer func() { convBandChunkFloats = oldChunk }()
	nan := float32(math.NaN())
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			r := rand.New(rand.NewSource(23))
			for i := 0; i < 80; i++ {
				convBandChunkFloats = []int{1 << 17, 1, 300}[i%3]
				h, w := 1+r.Intn(13), 1+r.Intn(13)
				if i%7 == 0 {
					h, w = 16+r.Intn(20), 16+r.Intn(20)
				}
				p := Conv2DParams{N: 1, C: 1 + r.Intn(20), H: 2 * h, W: 2 * w, K: 1 + r.Intn(40), KH: 3, KW: 3, PadH: 1, PadW: 1}
				small := randSlice(r, p.C*h*w)
				big := make([]float32, p.C*p.H*p.W)
				if err := UpsampleNearest2x(big, small, 1, p.C, h, w); err != nil {
					t.Fatal(err)
				}
				wt := randSlice(r, p.K*p.C*9)
				var bias []float32
				if i%2 == 1 {
					bias = randSlice(r, p.K)
				}
				f, err := FoldUpsample2x(wt, p.K, p.C)
				if err != nil {
					t.Fatal(err)
				}
				want := refConv2D(big, wt, bias, p)
				got := make([]float32, len(want))
				for j := range got {
					got[j] = nan
				}
				name := fmt.Sprintf("%s %+v", impl, p)
				for _, b := range randomBands(r, p.H) {
					if err := Upsample2xConv2DBand(got, small, f, bias, p, b[0], b[1]); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					for k := 0; k < p.K; k++ { // rows past the band still NaN
						for j := (k*p.H + b[1]) * p.W; j < (k+1)*p.H*p.W; j++ {
							if got[j] == got[j] {
								t.Fatalf("%s: band [%d, %d) wrote channel %d element %d", name, b[0], b[1], k, j-k*p.H*p.W)
							}
						}
					}
				}
				assertNMSE(t, name, got, want, tolConv)
			}
		})
	}
	p := Conv2DParams{N: 1, C: 2, H: 4, W: 4, K: 2, KH: 3, KW: 3, PadH: 1, PadW: 1}
	f, err := FoldUpsample2x(make([]float32, 36), 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := Upsample2xConv2DBand(make([]float32, 32), make([]float32, 7), f, nil, p, 0, 4); err == nil {
		t.Fatal("a short map before upsampling accepted")
	}
	if err := Upsample2xConv2DBand(make([]float32, 32), make([]float32, 8), f, nil, p, 2, 5); err == nil {
		t.Fatal("a band past the map accepted")
	}
	q := p
	q.PadH, q.PadW = 0, 0
	if err := Upsample2xConv2DBand(make([]float32, 32), make([]float32, 8), f, nil, q, 0, 2); err == nil {
		t.Fatal("an unpadded conv accepted")
	}
	q = p
	q.H = 5
	if err := Upsample2xConv2DBand(make([]float32, 40), make([]float32, 10), f, nil, q, 0, 2); err == nil {
		t.Fatal("an odd upsampled side accepted")
	}
	if _, err := FoldUpsample2x(make([]float32, 35), 2, 2); err == nil {
		t.Fatal("a short kernel folded")
	}
}

// TestGroupNormBand runs GroupNormBand (with and without SiLU) in teams of
// 2 and 3 over random shapes and bands against GroupNorm (then SiLU): equal
// to within float32 rounding of the statistics.
func TestGroupNormBand(t *testing.T) {
	r := rand.New(rand.NewSource(22))
	for _, threads := range []int{2, 3} {
		pool := NewPool(threads)
		for i := 0; i < 40; i++ {
			groups := 1 + r.Intn(8)
			c, h, w := groups*(1+r.Intn(4)), 1+r.Intn(20), 1+r.Intn(20)
			hw := h * w
			if h < threads {
				continue
			}
			silu := i%2 == 1
			x := randSlice(r, c*hw)
			for j := range x {
				x[j] = 3*x[j] + 0.5
			}
			gw, gb := randSlice(r, c), randSlice(r, c)
			want := make([]float32, len(x))
			if err := GroupNorm(want, x, gw, gb, 1, c, hw, groups, 1e-6); err != nil {
				t.Fatal(err)
			}
			if silu {
				if err := SiLU(want, want); err != nil {
					t.Fatal(err)
				}
			}
			got := make([]float32, len(x))
			st := NewBandStats(threads, groups)
			errs := make([]error, threads)
			pool.Team(threads, func(part, parts int, bar *Barrier) {
				lo, hi := Band(h, 1, part, parts)
				errs[part] = GroupNormBand(got, x, gw, gb, c, hw, groups, 1e-6, silu, lo*w, hi*w, st, part, bar)
			})
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for j := range want {
				if d := math.Abs(float64(got[j] - want[j])); d > 1e-5*(1+math.Abs(float64(want[j]))) {
					t.Fatalf("%d threads, c %d, %dx%d, %d groups, silu %v: element %d = %v, want %v", threads, c, h, w, groups, silu, j, got[j], want[j])
				}
			}
		}
		pool.Close()
	}
}

// TestInterleaveBias runs the upsampler's phase interleave on every length
// up to 41 (vector body and scalar tail) with NaN past the output, against
// its generic loop bit for bit; every implementation.
func TestInterleaveBias(t *testing.T) {
	r := rand.New(rand.NewSource(24))
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for n := 0; n <= 41; n++ {
				e, o := randSlice(r, n), randSlice(r, n)
				b := float32(r.NormFloat64())
				got, want := make([]float32, 2*n+3), make([]float32, 2*n)
				for j := range got {
					got[j] = float32(math.NaN())
				}
				interleaveBias(got, e, o, b)
				interleaveBiasGeneric(want, e, o, b)
				for j := range want {
					if math.Float32bits(got[j]) != math.Float32bits(want[j]) || want[j] != []float32{e[j/2], o[j/2]}[j%2]+b {
						t.Fatalf("%s n %d: element %d = %v, want %v", impl, n, j, got[j], want[j])
					}
				}
				for j := 2 * n; j < len(got); j++ {
					if got[j] == got[j] {
						t.Fatalf("%s n %d: wrote element %d past the output", impl, n, j)
					}
				}
			}
		})
	}
}

// BenchmarkInterleaveBias interleaves the rows of the shipped VAE's last
// upsampler (64 channels, 32 small rows of 32 columns per phase parity).
func BenchmarkInterleaveBias(b *testing.B) {
	r := rand.New(rand.NewSource(25))
	e, o := randSlice(r, 64*32*32), randSlice(r, 64*32*32)
	d := make([]float32, 2*len(e))
	for _, impl := range impls() {
		b.Run(impl, func(b *testing.B) {
			withImpl(b, impl, func() {
				for i := 0; i < b.N; i++ {
					for row := 0; row < 64*32; row++ {
						interleaveBias(d[row*64:(row+1)*64], e[row*32:(row+1)*32], o[row*32:(row+1)*32], 0.5)
					}
				}
			})
		})
	}
}
