package queue_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom/queue"
)

// stallProxy forwards TCP to a Redis server but, on each connection, stops
// passing the server's replies once the client has sent an XREAD: the
// blocked read a busy or faulty server never answers.
type stallProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	xreads int
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{l: l, target: target}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		var stalled sync.Mutex
		stall := false
		go func() { // client → server, watching for XREAD
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if bytes.Contains(bytes.ToLower(buf[:n]), []byte("xread")) {
						stalled.Lock()
						stall = true
						stalled.Unlock()
						p.mu.Lock()
						p.xreads++
						p.mu.Unlock()
					}
					if _, werr := s.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					s.Close()
					return
				}
			}
		}()
		go func() { // server → client, until the first XREAD
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				stalled.Lock()
				st := stall
				stalled.Unlock()
				if st {
					_, _ = io.Copy(io.Discard, s)
					return
				}
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					c.Close()
					return
				}
			}
		}()
	}
}

func (p *stallProxy) close() {
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// An Events wait whose blocking read Redis never answers ends at its own
// deadline plus blockGrace (1s), with the events the stream holds, instead of
// failing after go-redis's Block+10s read timeout (a CI run saw exactly
// that: "queue unavailable: … i/o timeout" after 10.16s on a 150ms wait).
func TestRedisEventsStalledRead(t *testing.T) {
	url := redisURL(t)
	addr := strings.TrimPrefix(url, "redis://")
	addr, _, _ = strings.Cut(addr, "/")
	if i := strings.LastIndex(addr, "@"); i >= 0 {
		addr = addr[i+1:]
	}
	p := newStallProxy(t, addr)
	q := newRedis(t, "redis://"+p.l.Addr().String()+"/0", queue.Options{LeaseDuration: time.Minute})
	ctx := t.Context()
	st, _, err := q.Enqueue(ctx, queue.Job{Task: "t"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	evs, err := q.Events(ctx, st.Job.ID, 1, 150*time.Millisecond)
	if err != nil || len(evs) != 0 {
		t.Fatalf("wait on a stalled read: %+v, %v", evs, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a 150ms wait on a stalled read took %s", d)
	}
	p.mu.Lock()
	n := p.xreads
	p.mu.Unlock()
	if n == 0 {
		t.Fatal("the wait sent no XREAD: the proxy stalled nothing")
	}
	// The other client is unaffected: an event published now is read at once.
	l, err := q.Dequeue(ctx, "w", []queue.Lane{{Task: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(ctx, l, queue.EventDelta, map[string]string{"text": "x"}); err != nil {
		t.Fatal(err)
	}
	evs, err = q.Events(ctx, st.Job.ID, 1, 5*time.Second)
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Type != queue.EventDelta {
		t.Fatalf("events after the stall: %+v, %v", evs, err)
	}
}
