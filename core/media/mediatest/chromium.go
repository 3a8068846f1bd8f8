// Package mediatest checks Loom's video files with the tools people play
// them with: ffprobe/ffmpeg count and decode the frames, headless Chromium
// plays an MP4 in a <video> element to its end. Tests call it; each helper
// skips its test with a clear message when the tool is absent (.ci/run
// installs ffmpeg and chromium).
package mediatest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// chromiumBinary is the first Chromium found on PATH.
func chromiumBinary() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// playPage plays video0.mp4 … muted, each to its end, and settles on one
// verdict per video: "ended WxH D", or why not ("error CODE MESSAGE",
// "play failed …").
const playPage = `<!doctype html><html><body><script>
const n = %d;
window.result = Promise.all(Array.from({length: n}, (_, i) => new Promise(done => {
  const v = document.createElement('video');
  v.muted = true;
  v.addEventListener('ended', () => done('ended ' + v.videoWidth + 'x' + v.videoHeight + ' ' + v.duration));
  v.addEventListener('error', () => done('error ' + (v.error && v.error.code) + ' ' + (v.error && v.error.message)));
  v.src = 'video' + i + '.mp4';
  document.body.appendChild(v);
  v.play().catch(e => done('play failed ' + e));
})));
</script></body></html>`

// PlayResult is what the page saw of one video.
type PlayResult struct {
	Ended         bool
	Width, Height int
	Duration      float64 // seconds, as the element reports it
	Raw           string  // the page's verdict
}

// PlayInChromium loads each MP4 into a <video> element of one headless
// Chromium page, plays them together and waits (up to timeout) for each to
// end or fail. It skips the test when Chromium is absent. Chromium is
// driven through its DevTools protocol over --remote-debugging-pipe: JSON
// messages, NUL terminated, written to its fd 3 and read from its fd 4.
func PlayInChromium(t testing.TB, timeout time.Duration, videos ...[]byte) []PlayResult {
	t.Helper()
	bin := chromiumBinary()
	if bin == "" {
		t.Skip("chromium not installed (apt-get install chromium; .ci/run does): cannot check playback in a browser")
	}
	dir := t.TempDir()
	for i, v := range videos {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("video%d.mp4", i)), v, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	page := filepath.Join(dir, "page.html")
	if err := os.WriteFile(page, []byte(fmt.Sprintf(playPage, len(videos))), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	toChrome, ourEnd, err := os.Pipe() // we write, Chromium reads on fd 3
	if err != nil {
		t.Fatal(err)
	}
	fromChrome, theirEnd, err := os.Pipe() // Chromium writes on fd 4
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--autoplay-policy=no-user-gesture-required", "--allow-file-access-from-files",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, theirEnd}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	toChrome.Close()
	theirEnd.Close()
	defer func() {
		ourEnd.Close()
		cmd.Process.Kill()
		cmd.Wait()
		fromChrome.Close()
	}()

	cdp := &devtools{w: ourEnd, r: bufio.NewReader(fromChrome)}
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := cdp.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String()))
	}
	var session struct {
		SessionID string `json:"sessionId"`
	}
	if err := cdp.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &session); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := cdp.call(session.SessionID, "Page.navigate", map[string]any{"url": "file://" + page}, &nav); err != nil || nav.ErrorText != "" {
		t.Fatalf("chromium: navigate: %v %s", err, nav.ErrorText)
	}
	var eval struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *json.RawMessage `json:"exceptionDetails"`
	}
	evaluate := func(expr string) error {
		return cdp.call(session.SessionID, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &eval)
	}
	done := make(chan error, 1)
	go func() {
		// Until the page's script has run (an evaluation during the
		// navigation fails with its old context destroyed), then its verdict.
		for {
			if err := evaluate("!!window.result"); err == nil && eval.Result.Value == true {
				break
			}
			if ctx.Err() != nil {
				done <- ctx.Err()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		done <- evaluate("window.result")
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, tail(stderr.String()))
		}
	case <-ctx.Done():
		t.Fatalf("chromium: no ended or error event within %v\n%s", timeout, tail(stderr.String()))
	}
	if eval.ExceptionDetails != nil {
		t.Fatalf("chromium: page script failed: %s", *eval.ExceptionDetails)
	}
	verdicts, _ := eval.Result.Value.([]any)
	if len(verdicts) != len(videos) {
		t.Fatalf("chromium: %d verdicts for %d videos: %v", len(verdicts), len(videos), eval.Result.Value)
	}
	out := make([]PlayResult, len(videos))
	for i, v := range verdicts {
		r := &out[i]
		r.Raw, _ = v.(string)
		if n, _ := fmt.Sscanf(r.Raw, "ended %dx%d %g", &r.Width, &r.Height, &r.Duration); n == 3 {
			r.Ended = true
		}
	}
	return out
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// devtools is a DevTools protocol client over Chromium's debugging pipe.
type devtools struct {
	w    *os.File
	r    *bufio.Reader
	next int
}

// call sends one command and waits for its answer, passing over events.
func (d *devtools) call(session, method string, params any, out any) error {
	d.next++
	msg := map[string]any{"id": d.next, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := d.w.Write(append(b, 0)); err != nil {
		return fmt.Errorf("%s: write: %w", method, err)
	}
	for {
		line, err := d.r.ReadBytes(0)
		if err != nil {
			return fmt.Errorf("%s: read: %w", method, err)
		}
		var reply struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line[:len(line)-1], &reply); err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		if reply.ID != d.next {
			continue // an event, or another session's message
		}
		if reply.Error != nil {
			return fmt.Errorf("%s: %s", method, reply.Error.Message)
		}
		return json.Unmarshal(reply.Result, out)
	}
}
