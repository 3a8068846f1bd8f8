package nn

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/kernels"
)

// RoPE holds rotary position embedding settings (Su et al. 2021) with the
// inverse frequencies computed once, after any context-extension scaling.
type RoPE struct {
	RotDim  int       // leading dims of each head rotated (= head dim for Llama)
	NeoX    bool      // pairs (i, i+RotDim/2) (HF layout) instead of (2i, 2i+1)
	InvFreq []float64 // (RotDim/2) θ^(-2i/RotDim), scaled
}

// RoPEScaling is a context-extension rule applied to the frequencies.
type RoPEScaling struct {
	Type   string  // "", "none", "linear" or "llama3"
	Factor float64 // linear and llama3: how much longer the context is
	// llama3 only (Meta's Llama 3.1 reference): wavelengths shorter than
	// OrigContext/HighFreqFactor keep their frequency, longer than
	// OrigContext/LowFreqFactor are divided by Factor, in between blend.
	LowFreqFactor, HighFreqFactor float64
	OrigContext                   int
}

// NewRoPE computes the inverse frequencies for base theta, then applies the
// scaling rule and per-pair divisors (GGUF's rope_freqs tensor; nil = none).
func NewRoPE(rotDim int, theta float64, neox bool, sc RoPEScaling, freqFactors []float32) (RoPE, error) {
	if rotDim <= 0 || rotDim%2 != 0 {
		return RoPE{}, fmt.Errorf("rope: rotary dims %d must be positive and even", rotDim)
	}
	if theta <= 0 || math.IsNaN(theta) || math.IsInf(theta, 0) {
		return RoPE{}, fmt.Errorf("rope: base %v", theta)
	}
	half := rotDim / 2
	inv := make([]float64, half)
	for i := range inv {
		inv[i] = math.Pow(theta, -float64(2*i)/float64(rotDim))
	}
	switch sc.Type {
	case "", "none":
	case "linear":
		if !(sc.Factor > 0) {
			return RoPE{}, fmt.Errorf("rope: linear scaling factor %v", sc.Factor)
		}
		for i := range inv {
			inv[i] /= sc.Factor
		}
	case "llama3":
		if !(sc.Factor > 0) || !(sc.HighFreqFactor > sc.LowFreqFactor) || sc.LowFreqFactor <= 0 || sc.OrigContext <= 0 {
			return RoPE{}, fmt.Errorf("rope: llama3 scaling %+v", sc)
		}
		lowWave := float64(sc.OrigContext) / sc.LowFreqFactor
		highWave := float64(sc.OrigContext) / sc.HighFreqFactor
		for i, f := range inv {
			wave := 2 * math.Pi / f
			switch {
			case wave < highWave:
			case wave > lowWave:
				inv[i] = f / sc.Factor
			default:
				smooth := (float64(sc.OrigContext)/wave - sc.LowFreqFactor) / (sc.HighFreqFactor - sc.LowFreqFactor)
				inv[i] = (1-smooth)*f/sc.Factor + smooth*f
			}
		}
	default:
		return RoPE{}, fmt.Errorf("rope: unsupported scaling %q", sc.Type)
	}
	if freqFactors != nil {
		if len(freqFactors) != half {
			return RoPE{}, fmt.Errorf("rope: %d frequency factors, need %d", len(freqFactors), half)
		}
		for i, d := range freqFactors {
			if !(d > 0) {
				return RoPE{}, fmt.Errorf("rope: frequency factor %d is %v", i, d)
			}
			inv[i] /= float64(d)
		}
	}
	return RoPE{RotDim: rotDim, NeoX: neox, InvFreq: inv}, nil
}

// Apply rotates x (seq, heads, headDim) in place for positions pos0…
func (r *RoPE) Apply(x []float32, seq, heads, headDim, pos0 int) error {
	return kernels.RoPE(x, kernels.RoPEParams{Seq: seq, Heads: heads, HeadDim: headDim,
		RotDim: r.RotDim, Pos0: pos0, NeoX: r.NeoX, InvFreq: r.InvFreq})
}

