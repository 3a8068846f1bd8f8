package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/queue"
)

// ctxKeyID is where auth leaves a short, non-secret id of the caller's key
// (used to scope jobs, idempotency keys and rate limits); ctxAdmin is true
// for an admin key.
const (
	ctxKeyID = "loom.key_id"
	ctxAdmin = "loom.admin"
)

// auth checks the Bearer key when keys are configured and applies the
// caller's token bucket.
func (s *Server) auth(c *gin.Context) {
	caller := "ip:" + c.ClientIP()
	if len(s.cfg.APIKeys) > 0 {
		key, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok || !s.validKey(key) {
			_ = c.Error(apiErrorf(http.StatusUnauthorized, sdk.CodeInvalidAPIKey, "missing or invalid API key (send Authorization: Bearer KEY)"))
			c.Abort()
			return
		}
		caller = keyID(key)
		c.Set(ctxAdmin, s.isAdmin(key))
	}
	c.Set(ctxKeyID, caller)
	if wait, ok := s.limiter.take(caller); !ok {
		e := apiErrorf(http.StatusTooManyRequests, sdk.CodeRateLimited, "rate limit of %g requests/s exceeded", s.cfg.RateLimit)
		e.RetryAfter = wait
		_ = c.Error(e)
		c.Abort()
		return
	}
	c.Next()
}

// keyID is the short, non-secret id of an API key.
func keyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "key:" + hex.EncodeToString(sum[:8])
}

// bearerToken reads "Bearer KEY"; the scheme is case-insensitive (RFC 9110
// §11.1), so "bearer KEY" works as well.
func bearerToken(h string) (string, bool) {
	scheme, key, ok := strings.Cut(strings.TrimSpace(h), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return "", false
	}
	return key, true
}

// isAdmin reports whether key is one of the admin keys (constant time, as
// validKey).
func (s *Server) isAdmin(key string) bool {
	ok := 0
	for _, k := range s.cfg.AdminKeys {
		ok |= subtle.ConstantTimeCompare([]byte(k), []byte(key))
	}
	return ok == 1
}

// owns reports whether the caller may see job st: without API keys anyone
// may; with them a job belongs to the key that made it, and an admin key
// sees every job.
func (s *Server) owns(c *gin.Context, st *queue.JobState) bool {
	return len(s.cfg.APIKeys) == 0 || c.GetBool(ctxAdmin) || st.Job.Owner == c.GetString(ctxKeyID)
}

// jobOf reads job id for the caller: another key's job answers exactly as a
// job that does not exist (404 job_not_found), so ids reveal nothing.
func (s *Server) jobOf(c *gin.Context, id string) (*queue.JobState, error) {
	st, err := s.q.Get(c.Request.Context(), id)
	if err != nil {
		return nil, err
	}
	if !s.owns(c, st) {
		return nil, queue.ErrNotFound
	}
	return st, nil
}

// validKey compares against every key in constant time so timing does not
// reveal a prefix.
func (s *Server) validKey(key string) bool {
	ok := 0
	for _, k := range s.cfg.APIKeys {
		ok |= subtle.ConstantTimeCompare([]byte(k), []byte(key))
	}
	return ok == 1
}

// keyLimiter is a token bucket per caller: rate tokens per second, at most
// burst saved up.
type keyLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newKeyLimiter(rate float64, burst int, now func() time.Time) *keyLimiter {
	return &keyLimiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// take spends one token; when none is left it reports how long until one is.
func (l *keyLimiter) take(caller string) (time.Duration, bool) {
	if l.rate <= 0 {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[caller]
	if b == nil {
		if len(l.buckets) > 100_000 {
			// Bound memory under many distinct callers: forget full buckets.
			for k, ob := range l.buckets {
				if ob.tokens+now.Sub(ob.last).Seconds()*l.rate >= l.burst {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[caller] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}
