package nn

import (
	"math"
	"math/rand"
	"testing"
)

// conv1dNaive is the plain loop Conv1D must match: out[k, o] = bias[k] +
// Σ_{c, t} w[k, c, t] · x[g·cg + c, o·stride - pad + t·dil].
func conv1dNaive(c *Conv1D, x []float32, l int) []float32 {
	ol := c.OutLen(l)
	cg, kg := c.In/c.Groups, c.Out/c.Groups
	out := make([]float32, c.Out*ol)
	for k := 0; k < c.Out; k++ {
		g := k / kg
		for o := 0; o < ol; o++ {
			var s float64
			if c.Bias != nil {
				s = float64(c.Bias[k])
			}
			for ci := 0; ci < cg; ci++ {
				for t := 0; t < c.Kernel; t++ {
					i := o*c.Stride - c.Pad + t*c.Dil
					if i >= 0 && i < l {
						s += float64(c.W[(k*cg+ci)*c.Kernel+t]) * float64(x[(g*cg+ci)*l+i])
					}
				}
			}
			out[k*ol+o] = float32(s)
		}
	}
	return out
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// The chunked path (long sequences) must give the one-call result, across
// chunk edges, padding, stride, dilation and groups.
func TestConv1DChunkedMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	old := conv1dChunk
	defer func() { conv1dChunk = old }()
	for _, c := range []Conv1D{
		{In: 3, Out: 4, Kernel: 3, Stride: 1, Pad: 1, Dil: 1, Groups: 1},
		{In: 4, Out: 6, Kernel: 5, Stride: 1, Pad: 6, Dil: 3, Groups: 2},
		{In: 2, Out: 2, Kernel: 7, Stride: 2, Pad: 3, Dil: 1, Groups: 1},
		{In: 5, Out: 3, Kernel: 1, Stride: 1, Pad: 0, Dil: 1, Groups: 1},
	} {
		c.W = randSlice(r, c.Out*c.In/c.Groups*c.Kernel)
		c.Bias = randSlice(r, c.Out)
		for _, l := range []int{1 + c.Dil*(c.Kernel-1) - 2*c.Pad, 37, 100} {
			if l <= 0 {
				continue
			}
			x := randSlice(r, c.In*l)
			want := conv1dNaive(&c, x, l)
			for _, chunk := range []int{1 << 20, 7, 16} {
				conv1dChunk = chunk
				got := make([]float32, len(want))
				if err := c.Forward(got, x, l); err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(got, want); d > 1e-4 {
					t.Errorf("%+v l=%d chunk=%d: differs by %g", c, l, chunk, d)
				}
			}
		}
	}
	c := Conv1D{In: 2, Out: 2, Kernel: 3, Stride: 1, Dil: 1, Groups: 1}
	if err := c.Forward(make([]float32, 20), make([]float32, 20), 10); err == nil {
		t.Error("unbound conv ran")
	}
	if err := c.ForwardAdd(make([]float32, 20), make([]float32, 20), 10); err == nil {
		t.Error("unbound conv ran")
	}
}

// ForwardAdd adds the convolution to out, on the per-tap path (stride 1) and
// the im2col path (strided, grouped).
func TestConv1DForwardAdd(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, c := range []Conv1D{
		{In: 3, Out: 4, Kernel: 3, Stride: 1, Pad: 2, Dil: 2, Groups: 1},
		{In: 4, Out: 6, Kernel: 5, Stride: 1, Pad: 2, Dil: 1, Groups: 2},
		{In: 2, Out: 2, Kernel: 7, Stride: 2, Pad: 3, Dil: 1, Groups: 1},
	} {
		c.W = randSlice(r, c.Out*c.In/c.Groups*c.Kernel)
		c.Bias = randSlice(r, c.Out)
		l := 41
		x := randSlice(r, c.In*l)
		want := conv1dNaive(&c, x, l)
		got := randSlice(r, len(want))
		for i, v := range got {
			want[i] += v
		}
		if err := c.ForwardAdd(got, x, l); err != nil {
			t.Fatal(err)
		}
		if d := maxDiff(got, want); d > 1e-4 {
			t.Errorf("%+v: differs by %g", c, d)
		}
		if err := c.ForwardAdd(got[:len(got)-1], x, l); err == nil {
			t.Errorf("%+v: short out accepted", c)
		}
	}
}

