// Package hub is Loom's client for a Hugging Face-compatible model hub
// (loom pull). A repo is listed through the hub API (GET
// /api/models/REPO/tree/REV?recursive=true, whose entries carry the git blob
// id and, for LFS files, the sha256 "oid"); files come from
// /REPO/resolve/REV/PATH, usually a redirect to a CDN whose X-Linked-Etag
// names the sha256. Downloads go to PATH.part and resume with Range
// requests after an interruption or a stall; a file is renamed into place
// only once its checksum (sha256 for LFS files, git blob sha1 for small
// ones) matches. Progress is drawn as a bar on the Progress writer.
package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pullFiles are the non-weight files a safetensors repo needs.
var pullFiles = map[string]bool{
	"config.json": true, "generation_config.json": true, "tokenizer.json": true, "tokenizer_config.json": true,
	"special_tokens_map.json": true, "model.safetensors.index.json": true,
}

// Client talks to one hub. New fills it with timeouts a slow or dead
// server cannot defeat; tests may set the fields themselves.
type Client struct {
	Endpoint string       // e.g. https://huggingface.co, no trailing slash
	Token    string       // HF_TOKEN: sent to the hub only, never to the CDN it redirects to
	HTTP     *http.Client // its Transport's timeouts bound connect, TLS and response headers
	Progress io.Writer    // progress bars and notes (stderr)
	Retries  int          // further attempts after an interrupted or stalled transfer
	// StallTimeout ends a transfer that received nothing for this long; it
	// is then resumed like an interrupted one (default 60s).
	StallTimeout time.Duration
}

// New returns a Client for endpoint with 3 retries and these timeouts:
// connect 30s, TLS handshake 15s, response headers 60s, stall 60s. A whole
// download has no time limit (weights are gigabytes).
func New(endpoint, token string, progress io.Writer) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 15 * time.Second
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &Client{Endpoint: endpoint, Token: token, HTTP: &http.Client{Transport: tr}, Progress: progress,
		Retries: 3, StallTimeout: 60 * time.Second}
}

