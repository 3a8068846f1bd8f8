package queue_test

import (
	"context"
	"os"
	"testing"
	"time"

	"loom/queue"
	"loom/queue/queuetest"
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
