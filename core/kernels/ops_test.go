package kernels

import (
	"math"
	"math/rand"
	"strings"
	"testing"
)

// Tolerances (normalised MSE) of the ops against float64 references.
const (
	tolSoftmax = 1e-12
	tolNorm    = 1e-12
	tolAct     = 1e-12
	tolRoPE    = 1e-12
)

func TestSoftmax(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, dim := range []int{1, 5, 8, 33, 1000} {
		rows := 7
		x := randSlice(r, rows*dim)
		for i := range x {
			x[i] *= 30
		}
		x[0] = 1e30 // large logit: the max shift must keep it finite
		want := make([]float32, len(x))
		for ro := 0; ro < rows; ro++ {
			row := x[ro*dim : (ro+1)*dim]
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, float64(v))
			}
			var s float64
			for _, v := range row {
				s += math.Exp(float64(v) - mx)
			}
			for i, v := range row {
				want[ro*dim+i] = float32(math.Exp(float64(v)-mx) / s)
			}
		}
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				got, full := guarded(len(x))
				copy(got, x)
				if err := Softmax(got, rows, dim); err != nil {
					t.Fatal(err)
				}
				checkGuards(t, full, len(x))
				assertNMSE(t, "softmax "+impl, got, want, tolSoftmax)
			})
		}
	}
	allMasked := []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}
	if err := Softmax(allMasked, 1, 2); err != nil || allMasked[0] != 0 || allMasked[1] != 0 {
		t.Fatalf("softmax of all -Inf = %v, %v; want zeros", allMasked, err)
	}
	if err := Softmax(make([]float32, 5), 2, 3); err == nil {
		t.Fatal("short softmax input accepted")
	}
}

func refNorm(x []float32, eps float64, rms bool) []float64 {
	var mean float64
	if !rms {
		for _, v := range x {
			mean += float64(v)
		}
		mean /= float64(len(x))
	}
	var ss float64
	for _, v := range x {
		ss += (float64(v) - mean) * (float64(v) - mean)
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = (float64(v) - mean) * inv
	}
	return out
}

func TestNorms(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	rows, dim := 9, 37
	x := randSlice(r, rows*dim)
	for i := range x {
		x[i] = x[i]*3 + 5 // an offset LayerNorm must remove
	}
	w, b := randSlice(r, dim), randSlice(r, dim)
	wantRMS, wantLN := make([]float32, rows*dim), make([]float32, rows*dim)
	for ro := 0; ro < rows; ro++ {
		rn := refNorm(x[ro*dim:(ro+1)*dim], 1e-5, true)
		ln := refNorm(x[ro*dim:(ro+1)*dim], 1e-5, false)
		for i := 0; i < dim; i++ {
			wantRMS[ro*dim+i] = float32(rn[i] * float64(w[i]))
			wantLN[ro*dim+i] = float32(ln[i]*float64(w[i]) + float64(b[i]))
		}
	}
	got, full := guarded(rows * dim)
	if err := RMSNorm(got, x, w, rows, dim, 1e-5); err != nil {
		t.Fatal(err)
	}
	checkGuards(t, full, rows*dim)
	assertNMSE(t, "rmsnorm", got, wantRMS, tolNorm)
	if err := LayerNorm(got, x, w, b, rows, dim, 1e-5); err != nil {
		t.Fatal(err)
	}
	checkGuards(t, full, rows*dim)
	assertNMSE(t, "layernorm", got, wantLN, tolNorm)
	// In place, no affine.
	inPlace := append([]float32(nil), x...)
	if err := RMSNorm(inPlace, inPlace, nil, rows, dim, 1e-5); err != nil {
		t.Fatal(err)
	}
	rn := refNorm(x[:dim], 1e-5, true)
	for i := 0; i < dim; i++ {
		if math.Abs(float64(inPlace[i])-rn[i]) > 1e-5 {
			t.Fatalf("rmsnorm in place [%d] = %v, want %v", i, inPlace[i], rn[i])
		}
	}
	if err := LayerNorm(got, x, w[:3], nil, rows, dim, 1e-5); err == nil {
		t.Fatal("short layernorm weight accepted")
	}
}

