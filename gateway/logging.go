package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
)

// ctxRequestID is where requestLog leaves the request's id.
const ctxRequestID = "loom.request_id"

// requestIDHeader carries the id both ways: a client (or a proxy in front)
// may send one; otherwise the gateway makes one. It is answered on every
// response, stored in the jobs the request enqueues (so the worker's lines
// name it too) and on every log line about the request.
const requestIDHeader = "X-Request-Id"

// validRequestID accepts what a proxy typically sends (a UUID, a hex or
// base64-ish token) and nothing that could forge a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestLog gives the request its id and logs one line when it ends:
// method, path, status, time taken, and the job it made or read, if any.
func (s *Server) requestLog(c *gin.Context) {
	id := c.GetHeader(requestIDHeader)
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Set(ctxRequestID, id)
	c.Header(requestIDHeader, id)
	start := time.Now()
	c.Next()
	s.log(c).Info("request", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", c.Writer.Status(), "took", time.Since(start).Round(time.Microsecond))
}

// log is the logger for lines about this request: its request id and, once
// the request enqueued or named a job, the job's id.
func (s *Server) log(c *gin.Context) *slog.Logger {
	l := s.cfg.Logger.With("request_id", c.GetString(ctxRequestID))
	if job := c.Writer.Header().Get("X-Loom-Job-Id"); job != "" {
		l = l.With("job", job)
	} else if job := c.Param("id"); job != "" {
		l = l.With("job", job)
	}
	return l
}

// recovered answers a handler's panic with a plain 500 and logs the panic
// with its stack (the client never sees either).
func (s *Server) recovered(c *gin.Context, err any) {
	s.log(c).Error("handler panic", "method", c.Request.Method, "path", c.Request.URL.Path, "panic", err, "stack", string(debug.Stack()))
	if !c.Writer.Written() {
		c.AbortWithStatusJSON(http.StatusInternalServerError, apiErrorf(http.StatusInternalServerError, sdk.CodeInternal, "internal error").body())
	}
}
