package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestServeFlagsFromEnv(t *testing.T) {
	t.Setenv("LOOM_ADDR", "127.0.0.1:9999")
	t.Setenv("LOOM_LEASE", "7s")
	t.Setenv("LOOM_API_KEYS", " a, b ,,")
	var stderr bytes.Buffer
	fs := newFlags("serve", &stderr)
	var qf queueFlags
	var gf gatewayFlags
	qf.register(fs, "redis")
	gf.register(fs)
	// The command line wins over the environment.
	if err := parseServeFlags(fs, []string{"--lease", "3s"}); err != nil {
		t.Fatal(err)
	}
	if gf.addr != "127.0.0.1:9999" || qf.lease != 3*time.Second {
		t.Fatalf("addr %q lease %s", gf.addr, qf.lease)
	}
	if keys := gf.config(3, nil).APIKeys; strings.Join(keys, "|") != "a|b" {
		t.Fatalf("api keys %q", keys)
	}
	fs.PrintDefaults()
	if !strings.Contains(stderr.String(), "[$LOOM_MAX_ATTEMPTS]") {
		t.Fatalf("help does not name the env vars:\n%s", stderr.String())
	}
}

func TestServeFlagsBadEnv(t *testing.T) {
	t.Setenv("LOOM_MAX_ATTEMPTS", "lots")
	fs := newFlags("gateway", &bytes.Buffer{})
	var qf queueFlags
	qf.register(fs, "redis")
	err := parseServeFlags(fs, nil)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "LOOM_MAX_ATTEMPTS") {
		t.Fatalf("err %v", err)
	}
}

func TestGatewayAndWorkerNeedRedis(t *testing.T) {
	t.Setenv("LOOM_REDIS", "")
	for _, name := range []string{"gateway", "worker"} {
		var stderr bytes.Buffer
		if code := runMain([]string{name}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "--redis") {
			t.Fatalf("%s without redis: exit %d, %s", name, code, stderr.String())
		}
	}
}

func TestByteSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1073741824": 1 << 30, "6GiB": 6 << 30, "512MiB": 512 << 20,
		"1.5G": 3 << 29, "2 gb": 2 << 30, "64k": 64 << 10, "3T": 3 << 40} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("%q → %d %v, want %d", in, b, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1G", "5XB", "1e30G", "NaN", "1.2.3M"} {
		var b byteSize
		if err := b.Set(bad); err == nil {
			t.Errorf("%q accepted as %d", bad, b)
		}
	}
}

// Every LOOM_* variable the deploy manifests and the compose file set is a
// flag of loom gateway or loom worker (a misspelt one would be ignored).
func TestDeployEnvNamesAreFlags(t *testing.T) {
	known := map[string]bool{}
	for _, run := range []func([]string, io.Writer, io.Writer) error{runGateway, runWorker} {
		var help bytes.Buffer
		_ = run([]string{"--help"}, io.Discard, &help)
		for _, m := range regexp.MustCompile(`\[\$(LOOM_[A-Z_]+)\]`).FindAllStringSubmatch(help.String(), -1) {
			known[m[1]] = true
		}
	}
	if !known["LOOM_REDIS"] || !known["LOOM_MAX_MEMORY"] || !known["LOOM_WAIT_FOR_WORKER"] {
		t.Fatalf("flags read from --help: %v", known)
	}
	files, _ := filepath.Glob("../../deploy/kubernetes/*.yaml")
	files = append(files, "../../docker-compose.yml")
	seen := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^\s*(?:- name: )?(LOOM_[A-Z_]+)`).FindAllStringSubmatch(string(raw), -1) {
			seen++
			if !known[m[1]] {
				t.Errorf("%s sets %s, which no loom gateway or worker flag reads", f, m[1])
			}
		}
	}
	if seen < 10 {
		t.Fatalf("found only %d LOOM_* settings in %v", seen, files)
	}
}
func TestLogFlags(t *testing.T) {
	var out bytes.Buffer
	lf := logFlags{level: "warn", format: "json"}
	l, err := lf.logger(&out)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("dropped below warn")
	l.Warn("kept", "job", "j1", "request_id", "r1")
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil || line["msg"] != "kept" || line["job"] != "j1" || line["level"] != "WARN" {
		t.Fatalf("json log %q: %v", out.String(), err)
	}
	out.Reset()
	lf = logFlags{level: "debug", format: "text"}
	if l, err = lf.logger(&out); err != nil {
		t.Fatal(err)
	}
	l.Debug("hello", "job", "j2")
	if !strings.Contains(out.String(), "level=DEBUG msg=hello job=j2") {
		t.Fatalf("text log %q", out.String())
	}
	for _, bad := range []logFlags{{level: "loud", format: "text"}, {level: "info", format: "xml"}} {
		var ue *usageError
		if _, err := bad.logger(&out); !errors.As(err, &ue) {
			t.Errorf("%+v: err %v, want a usage error", bad, err)
		}
	}
	// serve, gateway and worker all take both flags.
	for _, name := range []string{"serve", "gateway", "worker"} {
		var stderr bytes.Buffer
		runMain([]string{name, "--help"}, &bytes.Buffer{}, &stderr)
		if !strings.Contains(stderr.String(), "-log-format") || !strings.Contains(stderr.String(), "-log-level") {
			t.Errorf("%s --help lacks the log flags:\n%s", name, stderr.String())
		}
	}
}
