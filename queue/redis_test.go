package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/loomhq/loom/queue"
	"github.com/loomhq/loom/queue/queuetest"
)

// redisURL is the test server (make redis-up); without one the Redis tests
// skip, except under CI where a missing server is a failure.
func redisURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("LOOM_TEST_REDIS")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("LOOM_TEST_REDIS is not set but CI is: the Redis backend must be tested (make redis-up)")
		}
		t.Skip("LOOM_TEST_REDIS not set: skipping the Redis backend (make redis-up; LOOM_TEST_REDIS=redis://127.0.0.1:6390/0)")
	}
	return url
}

// newRedis opens a queue under a fresh key prefix and deletes its keys when
// t ends, so parallel tests and repeated runs never see each other's jobs.
func newRedis(t *testing.T, url string, opts queue.Options) *queue.Redis {
	t.Helper()
	opts.Prefix = "loomtest:" + queue.NewID() + ":"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := queue.NewRedis(ctx, url, opts)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c := q.Client()
		var keys []string
		iter := c.Scan(ctx, 0, opts.Prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		_ = q.Close()
	})
	return q
}

func TestRedisConformance(t *testing.T) {
	url := redisURL(t)
	queuetest.Run(t, func(t *testing.T, opts queue.Options) queue.Queue {
		return newRedis(t, url, opts)
	})
}

// startRedis runs a private redis-server with an append-only file in dir,
// so a restart keeps the data, and returns its URL and a stop function.
func startRedis(t *testing.T, dir string, port int) (string, func()) {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	opt, _ := redis.ParseURL(url)
	c := redis.NewClient(opt)
	defer c.Close()
	for i := 0; ; i++ { // a plain dial: go-redis would log every refused attempt
		if conn, err := net.Dial("tcp", opt.Addr); err == nil {
			conn.Close()
			if c.Ping(context.Background()).Err() == nil {
				break
			}
		}
		if i > 200 {
			t.Fatalf("redis-server on port %d did not answer", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // redis-server syncs its AOF and exits
		_ = cmd.Wait()
	}
	return url, stop
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A Redis restart (with its data kept) loses no job: the same clients
// reconnect, the queued job is delivered, the running one keeps its lease
// through heartbeats and completes.
func TestRedisRestart(t *testing.T) {
	redisURL(t) // same skip/fail rule as the other Redis tests
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH")
	}
	dir, port := t.TempDir(), freePort(t)
	url, stop := startRedis(t, dir, port)
	ctx := t.Context()
	// Not newRedis: its cleanup would talk to the server after it stopped.
	q, err := queue.NewRedis(ctx, url, queue.Options{LeaseDuration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	a, _, err := q.Enqueue(ctx, queue.Job{Task: "t", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := q.Enqueue(ctx, queue.Job{Task: "t", Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	la, err := q.Dequeue(ctx, "w1", []queue.Lane{{Task: "t"}})
	if err != nil || la.Job.ID != a.Job.ID {
		t.Fatalf("dequeue: %+v %v", la, err)
	}
	stop()
	url2, stop2 := startRedis(t, dir, port)
	defer stop2()
	if url2 != url {
		t.Fatal("port changed")
	}
	// The first calls after the restart may see the dropped connections.
	var lb *queue.Lease
	for i := 0; ; i++ {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		lb, err = q.Dequeue(dctx, "w2", []queue.Lane{{Task: "t"}})
		cancel()
		if err == nil || i > 20 {
			break
		}
	}
	if err != nil || lb.Job.ID != b.Job.ID || lb.Attempt != 1 {
		t.Fatalf("dequeue after restart: %+v %v", lb, err)
	}
	if err := q.Heartbeat(ctx, la); err != nil {
		t.Fatalf("heartbeat of a lease from before the restart: %v", err)
	}
	for _, l := range []*queue.Lease{la, lb} {
		if err := q.Complete(ctx, l, queue.Result{Output: json.RawMessage(`"ok"`)}); err != nil {
			t.Fatalf("complete %s: %v", l.Job.ID, err)
		}
	}
	for _, id := range []string{a.Job.ID, b.Job.ID} {
		if st, err := q.Get(ctx, id); err != nil || st.Status != queue.StatusSucceeded || st.Attempt != 1 {
			t.Fatalf("job %s after restart: %+v %v", id, st, err)
		}
	}
}

// A lost consumer group (Redis restarted without its data, or an operator
// destroyed it) is made again; a running job's holder keeps its lease, and
// when the holder is gone the job is redelivered after one lease.
func TestRedisGroupRecreated(t *testing.T) {
	url := redisURL(t)
	ctx := t.Context()
	opts := queue.Options{LeaseDuration: 300 * time.Millisecond}
	q := newRedis(t, url, opts)
	// Another process's client: a second worker machine.
	q2, err := queue.NewRedis(ctx, url, q.Options())
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	run, _, _ := q.Enqueue(ctx, queue.Job{Task: "t", Seed: 1})
	l1, err := q.Dequeue(ctx, "w1", []queue.Lane{{Task: "t"}})
	if err != nil || l1.Job.ID != run.Job.ID {
		t.Fatalf("dequeue: %+v %v", l1, err)
	}
	queued, _, _ := q.Enqueue(ctx, queue.Job{Task: "t", Seed: 2})
	stream := q.Options().Prefix + "q:t::normal"
	if err := q.Client().XGroupDestroy(ctx, stream, "loom").Err(); err != nil {
		t.Fatal(err)
	}
	l2, err := q2.Dequeue(ctx, "w2", []queue.Lane{{Task: "t"}})
	if err != nil || l2.Job.ID != queued.Job.ID || l2.Attempt != 1 {
		t.Fatalf("dequeue after the group was lost: %+v %v; want the queued job", l2, err)
	}
	if err := q.Heartbeat(ctx, l1); err != nil {
		t.Fatalf("heartbeat of the running job after the group was lost: %v", err)
	}
	// w1 dies now; w2 takes its job over once the lease lapses.
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l3, err := q2.Dequeue(dctx, "w2", []queue.Lane{{Task: "t"}})
	if err != nil || l3.Job.ID != run.Job.ID || l3.Attempt != 2 {
		t.Fatalf("takeover: %+v %v", l3, err)
	}
	if err := q.Complete(ctx, l1, queue.Result{}); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("dead worker's complete: %v, want ErrLeaseLost", err)
	}
	for _, l := range []*queue.Lease{l2, l3} {
		if err := q2.Complete(ctx, l, queue.Result{}); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := q.Depth(ctx, "t"); err != nil || d != 0 {
		t.Fatalf("depth %d %v", d, err)
	}
}