func TestFoldWeightNorm(t *testing.T) {
	// Rows (3, 4) and (0, 0): norms 5 and 0.
	w := foldWeightNorm([]float32{2, 7}, []float32{3, 4, 0, 0}, 2, 2)
	want := []float32{1.2, 1.6, 0, 0}
	if maxDiff(w, want) > 1e-6 {
		t.Fatalf("fold = %v, want %v", w, want)
	}
}

func TestConvTranspose1DMatchesScatter(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	c := ConvTranspose1D{In: 3, Out: 2, Kernel: 8, Stride: 4, Pad: 2}
	c.W, c.Bias = randSlice(r, 3*2*8), randSlice(r, 2)
	l := 5
	x := randSlice(r, 3*l)
	ol := c.OutLen(l)
	if ol != (l-1)*4-4+8 {
		t.Fatalf("out len %d", ol)
	}
	// Plain scatter: every input sample adds its kernel into the output.
	want := make([]float32, 2*ol)
	for k := 0; k < 2; k++ {
		for o := 0; o < ol; o++ {
			want[k*ol+o] = c.Bias[k]
		}
		for ci := 0; ci < 3; ci++ {
			for i := 0; i < l; i++ {
				for tap := 0; tap < 8; tap++ {
					if o := i*4 - 2 + tap; o >= 0 && o < ol {
						want[k*ol+o] += x[ci*l+i] * c.W[(ci*2+k)*8+tap]
					}
				}
			}
		}
	}
	got := make([]float32, 2*ol)
	if err := c.Forward(got, x, l); err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got, want); d > 1e-5 {
		t.Fatalf("differs by %g", d)
	}
}

func TestBatchNormAndActivations(t *testing.T) {
	n := BatchNorm1D{Scale: []float32{2, 0.5}, Shift: []float32{1, -1}}
	x := []float32{1, 2, 3, 4}
	out := make([]float32, 4)
	if err := n.Forward(out, x, 2); err != nil {
		t.Fatal(err)
	}
	if maxDiff(out, []float32{3, 5, 0.5, 1}) > 0 {
		t.Fatalf("batchnorm = %v", out)
	}
	if err := n.Forward(out, x, 3); err == nil {
		t.Error("short input accepted")
	}
	// The same on (steps, channels) rows: x = [[1 3] [2 4]].
	if err := n.ForwardRows(out, []float32{1, 3, 2, 4}, 2); err != nil || maxDiff(out, []float32{3, 0.5, 5, 1}) > 0 {
		t.Fatalf("batchnorm rows = %v, %v", out, err)
	}
	if err := n.ForwardRows(out, x, 3); err == nil {
		t.Error("short rows accepted")
	}
	v := []float32{-2, -0.5, 0, 3}
	o := make([]float32, 4)
	if ReLU(o, v); maxDiff(o, []float32{0, 0, 0, 3}) > 0 {
		t.Errorf("relu %v", o)
	}
	if LeakyReLU(o, v, 0.1); maxDiff(o, []float32{-0.2, -0.05, 0, 3}) > 1e-7 {
		t.Errorf("leaky relu %v", o)
	}
	if Tanh(o, v); math.Abs(float64(o[3])-math.Tanh(3)) > 1e-7 || o[2] != 0 {
		t.Errorf("tanh %v", o)
	}
	if err := Tanh(o[:2], v); err == nil {
		t.Error("short out accepted")
	}
}

