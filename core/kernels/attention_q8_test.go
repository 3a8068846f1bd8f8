package kernels

import (
	"encoding/binary"
	"math"
	"math/rand"
	"testing"
)

// q8Cache quantizes x (padded with zeros to whole blocks) as a q8_0 cache
// and returns its view and the exact float32 values it holds: what the
// reference reads.
func q8Cache(x []float32) (kvQ8, []float32) {
	n := (len(x) + KVQ8Block - 1) / KVQ8Block * KVQ8Block
	src := make([]float32, n)
	copy(src, x)
	qs, d := make([]int8, n), make([]uint16, n/KVQ8Block)
	QuantizeKVQ8(qs, d, src)
	w := make([]float32, len(x))
	DequantizeKVQ8(w, qs, d)
	return kvQ8{qs: qs[:len(x)], d: d}, w
}

// TestQuantizeKVQ8MatchesGGML: the split levels and scales are those of
// llama.cpp's run-time q8_0 quantizer (quantQ8SGeneric, the Go statement of
// ggml-cpu's quantize_row_q8_0), every implementation, zero blocks and
// ±127 extremes included, and the values widen to d·q within half a step.
func TestQuantizeKVQ8MatchesGGML(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, n := range []int{32, 64, 96, 768, 32 * (kvQ8Chunk + 3)} {
		x := randSlice(r, n)
		for i := range x {
			x[i] *= float32(1 + 40*(i/32%3))
		}
		if n >= 64 {
			clear(x[32:64]) // an all-zero block: scale 0, levels 0
		}
		blocks := make([]byte, n/QK8_0*Q8SBytes)
		quantQ8SGeneric(blocks, x)
		for _, impl := range impls() {
			withImpl(t, impl, func() {
				qs, d := make([]int8, n), make([]uint16, n/KVQ8Block)
				QuantizeKVQ8(qs, d, x)
				got := make([]float32, n)
				DequantizeKVQ8(got, qs, d)
				for b := 0; b < n/QK8_0; b++ {
					blk := blocks[b*Q8SBytes:]
					if ds := math.Float32frombits(binary.LittleEndian.Uint32(blk)); F16ToF32(d[b]) != ds {
						t.Fatalf("%s n=%d block %d: scale %v, ggml %v", impl, n, b, F16ToF32(d[b]), ds)
					}
					for j := 0; j < QK8_0; j++ {
						i := b*QK8_0 + j
						if qs[i] != int8(blk[8+j]) {
							t.Fatalf("%s n=%d element %d: level %d, ggml %d", impl, n, i, qs[i], int8(blk[8+j]))
						}
						if want := F16ToF32(d[b]) * float32(qs[i]); got[i] != want {
							t.Fatalf("n=%d element %d: widened %v, want %v", n, i, got[i], want)
						}
						// Within half a step (plus the f16 scale's rounding) of x.
						if err := math.Abs(float64(got[i] - x[i])); err > 0.51*float64(F16ToF32(d[b]))+1e-3*math.Abs(float64(x[i])) {
							t.Fatalf("n=%d element %d: %v widens to %v", n, i, x[i], got[i])
						}
					}
				}
			})
		}
	}
}

// TestVecDotsAccRowsQ8 checks the q8_0 row kernels against their
// references (odd lengths, views off a block edge, strides that are and are
// not whole blocks: the SIMD paths and the fallback), the references
// against float64 sums of the widened values, and the tile widening bit
// for bit.
func TestVecDotsAccRowsQ8(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	simd := 0
	for _, n := range []int{1, 7, 31, 32, 33, 64, 96, 128, 200, 256} {
		for _, m := range []int{1, 2, 3, 4, 5, 8, 17} {
			for _, shape := range [][2]int{{0, 0}, {32, 0}, {3, 0}, {0, 5}, {64, 64}} {
				pad, off := shape[0], shape[1]
				ld := n + pad
				all, allW := q8Cache(randSlice(r, off+(m-1)*ld+n))
				k, kw := all.at(off), allW[off:]
				if _, _, ok := k.rows(0, ld, n, m); ok {
					simd++
				}
				q := randSlice(r, n)
				w := randSlice(r, m)
				y0 := randSlice(r, n)
				wantD := make([]float32, m)
				vecDotsQ8Generic(wantD, q, &k, 0, ld, n, m)
				wantA := append([]float32(nil), y0...)
				vecAccRowsQ8Generic(wantA, w, &k, 0, ld, n, m)
				checkRowRefs(t, "Q8", q, w, y0, kw, wantD, wantA, ld, n, m)
				wantT := make([]float32, m*n)
				q8RowsToF32Generic(wantT, &k, 0, ld, n, m)
				for _, impl := range impls() {
					withImpl(t, impl, func() {
						got, full := guarded(m)
						vecDotsQ8(got, q, &k, 0, ld, n, m)
						checkGuards(t, full, m)
						assertNMSE(t, impl+" vecDotsQ8", got, wantD, tolVecDotF16)
						acc, fullA := guarded(n)
						copy(acc, y0)
						vecAccRowsQ8(acc, w, &k, 0, ld, n, m)
						checkGuards(t, fullA, n)
						assertNMSE(t, impl+" vecAccRowsQ8", acc, wantA, tolVecDotF16)
						tile, fullT := guarded(m * n)
						q8RowsToF32(tile, &k, 0, ld, n, m)
						checkGuards(t, fullT, m*n)
						for i := range wantT {
							if tile[i] != wantT[i] {
								t.Fatalf("%s n=%d m=%d ld=%d off=%d: tile[%d] = %v, want %v", impl, n, m, ld, off, i, tile[i], wantT[i])
							}
						}
						// Each score is the same however many rows a call
						// takes (attnDecode's blocks against attnTile's).
						for j := 0; j < m; j++ {
							var one [1]float32
							vecDotsQ8(one[:], q, &k, j*ld, ld, n, 1)
							if math.Float32bits(one[0]) != math.Float32bits(got[j]) {
								t.Fatalf("%s n=%d m=%d: row %d alone %v, in a call of %d rows %v", impl, n, m, j, one[0], m, got[j])
							}
						}
					})
				}
			}
		}
	}
	if len(impls()) > 1 && hasAVX512 && simd == 0 {
		t.Fatal("no case took the AVX-512 path")
	}
}

