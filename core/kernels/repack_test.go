package kernels

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// repackShapes are the matrices the repacking tests run: row counts below,
// at and past whole groups of eight (the rows after the last group stay in
// the source layout), block counts from one up.
var repackShapes = []struct{ n, nb int }{
	{1, 1}, {7, 3}, {8, 1}, {9, 2}, {16, 5}, {23, 7}, {40, 24}, {131, 9}, {256, 4}, {2051, 2},
}

// repackTypes are the file types with a repacked layout.
var repackTypes = []DType{Q4_0, Q4_K, Q6_K}

// repacked returns a copy of w (n rows of k elements of d) in d's repacked
// layout, whatever the current implementation.
func repacked(t testing.TB, w []byte, d DType, n, k int) []byte {
	t.Helper()
	r := traits[d].repacked
	out := bytes.Clone(w)
	rb := len(w) / n
	scratch := make([]byte, RepackRows*rb)
	for g := 0; g < n/RepackRows; g++ {
		copy(scratch, w[g*RepackRows*rb:(g+1)*RepackRows*rb])
		traits[r].pack(out[g*RepackRows*rb:(g+1)*RepackRows*rb], scratch, k/d.BlockSize())
	}
	return out
}

// Repack then unpack gives back the bytes, for every row count; Repack
// leaves the rows after the last group as they were, and does nothing where
// the implementation has no eight-row dot.
func TestRepackRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(21))
	for _, d := range repackTypes {
		rt := &traits[traits[d].repacked]
		for _, s := range repackShapes {
			k := s.nb * d.BlockSize()
			w := randomWeights(t, r, d, s.n, k)
			p := repacked(t, w, d, s.n, k)
			rb := len(w) / s.n
			full := s.n / RepackRows * RepackRows
			if !bytes.Equal(p[full*rb:], w[full*rb:]) {
				t.Fatalf("%v n=%d nb=%d: rows after the last group changed", d, s.n, s.nb)
			}
			if full > 0 && bytes.Equal(p[:full*rb], w[:full*rb]) {
				t.Fatalf("%v n=%d nb=%d: groups not repacked", d, s.n, s.nb)
			}
			for r0 := 0; r0 < s.n; r0 += RepackRows {
				rows := min(3*RepackRows, s.n-r0)
				back := make([]byte, rows*rb+1)
				back[rows*rb] = 0xa5 // guard
				unrepackRows(back, p, rt, s.n, rb, s.nb, r0, rows)
				if !bytes.Equal(back[:rows*rb], w[r0*rb:(r0+rows)*rb]) || back[rows*rb] != 0xa5 {
					t.Fatalf("%v n=%d nb=%d: rows [%d,%d) do not unpack to the source", d, s.n, s.nb, r0, r0+rows)
				}
			}
			for _, impl := range impls() {
				withImpl(t, impl, func() {
					in := bytes.Clone(w)
					got, _, err := Repack(in, d, s.n, k, nil)
					if err != nil {
						t.Fatal(err)
					}
					want, wantBytes := d, w
					if rt.rows8[curImpl] != nil {
						want, wantBytes = traits[d].repacked, p
					}
					if got != want || !bytes.Equal(in, wantBytes) || d.Repacked() != want {
						t.Fatalf("%s: Repack(%v) gave %v (Repacked %v), want %v, bytes as expected %v",
							impl, d, got, d.Repacked(), want, bytes.Equal(in, wantBytes))
					}
				})
			}
		}
	}
	if _, _, err := Repack(make([]byte, 17), Q4_0, 1, 32, nil); err == nil && Q4_0.Repacked() != Q4_0 {
		t.Error("Repack of 17 bytes as one q4_0 row of 32 succeeded")
	}
}

