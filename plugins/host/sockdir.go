package host

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sockDirPrefix starts the name of a plugin process's socket directory in
// the temp directory: loom-sock-HOSTPID-RANDOM.
const sockDirPrefix = "loom-sock-"

// newSockDir makes a socket directory for one plugin process of this host.
// Host.kill removes it; the host's pid in its name lets a later host remove
// it when this one was killed before it could (sweepSockDirs).
func newSockDir() (string, error) {
	return os.MkdirTemp("", fmt.Sprintf("%s%d-", sockDirPrefix, os.Getpid()))
}

// sweepSockDirs removes the socket directories that hosts killed by a
// signal (kill -9, the OOM killer) left in the temp directory: those whose
// host process is gone and whose sockets no longer accept a connection.
// A directory of a live process, of another user, or with a socket that
// still answers stays.
func sweepSockDirs(log *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), sockDirPrefix+"*-*"))
	removed := 0
	for _, d := range dirs {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), sockDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) || socketAnswers(d) {
			continue
		}
		if os.RemoveAll(d) == nil {
			removed++
		}
	}
	if removed > 0 {
		log.Debug("removed socket directories of hosts that are gone", "count", removed)
	}
}

// socketAnswers reports whether any Unix socket in dir accepts a
// connection (a plugin still serving there).
func socketAnswers(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true // cannot tell: leave it
	}
	for _, e := range entries {
		if e.Type()&os.ModeSocket == 0 {
			continue
		}
		c, err := net.DialTimeout("unix", filepath.Join(dir, e.Name()), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
	}
	return false
}