// TestFlashAttentionQ8MatchesNaive runs the whole attention table with K
// and V as q8_0: every implementation, one and two threads, against the
// float64 reference on the widened values (the same tolerance as float32
// K and V: only the rounding order differs).
func TestFlashAttentionQ8MatchesNaive(t *testing.T) {
	checkNarrowKVMatchesNaive(t, 6, func(q, k32, v32 []float32, p AttnParams) (kw, vw []float32, run func([]float32) error) {
		k, kw := q8Cache(k32)
		v, vw := q8Cache(v32)
		return kw, vw, func(got []float32) error { return FlashAttentionQ8(got, q, k.qs, k.d, v.qs, v.d, p) }
	})
}

// TestFlashAttentionQ8Errors: short levels or too few scales are refused
// before anything is written.
func TestFlashAttentionQ8Errors(t *testing.T) {
	p := AttnParams{Heads: 4, KVHeads: 2, HeadDim: 16, SeqQ: 3, SeqKV: 5}
	q, o := make([]float32, 3*64), make([]float32, 3*64)
	kv, d := make([]int8, 5*32), make([]uint16, 5)
	for _, bad := range []func() error{
		func() error { return FlashAttentionQ8(o, q, kv[:159], d, kv, d, p) },
		func() error { return FlashAttentionQ8(o, q, kv, d, kv[:150], d, p) },
		func() error { return FlashAttentionQ8(o, q, kv, d[:4], kv, d, p) },
		func() error { return FlashAttentionQ8(o, q, kv, d, kv, d[:4], p) },
	} {
		o[0] = 7
		if err := bad(); err == nil || o[0] != 7 {
			t.Fatalf("short cache: err %v, out[0] %v", err, o[0])
		}
	}
	if err := FlashAttentionQ8(o, q, kv, d, kv, d, p); err != nil {
		t.Fatalf("valid params: %v", err)
	}
}

// BenchmarkFlashAttentionQ8 is BenchmarkFlashAttentionF16 with a q8_0 K and
// V (compare the two for what the smaller cache costs).
func BenchmarkFlashAttentionQ8(b *testing.B) {
	for _, s := range attnBenchShapes {
		b.Run(s.name, func(b *testing.B) {
			r := rand.New(rand.NewSource(1))
			p := AttnParams{Heads: 8, KVHeads: 8, HeadDim: 64, SeqQ: s.seqQ, SeqKV: s.seqKV, Causal: s.causal, QPos0: s.seqKV - s.seqQ}
			q := randSlice(r, s.seqQ*512)
			k, _ := q8Cache(randSlice(r, s.seqKV*512))
			v, _ := q8Cache(randSlice(r, s.seqKV*512))
			out := make([]float32, len(q))
			b.ReportAllocs()
			for b.Loop() {
				if err := FlashAttentionQ8(out, q, k.qs, k.d, v.qs, v.d, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuantizeKVQ8 stores one 134M-model layer's K row block of a
// 128-token prompt (128 × 768).
func BenchmarkQuantizeKVQ8(b *testing.B) {
	x := randSlice(rand.New(rand.NewSource(1)), 128*768)
	qs, d := make([]int8, len(x)), make([]uint16, len(x)/KVQ8Block)
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		QuantizeKVQ8(qs, d, x)
	}
}
