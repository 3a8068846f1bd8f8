package gateway

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/queue"
)

// maxJobList is the most jobs GET /v1/jobs returns at once.
const maxJobList = 100

// listJobs is GET /v1/jobs[?task=T][&limit=N]: the caller's jobs, newest
// first, without artifact bytes (GET /v1/jobs/{id} has them). Without task it
// lists every task a live worker or a lane knows. The web playground's Jobs
// page reads it.
func (s *Server) listJobs(c *gin.Context) {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxJobList {
			_ = c.Error(badRequest("limit: %q is not an integer in [1, %d]", v, maxJobList))
			return
		}
		limit = n
	}
	var taskNames []string
	if t := c.Query("task"); t != "" {
		taskNames = []string{t}
	} else {
		_, known, err := s.models.snapshot(c.Request.Context(), false)
		if err != nil {
			_ = c.Error(err)
			return
		}
		for t := range known {
			taskNames = append(taskNames, t)
		}
		for _, l := range s.models.laneStats() {
			if !slices.Contains(taskNames, l.Task) {
				taskNames = append(taskNames, l.Task)
			}
		}
	}
	var all []*queue.JobState
	for _, t := range taskNames {
		sts, _, err := s.q.List(c.Request.Context(), queue.ListQuery{Task: t, Owner: c.GetString(ctxKeyID), Limit: limit, Desc: true})
		if errors.Is(err, queue.ErrNotFound) {
			continue
		}
		if err != nil {
			_ = c.Error(err)
			return
		}
		all = append(all, sts...)
	}
	slices.SortFunc(all, func(a, b *queue.JobState) int {
		if c := cmp.Compare(b.CreatedAt.UnixMilli(), a.CreatedAt.UnixMilli()); c != 0 {
			return c
		}
		return cmp.Compare(b.Job.ID, a.Job.ID)
	})
	more := len(all) > limit
	all = all[:min(len(all), limit)]
	data := make([]jobListItem, 0, len(all))
	for _, st := range all {
		data = append(data, jobListItem{jobView: viewJob(st, false), Progress: progressOf(c, s, st)})
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": data, "has_more": more})
}

// jobListItem is a job in GET /v1/jobs: its view plus, while it runs, its
// last progress event.
type jobListItem struct {
	jobView
	Progress *progressView `json:"progress,omitempty"`
}

type progressView struct {
	Step  int `json:"step"`
	Total int `json:"total"`
}

// progressOf reads a running job's last progress event (nil for any other
// status, or when it has sent none).
func progressOf(c *gin.Context, s *Server, st *queue.JobState) *progressView {
	if st.Status != queue.StatusRunning {
		return nil
	}
	evs, err := s.q.Events(c.Request.Context(), st.Job.ID, 0, 0)
	if err != nil {
		return nil
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == queue.EventProgress {
			var p progressView
			if json.Unmarshal(evs[i].Data, &p) == nil && p.Total > 0 {
				return &p
			}
			return nil
		}
	}
	return nil
}
