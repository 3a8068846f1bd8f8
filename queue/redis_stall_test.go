package queue_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loomhq/loom/queue"
)

// stallProxy forwards TCP to a Redis server but, on each connection, stops
// passing the server's replies once the client has sent a blocking read
// (XREAD or BLPOP): the blocked read a busy or faulty server never answers.
type stallProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	reads  int // blocking reads seen
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
		go func() { // client → server, watching for blocking reads
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					// The command's name as its own RESP bulk string: a Lua
					// script's text (EVAL on a server that has not cached it)
					// mentions XREADGROUP and must pass.
					low := bytes.ToLower(buf[:n])
					if bytes.Contains(low, []byte("\r\nxread\r\n")) || bytes.Contains(low, []byte("\r\nblpop\r\n")) {
						stalled.Lock()
						stall = true
						stalled.Unlock()
						p.mu.Lock()
						p.reads++
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
		go func() { // server → client, until the first blocking read
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

// stalledRedis is a queue on the test server reached through a stallProxy.
func stalledRedis(t *testing.T) (*queue.Redis, *stallProxy) {
	t.Helper()
	addr := strings.TrimPrefix(redisURL(t), "redis://")
	addr, _, _ = strings.Cut(addr, "/")
	if i := strings.LastIndex(addr, "@"); i >= 0 {
		addr = addr[i+1:]
	}
	p := newStallProxy(t, addr)
	return newRedis(t, "redis://"+p.l.Addr().String()+"/0", queue.Options{LeaseDuration: time.Minute}), p
}

// seen is how many blocking reads the proxy has stalled.
func (p *stallProxy) seen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reads
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
	q, p := stalledRedis(t)
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
	if p.seen() == 0 {
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

// A Dequeue whose BLPOP Redis never answers looks at the queue again after
// the wait plus blockGrace: a job enqueued meanwhile is leased within about
// a second (go-redis's 3s read timeout and a pause before), and a canceled
// context still ends the wait promptly.
func TestRedisDequeueStalledRead(t *testing.T) {
	q, p := stalledRedis(t)
	ctx := t.Context()
	go func() {
		time.Sleep(400 * time.Millisecond)
		_, _, _ = q.Enqueue(context.Background(), queue.Job{Task: "t"})
	}()
	start := time.Now()
	l, err := q.Dequeue(ctx, "w", []queue.Lane{{Task: "t"}})
	if err != nil {
		t.Fatalf("dequeue through a stalled wait: %v", err)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("job enqueued at 400ms leased after %s", d)
	}
	if p.seen() == 0 {
		t.Fatal("the dequeue sent no BLPOP: the proxy stalled nothing")
	}
	if l.Job.Task != "t" {
		t.Fatalf("leased %+v", l.Job)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := q.Dequeue(cctx, "w", []queue.Lane{{Task: "t"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dequeue on an empty queue with a 300ms context: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a 300ms context ended a stalled dequeue after %s", d)
	}
}
