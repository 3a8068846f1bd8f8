package nn

import (
	"bytes"
	"math"
	"math/rand"
	"testing"
	"unsafe"

	"github.com/loomhq/loom/core/kernels"
)

func randF(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// linearRef is y = x·Wᵀ + b in float64 from a dense W.
func linearRef(w []float32, b []float32, x []float32, rows, out, in int) []float64 {
	return linear64(to64(x), w, b, rows, out, in)
}

// linear64 is y = x·Wᵀ + b in float64 (b may be nil).
func linear64(x []float64, w, b []float32, rows, out, in int) []float64 {
	y := make([]float64, rows*out)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			s := 0.0
			if b != nil {
				s = float64(b[o])
			}
			for k := 0; k < in; k++ {
				s += x[r*in+k] * float64(w[o*in+k])
			}
			y[r*out+o] = s
		}
	}
	return y
}

func to64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func nmse(got []float32, want []float64) float64 {
	var num, den float64
	for i := range want {
		d := float64(got[i]) - want[i]
		num += d * d
		den += want[i] * want[i]
	}
	if math.IsNaN(num) {
		return math.Inf(1)
	}
	return num / math.Max(den, 1e-30)
}

func TestLinearF32AndQuantized(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const out, in = 24, 64
	w := randF(r, out*in)
	bias := randF(r, out)
	q8 := make([]byte, out*in/32*34)
	if err := kernels.Q8_0.Quantize(q8, w); err != nil {
		t.Fatal(err)
	}
	wq := make([]float32, out*in) // what the q8_0 weights really hold
	if err := kernels.Q8_0.Dequantize(wq, q8); err != nil {
		t.Fatal(err)
	}
	for _, rows := range []int{1, 3, 17} {
		x := randF(r, rows*in)
		y := make([]float32, rows*out)
		l := Linear{W: Matrix{Rows: out, Cols: in, F32: w}, Bias: bias}
		if err := l.Forward(y, x, rows); err != nil {
			t.Fatal(err)
		}
		if e := nmse(y, linearRef(w, bias, x, rows, out, in)); e > 1e-10 {
			t.Fatalf("f32 rows=%d: nmse %g", rows, e)
		}
		lq := Linear{W: Matrix{Rows: out, Cols: in, Data: q8, Type: kernels.Q8_0}}
		if err := lq.Forward(y, x, rows); err != nil {
			t.Fatal(err)
		}
		// Activations are quantized to q8_0 too: about 1e-4 relative error.
		if e := nmse(y, linearRef(wq, nil, x, rows, out, in)); e > 1e-4 {
			t.Fatalf("q8_0 rows=%d: nmse %g", rows, e)
		}
	}
	l := Linear{W: Matrix{Rows: out, Cols: in, F32: w}}
	if err := l.Forward(make([]float32, out), make([]float32, in-1), 1); err == nil {
		t.Fatal("short input accepted")
	}
}

func TestEmbeddingRowsAndBounds(t *testing.T) {
	tab := []float32{0, 1, 10, 11, 20, 21}
	e := Embedding{Table: Matrix{Rows: 3, Cols: 2, F32: tab}}
	out := make([]float32, 4)
	if err := e.Forward(out, []int{2, 0}); err != nil {
		t.Fatal(err)
	}
	if out[0] != 20 || out[1] != 21 || out[2] != 0 || out[3] != 1 {
		t.Fatalf("rows %v", out)
	}
	if err := e.Forward(out, []int{3}); err == nil {
		t.Fatal("id 3 of 3 accepted")
	}
}

// TestEmbeddingFromDisk: rows read through Disk (a table left on disk) are
// the rows the in-memory table gives, bit for bit, f32 and quantized; a
// failed read is an error.
func TestEmbeddingFromDisk(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	const rows, cols = 37, 96
	vals := randF(r, rows*cols)
	for _, typ := range []kernels.DType{kernels.F32, kernels.Q8_0, kernels.Q4_0} {
		var m Matrix
		var raw []byte
		if typ == kernels.F32 {
			m = Matrix{Rows: rows, Cols: cols, F32: vals}
			raw = unsafe.Slice((*byte)(unsafe.Pointer(&vals[0])), 4*len(vals))
		} else {
			rb, _ := typ.RowBytes(cols)
			raw = make([]byte, rows*rb)
			if err := typ.Quantize(raw, vals); err != nil {
				t.Fatal(err)
			}
			m = Matrix{Rows: rows, Cols: cols, Data: raw, Type: typ}
		}
		ids := []int{5, 0, 36, 5, 17}
		want := make([]float32, len(ids)*cols)
		if err := (&Embedding{Table: m}).Forward(want, ids); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(ids)*cols)
		if err := (&Embedding{Table: m, Disk: bytes.NewReader(raw)}).Forward(got, ids); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%v: element %d from disk %v, in memory %v", typ, i, got[i], want[i])
			}
		}
		if err := (&Embedding{Table: m, Disk: bytes.NewReader(raw[:len(raw)/2])}).Forward(got, []int{36}); err == nil {
			t.Fatalf("%v: a short read was accepted", typ)
		}
	}
}