// exactRows8 is the float64 value of the eight-row dots' arithmetic for a
// row of w (type d, nb blocks) against the activations xq: per block the
// exact integer sums times the f32 products d_w·d_x the kernels use,
// summed in float64; and the error scale, the same sum of magnitudes with
// the offsets and mins apart (the kernels' lane sums carry them separately,
// and they may cancel).
func exactRows8(w []byte, d DType, xq []byte, row, nb int) (v, mag float64) {
	rb := nb * d.BlockBytes()
	if d.BlockSize() == QKK {
		levels := map[DType]levels256{Q4_K: levelsQ4_K, Q6_K: levelsQ6_K}[d]
		var sl superLevels
		for b := 0; b < nb; b++ {
			levels(w[row*rb+b*d.BlockBytes():], &sl)
			xb := xq[b*Q8_KBytes:]
			dx := math.Float32frombits(binary.LittleEndian.Uint32(xb))
			var isum, iabs, msum, mabs int64
			for e := 0; e < QKK; e++ {
				p := int64(sl.scale[e/16]) * int64(sl.v[e]) * int64(int8(xb[4+e]))
				isum += p
				a := int64(sl.scale[e/16]) * (int64(sl.v[e]) + 32) * int64(int8(xb[4+e]))
				iabs += max(a, -a) + max(p, -p)
			}
			for g := range groupsK {
				p := int64(sl.mins[g]) * int64(int16(binary.LittleEndian.Uint16(xb[260+2*g:])))
				msum += p
				mabs += max(p, -p)
			}
			ds, dm := float64(sl.d*dx), float64(sl.dmin*dx)
			v += float64(isum)*ds - float64(msum)*dm
			mag += float64(iabs)*math.Abs(ds) + float64(mabs)*math.Abs(dm)
		}
		return v, mag
	}
	var vw, vx [qk32]int32
	for b := 0; b < nb; b++ {
		blk := w[row*rb+b*Q4_0Bytes:]
		dw, _ := levelsQ4_0(blk, &vw)
		dx, _ := levelsQ8S(xq[b*Q8SBytes:], &vx)
		var sum, abs int64
		for j := range vw {
			sum += int64(vw[j]) * int64(vx[j])
			abs += (int64(vw[j]) + 16) * int64(max(vx[j], -vx[j]))
		}
		s := float64(dw * dx)
		v += float64(sum) * s
		mag += float64(abs) * math.Abs(s)
	}
	return v, mag
}

// Every implementation's eight-row dot (the assembly where there is one,
// else the reference), and the reference itself, against the exact value:
// within a few float32 roundings of the terms' magnitude, NaN guards after
// the last row.
func TestRows8AgainstExact(t *testing.T) {
	r := rand.New(rand.NewSource(22))
	for _, d := range repackTypes {
		rt := &traits[traits[d].repacked]
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				kernels := map[string]quantRows8{"ref": rt.rows8Ref}
				if f := rt.rows8[curImpl]; f != nil {
					kernels["asm"] = f
				}
				for _, s := range repackShapes {
					groups := s.n / RepackRows
					if groups == 0 {
						continue
					}
					k := s.nb * d.BlockSize()
					w := randomWeights(t, r, d, s.n, k)
					p := repacked(t, w, d, s.n, k)
					x := randSlice(r, k)
					x[r.Intn(k)] *= 40 // a block with a large scale
					act := &traits[traits[d].VecDot]
					xq := make([]byte, s.nb*act.BlockBytes)
					act.fromFloat(xq, x)
					for name, f := range kernels {
						out := make([]float32, RepackRows*groups+3)
						for i := range out {
							out[i] = float32(math.NaN())
						}
						f(&p[0], &xq[0], s.nb, &out[0], groups)
						for row := 0; row < RepackRows*groups; row++ {
							want, mag := exactRows8(w, d, xq, row, s.nb)
							if diff := math.Abs(float64(out[row]) - want); !(diff <= 4e-7*mag*float64(s.nb+1)) {
								t.Fatalf("%s %s %v n=%d nb=%d row %d: %v, exact %v (terms %v)", impl, name, d, s.n, s.nb, row, out[row], want, mag)
							}
						}
						for _, v := range out[RepackRows*groups:] {
							if !math.IsNaN(float64(v)) {
								t.Fatalf("%s %s %v n=%d nb=%d: wrote past the rows", impl, name, d, s.n, s.nb)
							}
						}
					}
				}
			})
		}
	}
}

