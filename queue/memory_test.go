package queue_test

import (
	"testing"

	"github.com/loomhq/loom/queue"
	"github.com/loomhq/loom/queue/queuetest"
)

func TestMemoryConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, opts queue.Options) queue.Queue {
		q := queue.NewMemory(opts)
		t.Cleanup(func() { _ = q.Close() })
		return q
	})
}
