package sdk

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A slow load holds up only its own model: Get of another id answers
// while it runs, concurrent Gets of the slow id share its one load, and a
// failed load is tried again on the next Get.
func TestFoldersLoadOutsideTheLock(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{"slow", "fast", "broken"} {
		if err := os.Mkdir(filepath.Join(dir, id), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	release := make(chan struct{})
	var slowLoads, brokenLoads atomic.Int32
	f := &Folders[string]{Task: "t.test", Dirs: []string{dir}, Accept: func(string) bool { return true },
		Load: func(d string) (string, error) {
			switch filepath.Base(d) {
			case "slow":
				slowLoads.Add(1)
				<-release
			case "broken":
				brokenLoads.Add(1)
				return "", errors.New("bad weights")
			}
			return filepath.Base(d), nil
		}}
	slow := make(chan string, 2)
	for range 2 {
		go func() { m, _ := f.Get("slow"); slow <- m }()
	}
	for slowLoads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	got := make(chan string, 1)
	go func() { m, _ := f.Get("fast"); got <- m }()
	select {
	case m := <-got:
		if m != "fast" {
			t.Fatalf("fast: %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Get(fast) waited for the slow model's load")
	}
	close(release)
	if a, b := <-slow, <-slow; a != "slow" || b != "slow" || slowLoads.Load() != 1 {
		t.Fatalf("slow: %q %q after %d loads", a, b, slowLoads.Load())
	}
	for range 2 {
		if _, err := f.Get("broken"); !IsCode(err, CodeModelUnavailable) {
			t.Fatalf("broken: %v", err)
		}
	}
	if brokenLoads.Load() != 2 {
		t.Fatalf("a failed load was kept: %d loads", brokenLoads.Load())
	}
	if _, err := f.Get("nope"); !IsCode(err, CodeModelNotFound) {
		t.Fatalf("nope: %v", err)
	}
	if _, err := f.Get("../x"); !IsCode(err, CodeInvalidRequest) {
		t.Fatalf("../x: %v", err)
	}
}
