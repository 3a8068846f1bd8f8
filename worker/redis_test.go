package worker_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
	"github.com/loomhq/loom/worker"
)

// The worker against the Redis backend: events, result, and a cancel that
// reaches the running engine within a second.
func TestRedisEndToEnd(t *testing.T) {
	url := os.Getenv("LOOM_TEST_REDIS")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("LOOM_TEST_REDIS is not set but CI is (make redis-up)")
		}
		t.Skip("LOOM_TEST_REDIS not set: skipping the worker on Redis")
	}
	q, err := queue.NewRedis(t.Context(), url, queue.Options{LeaseDuration: lease, Prefix: "loomtest:" + queue.NewID() + ":"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() }) // registered first, so it runs after the worker stopped
	stopped := make(chan time.Time, 1)
	eng := textEngine(func(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
		if job.Seed == 1 {
			<-ctx.Done()
			stopped <- time.Now()
			return ctx.Err()
		}
		if err := emit(sdk.Event{Kind: sdk.EventDelta, Text: "hi"}); err != nil {
			return err
		}
		return result(emit, "hi")
	})
	h := startOn(t, q, map[string]sdk.Engine{"text": eng}, worker.Config{})
	evs, st := h.wait(t, h.enqueue(t, queue.Job{}))
	if tp := types(evs); !slices.Equal(tp, []string{"queued", "started", "delta", "result"}) || st.Status != queue.StatusSucceeded ||
		string(st.Result.Output) != `{"text":"hi"}` {
		t.Fatalf("events %v state %+v", tp, st)
	}
	id := h.enqueue(t, queue.Job{Seed: 1})
	waitRunning(t, q, id)
	at := time.Now()
	if _, err := q.Cancel(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-stopped:
		if d := s.Sub(at); d > time.Second {
			t.Fatalf("cancel reached the engine after %s", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("cancel never reached the engine")
	}
	h.stop(t) // before deleting keys, so no slot re-creates a stream
	c := q.Client()
	keys, _ := c.Keys(context.Background(), q.Options().Prefix+"*").Result()
	t.Cleanup(func() { c.Del(context.Background(), keys...) })
}
