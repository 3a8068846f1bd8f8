package main

import (
	"bytes"
	"errors"
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
