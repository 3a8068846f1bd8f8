//go:build linux

package formats

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"syscall"
)

// madvHugepage is Linux's MADV_HUGEPAGE (syscall has no name for it).
const madvHugepage = 14

// readResident reads size bytes of f into a fresh anonymous mapping advised
// for transparent huge pages, then makes it read-only. A decode step streams
// every weight once per token: on 4 KiB pages of the page cache that is one
// TLB miss per 4 KiB (a two-level walk in a VM), on 2 MiB pages one per
// 2 MiB, and the matrix-vector kernels run measurably closer to the memory
// bandwidth (docs/BENCHMARKS.md). The cost is a copy at load and memory not
// shared between processes that open the same file; resident memory is the
// same as a mapping whose pages are all touched. A file larger than half the
// memory available is mapped instead, where the kernel can page it. ok is
// false then, or when the kernel refuses the mapping or the read fails; the
// caller maps the file.
func readResident(f *os.File, size int) (data []byte, unmap func() error, ok bool) {
	if avail, known := memAvailable(); !known || size > avail/2 {
		return nil, nil, false
	}
	data, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, false
	}
	_ = syscall.Madvise(data, madvHugepage) // advice only: without THP the pages stay small
	if _, err := io.ReadFull(f, data); err != nil {
		_ = syscall.Munmap(data)
		return nil, nil, false
	}
	if err := syscall.Mprotect(data, syscall.PROT_READ); err != nil {
		_ = syscall.Munmap(data)
		return nil, nil, false
	}
	return data, func() error { return syscall.Munmap(data) }, true
}

// memAvailable is /proc/meminfo's MemAvailable in bytes, or false when it
// cannot be read.
func memAvailable() (int, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if rest, found := bytes.CutPrefix(line, []byte("MemAvailable:")); found {
			kb, err := strconv.Atoi(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))))
			return kb << 10, err == nil
		}
	}
	return 0, false
}
