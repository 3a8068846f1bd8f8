package kernels

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestPoolCoversRangeOnce(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for _, n := range []int{1, 2, 7, 64, 1000} {
		for _, grain := range []int{1, 3, 16} {
			hits := make([]int32, n)
			p.For(n, grain, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&hits[i], 1)
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("n=%d grain=%d: index %d run %d times", n, grain, i, h)
				}
			}
		}
	}
}

// A kernel that calls a kernel: nested loops on every level must finish.
func TestPoolNestedLoopsDoNotDeadlock(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	done := make(chan int64)
	go func() {
		var sum atomic.Int64
		p.For(8, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				p.For(16, 1, func(lo2, hi2 int) {
					for j := lo2; j < hi2; j++ {
						p.For(4, 1, func(a, b int) { sum.Add(int64(b - a)) })
					}
				})
			}
		})
		done <- sum.Load()
	}()
	select {
	case s := <-done:
		if s != 8*16*4 {
			t.Fatalf("sum %d, want %d", s, 8*16*4)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("nested For deadlocked")
	}
}

func TestPoolForDoesNotAllocate(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var sink atomic.Int64
	fn := func(lo, hi int) { sink.Add(int64(hi - lo)) }
	p.For(100, 1, fn)
	allocs := testing.AllocsPerRun(50, func() { p.For(100, 1, fn) })
	if allocs > 0.5 {
		t.Fatalf("For allocates %.1f objects per call", allocs)
	}
}

// TestPoolAfterIdle runs loops back to back (workers polling) and after the
// workers have given up polling and blocked, then closes the pool.
func TestPoolAfterIdle(t *testing.T) {
	p := NewPool(3)
	for round := 0; round < 3; round++ {
		for i := 0; i < 50; i++ {
			var sum atomic.Int64
			p.For(1000, 7, func(lo, hi int) {
				for j := lo; j < hi; j++ {
					sum.Add(int64(j))
				}
			})
			if got := sum.Load(); got != 999*1000/2 {
				t.Fatalf("round %d loop %d: sum %d", round, i, got)
			}
		}
		time.Sleep(3 * poolSpin) // let the workers block
	}
	p.Close()
}

// TestPoolSideBySide: a For started while another is in flight on a
// two-thread pool runs inline, in one chunk on its caller; alone it splits.
func TestPoolSideBySide(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	var calls atomic.Int32
	p.For(64, 1, func(lo, hi int) { calls.Add(1) })
	if calls.Load() != 2 {
		t.Fatalf("alone: %d chunks, want 2", calls.Load())
	}
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		p.For(1, 1, func(lo, hi int) { close(started); <-release }) // one chunk: holds the caller
		close(done)
	}()
	<-started
	calls.Store(0)
	var spans [][2]int
	p.For(64, 1, func(lo, hi int) { calls.Add(1); spans = append(spans, [2]int{lo, hi}) })
	close(release)
	<-done
	if calls.Load() != 1 || spans[0] != [2]int{0, 64} {
		t.Fatalf("beside another loop: chunks %v, want one [0 64)", spans)
	}
}

// Items gives each thread one share of the batch, and the loops inside a
// share run on its thread; one item keeps the pool for its own loops.
func TestPoolItems(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	for _, n := range []int{1, 2, 3, 5} {
		hits := make([]int32, n)
		var shares, nestedSplit atomic.Int32
		p.Items(n, func(lo, hi int) {
			shares.Add(1)
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&hits[i], 1)
			}
			var calls atomic.Int32
			p.For(64, 1, func(int, int) { calls.Add(1) })
			if calls.Load() > 1 {
				nestedSplit.Add(1)
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: item %d run %d times", n, i, h)
			}
		}
		want := int32(min(n, 2))
		if shares.Load() != want {
			t.Errorf("n=%d: %d shares, want %d", n, shares.Load(), want)
		}
		if n == 1 && nestedSplit.Load() != 1 {
			t.Errorf("n=1: the one item's loop ran on one thread")
		}
		if n > 1 && nestedSplit.Load() != 0 {
			t.Errorf("n=%d: a share's loop was split across threads", n)
		}
	}
}

func TestPoolEach(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	for _, n := range []int{0, 1, 2, 7} {
		hits := make([]int32, n)
		p.Each(n, func(i int) { atomic.AddInt32(&hits[i], 1) })
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: item %d run %d times", n, i, h)
			}
		}
	}
}