// MatVecQ, MatMulQ and MatVecMany on a repacked matrix against the same
// calls on the source matrix: one row (the eight-row dot, the tail rows the
// source's own dot) within the tolerance of the summation order, batches
// (unpacked panels through the source type's kernels) bit for bit; one and
// two threads; NaN guards around the outputs.
func TestMatMulQRepacked(t *testing.T) {
	r := rand.New(rand.NewSource(23))
	for _, d := range repackTypes {
		rtype := traits[d].repacked
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				defer SetThreads(Default().Threads())
				for _, threads := range []int{1, 2} {
					SetThreads(threads)
					func() {
						for _, s := range repackShapes {
							k := s.nb * d.BlockSize()
							w := randomWeights(t, r, d, s.n, k)
							p := repacked(t, w, d, s.n, k)
							for _, m := range []int{1, 2, 8, 13} {
								x := randSlice(r, m*k)
								want := make([]float32, m*s.n)
								if err := MatMulQ(want, w, d, x, m, s.n, k); err != nil {
									t.Fatal(err)
								}
								got, full := guarded(m * s.n)
								if err := MatMulQ(got, p, rtype, x, m, s.n, k); err != nil {
									t.Fatal(err)
								}
								checkGuards(t, full, m*s.n)
								name := impl + " " + rtype.String()
								if m == 1 {
									assertNMSE(t, name+" MatVecQ", got, want, 1e-11)
									y2 := make([]float32, s.n)
									parts := []MatVecPart{{Y: y2, Data: p, Type: rtype, N: s.n}, {Y: make([]float32, 8), Data: w[:min(8, s.n)*len(w)/s.n], Type: d, N: min(8, s.n)}}
									parts[1].Y = parts[1].Y[:parts[1].N]
									if err := MatVecMany(parts, x, k); err != nil {
										t.Fatal(err)
									}
									for i := range y2 {
										if math.Float32bits(y2[i]) != math.Float32bits(got[i]) {
											t.Fatalf("%s n=%d nb=%d: MatVecMany row %d = %v, MatVecQ %v", name, s.n, s.nb, i, y2[i], got[i])
										}
									}
									continue
								}
								for i := range got {
									if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
										t.Fatalf("%s m=%d n=%d nb=%d: [%d] = %v, source type %v", name, m, s.n, s.nb, i, got[i], want[i])
									}
								}
							}
						}
					}()
				}
			})
		}
	}
}

// A repacked type is not a row type: it cannot be widened or written, and
// its source and layout name each other; a matrix's bytes are the source's.
func TestRepackedTraits(t *testing.T) {
	for _, d := range repackTypes {
		rt := traits[d].repacked
		if rt.RepackOf() != d || d.RepackOf() != d || rt.Stored() || rt.Widenable() || rt.Writable() || !rt.Computable() {
			t.Errorf("%v → %v: source %v, stored %v, widenable %v, writable %v, computable %v",
				d, rt, rt.RepackOf(), rt.Stored(), rt.Widenable(), rt.Writable(), rt.Computable())
		}
		a, _ := rt.RowBytes(64)
		b, _ := d.RowBytes(64)
		if a != b {
			t.Errorf("%v: %d bytes a row of 64, %v %d", rt, a, d, b)
		}
	}
}

