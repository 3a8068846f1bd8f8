package gateway

// Short-lived signed URLs for job artifacts (images.generate with
// response_format=url): GET /v1/files/{job}/{name}?expires=T&caller=C&sig=S.
// The URL is its own credential — a browser or <img> fetches it without an
// Authorization header — so it is bound to what makes it safe to hand out:
// the artifact, an expiry (Config.FileURLTTL, default one hour), and the
// caller it was minted for. With API keys configured that caller is the key's
// id, and a URL whose key has since been removed from the gateway's keys no
// longer opens. The HMAC secret is Config.URLSecret; unset, it is derived
// from the API keys (so every gateway of a fleet with the same keys signs
// alike), or without keys drawn at random per process (then set
// --url-secret for several gateways).

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
)

func (s *Server) registerFiles(r *gin.Engine) {
	r.GET("/v1/files/:job/:name", s.serveFile)
}

// urlSecret is the HMAC key of signed URLs (see the package comment above).
func urlSecret(cfg Config) []byte {
	if len(cfg.URLSecret) > 0 {
		return []byte(cfg.URLSecret)
	}
	if len(cfg.APIKeys) > 0 {
		keys := slices.Clone(cfg.APIKeys)
		slices.Sort(keys)
		h := sha256.New()
		h.Write([]byte("loom signed urls\x00"))
		for _, k := range keys {
			h.Write([]byte(k))
			h.Write([]byte{0})
		}
		return h.Sum(nil)
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

func (s *Server) fileSignature(job, name, caller string, expires int64) string {
	m := hmac.New(sha256.New, s.urlKey)
	m.Write([]byte(job + "\x00" + name + "\x00" + caller + "\x00" + strconv.FormatInt(expires, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// fileURL is the absolute signed URL of a job's artifact for the caller of c.
func (s *Server) fileURL(c *gin.Context, job, name string) string {
	caller := c.GetString(ctxKeyID)
	expires := s.cfg.Now().Add(s.cfg.FileURLTTL).Unix()
	q := url.Values{"expires": {strconv.FormatInt(expires, 10)}, "caller": {caller},
		"sig": {s.fileSignature(job, name, caller, expires)}}
	return s.publicBase(c) + "/v1/files/" + url.PathEscape(job) + "/" + url.PathEscape(name) + "?" + q.Encode()
}

// publicBase is Config.PublicURL, else the scheme and host the request came to.
func (s *Server) publicBase(c *gin.Context) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if c.Request.TLS != nil || c.GetHeader("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// serveFile answers a signed URL with the artifact's bytes.
func (s *Server) serveFile(c *gin.Context) {
	job, name := c.Param("job"), c.Param("name")
	expires, err := strconv.ParseInt(c.Query("expires"), 10, 64)
	caller, sig := c.Query("caller"), c.Query("sig")
	want := s.fileSignature(job, name, caller, expires)
	switch {
	case err != nil || sig == "" || !hmac.Equal([]byte(sig), []byte(want)):
		_ = c.Error(apiErrorf(http.StatusForbidden, sdk.CodeInvalidSignature, "the URL's signature does not match; ask for a new one"))
		return
	case s.cfg.Now().Unix() > expires:
		_ = c.Error(apiErrorf(http.StatusForbidden, sdk.CodeURLExpired, "the URL expired at %s; ask for a new one", time.Unix(expires, 0).UTC().Format(time.RFC3339)))
		return
	case len(s.cfg.APIKeys) > 0 && !s.liveCaller(caller):
		_ = c.Error(apiErrorf(http.StatusForbidden, sdk.CodeInvalidAPIKey, "the API key this URL was made for is no longer accepted"))
		return
	}
	st, err := s.q.Get(c.Request.Context(), job)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if st.Result != nil {
		for _, a := range st.Result.Artifacts {
			if a.Name == name {
				c.Header("Cache-Control", "private, max-age="+strconv.FormatInt(max(0, expires-s.cfg.Now().Unix()), 10))
				c.Data(http.StatusOK, a.MIME, a.Data)
				return
			}
		}
	}
	_ = c.Error(apiErrorf(http.StatusNotFound, sdk.CodeNotFound, "job %s has no file %q (results are kept for the queue's TTL)", job, name))
}

// liveCaller reports whether caller is the id of a configured API key.
func (s *Server) liveCaller(caller string) bool {
	for _, k := range s.cfg.APIKeys {
		if keyID(k) == caller {
			return true
		}
	}
	return false
}