func TestGroupNorm(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	n, c, hw, groups := 2, 12, 15, 4
	x := randSlice(r, n*c*hw)
	w, b := randSlice(r, c), randSlice(r, c)
	want := make([]float32, len(x))
	cg := c / groups
	for i := 0; i < n; i++ {
		for g := 0; g < groups; g++ {
			off := (i*c + g*cg) * hw
			ref := refNorm(x[off:off+cg*hw], 1e-6, false)
			for j := range ref {
				ch := g*cg + j/hw
				want[off+j] = float32(ref[j]*float64(w[ch]) + float64(b[ch]))
			}
		}
	}
	got, full := guarded(len(x))
	if err := GroupNorm(got, x, w, b, n, c, hw, groups, 1e-6); err != nil {
		t.Fatal(err)
	}
	checkGuards(t, full, len(x))
	assertNMSE(t, "groupnorm", got, want, tolNorm)
	// No affine (nil weight and bias) is weight 1, bias 0.
	ones, zeros := make([]float32, c), make([]float32, c)
	for i := range ones {
		ones[i] = 1
	}
	plain, affine := make([]float32, len(x)), make([]float32, len(x))
	if err := GroupNorm(plain, x, nil, nil, n, c, hw, groups, 1e-6); err != nil {
		t.Fatal(err)
	}
	if err := GroupNorm(affine, x, ones, zeros, n, c, hw, groups, 1e-6); err != nil {
		t.Fatal(err)
	}
	assertNMSE(t, "groupnorm without affine", plain, affine, 0)
	if err := GroupNorm(got, x, w, b, n, c, hw, 5, 1e-6); err == nil || !strings.Contains(err.Error(), "groups") {
		t.Fatalf("groups not dividing channels: err %v", err)
	}
}

func TestActivations(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	x := randSlice(r, 20001)
	for i := range x {
		x[i] *= 12
	}
	x[0], x[1], x[2], x[3] = -200, 200, -88.5, -95 // saturation: no NaN or garbage from exp overflow
	silu, gt, ge := make([]float32, len(x)), make([]float32, len(x)), make([]float32, len(x))
	for i, v := range x {
		f := float64(v)
		silu[i] = float32(f / (1 + math.Exp(-f)))
		gt[i] = float32(0.5 * f * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(f+0.044715*f*f*f))))
		ge[i] = float32(0.5 * f * (1 + math.Erf(f/math.Sqrt2)))
	}
	for _, impl := range impls() {
		withImpl(t, impl, func() {
			for _, tc := range []struct {
				name string
				f    func(out, x []float32) error
				want []float32
			}{{"silu", SiLU, silu}, {"gelu", GELU, gt}, {"gelu_erf", GELUErf, ge}} {
				got, full := guarded(len(x))
				if err := tc.f(got, x); err != nil {
					t.Fatal(err)
				}
				checkGuards(t, full, len(x))
				assertNMSE(t, impl+" "+tc.name, got, tc.want, tolAct)
				for i, v := range got[:len(x)] {
					if d := math.Abs(float64(v - tc.want[i])); !(d <= 1e-5*max(1, math.Abs(float64(tc.want[i])))) {
						t.Fatalf("%s %s(%v) = %v, want %v", impl, tc.name, x[i], v, tc.want[i])
					}
				}
				// In place (out aliases x) gives the same values.
				inPlace := append([]float32(nil), x...)
				if err := tc.f(inPlace, inPlace); err != nil {
					t.Fatal(err)
				}
				assertNMSE(t, tc.name+" in place", inPlace, got[:len(x)], 0)
				if err := tc.f(got[:3], x); err == nil {
					t.Fatalf("%s: short out accepted", tc.name)
				}
			}
		})
	}
}

