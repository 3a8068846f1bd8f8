package tensor

import "testing"

func TestArenaReuse(t *testing.T) {
	defer func(p bool) { PoisonScratch = p }(PoisonScratch)
	PoisonScratch = true
	var p ArenaPool
	a := p.Get()
	x, y := a.Floats(10), a.Scratch(6)
	if len(x) != 10 || len(y) != 6 || a.want != 16 {
		t.Fatalf("first call: %d, %d floats, want %d", len(x), len(y), a.want)
	}
	p.Put(a)
	b := p.Get()
	if b != a || len(b.buf) != 16 || b.off != 0 || b.want != 0 {
		t.Fatalf("second call got a fresh or unreset arena (buf %d, off %d, want %d)", len(b.buf), b.off, b.want)
	}
	x = b.Floats(10)
	x[3] = 7
	y = b.Scratch(6)
	if y[0] == y[0] { // not NaN: poison is on
		t.Fatalf("scratch not poisoned: %v", y[0])
	}
	y[0] = 1
	if x[3] != 7 || &b.buf[0] != &x[0] {
		t.Fatalf("arena slices overlap or are not from the block")
	}
	z := b.Floats(4) // past the block: allocated, and remembered
	if len(z) != 4 || b.want != 20 {
		t.Fatalf("overflow: %d floats, want %d", len(z), b.want)
	}
	p.Put(b)
	c := p.Get()
	if len(c.buf) != 20 {
		t.Fatalf("arena did not grow to the call's 20 floats: %d", len(c.buf))
	}
	for i, v := range c.Floats(20) {
		if v != 0 {
			t.Fatalf("floats not zeroed at %d: %v", i, v)
		}
	}
	var nilArena *Arena
	if len(nilArena.Floats(3)) != 3 || len(nilArena.Scratch(2)) != 2 {
		t.Fatal("nil arena does not allocate")
	}
}

// From the second call of a shape on, an arena allocates nothing.
func TestArenaSteadyState(t *testing.T) {
	var p ArenaPool
	pass := func() {
		a := p.Get()
		f, g := a.Floats(5000), a.Scratch(300)
		f[len(f)-1], g[0] = 1, 2
		if f[len(f)-1] != 1 {
			t.Fatal("arena allocations overlap")
		}
		p.Put(a)
	}
	pass()
	if allocs := testing.AllocsPerRun(10, pass); allocs != 0 {
		t.Fatalf("steady state: %v allocations per call", allocs)
	}
}

func TestGrow(t *testing.T) {
	var buf []float32
	a := Grow(&buf, 8)
	a[7] = 3
	b := Grow(&buf, 5)
	if len(a) != 8 || len(b) != 5 || &a[0] != &b[0] {
		t.Fatal("Grow reallocated a buffer that was big enough")
	}
	if c := Grow(&buf, 9); len(c) != 9 || cap(buf) < 9 {
		t.Fatal("Grow did not grow")
	}
}

// Blocks of a MiB and more are mappings of their own (arena_linux.go): they
// hand out zeroed floats, survive reuse and are replaced when outgrown.
func TestArenaLargeBlocks(t *testing.T) {
	var p ArenaPool
	for _, n := range []int{300_000, 300_000, 700_000, 100} {
		a := p.Get()
		x := a.Floats(n)
		for i, v := range x {
			if v != 0 {
				t.Fatalf("n=%d: float %d is %v, not zero", n, i, v)
			}
		}
		for i := range x {
			x[i] = float32(i)
		}
		if len(a.buf) >= n && &a.buf[0] != &x[0] {
			t.Fatalf("n=%d: not cut from the block", n)
		}
		p.Put(a)
	}
	if a := p.Get(); len(a.buf) != 700_000 {
		t.Fatalf("block of %d floats, want the largest call's 700000", len(a.buf))
	}
}
