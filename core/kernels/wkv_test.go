package kernels

import (
	"fmt"
	"math/rand"
	"testing"
)

// TestWKV6MatchesReference checks the threaded WKV-6 against the reference
// on odd shapes with guard bands, and that a sequence run as a prefill then
// one token per call ends in the same state with the same outputs.
func TestWKV6MatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	// Head sizes that are multiples of 16 take the SIMD path.
	for _, p := range []WKVParams{{1, 1, 1}, {5, 3, 7}, {17, 4, 16}, {33, 2, 64}, {2, 40, 8}, {1, 12, 64}, {9, 3, 48}, {3, 2, 32}} {
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				C := p.Heads * p.HeadSize
				n, ns := p.Seq*C, C*p.HeadSize
				k, v, rr, u := randSlice(r, n), randSlice(r, n), randSlice(r, n), randSlice(r, C)
				w := randSlice(r, n)
				for i := range w {
					w[i] = expf(-expf(w[i])) // decays in (0, 1) as the tower makes them
				}
				s0 := randSlice(r, ns)
				y, yFull := guarded(n)
				s, sFull := guarded(ns)
				copy(s, s0)
				if err := WKV6(y, s, k, v, rr, u, w, p); err != nil {
					t.Fatal(err)
				}
				checkGuards(t, yFull, n)
				checkGuards(t, sFull, ns)
				yr, sr := make([]float32, n), append([]float32(nil), s0...)
				if err := WKV6Ref(yr, sr, k, v, rr, u, w, p); err != nil {
					t.Fatal(err)
				}
				assertNMSE(t, "wkv6 y", y, yr, 1e-12)
				assertNMSE(t, "wkv6 state", s, sr, 1e-12)

				half := p.Seq / 2
				ys, ss := make([]float32, n), append([]float32(nil), s0...)
				if half > 0 {
					q := WKVParams{half, p.Heads, p.HeadSize}
					if err := WKV6(ys[:half*C], ss, k[:half*C], v[:half*C], rr[:half*C], u, w[:half*C], q); err != nil {
						t.Fatal(err)
					}
				}
				for i := half; i < p.Seq; i++ {
					q, sl := WKVParams{1, p.Heads, p.HeadSize}, func(x []float32) []float32 { return x[i*C : (i+1)*C] }
					if err := WKV6(sl(ys), ss, sl(k), sl(v), sl(rr), u, sl(w), q); err != nil {
						t.Fatal(err)
					}
				}
				assertNMSE(t, "wkv6 stepwise y", ys, yr, 1e-12)
				assertNMSE(t, "wkv6 stepwise state", ss, sr, 1e-12)
			})
		}
	}
}

func TestWKV6RejectsShortBuffers(t *testing.T) {
	p := WKVParams{Seq: 2, Heads: 2, HeadSize: 4}
	b := func(n int) []float32 { return make([]float32, n) }
	if err := WKV6(b(16), b(31), b(16), b(16), b(16), b(8), b(16), p); err == nil {
		t.Fatal("a short state was accepted")
	}
	if err := WKV6(b(16), b(32), b(16), b(16), b(16), b(7), b(16), p); err == nil {
		t.Fatal("a short u was accepted")
	}
	if err := WKV6(nil, nil, nil, nil, nil, nil, nil, WKVParams{}); err == nil {
		t.Fatal("an empty shape was accepted")
	}
}

// BenchmarkWKV6 times the bench file's WKV (12 heads of 64): a 128-token
// prefill and a decode step.
func BenchmarkWKV6(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, seq := range []int{1, 128} {
		p := WKVParams{Seq: seq, Heads: 12, HeadSize: 64}
		C := p.Heads * p.HeadSize
		n := seq * C
		k, v, rr, u, w := randSlice(r, n), randSlice(r, n), randSlice(r, n), randSlice(r, C), randSlice(r, n)
		for i := range w {
			w[i] = expf(-expf(w[i]))
		}
		s, y := randSlice(r, C*p.HeadSize), make([]float32, n)
		b.Run(fmt.Sprintf("seq%d", seq), func(b *testing.B) {
			for range b.N {
				if err := WKV6(y, s, k, v, rr, u, w, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
