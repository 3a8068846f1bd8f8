//go:build unix

package formats

import (
	"os"
	"syscall"
)

// mapFile maps a whole file read-only. Weights are views on this mapping, so
// opening a multi-GiB model costs page-table entries, not a copy. Where mmap
// fails (a pipe, a filesystem without it) the file is read into memory.
func mapFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if size == int64(int(size)) && st.Mode().IsRegular() {
		data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
		if err == nil {
			return data, func() error { return syscall.Munmap(data) }, nil
		}
	}
	return readAll(f)
}