// treeEntry is one entry of the hub's tree listing.
type treeEntry struct {
	Type string `json:"type"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	OID  string `json:"oid"` // git blob sha1
	LFS  *struct {
		OID  string `json:"oid"` // sha256 of the content
		Size int64  `json:"size"`
	} `json:"lfs"`
}

// checksum is what a download must hash to; empty when nothing is known.
type checksum struct {
	sha256  string
	gitSHA1 string
}

func (c checksum) known() bool { return c.sha256 != "" || c.gitSHA1 != "" }

// PullRepo downloads into out: the one GGUF file of repo (or file, when
// named), or a safetensors repo's weights and the files beside them
// (pullFiles) into out/NAME. It returns the file or folder written.
func (p *Client) PullRepo(ctx context.Context, repo, rev, file, out string) (string, error) {
	endpoint := p.Endpoint
	entries, err := p.listRepo(ctx, endpoint, repo, rev)
	if err != nil {
		return "", err
	}
	byPath := map[string]treeEntry{}
	var ggufs, weights []string
	for _, e := range entries {
		if e.Type != "file" {
			continue
		}
		byPath[e.Path] = e
		switch {
		case strings.HasSuffix(e.Path, ".gguf"):
			ggufs = append(ggufs, e.Path)
		case strings.HasSuffix(e.Path, ".safetensors") && !strings.Contains(e.Path, "/"):
			weights = append(weights, e.Path)
		}
	}
	sort.Strings(ggufs)
	var want []string
	var destDir string
	switch {
	case file != "":
		if _, ok := byPath[file]; !ok {
			return "", fmt.Errorf("%s has no file %q", repo, file)
		}
		want, destDir = []string{file}, out
	case len(weights) > 0:
		destDir = filepath.Join(out, path.Base(repo))
		want = weights
		for f := range byPath {
			if pullFiles[f] {
				want = append(want, f)
			}
		}
		sort.Strings(want)
	case len(ggufs) == 1:
		want, destDir = ggufs, out
	case len(ggufs) > 1:
		return "", fmt.Errorf("%s has %d GGUF files; choose one with --file: %s", repo, len(ggufs), strings.Join(ggufs, ", "))
	default:
		return "", fmt.Errorf("%s has no .gguf or .safetensors files", repo)
	}
	for _, f := range want {
		e := byPath[f]
		sum := checksum{gitSHA1: e.OID}
		if e.LFS != nil {
			sum = checksum{sha256: e.LFS.OID}
		}
		u := endpoint + "/" + repo + "/resolve/" + url.PathEscape(rev) + "/" + escapePath(f)
		if err := p.download(ctx, u, filepath.Join(destDir, filepath.FromSlash(path.Base(f))), sum); err != nil {
			return "", err
		}
	}
	if len(want) == 1 {
		return filepath.Join(destDir, path.Base(want[0])), nil
	}
	return destDir, nil
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func (p *Client) listRepo(ctx context.Context, endpoint, repo, rev string) ([]treeEntry, error) {
	u := endpoint + "/api/models/" + repo + "/tree/" + url.PathEscape(rev) + "?recursive=true"
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a listing is small
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	p.auth(req)
	resp, err := p.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", repo, err)
	}
	defer resp.Body.Close()
	if err := statusErr(resp, "repo "+repo); err != nil {
		return nil, err
	}
	var entries []treeEntry
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&entries); err != nil {
		return nil, fmt.Errorf("list %s: bad listing: %w", repo, err)
	}
	return entries, nil
}

func (p *Client) auth(req *http.Request) {
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
}

func statusErr(resp *http.Response, what string) error {
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s not found (404 from %s)", what, resp.Request.URL.Host)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s: access denied (%s); gated or private repos need HF_TOKEN", what, resp.Status)
	}
	return fmt.Errorf("%s: %s", what, resp.Status)
}

// errRetry marks a transfer cut short: the .part file is kept and resumed.
var errRetry = errors.New("transfer interrupted")

// errStalled: nothing arrived for StallTimeout.
var errStalled = errors.New("no data received")

// stallReader re-arms timer on every read that brings data; when it fires,
// the request is cancelled.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (s *stallReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if n > 0 {
		s.timer.Reset(s.d)
	}
	return n, err
}

// Download fetches the URL u into dest, verified when the server names a
// checksum in its ETag.
func (p *Client) Download(ctx context.Context, u, dest string) error {
	return p.download(ctx, u, dest, checksum{})
}

// download fetches u into dest via dest.part, retrying interrupted
// transfers from where they stopped.
func (p *Client) download(ctx context.Context, u, dest string, sum checksum) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	name := filepath.Base(dest)
	if sum.known() {
		if ok, _ := verify(dest, sum); ok {
			fmt.Fprintf(p.Progress, "%s: up to date\n", name)
			return nil
		}
	}
	var err error
	for attempt := 0; attempt <= p.Retries; attempt++ {
		if attempt > 0 {
			fmt.Fprintf(p.Progress, "%s: %v; resuming (attempt %d)\n", name, err, attempt+1)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		err = p.fetchOnce(ctx, u, dest, &sum)
		if !errors.Is(err, errRetry) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", name, err)
	}
	part := dest + ".part"
	if sum.known() {
		ok, err := verify(part, sum)
		if err != nil {
			return err
		}
		if !ok {
			os.Remove(part)
			return fmt.Errorf("download %s: checksum mismatch (want %s); the partial file was removed", name, sum)
		}
	} else {
		fmt.Fprintf(p.Progress, "%s: warning: the server gave no checksum; not verified\n", name)
	}
	return os.Rename(part, dest)
}

func (c checksum) String() string {
	if c.sha256 != "" {
		return "sha256 " + c.sha256
	}
	return "git blob sha1 " + c.gitSHA1
}

// fetchOnce makes one request, appending to dest.part from its current size.
// It learns the checksum from the redirect's X-Linked-Etag or the ETag when
// the listing gave none.
func (p *Client) fetchOnce(ctx context.Context, u, dest string, sum *checksum) error {
	part := dest + ".part"
	var have int64
	if st, err := os.Stat(part); err == nil {
		have = st.Size()
	}
	// rctx ends the request when the transfer stalls.
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	p.auth(req)
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	var linked string
	client := *p.HTTP
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		if r.Response != nil {
			if v := r.Response.Header.Get("X-Linked-Etag"); v != "" {
				linked = v
			}
		}
		// The token is for the hub only, never for the CDN it redirects to.
		if r.URL.Host != via[0].URL.Host {
			r.Header.Del("Authorization")
		}
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %v", errRetry, err)
	}
	defer resp.Body.Close()
	if !sum.known() {
		for _, v := range []string{linked, resp.Header.Get("X-Linked-Etag"), resp.Header.Get("ETag")} {
			if s, ok := checksumFromETag(v); ok {
				*sum = s
				break
			}
		}
	}
	var f *os.File
	switch {
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		return nil // the .part is already complete; verification decides
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != have {
			return fmt.Errorf("server resumed at %q, asked for byte %d", resp.Header.Get("Content-Range"), have)
		}
		f, err = os.OpenFile(part, os.O_WRONLY|os.O_APPEND, 0o644)
	case resp.StatusCode == http.StatusOK:
		have = 0 // the server ignored Range: start over
		f, err = os.Create(part)
	default:
		if err := statusErr(resp, "file "+u); err != nil {
			return err
		}
		return fmt.Errorf("file %s: unexpected %s", u, resp.Status)
	}
	if err != nil {
		return err
	}
	total := have + resp.ContentLength
	if resp.ContentLength < 0 {
		total = -1
	}
	bar := &progressBar{w: p.Progress, name: filepath.Base(dest), done: have, total: total, start: time.Now(), base: have}
	stall := p.StallTimeout
	if stall <= 0 {
		stall = 60 * time.Second
	}
	timer := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer timer.Stop()
	_, cerr := io.Copy(io.MultiWriter(f, bar), &stallReader{r: resp.Body, timer: timer, d: stall})
	if errors.Is(context.Cause(rctx), errStalled) {
		cerr = fmt.Errorf("%w for %s", errStalled, stall)
	}
	bar.finish()
	if err := f.Close(); err != nil && cerr == nil {
		cerr = err
	}
	if cerr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w after %d bytes: %v", errRetry, bar.done, cerr)
	}
	if total >= 0 && bar.done != total {
		return fmt.Errorf("%w: got %d of %d bytes", errRetry, bar.done, total)
	}
	return nil
}

// checksumFromETag reads a sha256 (64 hex) or git blob sha1 (40 hex) ETag;
// weak or other ETags say nothing about the content.
func checksumFromETag(v string) (checksum, bool) {
	if strings.HasPrefix(v, "W/") {
		return checksum{}, false
	}
	v = strings.Trim(v, `"`)
	if _, err := hex.DecodeString(v); err != nil {
		return checksum{}, false
	}
	switch len(v) {
	case 64:
		return checksum{sha256: strings.ToLower(v)}, true
	case 40:
		return checksum{gitSHA1: strings.ToLower(v)}, true
	}
	return checksum{}, false
}