// KVCache holds one layer's keys and values, (positions, kv_heads, head_dim)
// row-major: the layout kernels.FlashAttention reads, so the cache is passed
// to it without copying. It grows by doubling up to Max positions.
//
// With Half set it holds them as IEEE halves (K16, V16), as llama.cpp's
// cache does by default (type_k = type_v = f16): half the memory of
// float32, read by kernels.FlashAttentionF16. Keys and values are still
// computed in float32 (projection, norm, RoPE) and rounded once as they are
// stored, so attention reads exactly what a float32 cache would hold, to
// 11 significant bits.
//
// With Q8 set it holds them as ggml's q8_0 (K8, V8 levels; KD, VD f16
// scales, one per 32 consecutive elements of a row), as llama.cpp's
// `-ctk q8_0 -ctv q8_0`: 34 bytes per 32 elements, 53% of an f16 cache,
// read by kernels.FlashAttentionQ8. The row width must be a multiple of
// 32 (kernels.KVQ8Block). Keys and values are rounded once as they are
// stored, by ggml's quantizer.
//
// A sliding-window layer (Window > 0: Gemma 2/3's local layers) keeps only
// what its queries can still see. Its rows hold positions Start…; once
// more than Window + slidingSlack(Window) rows would be held, the rows no
// later query can reach (before pos−Window+1) are dropped by moving the
// rest to the front, so it holds at most Window + slack + one chunk of
// positions whatever the context: ggml's SWA cache (llama-kv-cache-iswa)
// does the same with a ring of n_swa + n_ubatch cells.
type KVCache struct {
	K, V     []float32 // (capacity, kv_heads·head_dim), without Half
	K16, V16 []uint16  // (capacity, kv_heads·head_dim) IEEE halves, with Half
	Half     bool      // store f16 (K16, V16) instead of float32 (K, V)
	K8, V8   []int8    // (capacity, kv_heads·head_dim) q8_0 levels, with Q8
	KD, VD   []uint16  // (capacity, kv_heads·head_dim/32) q8_0 f16 scales, with Q8
	Q8       bool      // store q8_0 (K8, KD, V8, VD); Half is then ignored
	Width    int       // kv_heads·head_dim
	Max      int       // most positions it may hold (the context)
	Window   int       // keys a query sees, itself included, in a sliding layer; 0: all, nothing dropped
	Start    int       // position of row 0 (> 0 only after a sliding layer dropped rows)
}

// Rows is how many positions the cache has room for.
func (c *KVCache) Rows() int {
	n := len(c.K)
	switch {
	case c.Q8:
		n = len(c.K8)
	case c.Half:
		n = len(c.K16)
	}
	return n / max(c.Width, 1)
}

// Bytes is the memory the cache holds (capacity, not positions used).
func (c *KVCache) Bytes() int {
	return 4*(len(c.K)+len(c.V)) + 2*(len(c.K16)+len(c.V16)) + len(c.K8) + len(c.V8) + 2*(len(c.KD)+len(c.VD))
}

// slidingSlack is how many rows past its window a sliding cache holds
// before it drops the old ones: moving Window−1 rows every slack positions
// costs (Window−1)/slack row copies per token, against the Window rows
// each decode step's attention reads.
func slidingSlack(window int) int { return max(64, window/4) }

// Reserve makes room for n positions, keeping those already stored.
func (c *KVCache) Reserve(n int) error {
	if n > c.Max {
		return fmt.Errorf("kv cache: %d positions exceed the context of %d", n, c.Max)
	}
	return c.grow(n - c.Start)
}

// grow makes room for rows rows, keeping those already stored.
func (c *KVCache) grow(rows int) error {
	if c.Q8 && c.Width%kernels.KVQ8Block != 0 {
		return fmt.Errorf("kv cache: a q8_0 cache's rows are whole blocks of %d, not %d elements", kernels.KVQ8Block, c.Width)
	}
	if c.Rows() >= rows {
		return nil
	}
	// Half as much again as asked: a prompt's cache then holds the first
	// tokens generated after it without a copy of every layer's K and V.
	capPos := min(c.Max, max(rows+rows/2, 2*c.Rows(), 64))
	if c.Window > 0 {
		capPos = min(capPos, c.Window+slidingSlack(c.Window))
	}
	capPos = max(capPos, rows)
	switch {
	case c.Q8:
		c.K8, c.V8 = growCopy(c.K8, capPos*c.Width), growCopy(c.V8, capPos*c.Width)
		c.KD, c.VD = growCopy(c.KD, capPos*c.Width/kernels.KVQ8Block), growCopy(c.VD, capPos*c.Width/kernels.KVQ8Block)
	case c.Half:
		c.K16 = growCopy(c.K16, capPos*c.Width)
		c.V16 = growCopy(c.V16, capPos*c.Width)
	default:
		c.K = growCopy(c.K, capPos*c.Width)
		c.V = growCopy(c.V, capPos*c.Width)
	}
	return nil
}

