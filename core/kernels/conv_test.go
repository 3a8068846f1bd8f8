package kernels

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"
)

// tolConv is the normalised MSE allowed between the im2col/Gemm convolutions
// and the direct float64 loops below.
const tolConv = 1e-11

// refConv2D is the direct definition: every output pixel sums its taps.
func refConv2D(x, w, bias []float32, p Conv2DParams) []float32 {
	p.defaults()
	oh, ow := p.OutSize()
	cg, kg := p.C/p.Groups, p.K/p.Groups
	out := make([]float32, p.N*p.K*oh*ow)
	for n := 0; n < p.N; n++ {
		for k := 0; k < p.K; k++ {
			g := k / kg
			for y := 0; y < oh; y++ {
				for xo := 0; xo < ow; xo++ {
					var s float64
					if bias != nil {
						s = float64(bias[k])
					}
					for c := 0; c < cg; c++ {
						for kh := 0; kh < p.KH; kh++ {
							for kw := 0; kw < p.KW; kw++ {
								iy, ix := y*p.StrideH-p.PadH+kh*p.DilH, xo*p.StrideW-p.PadW+kw*p.DilW
								if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
									continue
								}
								s += float64(x[((n*p.C+g*cg+c)*p.H+iy)*p.W+ix]) * float64(w[((k*cg+c)*p.KH+kh)*p.KW+kw])
							}
						}
					}
					out[((n*p.K+k)*oh+y)*ow+xo] = float32(s)
				}
			}
		}
	}
	return out
}

// refConvT2D scatters every input pixel through every tap.
func refConvT2D(x, w, bias []float32, p ConvT2DParams) []float32 {
	p.StrideH, p.StrideW, p.DilH, p.DilW, p.Groups = orOne(p.StrideH), orOne(p.StrideW), orOne(p.DilH), orOne(p.DilW), orOne(p.Groups)
	oh, ow := p.OutSize()
	cg, kg := p.C/p.Groups, p.K/p.Groups
	acc := make([]float64, p.N*p.K*oh*ow)
	for n := 0; n < p.N; n++ {
		for c := 0; c < p.C; c++ {
			g := c / cg
			for iy := 0; iy < p.H; iy++ {
				for ix := 0; ix < p.W; ix++ {
					xv := float64(x[((n*p.C+c)*p.H+iy)*p.W+ix])
					for k := 0; k < kg; k++ {
						for kh := 0; kh < p.KH; kh++ {
							for kw := 0; kw < p.KW; kw++ {
								y, xo := iy*p.StrideH-p.PadH+kh*p.DilH, ix*p.StrideW-p.PadW+kw*p.DilW
								if y < 0 || y >= oh || xo < 0 || xo >= ow {
									continue
								}
								acc[((n*p.K+g*kg+k)*oh+y)*ow+xo] += xv * float64(w[((c*kg+k)*p.KH+kh)*p.KW+kw])
							}
						}
					}
				}
			}
		}
	}
	out := make([]float32, len(acc))
	for i, v := range acc {
		if bias != nil {
			v += float64(bias[(i/(oh*ow))%p.K])
		}
		out[i] = float32(v)
	}
	return out
}

