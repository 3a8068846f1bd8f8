package tensor

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

// iota3 is an f32 tensor of shape (2, 3, 4) holding 0..23.
func iota3(t *testing.T) *Tensor {
	v := make([]float32, 24)
	for i := range v {
		v[i] = float32(i)
	}
	x, err := FromF32(v, 2, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func values(t *testing.T, x *Tensor) []float32 {
	t.Helper()
	c, err := x.ToF32()
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.F32()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestViews(t *testing.T) {
	x := iota3(t)
	// Transpose the last two dims: (2, 4, 3), element (i, j, k) = x(i, k, j).
	tr, err := x.Transpose(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if tr.IsContiguous() || !slices.Equal(tr.Shape(), []int{2, 4, 3}) {
		t.Fatalf("transpose: shape %v contiguous %v", tr.Shape(), tr.IsContiguous())
	}
	if v, _ := tr.At(1, 3, 2); v != 1*12+2*4+3 {
		t.Fatalf("transpose At(1,3,2) = %v", v)
	}
	if _, err := tr.Reshape(24); !errors.Is(err, ErrShape) {
		t.Fatalf("reshape of a transposed view: %v", err)
	}
	c, err := tr.Contiguous()
	if err != nil || !c.IsContiguous() {
		t.Fatal(err)
	}
	want := []float32{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}
	if got := values(t, c)[:12]; !slices.Equal(got, want) {
		t.Fatalf("contiguous transpose = %v, want %v", got, want)
	}
	// Narrow shares storage: writing through the view shows in x.
	n, err := x.Narrow(2, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Set(-1, 1, 2, 0); err != nil {
		t.Fatal(err)
	}
	if v, _ := x.At(1, 2, 1); v != -1 {
		t.Fatalf("narrow does not share storage: x(1,2,1) = %v", v)
	}
	r, err := x.Reshape(4, -1)
	if err != nil || !slices.Equal(r.Shape(), []int{4, 6}) {
		t.Fatalf("reshape (4,-1): %v %v", r.Shape(), err)
	}
	for _, bad := range [][]int{{5, -1}, {-1, -1}, {25}, {-2, 12}} {
		if _, err := x.Reshape(bad...); err == nil {
			t.Errorf("reshape to %v succeeded", bad)
		}
	}
	if _, err := x.Permute(0, 0, 1); err == nil {
		t.Error("permute with a repeated axis succeeded")
	}
	if _, err := x.Narrow(1, 2, 2); err == nil {
		t.Error("narrow past the end succeeded")
	}
}

// Blocked dtypes: row views work, block-splitting views are errors, and
// Contiguous of a permuted q8_0 tensor copies whole rows.
func TestQuantizedViews(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const rows, k = 6, 64
	src := make([]float32, rows*k)
	for i := range src {
		src[i] = 2*r.Float32() - 1
	}
	for _, d := range []DType{kernels.Q8_0, kernels.Q4_0, kernels.F16, kernels.BF16} {
		rb, _ := d.RowBytes(k)
		q := make([]byte, rows*rb)
		if err := d.Quantize(q, src); err != nil {
			t.Fatal(err)
		}
		x, err := FromBytes(d, q, 2, 3, k)
		if err != nil {
			t.Fatal(err)
		}
		full := values(t, x)
		p, err := x.Permute(1, 0, 2) // (3, 2, k)
		if err != nil {
			t.Fatal(err)
		}
		got := values(t, p)
		for i := 0; i < 3; i++ {
			for j := 0; j < 2; j++ {
				if !slices.Equal(got[(i*2+j)*k:(i*2+j+1)*k], full[(j*3+i)*k:(j*3+i+1)*k]) {
					t.Fatalf("%s: permuted row (%d,%d) differs", d, i, j)
				}
			}
		}
		nr, err := x.Narrow(2, 32, 32)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := nr.At(1, 2, 5); v != full[(1*3+2)*k+37] {
			t.Fatalf("%s: narrowed At = %v, want %v", d, v, full[(1*3+2)*k+37])
		}
		if !d.Quantized() {
			continue
		}
		if _, err := x.Narrow(2, 16, 32); err == nil {
			t.Errorf("%s: narrow splitting a block succeeded", d)
		}
		if _, err := x.Permute(2, 1, 0); err == nil {
			t.Errorf("%s: permute moving the block dimension succeeded", d)
		}
		if _, err := x.Reshape(2, 3*k/16, 16); err == nil {
			t.Errorf("%s: reshape splitting blocks succeeded", d)
		}
		if _, err := New(d, 3, 33); err == nil {
			t.Errorf("%s: New with a partial block succeeded", d)
		}
	}
	if _, err := FromBytes(kernels.Q8_0, make([]byte, 33), 32); err == nil {
		t.Error("FromBytes with the wrong size succeeded")
	}
}

// FuzzView applies a fuzzed sequence of view operations to a (2, 3, 4) or
// reshaped f32 tensor holding its own indices, checking every element
// against an independent model: a dense array of the original indices, moved
// by the same operation. Invalid operations must fail with an error and
// leave nothing changed.
func FuzzView(f *testing.F) {
	f.Add([]byte{0, 1, 2, 1, 0, 1, 3, 2, 0, 2})
	f.Add([]byte{2, 9, 1, 1, 3, 4, 0, 0, 5})
	f.Add([]byte{3, 1, 0, 2, 3, 0, 0, 2, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		x := iota3(t)
		model := values(t, x) // model[i] = original index of row-major element i
		shape := x.Shape()
		next := func() int {
			if len(ops) == 0 {
				return 0
			}
			v := int(ops[0])
			ops = ops[1:]
			return v
		}
		for steps := 0; len(ops) > 0 && steps < 16; steps++ {
			var y *Tensor
			var err error
			var newModel []float32
			var newShape []int
			switch next() % 5 {
			case 0: // permute
				perm := rand.New(rand.NewSource(int64(next()))).Perm(len(shape))
				y, err = x.Permute(perm...)
				if err == nil {
					newShape = make([]int, len(shape))
					for i, p := range perm {
						newShape[i] = shape[p]
					}
					newModel = remap(model, shape, newShape, func(idx []int) []int {
						old := make([]int, len(idx))
						for i, p := range perm {
							old[p] = idx[i]
						}
						return old
					})
				}
			case 1: // narrow
				dim, start, length := next()%(len(shape)+1)-1, next()%5-1, next()%5
				y, err = x.Narrow(dim, start, length)
				d := dim
				if d < 0 {
					d += len(shape)
				}
				valid := d >= 0 && d < len(shape) && start >= 0 && start+length <= shape[d]
				if valid != (err == nil) {
					t.Fatalf("narrow(%d,%d,%d) of %v: err %v", dim, start, length, shape, err)
				}
				if err == nil {
					newShape = slices.Clone(shape)
					newShape[d] = length
					newModel = remap(model, shape, newShape, func(idx []int) []int {
						old := slices.Clone(idx)
						old[d] += start
						return old
					})
				}
			case 2: // reshape to a fuzzed factorisation
				n := len(model)
				a := next()%6 + 1
				y, err = x.Reshape(a, -1)
				ok := n%a == 0 && x.IsContiguous() && n > 0
				if ok != (err == nil) && n > 0 {
					t.Fatalf("reshape(%d,-1) of %v (contiguous %v): err %v", a, shape, x.IsContiguous(), err)
				}
				if err == nil {
					newShape, newModel = y.Shape(), model
				}
			case 3: // contiguous
				y, err = x.Contiguous()
				if err != nil || !y.IsContiguous() {
					t.Fatalf("contiguous of %v: %v", shape, err)
				}
				newShape, newModel = shape, model
			case 4: // transpose with maybe-invalid axes
				a, b := next()%5-2, next()%5-2
				y, err = x.Transpose(a, b)
				r := len(shape)
				valid := a >= -r && a < r && b >= -r && b < r
				if valid != (err == nil) {
					t.Fatalf("transpose(%d,%d) of rank %d: err %v", a, b, r, err)
				}
				if err == nil {
					a, b = (a+r)%r, (b+r)%r
					newShape = slices.Clone(shape)
					newShape[a], newShape[b] = shape[b], shape[a]
					newModel = remap(model, shape, newShape, func(idx []int) []int {
						old := slices.Clone(idx)
						old[a], old[b] = idx[b], idx[a]
						return old
					})
				}
			}
			if err != nil {
				if !errors.Is(err, ErrShape) {
					t.Fatalf("view error does not wrap ErrShape: %v", err)
				}
				continue
			}
			x, shape, model = y, newShape, newModel
			if !slices.Equal(x.Shape(), shape) {
				t.Fatalf("shape %v, model %v", x.Shape(), shape)
			}
			if got := values(t, x); !slices.Equal(got, model) {
				t.Fatalf("view values %v, model %v (shape %v strides %v offset %d)", got, model, shape, x.Strides(), x.Offset())
			}
		}
	})
}

// remap builds the row-major model of a new view: element idx of the new
// shape is old element from(idx).
func remap(old []float32, oldShape, newShape []int, from func([]int) []int) []float32 {
	n := 1
	for _, d := range newShape {
		n *= d
	}
	out := make([]float32, n)
	idx := make([]int, len(newShape))
	for i := 0; i < n; i++ {
		rem := i
		for d := len(newShape) - 1; d >= 0; d-- {
			idx[d] = rem % newShape[d]
			rem /= newShape[d]
		}
		o := from(idx)
		lin := 0
		for d, v := range o {
			lin = lin*oldShape[d] + v
		}
		out[i] = old[lin]
	}
	return out
}

// The traits table's kernels run through a tensor: a q4_0 weight tensor's
// bytes feed MatVecQ directly.
func TestTensorFeedsMatVecQ(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	const n, k = 4, 64
	wf := make([]float32, n*k)
	for i := range wf {
		wf[i] = 2*r.Float32() - 1
	}
	w, err := New(kernels.Q4_0, n, k)
	if err != nil {
		t.Fatal(err)
	}
	wb, _ := w.Bytes()
	if err := kernels.Q4_0.Quantize(wb, wf); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, k)
	x[3] = 1 // picks column 3
	y := make([]float32, n)
	if err := kernels.MatVecQ(y, wb, kernels.Q4_0, x, n, k); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		v, _ := w.At(i, 3)
		// A one-hot x quantizes to q=127 with d = f16(1/127): off by 1e-4 at most.
		if math.Abs(float64(y[i]-v)) > 1e-4*math.Abs(float64(v))+1e-7 {
			t.Fatalf("row %d: MatVecQ %v, At %v", i, y[i], v)
		}
	}
}