// TestConv1DForwardRows checks the channels-last path against the naive
// (In, l) convolution, transposed: ordinary and depthwise layers, with the
// cached tap-major weight (as bound) and without (a struct literal), and the
// layouts it refuses.
func TestConv1DForwardRows(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	tr := func(x []float32, rows, cols int) []float32 {
		out := make([]float32, len(x))
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				out[j*rows+i] = x[i*cols+j]
			}
		}
		return out
	}
	for _, c := range []Conv1D{
		{In: 13, Out: 9, Kernel: 5, Stride: 1, Pad: 2, Dil: 1, Groups: 1},
		{In: 12, Out: 12, Kernel: 7, Stride: 1, Pad: 3, Dil: 1, Groups: 12},
		{In: 8, Out: 16, Kernel: 1, Stride: 1, Dil: 1, Groups: 1},
	} {
		c.W = randSlice(r, c.Out*c.In/c.Groups*c.Kernel)
		c.Bias = randSlice(r, c.Out)
		l := 37
		x := randSlice(r, c.In*l)
		ol := c.OutLen(l)
		want := tr(conv1dNaive(&c, x, l), c.Out, ol) // (OL, Out)
		for _, cached := range []bool{false, true} {
			if cached {
				c.rows = &rowsWeight{}
			}
			for pass := 0; pass < 2; pass++ { // the cache's first use and a later one
				got := make([]float32, ol*c.Out)
				if err := c.ForwardRows(got, tr(x, c.In, l), l, false); err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(got, want); d > 1e-4 {
					t.Errorf("%+v cached %v: differs by %g", c, cached, d)
				}
			}
		}
	}
	strided := Conv1D{In: 2, Out: 2, Kernel: 3, Stride: 2, Dil: 1, Groups: 1, W: make([]float32, 12)}
	if err := strided.ForwardRows(make([]float32, 20), make([]float32, 20), 10, false); err == nil {
		t.Error("strided conv accepted by ForwardRows")
	}
}

// TestConv1DForwardRowsBand: ForwardRowsBand and DepthwiseRowsBand compute
// ForwardRows' rows bit for bit, band by band (edges, odd bands; one-row
// bands for the depthwise conv), with add, packed or not, and leave the
// other rows alone.
func TestConv1DForwardRowsBand(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, c := range []Conv1D{
		{In: 13, Out: 9, Kernel: 5, Stride: 1, Pad: 2, Dil: 1, Groups: 1},
		{In: 8, Out: 16, Kernel: 1, Stride: 1, Dil: 1, Groups: 1},
		{In: 12, Out: 12, Kernel: 7, Stride: 1, Pad: 3, Dil: 1, Groups: 12},
	} {
		c.W = randSlice(r, c.Out*c.In/c.Groups*c.Kernel)
		c.Bias = randSlice(r, c.Out)
		depthwise := c.Groups > 1
		for _, packed := range []bool{false, true} {
			c.rows = nil
			if packed {
				c.rows = &rowsWeight{}
			}
			for _, l := range []int{1, 2, 37} {
				x := randSlice(r, l*c.In)
				for _, add := range []bool{false, true} {
					if add && depthwise {
						continue
					}
					base := randSlice(r, l*c.Out)
					want := append([]float32(nil), base...)
					if err := c.ForwardRows(want, x, l, add); err != nil {
						t.Fatal(err)
					}
					for _, bands := range []int{1, 2, 3, l} {
						if bands > 1 && l/bands < 2 && !depthwise {
							continue // a one-row band takes the matrix-vector kernel
						}
						got := append([]float32(nil), base...)
						for b := range bands {
							lo, hi := l*b/bands, l*(b+1)/bands
							if lo == hi {
								continue
							}
							var err error
							if depthwise {
								err = c.DepthwiseRowsBand(got, x, l, lo, hi)
							} else {
								err = c.ForwardRowsBand(got, x, l, lo, hi, add)
							}
							if err != nil {
								t.Fatal(err)
							}
						}
						for i := range want {
							if got[i] != want[i] {
								t.Fatalf("%+v packed %v, %d rows in %d bands, add %v: out[%d] = %g, want %g", c, packed, l, bands, add, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
	strided := Conv1D{In: 2, Out: 2, Kernel: 3, Stride: 2, Dil: 1, Groups: 1, W: make([]float32, 12)}
	if err := strided.ForwardRowsBand(make([]float32, 20), make([]float32, 20), 10, 0, 5, false); err == nil {
		t.Error("strided conv accepted by ForwardRowsBand")
	}
}