func TestConv2D(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, p := range []Conv2DParams{
		{N: 1, C: 3, H: 8, W: 8, K: 4, KH: 3, KW: 3, PadH: 1, PadW: 1},
		{N: 2, C: 4, H: 9, W: 7, K: 6, KH: 3, KW: 2, StrideH: 2, StrideW: 3, PadH: 2, PadW: 1},
		{N: 1, C: 6, H: 11, W: 10, K: 4, KH: 3, KW: 3, DilH: 2, DilW: 3, PadH: 2, PadW: 3, Groups: 2},
		{N: 2, C: 8, H: 5, W: 5, K: 8, KH: 3, KW: 3, PadH: 1, PadW: 1, Groups: 8}, // depthwise
		{N: 2, C: 5, H: 6, W: 7, K: 3, KH: 1, KW: 1},                              // 1×1: direct GEMM
		{N: 1, C: 2, H: 4, W: 4, K: 2, KH: 4, KW: 4},                              // one output pixel
	} {
		q := p
		q.defaults()
		x := randSlice(r, p.N*p.C*p.H*p.W)
		w := randSlice(r, p.K*(p.C/q.Groups)*p.KH*p.KW)
		bias := randSlice(r, p.K)
		want := refConv2D(x, w, bias, p)
		got, full := guarded(len(want))
		if err := Conv2D(got, x, w, bias, p); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		checkGuards(t, full, len(want))
		assertNMSE(t, "conv2d", got, want, tolConv)
	}
	bad := Conv2DParams{N: 1, C: 3, H: 4, W: 4, K: 4, KH: 3, KW: 3, Groups: 2}
	if err := Conv2D(make([]float32, 100), make([]float32, 48), make([]float32, 200), nil, bad); err == nil {
		t.Fatal("groups not dividing channels accepted")
	}
	tooBig := Conv2DParams{N: 1, C: 1, H: 2, W: 2, K: 1, KH: 3, KW: 3}
	if err := Conv2D(make([]float32, 100), make([]float32, 4), make([]float32, 9), nil, tooBig); err == nil {
		t.Fatal("kernel larger than input accepted")
	}
}

// TestConv2DTapsRandom runs the per-tap and wide im2col Gemm paths (stride 1, no groups, not
// 1×1 unpadded) on random shapes against the direct loop: odd sizes,
// asymmetric kernels, dilations, paddings, batches, with and without bias.
func TestConv2DTapsRandom(t *testing.T) {
	old, oldCols := conv2dTapsMinPixels, conv2dWideCols
	defer func() { conv2dTapsMinPixels, conv2dWideCols = old, oldCols }()
	r := rand.New(rand.NewSource(16))
	for i := 0; i < 160; i++ {
		// Even cases per tap (every shape below is small), odd ones on the
		// wide im2col path: whole batch in one Gemm, or (i%4 == 3) in
		// chunks of a few output rows of one image.
		conv2dTapsMinPixels, conv2dWideCols = 1, oldCols
		if i%2 == 1 {
			conv2dTapsMinPixels = 1 << 30
		}
		if i%4 == 3 {
			conv2dWideCols = 1 + r.Intn(400)
		}
		p := Conv2DParams{N: 1 + r.Intn(3), C: 1 + r.Intn(20), H: 1 + r.Intn(19), W: 1 + r.Intn(19), K: 1 + r.Intn(20),
			KH: 1 + r.Intn(4), KW: 1 + r.Intn(4), DilH: 1 + r.Intn(3), DilW: 1 + r.Intn(3), PadH: r.Intn(4), PadW: r.Intn(4)}
		if oh, ow := p.OutSize(); oh <= 0 || ow <= 0 {
			continue
		}
		x := randSlice(r, p.N*p.C*p.H*p.W)
		w := randSlice(r, p.K*p.C*p.KH*p.KW)
		var bias []float32
		if i%8 >= 4 {
			bias = randSlice(r, p.K)
		}
		want := refConv2D(x, w, bias, p)
		got, full := guarded(len(want))
		if err := Conv2D(got, x, w, bias, p); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		checkGuards(t, full, len(want))
		assertNMSE(t, fmt.Sprintf("conv2d stride 1 (taps from %d px, wide chunks of %d)", conv2dTapsMinPixels, conv2dWideCols), got, want, tolConv)
	}
}

