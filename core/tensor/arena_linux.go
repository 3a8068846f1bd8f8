//go:build linux

package tensor

import (
	"sync"
	"syscall"
	"unsafe"
)

const (
	madvHugepage = 14      // Linux's MADV_HUGEPAGE (syscall has no name for it)
	hugePage     = 2 << 20 // x86-64 and arm64 transparent huge page
	mapMinBytes  = 1 << 20 // smaller blocks come from the Go heap
)

// blockMaps remembers each mapped block's whole mapping by the address of
// its first float, for freeBlock. Only arenas touch it, a few times per
// process (a block is replaced only when a call outgrows it).
var (
	blockMapsMu sync.Mutex
	blockMaps   = map[*float32][]byte{}
)

// newBlock returns n floats for an arena's block: for a block of at least
// mapMinBytes, a private anonymous mapping aligned to and advised for huge
// pages (mapped true; release it with freeBlock), else a Go slice. Mapped
// memory is zero, like make's.
func newBlock(n int) (block []float32, mapped bool) {
	size := 4 * n
	if size < mapMinBytes {
		return make([]float32, n), false
	}
	// Over-map by one huge page so the block can start on a 2 MiB boundary:
	// the kernel backs only aligned 2 MiB ranges with huge pages.
	m, err := syscall.Mmap(-1, 0, size+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]float32, n), false
	}
	skip := (hugePage - int(uintptr(unsafe.Pointer(&m[0]))%hugePage)) % hugePage
	_ = syscall.Madvise(m[skip:], madvHugepage) // advice only: without THP the pages stay small
	block = unsafe.Slice((*float32)(unsafe.Pointer(&m[skip])), n)
	blockMapsMu.Lock()
	blockMaps[&block[0]] = m
	blockMapsMu.Unlock()
	return block, true
}

// freeBlock unmaps a block newBlock mapped; a heap block is left to the
// collector.
func freeBlock(block []float32) {
	if len(block) == 0 {
		return
	}
	blockMapsMu.Lock()
	m, ok := blockMaps[&block[0]]
	delete(blockMaps, &block[0])
	blockMapsMu.Unlock()
	if ok {
		_ = syscall.Munmap(m)
	}
}