// threadCPU is this thread's CPU time (the caller locks its OS thread).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// BenchmarkRepackedDecode times one activation row through a 134M Llama's
// decode shapes, each type against its repacked layout, alternating in
// rounds of 100 calls and keeping each side's best thread CPU time per call
// (us/call), which a busy machine inflates less than wall time. "x8" cycles
// through eight matrices (11 MB of q4_0 at 2048×768), so the weights come
// from memory, as in a decode step. Run with LOOM_THREADS=1.
func BenchmarkRepackedDecode(b *testing.B) {
	r := rand.New(rand.NewSource(24))
	shapes := []struct {
		name     string
		n, k, nm int
	}{{"768x768", 768, 768, 1}, {"2048x768", 2048, 768, 1}, {"768x2048", 768, 2048, 1}, {"2048x768x8", 2048, 768, 8}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, d := range repackTypes {
		for _, s := range shapes {
			x := randSlice(r, s.k)
			y := make([]float32, s.n)
			var src, rep [][]byte
			for range s.nm {
				w := randomWeights(b, r, d, s.n, s.k)
				src = append(src, w)
				rep = append(rep, repacked(b, w, d, s.n, s.k))
			}
			b.Run(d.String()+"/"+s.name, func(b *testing.B) {
				best := [2]time.Duration{math.MaxInt64, math.MaxInt64}
				for b.Loop() {
					for side, ws := range [2][][]byte{src, rep} {
						typ := d
						if side == 1 {
							typ = traits[d].repacked
						}
						t0 := threadCPU()
						for i := range 100 {
							if err := MatVecQ(y, ws[i%len(ws)], typ, x, s.n, s.k); err != nil {
								b.Fatal(err)
							}
						}
						best[side] = min(best[side], threadCPU()-t0)
					}
				}
				b.ReportMetric(float64(best[0].Nanoseconds())/100/1e3, "src-us/call")
				b.ReportMetric(float64(best[1].Nanoseconds())/100/1e3, "r8-us/call")
			})
		}
	}
}

// The packed GEMM's panel from two repacked groups is packPanelRef's from
// the same sixteen q4_0 rows, byte for byte (assembly and reference).
func TestPackR8MatchesPanel(t *testing.T) {
	r := rand.New(rand.NewSource(25))
	for _, nb := range []int{1, 3, 24} {
		k := nb * qk32
		w := randomWeights(t, r, Q4_0, qgRows, k)
		p := repacked(t, w, Q4_0, qgRows, k)
		want := make([]byte, nb*qgBlockBytes)
		packPanelRef(want, Q4_0, w, nb*Q4_0Bytes, nb, qgRows)
		for name, f := range map[string]func(dst, w *byte, nb int){"asm": packQ4_0R8x16, "ref": packQ4_0R8x16Ref} {
			got := make([]byte, nb*qgBlockBytes+1)
			got[len(got)-1] = 0xa5
			f(&got[0], &p[0], nb)
			if !bytes.Equal(got[:len(want)], want) || got[len(want)] != 0xa5 {
				t.Fatalf("%s nb=%d: panel differs from packPanelRef's", name, nb)
			}
		}
	}
}

// BenchmarkRepackedPrefill times a prompt's batch (128 rows) through a
// 2048×768 matrix, each type against its repacked layout (thread CPU per
// call, alternating as BenchmarkRepackedDecode).
func BenchmarkRepackedPrefill(b *testing.B) {
	r := rand.New(rand.NewSource(26))
	const m, n, k = 128, 2048, 768
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	x := randSlice(r, m*k)
	y := make([]float32, m*n)
	for _, d := range repackTypes {
		w := randomWeights(b, r, d, n, k)
		p := repacked(b, w, d, n, k)
		b.Run(d.String(), func(b *testing.B) {
			best := [2]time.Duration{math.MaxInt64, math.MaxInt64}
			for b.Loop() {
				for side, typ := range [2]DType{d, traits[d].repacked} {
					ws := [2][]byte{w, p}[side]
					t0 := threadCPU()
					for range 5 {
						if err := MatMulQ(y, ws, typ, x, m, n, k); err != nil {
							b.Fatal(err)
						}
					}
					best[side] = min(best[side], threadCPU()-t0)
				}
			}
			b.ReportMetric(float64(best[0].Nanoseconds())/5/1e6, "src-ms/call")
			b.ReportMetric(float64(best[1].Nanoseconds())/5/1e6, "r8-ms/call")
		})
	}
}