// TestConv2DWideImageChunks sends batches through conv2dWide in chunks of
// whole images (the motion UNet's 32 frames on 4×4 and 8×8 maps), evened out
// so the last chunk may be short, on every implementation: against the
// direct loop, and bit for bit against the default chunking (the whole batch
// in one Gemm for most of these shapes), since each output's sum runs over
// the same k slabs whatever its column (K ≥ 2: a one-row Gemm is a GEMV
// whose sums depend on n).
func TestConv2DWideImageChunks(t *testing.T) {
	old, oldCols := conv2dTapsMinPixels, conv2dWideCols
	defer func() { conv2dTapsMinPixels, conv2dWideCols = old, oldCols }()
	conv2dTapsMinPixels = 1 << 30
	r := rand.New(rand.NewSource(17))
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for i := 0; i < 40; i++ {
				p := Conv2DParams{N: 2 + r.Intn(10), C: 1 + r.Intn(40), H: 1 + r.Intn(9), W: 1 + r.Intn(9), K: 2 + r.Intn(40),
					KH: 1 + r.Intn(3), KW: 1 + r.Intn(3), PadH: r.Intn(2), PadW: r.Intn(2)}
				p.defaults()
				oh, ow := p.OutSize()
				if oh <= 0 || ow <= 0 {
					continue
				}
				x := randSlice(r, p.N*p.C*p.H*p.W)
				w := randSlice(r, p.K*p.C*p.KH*p.KW)
				bias := randSlice(r, p.K)
				conv2dWideCols = oldCols
				whole := make([]float32, p.N*p.K*oh*ow)
				if err := Conv2D(whole, x, w, bias, p); err != nil {
					t.Fatalf("%+v: %v", p, err)
				}
				// One image's columns, times 1 … N-1 images, plus a little.
				image := p.C * p.KH * p.KW * oh * (p.W + 2*p.PadW)
				conv2dWideCols = image*(1+r.Intn(p.N-1)) + r.Intn(image)
				got, full := guarded(len(whole))
				if err := Conv2D(got, x, w, bias, p); err != nil {
					t.Fatalf("%+v: %v", p, err)
				}
				checkGuards(t, full, len(whole))
				name := fmt.Sprintf("%s conv2d %+v in chunks of %d floats", impl, p, conv2dWideCols)
				assertNMSE(t, name, got, refConv2D(x, w, bias, p), tolConv)
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(whole[j]) {
						t.Fatalf("%s: out[%d] = %v, one Gemm gives %v", name, j, got[j], whole[j])
					}
				}
			}
		})
	}
}

