//go:build unix

package formats

import (
	"os"
	"syscall"
)

// mapFile gives the whole file's bytes, read-only. By default (readResident)
// they are read into anonymous memory advised for transparent huge pages;
// with $LOOM_MMAP=1, or where that is refused, the file is mapped, so
// weights are views on the page cache and opening a multi-GiB model costs
// page-table entries, not a copy. Where mmap fails too (a pipe, a
// filesystem without it) the file is read into the Go heap.
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
		if os.Getenv(MmapEnv) != "1" {
			if data, unmap, ok := readResident(f, int(size)); ok {
				return data, unmap, nil
			}
		}
		data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
		if err == nil {
			return data, func() error { return syscall.Munmap(data) }, nil
		}
	}
	return readAll(f)
}
