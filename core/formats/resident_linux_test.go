//go:build linux

package formats

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestReadResident: the bytes read into huge-page memory are the file's,
// read-only, and LOOM_MMAP=1 maps the file instead (same bytes).
func TestReadResident(t *testing.T) {
	if _, ok := memAvailable(); !ok {
		t.Fatal("MemAvailable not found in /proc/meminfo")
	}
	want := make([]byte, 3<<20+17) // not a multiple of any page size
	for i := range want {
		want[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "w.bin")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"", "1"} {
		t.Setenv(MmapEnv, env)
		data, unmap, err := mapFile(path)
		if err != nil {
			t.Fatalf("%s=%q: %v", MmapEnv, env, err)
		}
		if !bytes.Equal(data, want) {
			t.Errorf("%s=%q: bytes differ from the file", MmapEnv, env)
		}
		if err := unmap(); err != nil {
			t.Errorf("%s=%q: unmap: %v", MmapEnv, env, err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, unmap, ok := readResident(f, len(want))
	if !ok {
		t.Fatal("readResident refused a 3 MiB file")
	}
	if !bytes.Equal(data, want) {
		t.Error("readResident: bytes differ from the file")
	}
	if err := unmap(); err != nil {
		t.Error(err)
	}
}