func TestConvTranspose2D(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	for _, p := range []ConvT2DParams{
		{N: 1, C: 3, H: 4, W: 4, K: 2, KH: 4, KW: 4, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, // ×2 upsample
		{N: 2, C: 4, H: 3, W: 5, K: 6, KH: 3, KW: 2, StrideH: 2, StrideW: 3, OutPadH: 1, Groups: 2},
		{N: 1, C: 2, H: 5, W: 4, K: 3, KH: 3, KW: 3, DilH: 2, DilW: 1, PadH: 1},
		{N: 1, C: 3, H: 3, W: 3, K: 1, KH: 1, KW: 1},
	} {
		g := orOne(p.Groups)
		x := randSlice(r, p.N*p.C*p.H*p.W)
		w := randSlice(r, p.C*(p.K/g)*p.KH*p.KW)
		bias := randSlice(r, p.K)
		want := refConvT2D(x, w, bias, p)
		got, full := guarded(len(want))
		if err := ConvTranspose2D(got, x, w, bias, p); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		checkGuards(t, full, len(want))
		assertNMSE(t, "conv_transpose2d", got, want, tolConv)
	}
	if err := ConvTranspose2D(make([]float32, 100), make([]float32, 9), make([]float32, 9), nil,
		ConvT2DParams{N: 1, C: 1, H: 3, W: 3, K: 1, KH: 3, KW: 3, StrideH: 2, OutPadH: 2}); err == nil {
		t.Fatal("output padding ≥ stride accepted")
	}
}

func TestConv1D(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	for _, p := range []Conv1DParams{
		{N: 2, C: 4, L: 17, K: 6, KW: 3, Pad: 1},
		{N: 1, C: 6, L: 30, K: 3, KW: 5, Stride: 2, Pad: 4, Dil: 2, Groups: 3},
		{N: 1, C: 4, L: 9, K: 4, KW: 7, Pad: 3, Groups: 4},
	} {
		x := randSlice(r, p.N*p.C*p.L)
		w := randSlice(r, p.K*(p.C/orOne(p.Groups))*p.KW)
		want := refConv2D(x, w, nil, p.as2D())
		if len(want) != p.N*p.K*p.OutLen() {
			t.Fatalf("OutLen %d disagrees with conv2d size %d", p.OutLen(), len(want))
		}
		got, full := guarded(len(want))
		if err := Conv1D(got, x, w, nil, p); err != nil {
			t.Fatal(err)
		}
		checkGuards(t, full, len(want))
		assertNMSE(t, "conv1d", got, want, tolConv)
	}
	// By hand: x = [1 2 3], kernel [1 1], pad 1 → [1 3 5 3].
	out := make([]float32, 4)
	if err := Conv1D(out, []float32{1, 2, 3}, []float32{1, 1}, nil, Conv1DParams{N: 1, C: 1, L: 3, K: 1, KW: 2, Pad: 1}); err != nil {
		t.Fatal(err)
	}
	if out[0] != 1 || out[1] != 3 || out[2] != 5 || out[3] != 3 {
		t.Fatalf("conv1d by hand = %v, want [1 3 5 3]", out)
	}
}

// TestConv1DTapsRandom runs the per-tap Gemm path (stride 1, no groups) on
// random shapes against the direct loop: odd lengths, dilations, paddings
// wider than the kernel's reach (taps that read only padding), batches, bias.
func TestConv1DTapsRandom(t *testing.T) {
	r := rand.New(rand.NewSource(15))
	for i := 0; i < 60; i++ {
		p := Conv1DParams{N: 1 + r.Intn(3), C: 1 + r.Intn(40), L: 1 + r.Intn(300), K: 1 + r.Intn(40),
			KW: 1 + r.Intn(9), Dil: 1 + r.Intn(6), Pad: r.Intn(20)}
		if p.Im2col() {
			t.Fatalf("%+v: stride 1 without groups should take the per-tap path", p)
		}
		if p.OutLen() <= 0 {
			continue
		}
		x := randSlice(r, p.N*p.C*p.L)
		w := randSlice(r, p.K*p.C*p.KW)
		var bias []float32
		if i%2 == 0 {
			bias = randSlice(r, p.K)
		}
		want := refConv2D(x, w, bias, p.as2D())
		got, full := guarded(len(want))
		if err := Conv1D(got, x, w, bias, p); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		checkGuards(t, full, len(want))
		assertNMSE(t, "conv1d taps", got, want, tolConv)
	}
	// Conv1DAdd on the same kind of shapes: out keeps its values and gains the conv.
	for i := 0; i < 20; i++ {
		p := Conv1DParams{N: 1 + r.Intn(2), C: 1 + r.Intn(30), L: 1 + r.Intn(200), K: 1 + r.Intn(30),
			KW: 1 + r.Intn(7), Dil: 1 + r.Intn(4), Pad: r.Intn(12)}
		if p.OutLen() <= 0 {
			continue
		}
		x, w, bias := randSlice(r, p.N*p.C*p.L), randSlice(r, p.K*p.C*p.KW), randSlice(r, p.K)
		want := refConv2D(x, w, bias, p.as2D())
		got := randSlice(r, len(want))
		for j, v := range got {
			want[j] += v
		}
		if err := Conv1DAdd(got, x, w, bias, p); err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		assertNMSE(t, "conv1d add", got, want, tolConv)
	}
	if err := Conv1DAdd(make([]float32, 100), make([]float32, 100), make([]float32, 100), nil,
		Conv1DParams{N: 1, C: 2, L: 10, K: 2, KW: 3, Stride: 2}); err == nil {
		t.Fatal("strided conv1d add accepted")
	}
	p := Conv1DParams{N: 1, C: 2, L: 5, K: 3, KW: 3, Pad: 1}
	if err := Conv1D(make([]float32, 14), make([]float32, 10), make([]float32, 18), nil, p); err == nil {
		t.Fatal("short out accepted")
	}
	if err := Conv1D(make([]float32, 15), make([]float32, 10), make([]float32, 17), nil, p); err == nil {
		t.Fatal("short weight accepted")
	}
}

func TestUpsampleNearest2x(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6} // (1, 1, 2, 3)
	got, full := guarded(24)
	if err := UpsampleNearest2x(got, x, 1, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	checkGuards(t, full, 24)
	want := []float32{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6}
	assertNMSE(t, "upsample2x", got, want, 0)
	if err := UpsampleNearest2x(got[:23], x, 1, 1, 2, 3); err == nil {
		t.Fatal("short out accepted")
	}
}

// FuzzConv2DParams: any shape either fails cleanly or matches the direct loop.
func FuzzConv2DParams(f *testing.F) {
	f.Add(1, 2, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1)
	f.Fuzz(func(t *testing.T, n, c, h, w, k, kh, kw, stride, pad, dil, groups, _ int) {
		for _, v := range []int{n, c, h, w, k, kh, kw, stride, pad, dil, groups} {
			if v < -1 || v > 6 {
				return
			}
		}
		p := Conv2DParams{N: n, C: c, H: h, W: w, K: k, KH: kh, KW: kw, StrideH: stride, StrideW: stride,
			PadH: pad, PadW: pad, DilH: dil, DilW: dil, Groups: groups}
		r := rand.New(rand.NewSource(1))
		x, wt := randSlice(r, 6*6*6*6), randSlice(r, 6*6*6*6)
		out := make([]float32, 6*6*40*40)
		if err := Conv2D(out, x, wt, nil, p); err != nil {
			return
		}
		want := refConv2D(x, wt, nil, p)
		assertNMSE(t, "fuzz conv2d", out[:len(want)], want, tolConv)
	})
}

// transposeTest returns the (cols, rows) transpose of x (rows, cols).
func transposeTest(x []float32, rows, cols int) []float32 {
	out := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			out[j*rows+i] = x[i*cols+j]
		}
	}
	return out
}

