//go:build linux

package formats

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on amd64 and arm64 (4 KiB
// base pages).
const hugePage = 2 << 20

// mapAligned maps the file read-only at an address aligned to a huge page,
// so that file offset o and its address agree modulo 2 MiB and the spans
// that readResident fills with anonymous memory start on huge-page
// boundaries where their offsets do. unmap releases the whole mapping,
// whatever readResident laid over it.
func mapAligned(f *os.File, size int) (data []byte, unmap func() error, err error) {
	// Reserve size + 2 MiB of address space, map the file over its first
	// aligned address, and give back the ends. (Not syscall.Mmap: its
	// bookkeeping would unmap the whole reservation at the end, ends that
	// the runtime may have mapped again by then.)
	length := uintptr(roundUp(size, os.Getpagesize()))
	res, err := unix.MmapPtr(-1, 0, nil, length+hugePage, unix.PROT_NONE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	skip := (hugePage - uintptr(res)%hugePage) % hugePage
	at := unsafe.Add(res, skip)
	if _, err := unix.MmapPtr(int(f.Fd()), 0, at, uintptr(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
		_ = unix.MunmapPtr(res, length+hugePage)
		return nil, nil, err
	}
	if skip > 0 {
		_ = unix.MunmapPtr(res, skip)
	}
	if tail := hugePage - skip; tail > 0 {
		_ = unix.MunmapPtr(unsafe.Add(at, length), tail)
	}
	data = unsafe.Slice((*byte)(at), size)
	return data, func() error { return unix.MunmapPtr(at, uintptr(size)) }, nil
}

// readResident reads data's file (f, mapped as data by mapAligned) into
// fresh anonymous memory at the same addresses, advised for transparent
// huge pages and then made read-only, except the whole pages inside keep's
// ranges, which stay mapped: left reports whether any did. A decode step
// streams every weight once: on 4 KiB pages of the page cache that is one
// TLB miss per 4 KiB (a two-level walk in a VM), on 2 MiB pages one per
// 2 MiB, and the matrix-vector kernels run measurably closer to the memory
// bandwidth (docs/BENCHMARKS.md). The cost is a copy at load and memory not
// shared between processes that open the same file; resident memory is the
// same as a mapping whose pages are all touched, less keep's ranges, of
// which only the pages touched count. A file larger than half the memory
// available stays mapped, where the kernel can page it, and so does a span
// whose anonymous memory or read the kernel refuses (the file is mapped back
// over it). err is set only when a span can be neither read nor mapped back.
//
// private lists the spans that are now the process's own memory (not a
// mapping of the file), which Info.Rewrite may change in place.
func readResident(f *os.File, data []byte, keep []byteRange) (left bool, private []byteRange, err error) {
	if avail, known := memAvailable(); !known || len(data) > avail/2 {
		return false, nil, nil
	}
	lo := 0
	span := func(hi int) error {
		ok, err := residentSpan(f, data, lo, hi)
		if ok {
			private = append(private, byteRange{lo, hi})
		}
		return err
	}
	for _, k := range pagesInside(keep, len(data), os.Getpagesize()) {
		if err := span(k.Lo); err != nil {
			return false, nil, err
		}
		lo, left = k.Hi, true
	}
	if err := span(len(data)); err != nil {
		return false, nil, err
	}
	return left, private, nil
}

// pagesInside gives the whole pages inside rs's ranges (clipped to size,
// sorted, merged), leaving out those under 64 KiB: not worth a mapping of
// their own.
func pagesInside(rs []byteRange, size, page int) []byteRange {
	var out []byteRange
	for _, r := range rs {
		lo, hi := roundUp(max(r.Lo, 0), page), min(r.Hi, size)/page*page
		if hi-lo >= 64<<10 {
			out = append(out, byteRange{lo, hi})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.Lo <= merged[n-1].Hi {
			merged[n-1].Hi = max(merged[n-1].Hi, r.Hi)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// residentSpan lays anonymous memory over data[lo:hi] (lo page-aligned) and
// reads the file's bytes into it (ok); on failure the file is mapped back.
func residentSpan(f *os.File, data []byte, lo, hi int) (ok bool, err error) {
	if hi <= lo {
		return false, nil
	}
	span := data[lo:hi]
	at := unsafe.Pointer(&span[0])
	if _, err := unix.MmapPtr(-1, 0, at, uintptr(len(span)), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_FIXED); err == nil {
		_ = unix.Madvise(span, unix.MADV_HUGEPAGE) // advice only: without THP the pages stay small
		if _, err := f.ReadAt(span, int64(lo)); err == nil {
			if unix.Mprotect(span, unix.PROT_READ) == nil {
				return true, nil
			}
		}
	}
	if _, err := unix.MmapPtr(int(f.Fd()), int64(lo), at, uintptr(len(span)), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_FIXED); err != nil {
		return false, fmt.Errorf("map bytes [%d, %d) of %s back after a failed read: %w", lo, hi, f.Name(), err)
	}
	return false, nil
}

// protect makes b (inside a span readResident read) writable or read-only
// again, rounded out to huge pages within the span: the span's VMA splits
// and merges again at 2 MiB boundaries, and no huge page is broken up into
// small ones (a range ending inside one would split its mapping for good).
func protect(span, b []byte, writable bool) error {
	base := uintptr(unsafe.Pointer(unsafe.SliceData(span))) // page-aligned
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := max(base, start/hugePage*hugePage) - base
	hi := min(base+uintptr(len(span)), (start+uintptr(len(b))+hugePage-1)/hugePage*hugePage) - base
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mprotect(span[lo:hi], prot)
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }

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