func contentRangeStart(v string) (int64, bool) {
	// "bytes START-END/TOTAL"
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(v, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// verify hashes a file: sha256 of the content, or git's blob id
// sha1("blob SIZE\x00" + content).
func verify(file string, sum checksum) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	var h hash.Hash
	want := sum.sha256
	if want != "" {
		h = sha256.New()
	} else {
		h = sha1.New()
		fmt.Fprintf(h, "blob %d\x00", st.Size())
		want = sum.gitSHA1
	}
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == strings.ToLower(want), nil
}

// progressBar draws "name [####------]  42%  12.0/28.5 MiB  3.1 MiB/s" on
// stderr, at most five times a second.
type progressBar struct {
	w           io.Writer
	name        string
	done, total int64
	base        int64 // bytes already on disk when this transfer began
	start, last time.Time
}

func (b *progressBar) Write(p []byte) (int, error) {
	b.done += int64(len(p))
	if time.Since(b.last) > 200*time.Millisecond {
		b.draw()
	}
	return len(p), nil
}

func (b *progressBar) draw() {
	b.last = time.Now()
	const width = 24
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	rate := mib(b.done-b.base) / max(time.Since(b.start).Seconds(), 1e-3)
	if b.total <= 0 {
		fmt.Fprintf(b.w, "\r%s  %.1f MiB  %.1f MiB/s", b.name, mib(b.done), rate)
		return
	}
	frac := float64(b.done) / float64(b.total)
	n := int(frac * width)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%%  %.1f/%.1f MiB  %.1f MiB/s", b.name,
		strings.Repeat("#", n), strings.Repeat("-", width-n), 100*frac, mib(b.done), mib(b.total), rate)
}

func (b *progressBar) finish() {
	b.draw()
	fmt.Fprintln(b.w)
}