// growCopy returns a zeroed slice of n elements starting with a's.
func growCopy[T float32 | uint16 | int8](a []T, n int) []T {
	b := make([]T, n)
	copy(b, a)
	return b
}

// moveRows copies n elements from src to dst within K and V (whichever the
// cache holds; whole rows, so a q8_0 cache's whole blocks).
func (c *KVCache) moveRows(dst, src, n int) {
	if c.Q8 {
		copy(c.K8[dst:], c.K8[src:src+n])
		copy(c.V8[dst:], c.V8[src:src+n])
		b := kernels.KVQ8Block
		copy(c.KD[dst/b:], c.KD[src/b:(src+n)/b])
		copy(c.VD[dst/b:], c.VD[src/b:(src+n)/b])
		return
	}
	if c.Half {
		copy(c.K16[dst:], c.K16[src:src+n])
		copy(c.V16[dst:], c.V16[src:src+n])
		return
	}
	copy(c.K[dst:], c.K[src:src+n])
	copy(c.V[dst:], c.V[src:src+n])
}

// prepare makes rows for seq new positions pos… after the positions before
// pos (pos ≤ what is held: a smaller pos rewinds); a sliding cache first
// drops what no query from pos on can see, and refuses a rewind to a
// position whose window it has dropped.
func (c *KVCache) prepare(pos, seq int) error {
	if pos+seq > c.Max {
		return fmt.Errorf("kv cache: %d positions exceed the context of %d", pos+seq, c.Max)
	}
	if c.Window <= 0 {
		return c.grow(pos + seq)
	}
	lo := max(0, pos-c.Window+1) // the oldest position a query at pos sees
	if lo < c.Start {
		return fmt.Errorf("kv cache: position %d sees back to %d, but this sliding-window layer holds only from %d (a rewind past its window)", pos, lo, c.Start)
	}
	if pos+seq-c.Start > c.Window+slidingSlack(c.Window) && lo > c.Start {
		c.moveRows(0, (lo-c.Start)*c.Width, (pos-lo)*c.Width)
		c.Start = lo
	}
	return c.grow(pos + seq - c.Start)
}

// Held is the number of positions whose keys the cache holds when n
// positions have been run: n, less those a sliding layer dropped.
func (c *KVCache) Held(n int) int { return n - c.Start }

// Clone copies the first n positions into a cache of their own (a beam
// that branches from another); a sliding cache copies those it holds.
func (c *KVCache) Clone(n int) KVCache {
	n = min(n-c.Start, c.Rows()) * c.Width
	f := KVCache{Half: c.Half, Q8: c.Q8, Width: c.Width, Max: c.Max, Window: c.Window, Start: c.Start}
	switch {
	case c.Q8:
		b := kernels.KVQ8Block
		f.K8, f.V8 = append([]int8(nil), c.K8[:n]...), append([]int8(nil), c.V8[:n]...)
		f.KD, f.VD = append([]uint16(nil), c.KD[:n/b]...), append([]uint16(nil), c.VD[:n/b]...)
	case c.Half:
		f.K16, f.V16 = append([]uint16(nil), c.K16[:n]...), append([]uint16(nil), c.V16[:n]...)
	default:
		f.K, f.V = append([]float32(nil), c.K[:n]...), append([]float32(nil), c.V[:n]...)
	}
	return f
}

// Attention is multi-head self-attention with grouped KV heads (GQA, Ainslie
// et al. 2023), rotary positions and a KV cache, with the options of the
// families built on Llama's: per-head RMSNorm of q and k before RoPE (Qwen3,
// Gemma 3), a score scale, score soft-capping (Gemma 2) and a sliding
// window (Gemma's local layers).
type Attention struct {
	Q            Linear   // (heads·head_dim, dim)
	K, V         Linear   // (kv_heads·head_dim, dim)
	O            Linear   // (dim, heads·head_dim)
	QNorm, KNorm *RMSNorm // (head_dim) each, or nil
	Heads        int
	KVHeads      int
	HeadDim      int
	Rope         RoPE
	Scale        float32 // q·k scale; 0 = 1/√head_dim
	Softcap      float32 // scores soft-capped to ±Softcap; 0 = none
	Window       int     // keys a query sees, itself included; 0 = all before it
}

