package main

import (
	"os"
	"testing"
	"time"

	"github.com/loomhq/loom/core/kernels"
)

// TestProcCPU reads this process's CPU time from /proc and finds what
// getrusage says, to the 10 ms ticks /proc counts in, after burning some.
func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	for x, start := 1.0, kernels.ProcessCPU(); kernels.ProcessCPU()-start < 50*time.Millisecond; {
		x = x*1.0000001 + 1e-9 // work for the clock
		_ = x
	}
	before := kernels.ProcessCPU()
	got, ok := procCPU(os.Getpid())
	after := kernels.ProcessCPU()
	if !ok {
		t.Fatal("procCPU(self) not readable")
	}
	if got < before-20*time.Millisecond || got > after+20*time.Millisecond || got < 30*time.Millisecond {
		t.Fatalf("procCPU(self) = %v, getrusage %v … %v", got, before, after)
	}
	if _, ok := procCPU(0); ok {
		t.Error("procCPU(0) read something")
	}
}
