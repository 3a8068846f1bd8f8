package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pluginChildren lists the loom-plugin-* processes whose parent is ppid.
func pluginChildren(ppid int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, parent, _, ok := procStat(pid)
		if ok && parent == ppid && strings.HasPrefix(comm, "loom-plugin-") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStat reads a process's command name, parent and state from
// /proc/PID/stat; ok is false once the process is gone.
func procStat(pid int) (comm string, ppid int, state string, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return "", 0, "", false
	}
	// pid (comm) state ppid …; comm may hold spaces, so split after ')'.
	s := string(b)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return "", 0, "", false
	}
	f := strings.Fields(s[close+1:])
	if len(f) < 2 {
		return "", 0, "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return s[open+1 : close], ppid, f[0], true
}

// alive reports whether pid is a running process (a zombie waiting to be
// reaped has ended).
func alive(pid int) bool {
	_, _, state, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// waitPlugins waits until ppid has at least n plugin children.
func waitPlugins(t *testing.T, ppid, n int, within time.Duration) []int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pids := pluginChildren(ppid)
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d has %d plugin processes after %s, want %d", ppid, len(pids), within, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// assertGone fails unless every pid has ended within the time given.
func assertGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var left []int
		for _, pid := range pids {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				comm, _, _, _ := procStat(pid)
				t.Errorf("plugin %s (pid %d) still running %s after its host was killed", comm, pid, within)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPluginsDieWithTheirHost is issue 17 item 4: kill -9 of loom serve or
// loom worker must not leave its loom-plugin-* processes running.
func TestPluginsDieWithTheirHost(t *testing.T) {
	plugins, err := filepath.Glob(filepath.Join(binDir, "loom-plugin-*"))
	if err != nil || len(plugins) == 0 {
		t.Fatalf("no plugins in %s", binDir)
	}
	t.Run("serve", func(t *testing.T) {
		port := freePort(t)
		p := loom(t, "serve", "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--plugins", binDir,
			"--models", modelDirs(), "--log-level", "warn")
		(&client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}).waitReady(1, 60*time.Second)
		pids := waitPlugins(t, p.cmd.Process.Pid, len(plugins), 30*time.Second)
		p.crash()
		assertGone(t, pids, 5*time.Second)
	})
	t.Run("worker", func(t *testing.T) {
		r := startRedis(t)
		p := loom(t, "worker", "worker", "--redis", r.url(), "--id", "orphan", "--plugins", binDir,
			"--models", modelDirs(), "--log-level", "warn")
		pids := waitPlugins(t, p.cmd.Process.Pid, len(plugins), 60*time.Second)
		p.crash()
		assertGone(t, pids, 5*time.Second)
	})
}