// TestPoolTeam: members run at once and meet at barriers (each reads what
// the others wrote before the barrier, over many rounds, some members slow),
// loops their kernels start run on their own thread, and the team shrinks
// to the threads free.
func TestPoolTeam(t *testing.T) {
	for _, threads := range []int{2, 3} {
		p := NewPool(threads)
		const rounds = 300
		slots := make([]int, threads)
		bad := atomic.Int32{}
		nestedSplit := atomic.Int32{}
		gotParts := 0
		p.Team(threads, func(part, parts int, bar *Barrier) {
			if part == 0 {
				gotParts = parts
			}
			for r := 1; r <= rounds; r++ {
				if r%50 == part {
					time.Sleep(200 * time.Microsecond) // outlast the barrier's polling
				}
				slots[part] = r
				bar.Wait()
				for q := range parts {
					if slots[q] != r {
						bad.Add(1)
					}
				}
				bar.Wait()
			}
			p.For(100, 1, func(lo, hi int) {
				if lo != 0 || hi != 100 {
					nestedSplit.Add(1)
				}
			})
		})
		if gotParts != threads || bad.Load() != 0 || nestedSplit.Load() != 0 {
			t.Errorf("%d threads: %d parts, %d stale reads after a barrier, %d nested loops split", threads, gotParts, bad.Load(), nestedSplit.Load())
		}
		// Another loop in flight leaves one thread fewer.
		p.For(2, 1, func(lo, hi int) {
			if lo != 0 {
				return
			}
			p.Team(threads, func(part, parts int, bar *Barrier) {
				bar.Wait()
				if part == 0 && parts != threads-1 {
					t.Errorf("%d threads, a loop in flight: team of %d", threads, parts)
				}
			})
		})
		p.Close()
	}
	// A team that finds every thread taken runs alone and counts as a job
	// in flight: a loop or team started beside it keeps to one thread.
	two := NewPool(2)
	two.Team(2, func(part, parts int, bar *Barrier) {
		if part != 0 {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			two.Team(2, func(part, parts int, bar *Barrier) {
				if parts != 1 {
					t.Errorf("a team beside a full team: %d parts", parts)
				}
				if got := two.inFlight.Load(); got != 3 {
					t.Errorf("a team alone beside a full team: %d in flight, want 3", got)
				}
			})
		}()
		<-done
	})
	if got := two.inFlight.Load(); got != 0 {
		t.Errorf("after the teams: %d in flight", got)
	}
	two.Close()
	one := NewPool(1)
	defer one.Close()
	one.Team(2, func(part, parts int, bar *Barrier) {
		bar.Wait()
		if part != 0 || parts != 1 {
			t.Errorf("1-thread pool: part %d of %d", part, parts)
		}
	})
}

// TestPoolTeamMembersRunOnce: each member runs exactly once whether a
// worker or the member's own goroutine takes it — with the worker free (and
// still polling after a loop), and with the worker held by a task that only
// ends after the team does (the member must not wait for it).
func TestPoolTeamMembersRunOnce(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for round := range 500 {
		if round%2 == 0 {
			p.For(64, 1, func(lo, hi int) {}) // leaves the workers polling
		}
		var runs [3]atomic.Int32
		p.Team(3, func(part, parts int, bar *Barrier) {
			runs[part].Add(1)
			bar.Wait()
		})
		for part := range runs {
			if n := runs[part].Load(); n != 1 {
				t.Fatalf("round %d: part %d ran %d times", round, part, n)
			}
		}
	}
	two := NewPool(2)
	defer two.Close()
	release, held := make(chan struct{}), make(chan struct{})
	two.work <- poolTask{fn: func(int, int) { close(held); <-release }}
	<-held // the one worker is busy until the team below has finished
	var runs [2]atomic.Int32
	two.Team(2, func(part, parts int, bar *Barrier) {
		if parts != 2 {
			t.Errorf("held worker: team of %d", parts)
		}
		runs[part].Add(1)
		bar.Wait()
	})
	close(release)
	two.For(8, 1, func(lo, hi int) {}) // the worker takes the stale offer first, if still queued
	if runs[0].Load() != 1 || runs[1].Load() != 1 {
		t.Errorf("held worker: parts ran %d and %d times", runs[0].Load(), runs[1].Load())
	}
}

func TestBand(t *testing.T) {
	for _, n := range []int{0, 1, 7, 64, 1001} {
		for _, align := range []int{1, 8} {
			for parts := 1; parts <= 4; parts++ {
				next := 0
				for part := range parts {
					lo, hi := Band(n, align, part, parts)
					if lo != next || hi < lo || (hi != n && hi%align != 0) {
						t.Fatalf("Band(%d, %d, %d, %d) = [%d, %d), want from %d", n, align, part, parts, lo, hi, next)
					}
					next = hi
				}
				if next != n {
					t.Fatalf("Band(%d, %d, ·, %d) ends at %d", n, align, parts, next)
				}
			}
		}
	}
}
