package towers

import (
	"math"
	"sync"
)

// arena is the activation memory of one tower call: zeroed slices cut from a
// block that is kept between calls. A diffusion run allocates the same maps
// every step, and the VAE decode that follows twenty UNet steps would
// otherwise fault in megabytes of fresh pages (twice the decode's compute
// time, measured), because the collector has handed them back meanwhile.
//
// A call that needs more than the block holds gets the rest from make; the
// arena remembers how much the call wanted and grows to it when it is put
// back, so from the second call of a shape on nothing is allocated. Slices
// from an arena must not outlive the call that took it. A nil *arena
// allocates every slice.
type arena struct {
	buf       []float32
	off, want int
}

// floats returns n zeroed floats.
func (a *arena) floats(n int) []float32 {
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

// scratch returns n floats that are not zeroed: for buffers the caller
// overwrites entirely before reading (a conv, norm or copy output).
func (a *arena) scratch(n int) []float32 {
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
	if arenaPoison {
		for i := range s {
			s[i] = float32(math.NaN())
		}
	}
	return s
}

// arenaPoison fills scratch slices with NaN, so a test reading a float its
// caller did not write fails. The package's tests set it.
var arenaPoison bool

// arenaPool keeps a few arenas for a tower's concurrent calls; its zero value
// is ready.
type arenaPool struct {
	mu   sync.Mutex
	free []*arena
}

// arenaPoolSize bounds the arenas a tower keeps: more concurrent calls than
// this still work, their extra arenas are dropped when done.
const arenaPoolSize = 4

func (p *arenaPool) get() *arena {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		a := p.free[n-1]
		p.free = p.free[:n-1]
		return a
	}
	return new(arena)
}

// put resets a for its next call, growing it to what this call wanted.
func (p *arenaPool) put(a *arena) {
	if a.want > len(a.buf) {
		a.buf = make([]float32, a.want)
	}
	a.off, a.want = 0, 0
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < arenaPoolSize {
		p.free = append(p.free, a)
	}
}
