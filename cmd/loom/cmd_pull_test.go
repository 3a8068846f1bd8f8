package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub serves a tiny Hugging Face-compatible hub: the tree API, resolve
// URLs that redirect to a CDN path with X-Linked-Etag (LFS files) or serve
// small files directly with their git blob id as ETag, and Range requests.
type fakeHub struct {
	repos map[string]map[string][]byte // repo → path → content
	lfs   map[string]bool              // paths stored in LFS
	// cutAfter, when > 0, aborts the next full (non-Range) body after that
	// many bytes, once.
	cutAfter int
	// badSHA makes the listing advertise a wrong sha256 for LFS files.
	badSHA bool

	mu     sync.Mutex
	ranges []string // Range headers seen on content requests
	auths  []string // Authorization headers seen on the hub (not the CDN)
}

func gitBlobSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/api/models/"); ok {
		h.mu.Lock()
		h.auths = append(h.auths, r.Header.Get("Authorization"))
		h.mu.Unlock()
		repo, _, _ := strings.Cut(rest, "/tree/")
		files, ok := h.repos[repo]
		if !ok {
			http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
			return
		}
		var list []map[string]any
		for path, b := range files {
			e := map[string]any{"type": "file", "path": path, "size": len(b), "oid": gitBlobSHA1(b)}
			if h.lfs[path] {
				sum := sha256Hex(b)
				if h.badSHA {
					sum = sha256Hex(append(b, 'x'))
				}
				e["lfs"] = map[string]any{"oid": sum, "size": len(b), "pointerSize": 134}
			}
			list = append(list, e)
		}
		list = append(list, map[string]any{"type": "directory", "path": "docs", "oid": "x", "size": 0})
		json.NewEncoder(w).Encode(list)
		return
	}
	if rest, ok := strings.CutPrefix(p, "/cdn/"); ok {
		repo, path, _ := strings.Cut(rest, "/-/")
		h.serveContent(w, r, h.repos[repo][path])
		return
	}
	// /OWNER/NAME/resolve/REV/PATH
	parts := strings.SplitN(strings.TrimPrefix(p, "/"), "/", 5)
	if len(parts) < 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	repo, path := parts[0]+"/"+parts[1], parts[4]
	b, ok := h.repos[repo][path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if h.lfs[path] {
		w.Header().Set("X-Linked-Etag", `"`+sha256Hex(b)+`"`)
		http.Redirect(w, r, "/cdn/"+repo+"/-/"+path, http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitBlobSHA1(b)+`"`)
	h.serveContent(w, r, b)
}

func (h *fakeHub) serveContent(w http.ResponseWriter, r *http.Request, b []byte) {
	h.mu.Lock()
	h.ranges = append(h.ranges, r.Header.Get("Range"))
	cut := h.cutAfter
	if r.Header.Get("Range") == "" && cut > 0 {
		h.cutAfter = 0
	} else {
		cut = 0
	}
	h.mu.Unlock()
	if cut > 0 && cut < len(b) {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

func newFakeHub(t *testing.T) (*fakeHub, *httptest.Server) {
	weights := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640 000 bytes
	h := &fakeHub{
		repos: map[string]map[string][]byte{
			"acme/tiny-GGUF": {"tiny-Q8_0.gguf": weights, "README.md": []byte("# tiny\n")},
			"acme/two-GGUF":  {"a.gguf": []byte("GGUFa"), "b.gguf": []byte("GGUFb")},
			"acme/tiny-hf": {
				"config.json":                      []byte(`{"architectures":["LlamaForCausalLM"]}`),
				"tokenizer.json":                   []byte(`{"model":{"type":"BPE"}}`),
				"model-00001-of-00002.safetensors": weights[:1000],
				"model-00002-of-00002.safetensors": weights[1000:3000],
				"model.safetensors.index.json":     []byte(`{"weight_map":{}}`),
				"README.md":                        []byte("skip me"),
				"pytorch_model.bin":                []byte("skip me too"),
			},
		},
		lfs: map[string]bool{"tiny-Q8_0.gguf": true, "model-00001-of-00002.safetensors": true, "model-00002-of-00002.safetensors": true},
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func pull(t *testing.T, srv *httptest.Server, args ...string) (int, string, string) {
	t.Helper()
	var so, se bytes.Buffer
	code := runMain(append([]string{"pull", "--endpoint", srv.URL}, args...), &so, &se)
	return code, so.String(), se.String()
}

func TestPullGGUF(t *testing.T) {
	h, srv := newFakeHub(t)
	t.Setenv("HF_TOKEN", "secret")
	out := t.TempDir()
	code, stdout, stderr := pull(t, srv, "acme/tiny-GGUF", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dest := filepath.Join(out, "tiny-Q8_0.gguf")
	got, err := os.ReadFile(dest)
	if err != nil || !bytes.Equal(got, h.repos["acme/tiny-GGUF"]["tiny-Q8_0.gguf"]) {
		t.Fatalf("content differs (%v)", err)
	}
	if strings.TrimSpace(stdout) != dest || !strings.Contains(stderr, "100%") {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}
	if _, err := os.Stat(dest + ".part"); !os.IsNotExist(err) {
		t.Error(".part left behind")
	}
	if h.auths[0] != "Bearer secret" {
		t.Errorf("hub saw Authorization %q", h.auths[0])
	}
	// A second pull finds the verified file and downloads nothing.
	n := len(h.ranges)
	if code, _, stderr := pull(t, srv, "acme/tiny-GGUF", "--out", out); code != 0 || !strings.Contains(stderr, "up to date") || len(h.ranges) != n {
		t.Errorf("re-pull: exit %d, %q, %d requests", code, stderr, len(h.ranges)-n)
	}
}

func TestPullSafetensorsRepo(t *testing.T) {
	h, srv := newFakeHub(t)
	out := t.TempDir()
	code, stdout, stderr := pull(t, srv, "acme/tiny-hf", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	dir := filepath.Join(out, "tiny-hf")
	if strings.TrimSpace(stdout) != dir {
		t.Errorf("stdout %q", stdout)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("files %v, want %v", names, want)
	}
	for _, n := range want {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		if !bytes.Equal(b, h.repos["acme/tiny-hf"][n]) {
			t.Errorf("%s differs", n)
		}
	}
}

func TestPullResumesPartFile(t *testing.T) {
	h, srv := newFakeHub(t)
	out := t.TempDir()
	content := h.repos["acme/tiny-GGUF"]["tiny-Q8_0.gguf"]
	dest := filepath.Join(out, "tiny-Q8_0.gguf")
	if err := os.WriteFile(dest+".part", content[:250000], 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := pull(t, srv, "acme/tiny-GGUF", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, content) {
		t.Fatal("resumed file differs")
	}
	if len(h.ranges) != 1 || h.ranges[0] != "bytes=250000-" {
		t.Fatalf("ranges %q, want one bytes=250000-", h.ranges)
	}
}

func TestPullResumesAfterInterruption(t *testing.T) {
	h, srv := newFakeHub(t)
	h.cutAfter = 100000
	out := t.TempDir()
	code, _, stderr := pull(t, srv, "acme/tiny-GGUF", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	content := h.repos["acme/tiny-GGUF"]["tiny-Q8_0.gguf"]
	if got, _ := os.ReadFile(filepath.Join(out, "tiny-Q8_0.gguf")); !bytes.Equal(got, content) {
		t.Fatal("file differs after resume")
	}
	if len(h.ranges) != 2 || h.ranges[0] != "" || !strings.HasPrefix(h.ranges[1], "bytes=") || h.ranges[1] == "bytes=0-" {
		t.Fatalf("ranges %q: want a full request then a resumed one", h.ranges)
	}
	if !strings.Contains(stderr, "resuming") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestPullChecksumMismatch(t *testing.T) {
	h, srv := newFakeHub(t)
	h.badSHA = true
	out := t.TempDir()
	code, _, stderr := pull(t, srv, "acme/tiny-GGUF", "--out", out)
	if code != 1 || !strings.Contains(stderr, "checksum mismatch") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 0 {
		t.Fatalf("left %v behind", entries)
	}
}

func TestPullErrors(t *testing.T) {
	_, srv := newFakeHub(t)
	out := t.TempDir()
	if code, _, stderr := pull(t, srv, "acme/missing", "--out", out); code != 1 || !strings.Contains(stderr, "not found (404") {
		t.Errorf("missing repo: exit %d %q", code, stderr)
	}
	if code, _, stderr := pull(t, srv, "acme/tiny-GGUF", "--file", "nope.gguf", "--out", out); code != 1 || !strings.Contains(stderr, `no file "nope.gguf"`) {
		t.Errorf("missing file: exit %d %q", code, stderr)
	}
	if code, _, stderr := pull(t, srv, "acme/two-GGUF", "--out", out); code != 1 || !strings.Contains(stderr, "--file") {
		t.Errorf("ambiguous: exit %d %q", code, stderr)
	}
	if code, _, stderr := pull(t, srv, srv.URL+"/acme/tiny-GGUF/resolve/main/gone.gguf", "--out", out); code != 1 || !strings.Contains(stderr, "404") {
		t.Errorf("missing URL: exit %d %q", code, stderr)
	}
	if code, _, _ := pull(t, srv); code != 2 {
		t.Errorf("no argument: exit %d", code)
	}
	// --file picks one of several; a direct URL is verified by its ETag.
	if code, _, stderr := pull(t, srv, "acme/two-GGUF", "--file", "b.gguf", "--out", out); code != 0 {
		t.Errorf("--file: exit %d %q", code, stderr)
	}
	if code, _, stderr := pull(t, srv, srv.URL+"/acme/tiny-hf/resolve/main/config.json", "--out", out); code != 0 {
		t.Errorf("URL: exit %d %q", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "config.json")); !strings.Contains(string(b), "LlamaForCausalLM") {
		t.Errorf("URL download: %q", b)
	}
}
