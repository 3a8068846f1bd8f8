//go:build unix

package sdk

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/stats"
)

func TestConnWatchCallsGoneAfterGrace(t *testing.T) {
	var calls atomic.Int32
	w := &connWatch{grace: 50 * time.Millisecond, gone: func(string) { calls.Add(1) }}
	ctx := context.Background()
	w.HandleConn(ctx, &stats.ConnBegin{})
	w.HandleConn(ctx, &stats.ConnEnd{})
	w.HandleConn(ctx, &stats.ConnBegin{}) // replaced within the grace: still served
	time.Sleep(150 * time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Fatalf("gone called %d times while a connection is open", n)
	}
	w.HandleConn(ctx, &stats.ConnEnd{})
	deadline := time.Now().Add(2 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("gone called %d times after the last connection closed, want 1", n)
	}
}

func TestWatchParentNoticesReparenting(t *testing.T) {
	var ppid atomic.Int32
	ppid.Store(4242)
	done := make(chan string, 1)
	go watchParent(context.Background(), 5*time.Millisecond, func() int { return int(ppid.Load()) }, func(r string) { done <- r })
	select {
	case r := <-done:
		t.Fatalf("gone (%s) while the parent is there", r)
	case <-time.After(50 * time.Millisecond):
	}
	ppid.Store(1) // re-parented to init
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("parent change not noticed")
	}
}

// TestOrphanExitsWhenHostIsKilled runs the real thing across processes: a
// "host" process starts a "plugin" process (with no parent-death signal)
// that watches its parent as Serve does; kill -9 of the host must end the
// plugin.
func TestOrphanExitsWhenHostIsKilled(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no re-parenting to watch on Windows")
	}
	switch os.Getenv("LOOM_SDK_HOSTWATCH_ROLE") {
	case "plugin":
		watchParent(context.Background(), 20*time.Millisecond, os.Getppid, func(string) { os.Exit(0) })
		return
	case "host":
		cmd := exec.Command(os.Args[0], "-test.run", "^TestOrphanExitsWhenHostIsKilled$")
		cmd.Env = append(os.Environ(), "LOOM_SDK_HOSTWATCH_ROLE=plugin")
		if err := cmd.Start(); err != nil {
			fmt.Println("start:", err)
			os.Exit(1)
		}
		fmt.Println(cmd.Process.Pid)
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	host := exec.Command(os.Args[0], "-test.run", "^TestOrphanExitsWhenHostIsKilled$")
	host.Env = append(os.Environ(), "LOOM_SDK_HOSTWATCH_ROLE=host")
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		_ = host.Process.Kill()
		t.Fatalf("host said %q (%v)", line, err)
	}
	time.Sleep(100 * time.Millisecond) // the plugin has read its parent
	_ = host.Process.Kill()
	_ = host.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := syscall.Kill(pid, 0); err != nil || zombie(pid) {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("plugin process %d still running 5 s after its host was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// zombie reports whether pid has exited and waits to be reaped (Linux).
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}