func TestRoPE(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, neox := range []bool{false, true} {
		for _, tc := range []struct{ seq, heads, dim, rot, stride, pos0 int }{
			{5, 3, 8, 0, 0, 0}, {7, 2, 64, 0, 0, 100}, {4, 4, 80, 32, 0, 9}, {3, 2, 16, 0, 40, 1},
		} {
			p := RoPEParams{Seq: tc.seq, Heads: tc.heads, HeadDim: tc.dim, RotDim: tc.rot, Stride: tc.stride,
				Theta: 500000, Pos0: tc.pos0, NeoX: neox}
			stride := max(tc.stride, tc.heads*tc.dim)
			rot := tc.rot
			if rot == 0 {
				rot = tc.dim
			}
			x := randSlice(r, tc.seq*stride)
			want := append([]float32(nil), x...)
			for s := 0; s < tc.seq; s++ {
				for h := 0; h < tc.heads; h++ {
					base := s*stride + h*tc.dim
					for i := 0; i < rot/2; i++ {
						a, b := base+2*i, base+2*i+1
						if neox {
							a, b = base+i, base+i+rot/2
						}
						ang := float64(tc.pos0+s) / math.Pow(500000, float64(2*i)/float64(rot))
						x0, x1 := float64(x[a]), float64(x[b])
						want[a] = float32(x0*math.Cos(ang) - x1*math.Sin(ang))
						want[b] = float32(x0*math.Sin(ang) + x1*math.Cos(ang))
					}
				}
			}
			got, full := guarded(len(x))
			copy(got, x)
			if err := RoPE(got, p); err != nil {
				t.Fatal(err)
			}
			checkGuards(t, full, len(x))
			assertNMSE(t, "rope", got, want, tolRoPE)
		}
	}
	// Precomputed InvFreq: the default frequencies reproduce the default
	// result; frequencies halved (linear scaling ×2) equal positions halved.
	base := randSlice(r, 4*2*16)
	inv := make([]float64, 8)
	for i := range inv {
		inv[i] = math.Pow(10000, -float64(2*i)/16) / 2
	}
	a, b := append([]float32(nil), base...), append([]float32(nil), base...)
	if err := RoPE(a, RoPEParams{Seq: 4, Heads: 2, HeadDim: 16, Pos0: 6, InvFreq: inv}); err != nil {
		t.Fatal(err)
	}
	for s := 0; s < 4; s++ { // position 6+s at half frequency = position (6+s)/2 at full
		row := b[s*32 : (s+1)*32]
		if err := RoPE(row, RoPEParams{Seq: 1, Heads: 2, HeadDim: 16, Pos0: 1, InvFreq: scaled(inv, 6+s)}); err != nil {
			t.Fatal(err)
		}
	}
	assertNMSE(t, "rope inv_freq", a, b, tolRoPE)
	if err := RoPE(a, RoPEParams{Seq: 4, Heads: 2, HeadDim: 16, InvFreq: inv[:3]}); err == nil {
		t.Fatal("wrong InvFreq length accepted")
	}
	if err := RoPE(make([]float32, 10), RoPEParams{Seq: 1, Heads: 1, HeadDim: 7}); err == nil {
		t.Fatal("odd head dim accepted")
	}
	if err := RoPE(make([]float32, 10), RoPEParams{Seq: 2, Heads: 1, HeadDim: 8}); err == nil {
		t.Fatal("short x accepted")
	}
}