// Forward attends seq new tokens x (seq, dim) at positions pos…pos+seq-1 to
// themselves and the pos cached ones, appends their keys and values to c,
// and sets out (seq, dim).
func (a *Attention) Forward(out, x []float32, seq, pos int, c *KVCache, s *Scratch) error {
	qw, kw := a.Heads*a.HeadDim, a.KVHeads*a.HeadDim
	if err := c.prepare(pos, seq); err != nil {
		return err
	}
	narrow := c.Half || c.Q8 // keys and values computed in float32, stored narrower
	vw := 0                  // new values' floats in the working slice: an f16 or q8_0 cache's only
	if narrow {
		vw = seq * kw
	}
	ws := s.work(2*seq*qw + vw)
	q := ws[:seq*qw]            // (seq, heads, head_dim)
	att := ws[seq*qw:][:seq*qw] // (seq, heads, head_dim)
	row := pos - c.Start        // the rows of positions pos… (a sliding cache may have dropped older ones)
	var kNew, vNew []float32    // (seq, kv_heads, head_dim)
	if narrow {
		// Computed in float32 and stored as halves or q8_0 below, before attention
		// writes att (kv_heads ≤ heads, so K fits in it); V after att.
		kNew, vNew = att[:seq*kw], ws[2*seq*qw:][:vw]
	} else {
		kNew, vNew = c.K[row*kw:(row+seq)*kw], c.V[row*kw:(row+seq)*kw]
	}
	if err := forwardShared(x, seq, []*Linear{&a.Q, &a.K, &a.V}, [][]float32{q, kNew, vNew}); err != nil {
		return fmt.Errorf("attn q, k, v: %w", err)
	}
	if a.QNorm != nil {
		if err := a.QNorm.Forward(q, q, seq*a.Heads); err != nil {
			return fmt.Errorf("attn q norm: %w", err)
		}
	}
	if a.KNorm != nil {
		if err := a.KNorm.Forward(kNew, kNew, seq*a.KVHeads); err != nil {
			return fmt.Errorf("attn k norm: %w", err)
		}
	}
	if err := a.Rope.Apply(q, seq, a.Heads, a.HeadDim, pos); err != nil {
		return err
	}
	if err := a.Rope.Apply(kNew, seq, a.KVHeads, a.HeadDim, pos); err != nil {
		return err
	}
	n := row + seq // keys held; key row j is position Start+j, so positions relative to Start mask alike
	p := kernels.AttnParams{
		Heads: a.Heads, KVHeads: a.KVHeads, HeadDim: a.HeadDim,
		SeqQ: seq, SeqKV: n, Causal: true, QPos0: row,
		Scale: a.Scale, Softcap: a.Softcap, Window: a.Window,
	}
	var err error
	switch b := kernels.KVQ8Block; {
	case c.Q8:
		kernels.QuantizeKVQ8(c.K8[row*kw:(row+seq)*kw], c.KD[row*kw/b:], kNew)
		kernels.QuantizeKVQ8(c.V8[row*kw:(row+seq)*kw], c.VD[row*kw/b:], vNew)
		err = kernels.FlashAttentionQ8(att, q, c.K8[:n*kw], c.KD[:n*kw/b], c.V8[:n*kw], c.VD[:n*kw/b], p)
	case c.Half:
		kernels.F32ToF16Row(c.K16[row*kw:(row+seq)*kw], kNew)
		kernels.F32ToF16Row(c.V16[row*kw:(row+seq)*kw], vNew)
		err = kernels.FlashAttentionF16(att, q, c.K16[:n*kw], c.V16[:n*kw], p)
	default:
		err = kernels.FlashAttention(att, q, c.K[:n*kw], c.V[:n*kw], p)
	}
	if err != nil {
		return err
	}
	if err := a.O.Forward(out, att, seq); err != nil {
		return fmt.Errorf("attn output: %w", err)
	}
	return nil
}