// TestConv1DRows runs the channels-last convolutions on random shapes
// against the direct loop on the transposed (C, L) layout, on every
// implementation: one output row (the GEMV path), no padding, paddings wider
// than the kernel's reach, channel counts off the 8-lane width, add mode.
func TestConv1DRows(t *testing.T) {
	r := rand.New(rand.NewSource(16))
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for i := 0; i < 60; i++ {
				l, c, k, kw := 1+r.Intn(200), 1+r.Intn(70), 1+r.Intn(50), 1+r.Intn(9)
				pad := r.Intn(kw + 2)
				if i%7 == 0 {
					pad, l = 0, kw // one output row
				}
				p := Conv1DParams{N: 1, C: c, L: l, K: k, KW: kw, Pad: pad}
				ol := p.OutLen()
				if ol <= 0 {
					continue
				}
				x, w := randSlice(r, l*c), randSlice(r, k*c*kw) // x (L, C)
				var bias []float32
				if i%2 == 0 {
					bias = randSlice(r, k)
				}
				want := transposeTest(refConv2D(transposeTest(x, l, c), w, bias, p.as2D()), k, ol) // (OL, K)
				got, full := guarded(ol * k)
				if err := Conv1DRows(got, x, ConvRowsWeight(w, k, c, kw), bias, l, c, k, kw, pad, false); err != nil {
					t.Fatalf("%+v: %v", p, err)
				}
				checkGuards(t, full, ol*k)
				assertNMSE(t, impl+" conv1d rows", got, want, tolConv)
				// With the weight packed once: the same bits.
				wr := ConvRowsWeight(w, k, c, kw)
				gotP, fullP := guarded(ol * k)
				if err := Conv1DRowsPacked(gotP, x, PackT(wr, k, kw*c, kw*c), bias, l, c, kw, pad, false); err != nil {
					t.Fatalf("%+v packed: %v", p, err)
				}
				checkGuards(t, fullP, ol*k)
				for j := range got {
					if math.Float32bits(gotP[j]) != math.Float32bits(got[j]) {
						t.Fatalf("%s %+v: packed out[%d] = %v, unpacked %v", impl, p, j, gotP[j], got[j])
					}
				}
				base := randSlice(r, ol*k)
				sum := append([]float32(nil), base...)
				for j := range sum {
					sum[j] += want[j]
				}
				if err := Conv1DRows(base, x, ConvRowsWeight(w, k, c, kw), bias, l, c, k, kw, pad, true); err != nil {
					t.Fatal(err)
				}
				assertNMSE(t, impl+" conv1d rows add", base, sum, tolConv)

				// Depthwise: weight (C, 1, KW).
				dw := randSlice(r, c*kw)
				dp := Conv1DParams{N: 1, C: c, L: l, K: c, KW: kw, Pad: pad, Groups: c}
				var db []float32
				if bias != nil {
					db = randSlice(r, c)
				}
				wantD := transposeTest(refConv2D(transposeTest(x, l, c), dw, db, dp.as2D()), c, ol)
				gotD, fullD := guarded(ol * c)
				if err := DepthwiseConv1DRows(gotD, x, DepthwiseRowsWeight(dw, c, kw), db, l, c, kw, pad); err != nil {
					t.Fatal(err)
				}
				checkGuards(t, fullD, ol*c)
				assertNMSE(t, impl+" depthwise conv1d rows", gotD, wantD, tolConv)
				// The same rows a band at a time (bands of 1, odd and all
				// rows): bit for bit, rows outside the band untouched.
				for _, parts := range []int{1, 2, 3, ol} {
					band := make([]float32, ol*c)
					for part := range parts {
						lo, hi := Band(ol, 1, part, parts)
						for j := range band {
							band[j] = float32(math.NaN())
						}
						if err := DepthwiseConv1DRowsBand(band, x, DepthwiseRowsWeight(dw, c, kw), db, l, c, kw, pad, lo, hi); err != nil {
							t.Fatal(err)
						}
						for j, v := range band {
							if in := j >= lo*c && j < hi*c; in && v != gotD[j] || !in && !math.IsNaN(float64(v)) {
								t.Fatalf("%+v band [%d, %d) of %d: out[%d] = %g, want %g", dp, lo, hi, ol, j, v, gotD[j])
							}
						}
					}
				}
			}
		})
	}
	if err := Conv1DRows(make([]float32, 10), make([]float32, 10), make([]float32, 30), nil, 5, 2, 1, 3, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := Conv1DRows(make([]float32, 2), make([]float32, 10), make([]float32, 30), nil, 5, 2, 1, 3, 0, false); err == nil {
		t.Fatal("short out accepted")
	}
	if err := DepthwiseConv1DRows(make([]float32, 10), make([]float32, 10), make([]float32, 6), nil, 5, 2, 3, 2); err == nil {
		t.Fatal("short depthwise out accepted")
	}
	if err := DepthwiseConv1DRowsBand(make([]float32, 10), make([]float32, 10), make([]float32, 6), nil, 5, 2, 3, 1, 3, 6); err == nil {
		t.Fatal("depthwise band past the rows accepted")
	}
}