func TestElementwiseAndEmbedding(t *testing.T) {
	a, b := []float32{1, 2, 3, 4}, []float32{10, 20, 30, 40}
	out := make([]float32, 4)
	check := func(name string, err error, want ...float32) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range want {
			if out[i] != want[i] {
				t.Fatalf("%s = %v, want %v", name, out, want)
			}
		}
	}
	check("add", Add(out, a, b), 11, 22, 33, 44)
	check("mul", Mul(out, a, b), 10, 40, 90, 160)
	check("scale", Scale(out, a, -2), -2, -4, -6, -8)
	copy(out, a)
	check("add_bias", AddBias(out, []float32{100, 200}, 2, 2), 101, 202, 103, 204)
	if err := Add(out, a, b[:3]); err == nil {
		t.Fatal("add with mismatched lengths accepted")
	}
	table := []float32{0, 0.5, 1, 1.5, 2, 2.5} // (3, 2)
	check("embedding", Embedding(out, table, 3, 2, []int32{2, 0}), 2, 2.5, 0, 0.5)
	before := append([]float32(nil), out...)
	for _, bad := range [][]int32{{3}, {-1}, {0, 7}} {
		if err := Embedding(out, table, 3, 2, bad); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Fatalf("embedding ids %v: err %v", bad, err)
		}
	}
	check("embedding untouched after error", nil, before...)
}

// scaled returns f·pos: RoPE at Pos0 1 with it applies angle pos·f[i]
// as RoPE at position pos with f would.
func scaled(f []float64, pos int) []float64 {
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = v * float64(pos)
	}
	return out
}

// Transpose against the element formula, on shapes with odd sides and one
// large enough to split over the pool, inside NaN guard bands.
func TestTranspose(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, s := range [][2]int{{1, 1}, {1, 7}, {7, 1}, {3, 5}, {33, 17}, {130, 257}} {
		rows, cols := s[0], s[1]
		src := randSlice(r, rows*cols)
		dst, full := guarded(rows * cols)
		if err := Transpose(dst, src, rows, cols); err != nil {
			t.Fatal(err)
		}
		checkGuards(t, full, rows*cols)
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				if dst[j*rows+i] != src[i*cols+j] {
					t.Fatalf("%dx%d: dst[%d][%d] = %v, want %v", rows, cols, j, i, dst[j*rows+i], src[i*cols+j])
				}
			}
		}
	}
	if err := Transpose(make([]float32, 5), make([]float32, 6), 2, 3); err == nil {
		t.Fatal("transpose into a short dst accepted")
	}
}

// GELUF16 is ggml's half-precision GELU table: every half value agrees with
// the table-free twin, results are halves within half an ulp of the tanh
// form, and the saturated ends are 0 and x.
func TestGELUF16(t *testing.T) {
	x := make([]float32, 0, 1<<16+4)
	for h := 0; h < 1<<16; h++ {
		if v := F16ToF32(uint16(h)); v == v && !math.IsInf(float64(v), 0) {
			x = append(x, v)
		}
	}
	x = append(x, -10, 10, -11.5, 123, 0.3333333, -2.7182817) // saturation, and values between halves
	got, full := guarded(len(x))
	if err := GELUF16(got, x); err != nil {
		t.Fatal(err)
	}
	checkGuards(t, full, len(x))
	for i, v := range x {
		want := geluF16Ref(v)
		if got[i] != want {
			t.Fatalf("gelu_f16(%v) = %v, table-free twin %v", v, got[i], want)
		}
		if v <= -10 && got[i] != 0 || v >= 10 && got[i] != v {
			t.Fatalf("gelu_f16(%v) = %v, want saturation", v, got[i])
		}
		f := float64(v)
		exact := 0.5 * f * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(f+0.044715*f*f*f)))
		if math.Abs(f) < 10 && math.Abs(float64(got[i])-exact) > 2e-3*math.Max(math.Abs(exact), 1e-3)+1e-6 {
			t.Fatalf("gelu_f16(%v) = %v, tanh form %v", v, got[i], exact)
		}
	}
	if F16ToF32(F32ToF16(got[len(x)-2])) != got[len(x)-2] {
		t.Fatalf("gelu_f16 result %v is not a half", got[len(x)-2])
	}
	if err := GELUF16(got[:2], x); err == nil {
		t.Fatal("short out accepted")
	}
}