func TestRoPEScaling(t *testing.T) {
	base, err := NewRoPE(8, 10000, false, RoPEScaling{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range base.InvFreq {
		if want := math.Pow(10000, -float64(2*i)/8); math.Abs(f-want) > 1e-15 {
			t.Fatalf("freq %d = %v, want %v", i, f, want)
		}
	}
	lin, _ := NewRoPE(8, 10000, false, RoPEScaling{Type: "linear", Factor: 4}, nil)
	if lin.InvFreq[1] != base.InvFreq[1]/4 {
		t.Fatalf("linear scaling: %v vs %v", lin.InvFreq[1], base.InvFreq[1])
	}
	// Llama 3.1's rule with its published settings, 128 rotary dims, base 5e5:
	// the fastest frequency is kept, the slowest divided by the factor.
	sc := RoPEScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OrigContext: 8192}
	l3, err := NewRoPE(128, 500000, false, sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	b3, _ := NewRoPE(128, 500000, false, RoPEScaling{}, nil)
	if l3.InvFreq[0] != b3.InvFreq[0] || math.Abs(l3.InvFreq[63]-b3.InvFreq[63]/8) > 1e-20 {
		t.Fatalf("llama3: first %v/%v, last %v/%v", l3.InvFreq[0], b3.InvFreq[0], l3.InvFreq[63], b3.InvFreq[63])
	}
	for i := range l3.InvFreq { // in between: never more than unscaled, never less than /8
		if l3.InvFreq[i] > b3.InvFreq[i] || l3.InvFreq[i] < b3.InvFreq[i]/8*(1-1e-12) {
			t.Fatalf("llama3 freq %d = %v outside [%v, %v]", i, l3.InvFreq[i], b3.InvFreq[i]/8, b3.InvFreq[i])
		}
	}
	ff, _ := NewRoPE(4, 10000, false, RoPEScaling{}, []float32{1, 2})
	if ff.InvFreq[1] != math.Pow(10000, -0.5)/2 {
		t.Fatalf("rope_freqs divisor: %v", ff.InvFreq[1])
	}
	for _, bad := range []RoPEScaling{{Type: "yarn", Factor: 2}, {Type: "linear"}, {Type: "llama3", Factor: 8}} {
		if _, err := NewRoPE(8, 10000, false, bad, nil); err == nil {
			t.Errorf("scaling %+v accepted", bad)
		}
	}
	// Apply rotates pairs by pos·freq: position 1, pair 0 turns (1, 0) by 1 radian.
	x := []float32{1, 0, 1, 0}
	r, _ := NewRoPE(4, 10000, false, RoPEScaling{}, nil)
	if err := r.Apply(x, 1, 1, 4, 1); err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(x[0])-math.Cos(1)) > 1e-6 || math.Abs(float64(x[1])-math.Sin(1)) > 1e-6 {
		t.Fatalf("rotated %v", x)
	}
}

func TestKVCacheGrowsAndKeeps(t *testing.T) {
	c := KVCache{Width: 2, Max: 100}
	if err := c.Reserve(3); err != nil {
		t.Fatal(err)
	}
	c.K[5], c.V[5] = 7, 8
	if err := c.Reserve(90); err != nil {
		t.Fatal(err)
	}
	if len(c.K) < 180 || c.K[5] != 7 || c.V[5] != 8 {
		t.Fatalf("grown cache lost data or is short: %d, %v %v", len(c.K), c.K[5], c.V[5])
	}
	if err := c.Reserve(101); err == nil {
		t.Fatal("reserve past Max accepted")
	}
}

// An f16 cache grows, keeps what it holds, clones and slides as a float32
// one does, in half the bytes.
func TestKVCacheHalfGrowsKeepsAndClones(t *testing.T) {
	c := KVCache{Width: 2, Max: 100, Half: true}
	if err := c.Reserve(3); err != nil {
		t.Fatal(err)
	}
	if c.K != nil || c.V != nil || c.Rows() != 64 || c.Bytes() != 2*2*64*2 {
		t.Fatalf("half cache: K %d, V %d floats, %d rows, %d bytes", len(c.K), len(c.V), c.Rows(), c.Bytes())
	}
	c.K16[5], c.V16[5] = 7, 8
	if err := c.Reserve(90); err != nil {
		t.Fatal(err)
	}
	if c.Rows() < 90 || c.K16[5] != 7 || c.V16[5] != 8 {
		t.Fatalf("grown half cache lost data or is short: %d rows, %v %v", c.Rows(), c.K16[5], c.V16[5])
	}
	f := c.Clone(3)
	if !f.Half || f.Rows() != 3 || f.K16[5] != 7 || f.V16[5] != 8 || f.K != nil {
		t.Fatalf("clone: half %v, %d rows, %v %v", f.Half, f.Rows(), f.K16[5], f.V16[5])
	}
	// A sliding layer moves the rows it keeps to the front.
	s := KVCache{Width: 1, Max: 1000, Window: 4, Half: true}
	for pos := 0; pos < 80; pos++ {
		if err := s.prepare(pos, 1); err != nil {
			t.Fatal(err)
		}
		s.K16[pos-s.Start], s.V16[pos-s.Start] = uint16(pos), uint16(1000+pos)
	}
	if s.Start == 0 {
		t.Fatal("sliding half cache dropped nothing")
	}
	for pos := 80 - 4; pos < 80; pos++ {
		if s.K16[pos-s.Start] != uint16(pos) || s.V16[pos-s.Start] != uint16(1000+pos) {
			t.Fatalf("position %d: %d %d after sliding to %d", pos, s.K16[pos-s.Start], s.V16[pos-s.Start], s.Start)
		}
	}
}
