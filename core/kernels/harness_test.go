package kernels

// Shared conformance harness for every kernel in this package (ggml's
// test-backend-ops, gonum's testblas): outputs live between NaN guard bands so
// a stray write is caught, results are compared by normalised MSE against a
// plain Go reference, and every implementation the build offers is run.

import (
	"math"
	"math/rand"
	"testing"
)

// guardLen is the number of NaN floats on each side of a guarded buffer.
const guardLen = 64

// guarded returns a slice of n floats inside a larger buffer whose guard bands
// (64 floats each side) are NaN; checkGuards fails the test if a kernel wrote
// into a guard band. inner is capped at n so appends cannot reach the guard.
func guarded(n int) (inner []float32, full []float32) {
	full = make([]float32, n+2*guardLen)
	nan := float32(math.NaN())
	for i := range full {
		full[i] = nan
	}
	inner = full[guardLen : guardLen+n : guardLen+n]
	clear(inner)
	return inner, full
}

// checkGuards fails the test if any guard float of full (as made by
// guarded(n)) is no longer NaN.
func checkGuards(t testing.TB, full []float32, n int) {
	t.Helper()
	if len(full) != n+2*guardLen {
		t.Fatalf("checkGuards: buffer has %d floats, want %d for n=%d", len(full), n+2*guardLen, n)
	}
	for i := 0; i < guardLen; i++ {
		if v := full[i]; v == v {
			t.Fatalf("guard band written before output: offset %d = %v", i-guardLen, v)
		}
		if v := full[guardLen+n+i]; v == v {
			t.Fatalf("guard band written after output: offset n+%d = %v", i, v)
		}
	}
}

// randSlice returns n floats uniform in [-1,1).
func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 2*r.Float32() - 1
	}
	return s
}

// nmse is sum((g-w)^2)/max(sum(w^2),1e-30), computed in float64; a NaN or Inf
// anywhere in got or want gives +Inf, and so does a length mismatch.
func nmse(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsNaN(w) || math.IsInf(g, 0) || math.IsInf(w, 0) {
			return math.Inf(1)
		}
		d := g - w
		num += d * d
		den += w * w
	}
	return num / math.Max(den, 1e-30)
}

// assertNMSE fails the test when nmse(got, want) > tol, naming op and the
// index of the worst element.
func assertNMSE(t testing.TB, op string, got, want []float32, tol float64) {
	t.Helper()
	e := nmse(got, want)
	if e <= tol {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%s: len(got)=%d, len(want)=%d", op, len(got), len(want))
	}
	worst, wd := 0, -1.0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > wd {
			worst, wd = i, d
		}
	}
	t.Fatalf("%s: nmse %.3g > tol %.3g; worst at index %d: got %v, want %v",
		op, e, tol, worst, got[worst], want[worst])
}

// impls returns the kernel implementations available on this machine/build
// ("generic" always; "avx2", "avx512" on amd64 without -tags noasm).
func impls() []string { return Impls() }

// withImpl runs f with implementation name forced, restoring the previous one
// afterwards (tests using it must not run in parallel with each other).
func withImpl(t testing.TB, name string, f func()) {
	t.Helper()
	prev := Impl()
	if err := SetImpl(name); err != nil {
		t.Fatalf("withImpl(%q): %v", name, err)
	}
	defer func() {
		if err := SetImpl(prev); err != nil {
			t.Fatalf("withImpl: restore %q: %v", prev, err)
		}
	}()
	f()
}
