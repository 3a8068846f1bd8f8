package nn

import (
	"errors"
	"math"
	"math/rand"
	"testing"
	"unsafe"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/tensor"
)

// memSource serves f32 tensors from memory.
type memSource map[string]*formats.Info

func (m memSource) Info(name string) (*formats.Info, error) {
	if in, ok := m[name]; ok {
		return in, nil
	}
	return nil, errors.New("not found")
}
func (m memSource) Tensor(string) (*tensor.Tensor, error) { return nil, errors.New("not served") }
func (m memSource) Names() []string                       { return nil }
func (m memSource) Meta() formats.Metadata                { return nil }
func (m memSource) Close() error                          { return nil }

func (m memSource) put(name string, v []float32, shape ...int) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
	m[name] = &formats.Info{Name: name, Type: kernels.F32, Shape: shape, Data: b}
}

// A bound Conv2D (3×3, stride 2, pad 1) against the direct sum.
func TestConv2DBindsAndMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const O, C, K, H, W = 3, 2, 3, 5, 6
	w, bias, x := randF(r, O*C*K*K), randF(r, O), randF(r, C*H*W)
	src := memSource{}
	src.put("c.weight", w, O, C, K, K)
	src.put("c.bias", bias, O)
	b := NewBinder(src)
	conv := b.Conv2D("c", O, C, K, 2, 1)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	oh, ow := conv.OutSize(H, W)
	if oh != 3 || ow != 3 {
		t.Fatalf("out size %dx%d", oh, ow)
	}
	out := make([]float32, O*oh*ow)
	if err := conv.Forward(out, x, 1, H, W); err != nil {
		t.Fatal(err)
	}
	for o := 0; o < O; o++ {
		for y := 0; y < oh; y++ {
			for xx := 0; xx < ow; xx++ {
				s := float64(bias[o])
				for c := 0; c < C; c++ {
					for ky := 0; ky < K; ky++ {
						for kx := 0; kx < K; kx++ {
							iy, ix := 2*y-1+ky, 2*xx-1+kx
							if iy >= 0 && iy < H && ix >= 0 && ix < W {
								s += float64(w[((o*C+c)*K+ky)*K+kx]) * float64(x[(c*H+iy)*W+ix])
							}
						}
					}
				}
				if d := math.Abs(s - float64(out[(o*oh+y)*ow+xx])); d > 1e-5 {
					t.Fatalf("out[%d,%d,%d] = %g, want %g", o, y, xx, out[(o*oh+y)*ow+xx], s)
				}
			}
		}
	}
	b.Conv2D("c", O, C+1, K, 1, 1)
	if b.Err() == nil {
		t.Error("kernel of the wrong size bound")
	}
}

func TestGroupNormBinding(t *testing.T) {
	src := memSource{}
	src.put("n.weight", []float32{1, 2, 3, 4}, 4)
	src.put("n.bias", []float32{0, 0, 1, 1}, 4)
	b := NewBinder(src)
	g := b.GroupNorm("n", 2, 4, 1e-6)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 3, 5, 7, 0, 0, 2, 2} // (c=4, hw=2)
	out := make([]float32, 8)
	if err := g.Forward(out, x, 1, 2); err != nil {
		t.Fatal(err)
	}
	// Group 0 = channels 0,1 {1,3,5,7}: mean 4, var 5.
	if want := float32((1 - 4) / math.Sqrt(5+1e-6)); math.Abs(float64(out[0]-want)) > 1e-5 {
		t.Errorf("out[0] = %g, want %g", out[0], want)
	}
	b.GroupNorm("n", 3, 4, 1e-6)
	if b.Err() == nil {
		t.Error("4 channels in 3 groups accepted")
	}
}

func TestSplitRowsAndQuickGELU(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	w, bias, x := randF(r, 6*4), randF(r, 6), randF(r, 2*4)
	l := Linear{W: Matrix{Rows: 6, Cols: 4, F32: w}, Bias: bias}
	full := make([]float32, 2*6)
	if err := l.Forward(full, x, 2); err != nil {
		t.Fatal(err)
	}
	half, err := l.SplitRows(3, 6)
	if err != nil {
		t.Fatal(err)
	}
	part := make([]float32, 2*3)
	if err := half.Forward(part, x, 2); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			if d := math.Abs(float64(part[i*3+j] - full[i*6+3+j])); d > 1e-6 {
				t.Fatalf("row %d col %d: %g vs %g", i, j, part[i*3+j], full[i*6+3+j])
			}
		}
	}
	// The same split of f16 rows.
	raw := make([]byte, 6*4*2)
	if err := kernels.F16.Quantize(raw, w); err != nil {
		t.Fatal(err)
	}
	q := Linear{W: Matrix{Rows: 6, Cols: 4, Data: raw, Type: kernels.F16}}
	qh, err := q.SplitRows(3, 6)
	if err != nil || qh.W.Rows != 3 || len(qh.W.Data) != 3*4*2 {
		t.Fatalf("f16 split: %v %+v", err, qh.W)
	}
	if _, err := l.SplitRows(4, 7); err == nil {
		t.Error("split past the end accepted")
	}
	in := []float32{-3, -0.5, 0, 0.5, 3}
	got := make([]float32, len(in))
	if err := QuickGELU(got, in); err != nil {
		t.Fatal(err)
	}
	for i, v := range in {
		want := float64(v) / (1 + math.Exp(-1.702*float64(v)))
		if math.Abs(float64(got[i])-want) > 1e-6 {
			t.Errorf("quick_gelu(%g) = %g, want %g", v, got[i], want)
		}
	}
}
