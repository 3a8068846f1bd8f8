package tensor

// Arena is the scratch allocator for steady-state inference: a bump
// allocator over one buffer, emptied by Reset between forward passes. The
// first passes may outgrow the buffer (it then chains extra chunks); Reset
// replaces the chain by one buffer of the high-water size, so from then on a
// pass with the same shapes allocates no storage at all. Headers returned by
// Arena.New are small heap objects; hot loops that want no garbage at all
// take raw slices with Bytes/F32.
//
// Memory from an arena holds stale data from earlier passes (not zeroed)
// and is valid until the next Reset. An Arena is not safe for concurrent use.

import (
	"fmt"
	"unsafe"
)

// arenaAlign is the alignment of every allocation (a cache line, and the
// widest SIMD load).
const arenaAlign = 64

type Arena struct {
	chunks [][]byte // current chunk last
	used   int      // bytes used in the current chunk
	total  int      // bytes handed out since Reset (the high-water candidate)
	high   int      // largest total seen
}

// NewArena returns an arena with size bytes ready.
func NewArena(size int) *Arena {
	a := &Arena{}
	if size > 0 {
		a.chunks = [][]byte{alignedBytes(size)}
	}
	return a
}

// alignedBytes allocates n bytes starting on an arenaAlign boundary.
func alignedBytes(n int) []byte {
	b := make([]byte, n+arenaAlign)
	skip := (arenaAlign - int(uintptr(unsafe.Pointer(&b[0]))%arenaAlign)) % arenaAlign
	return b[skip : skip+n : skip+n]
}

// Bytes returns n bytes of scratch, 64-byte aligned.
func (a *Arena) Bytes(n int) []byte {
	if n < 0 {
		panic(fmt.Sprintf("tensor: Arena.Bytes(%d)", n))
	}
	rounded := (n + arenaAlign - 1) &^ (arenaAlign - 1)
	a.total += rounded
	a.high = max(a.high, a.total)
	if len(a.chunks) == 0 || a.used+rounded > len(a.chunks[len(a.chunks)-1]) {
		// Chain a chunk at least as big as everything so far, so the number
		// of chunks per pass stays logarithmic before the first Reset.
		a.chunks = append(a.chunks, alignedBytes(max(rounded, a.total, 1<<16)))
		a.used = 0
	}
	c := a.chunks[len(a.chunks)-1]
	b := c[a.used : a.used+n : a.used+n]
	a.used += rounded
	return b
}

// F32 returns n float32s of scratch.
func (a *Arena) F32(n int) []float32 {
	if n == 0 {
		return nil
	}
	b := a.Bytes(4 * n)
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}

// New returns a contiguous tensor on arena memory (contents unspecified).
func (a *Arena) New(d DType, shape ...int) (*Tensor, error) {
	size, err := storageBytes(d, shape)
	if err != nil {
		return nil, err
	}
	return FromBytes(d, a.Bytes(size), shape...)
}

// Reset frees everything handed out. If the last pass needed more than one
// chunk, the chunks are replaced by a single one of the high-water size.
func (a *Arena) Reset() {
	if len(a.chunks) > 1 {
		a.chunks = [][]byte{alignedBytes(a.high)}
	}
	a.used, a.total = 0, 0
}

// Cap reports the bytes the arena holds.
func (a *Arena) Cap() int {
	n := 0
	for _, c := range a.chunks {
		n += len(c)
	}
	return n
}