// TestSizedBuffers: get hands out the smallest free buffer big enough, else
// grows the largest; a full list drops its smallest.
func TestSizedBuffers(t *testing.T) {
	s := sizedBuffers{max: 3}
	mk := func(n int) *[]float32 { b := make([]float32, n); return &b }
	b10, b100, b1000 := mk(10), mk(100), mk(1000)
	s.put(b1000)
	s.put(b10)
	s.put(b100)
	if g := s.get(50); g != b100 || len(*g) != 50 {
		t.Fatalf("get(50): cap %d, want the 100 buffer", cap(*g))
	}
	if g := s.get(5); g != b10 || len(*g) != 5 {
		t.Fatalf("get(5): cap %d, want the 10 buffer", cap(*g))
	}
	s.put(b10)
	if g := s.get(2000); g != b1000 || cap(*g) < 2000 || len(*g) != 2000 {
		t.Fatalf("get(2000): cap %d, want the 1000 buffer grown", cap(*g))
	}
	s.put(b1000)
	s.put(b100)
	s.put(mk(500)) // full (10, 2000, 100): the 10 goes
	caps := []int{}
	for range 3 {
		caps = append(caps, cap(*s.get(1)))
	}
	if !slices.Equal(caps, []int{100, 500, 2000}) {
		t.Fatalf("kept %v, want [100 500 2000]", caps)
	}
	if g := s.get(7); g == nil || len(*g) != 7 {
		t.Fatalf("get from an empty list: %v", g)
	}
}
