package gateway

import (
	"context"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/queue"
)

// holdStream waits, before a stream answers 200, until the job shows its
// first output (a delta) or ends, for at most cfg.StreamHold. A job that
// fails first — a prompt longer than the model's context, params the plugin
// refuses, a missing model — fails the request with its real status and
// code, as the non-streamed call would, instead of an error event inside a
// 200 stream that SDKs cannot map to a status. A job still queued or
// prefilling at the deadline gets its stream opened anyway.
func (s *Server) holdStream(c *gin.Context, st *queue.JobState) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.StreamHold)
	defer cancel()
	var after int64
	for {
		evs, err := s.q.Events(ctx, st.Job.ID, after, time.Until(deadlineOf(ctx)))
		if ctx.Err() != nil {
			if c.Request.Context().Err() != nil {
				return c.Request.Context().Err()
			}
			return nil // held long enough: stream what comes
		}
		if err != nil {
			return err
		}
		for _, e := range evs {
			after = e.Seq
			switch {
			case e.Type == queue.EventDelta || e.Type == queue.EventResult:
				return nil
			case e.Terminal():
				final, err := s.q.Get(c.Request.Context(), st.Job.ID)
				if err != nil {
					return err
				}
				s.metrics.observeFinished(final)
				return jobOutcome(final)
			}
		}
	}
}

func deadlineOf(ctx context.Context) time.Time {
	dl, _ := ctx.Deadline()
	return dl
}
