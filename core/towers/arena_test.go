package towers

import "testing"

// Every test of the package runs with poisoned scratch: a tower that reads a
// scratch float it did not write gets NaN and fails its golden comparison.
func init() { arenaPoison = true }

func TestArenaReuse(t *testing.T) {
	var p arenaPool
	a := p.get()
	x, y := a.floats(10), a.scratch(6)
	if len(x) != 10 || len(y) != 6 || a.want != 16 {
		t.Fatalf("first call: %d, %d floats, want %d", len(x), len(y), a.want)
	}
	p.put(a)
	b := p.get()
	if b != a || len(b.buf) != 16 || b.off != 0 || b.want != 0 {
		t.Fatalf("second call got a fresh or unreset arena (buf %d, off %d, want %d)", len(b.buf), b.off, b.want)
	}
	x = b.floats(10)
	x[3] = 7
	y = b.scratch(6)
	if y[0] == y[0] { // not NaN: poison is on in this package's tests
		t.Fatalf("scratch not poisoned: %v", y[0])
	}
	y[0] = 1
	if x[3] != 7 || &b.buf[0] != &x[0] {
		t.Fatalf("arena slices overlap or are not from the block")
	}
	z := b.floats(4) // past the block: allocated, and remembered
	if len(z) != 4 || b.want != 20 {
		t.Fatalf("overflow: %d floats, want %d", len(z), b.want)
	}
	p.put(b)
	c := p.get()
	if len(c.buf) != 20 {
		t.Fatalf("arena did not grow to the call's 20 floats: %d", len(c.buf))
	}
	for i, v := range c.floats(20) {
		if v != 0 {
			t.Fatalf("floats not zeroed at %d: %v", i, v)
		}
	}
	var nilArena *arena
	if len(nilArena.floats(3)) != 3 || len(nilArena.scratch(2)) != 2 {
		t.Fatal("nil arena does not allocate")
	}
}
