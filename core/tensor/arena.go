package tensor

import (
	"math"
	"runtime"
	"sync"
)

// Arena is the activation memory of one tower call: float32 slices cut from
// a block that is kept between calls. A diffusion run allocates the same maps
// every step, and the VAE decode that follows twenty UNet steps would
// otherwise fault in megabytes of fresh pages (twice the decode's compute
// time, measured), because the collector has handed them back meanwhile.
// A block of a MiB or more is a mapping of its own advised for transparent
// huge pages (newBlock): its first use faults in a few 2 MiB pages where
// 4 KiB pages cost a VAE decode's first use 2,200 faults (40 ms, three times
// the decode, in the plugin process).
//
// A call that needs more than the block holds gets the rest from make; the
// arena remembers how much the call wanted and grows to it at Reset, so from
// the second call of a shape on nothing is allocated. Slices from an arena
// must not outlive the call that took them (the next Reset hands them out
// again). A nil *Arena allocates every slice. An Arena is not safe for
// concurrent use: a tower keeps an ArenaPool and takes one per call.
type Arena struct {
	buf       []float32
	off, want int
	unmap     runtime.Cleanup // releases buf's mapping when the arena is dropped
}

// Floats returns n zeroed floats.
func (a *Arena) Floats(n int) []float32 {
	if a == nil {
		return make([]float32, n)
	}
	a.want += n
	if a.off+n > len(a.buf) {
		return make([]float32, n)
	}
	s := a.buf[a.off : a.off+n : a.off+n]
	a.off += n
	clear(s)
	return s
}

// Scratch returns n floats that are not zeroed: for buffers the caller
// overwrites entirely before reading (a conv, norm or copy output).
func (a *Arena) Scratch(n int) []float32 {
	if a == nil {
		return make([]float32, n)
	}
	a.want += n
	var s []float32
	if a.off+n > len(a.buf) {
		s = make([]float32, n)
	} else {
		s = a.buf[a.off : a.off+n : a.off+n]
		a.off += n
	}
	if PoisonScratch {
		for i := range s {
			s[i] = float32(math.NaN())
		}
	}
	return s
}

// Reset frees everything handed out since the last Reset, growing the block
// to what those calls wanted.
func (a *Arena) Reset() {
	if a.want > len(a.buf) {
		a.unmap.Stop()
		if a.unmap = (runtime.Cleanup{}); len(a.buf) > 0 {
			freeBlock(a.buf)
		}
		var mapped bool
		if a.buf, mapped = newBlock(a.want); mapped {
			a.unmap = runtime.AddCleanup(a, freeBlock, a.buf)
		}
		// Fault the block in now, in the call that grew it (a model's
		// first), rather than in the next one.
		for i := 0; i < len(a.buf); i += 1024 {
			a.buf[i] = 0
		}
	}
	a.off, a.want = 0, 0
}

// PoisonScratch fills Scratch slices with NaN, so a test reading a float its
// caller did not write fails. Test packages of towers and layers set it.
var PoisonScratch bool

// ArenaPool keeps a few arenas for a tower's concurrent calls; its zero value
// is ready.
type ArenaPool struct {
	mu   sync.Mutex
	free []*Arena
}

// arenaPoolSize bounds the arenas a pool keeps: more concurrent calls than
// this still work, their extra arenas are dropped when done.
const arenaPoolSize = 4

// Get returns an arena for one call; give it back with Put.
func (p *ArenaPool) Get() *Arena {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		a := p.free[n-1]
		p.free = p.free[:n-1]
		return a
	}
	return new(Arena)
}

// Put resets a for its next call and keeps it.
func (p *ArenaPool) Put(a *Arena) {
	a.Reset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < arenaPoolSize {
		p.free = append(p.free, a)
	}
}

// Grow returns (*buf)[:n], reallocating only when the capacity is short: the
// working buffer of a layer or decoding state that lives across calls.
// Contents are whatever the last use left.
func Grow(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}
