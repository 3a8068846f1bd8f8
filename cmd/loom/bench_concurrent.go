package main

import (
	"cmp"
	"context"
	"sync"
	"sync/atomic"
)

// eachConcurrent calls fn(i) for every i in [0, n) from c goroutines, each
// taking the next i when it has finished its last: c requests in flight at
// once, as a server's clients would keep them. After an error, or once ctx
// ends, no further i starts; it returns the first error.
func eachConcurrent(ctx context.Context, n, c int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
