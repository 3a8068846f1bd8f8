package archtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoBinariesTracked fails when the repository tracks a built program
// (an ELF file, as `go build ./plugins/audio` leaves in the root) or a file
// over 16 MiB: models we train are a few MB (the largest, 8.2 MiB), everything larger is made by a
// tool. Skips outside a git checkout.
func TestNoBinariesTracked(t *testing.T) {
	out, err := exec.Command("git", "-C", "..", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		path := filepath.Join("..", name)
		st, err := os.Lstat(path)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		if st.Size() > 16<<20 {
			t.Errorf("%s is tracked and %d MiB", name, st.Size()>>20)
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 4)
		n, _ := f.Read(head)
		f.Close()
		if bytes.Equal(head[:n], []byte("\x7fELF")) {
			t.Errorf("%s is a built program (ELF); add it to .gitignore and git rm --cached it", name)
		}
	}
}
