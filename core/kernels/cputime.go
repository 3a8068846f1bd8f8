package kernels

import (
	"syscall"
	"time"
)

// ProcessCPU is the user + system CPU time this process has used so far, on
// every thread. Benchmarks report work per CPU second beside wall time: on a
// shared machine wall time measures the neighbours, CPU time mostly the work
// (and a pool's spinning, which is work the second thread costs).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
