//go:build unix && !linux

package formats

import (
	"os"
	"syscall"
)

// mapAligned maps the file read-only (huge-page alignment matters only for
// readResident, which is Linux only).
func mapAligned(f *os.File, size int) ([]byte, func() error, error) {
	data, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

// readResident is Linux only (transparent huge pages): elsewhere the file
// stays mapped.
func readResident(*os.File, []byte, []byteRange) (bool, []byteRange, error) { return false, nil, nil }

// protect is never called: readResident leaves no private spans here.
func protect(span, b []byte, writable bool) error { return nil }
