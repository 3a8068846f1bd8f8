package hub

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A transfer that stops sending (the connection stays open) is cut after
// StallTimeout and resumed from the bytes already on disk.
func TestStalledTransferResumes(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	sum := sha256.Sum256(content)
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		if n == 1 {
			w.Header().Set("Content-Length", fmt.Sprint(len(content)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(content[:len(content)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // stall until the client gives up
			return
		}
		var start int
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &start); err != nil || start != len(content)/2 {
			t.Errorf("resume asked for %q", r.Header.Get("Range"))
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(content)-1, len(content)))
		w.Header().Set("Content-Length", fmt.Sprint(len(content)-start))
		w.WriteHeader(http.StatusPartialContent)
		_, _ = w.Write(content[start:])
	}))
	defer srv.Close()
	var progress bytes.Buffer
	c := New(srv.URL, "", &progress)
	c.StallTimeout = 200 * time.Millisecond
	dest := filepath.Join(t.TempDir(), "model.gguf")
	start := time.Now()
	if err := c.Download(t.Context(), srv.URL+"/model.gguf", dest); err != nil {
		t.Fatalf("download: %v\n%s", err, progress.String())
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, content) || requests.Load() != 2 {
		t.Fatalf("%d bytes after %d requests", len(got), requests.Load())
	}
	if !strings.Contains(progress.String(), "no data received for 200ms") || !strings.Contains(progress.String(), "resuming") {
		t.Fatalf("progress does not say it stalled and resumed:\n%s", progress.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s", d)
	}
}

func TestNewSetsTimeouts(t *testing.T) {
	c := New("https://hub.example", "tok", os.Stderr)
	tr, ok := c.HTTP.Transport.(*http.Transport)
	if !ok || tr.ResponseHeaderTimeout == 0 || tr.TLSHandshakeTimeout == 0 || c.StallTimeout == 0 || c.Retries < 1 {
		t.Fatalf("client without timeouts: %+v %+v", c, tr)
	}
}
