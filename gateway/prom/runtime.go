package prom

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The Go runtime's and the process's series: the names client_golang's default
// Go collector and Linux process collector write, read from runtime.MemStats,
// runtime/metrics and /proc/self (a family whose source cannot be read is left
// out of that scrape).
var (
	goGCDuration = NewDesc("go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", Summary)
	goGOGC       = NewDesc("go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100 (GOGC, runtime/debug.SetGCPercent).", Gauge)
	goMemLimit   = NewDesc("go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64 (GOMEMLIMIT, runtime/debug.SetMemoryLimit).", Gauge)
	goGoroutines = NewDesc("go_goroutines", "Number of goroutines that currently exist.", Gauge)
	goInfo       = NewDesc("go_info", "Information about the Go environment.", Gauge, "version")
	goMaxProcs   = NewDesc("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting.", Gauge)
	goThreads    = NewDesc("go_threads", "Number of OS threads created.", Gauge)

	procCPU      = NewDesc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", Counter)
	procMaxFDs   = NewDesc("process_max_fds", "Maximum number of open file descriptors.", Gauge)
	procNetIn    = NewDesc("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", Counter)
	procNetOut   = NewDesc("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", Counter)
	procOpenFDs  = NewDesc("process_open_fds", "Number of open file descriptors.", Gauge)
	procRSS      = NewDesc("process_resident_memory_bytes", "Resident memory size in bytes.", Gauge)
	procStart    = NewDesc("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", Gauge)
	procVSize    = NewDesc("process_virtual_memory_bytes", "Virtual memory size in bytes.", Gauge)
	procMaxVSize = NewDesc("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", Gauge)
)

// memStat is one go_memstats_* gauge or counter and the MemStats field it reads.
type memStat struct {
	desc *Desc
	read func(*runtime.MemStats) float64
}

func memGauge(name, help string, read func(*runtime.MemStats) float64) memStat {
	return memStat{NewDesc("go_memstats_"+name, help, Gauge), read}
}

func memCounter(name, help string, read func(*runtime.MemStats) float64) memStat {
	return memStat{NewDesc("go_memstats_"+name, help, Counter), read}
}

var memStats = []memStat{
	memGauge("alloc_bytes", "Number of bytes allocated in heap and currently in use.", func(m *runtime.MemStats) float64 { return float64(m.Alloc) }),
	memCounter("alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", func(m *runtime.MemStats) float64 { return float64(m.TotalAlloc) }),
	memGauge("buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table.", func(m *runtime.MemStats) float64 { return float64(m.BuckHashSys) }),
	memCounter("frees_total", "Total number of heap objects frees.", func(m *runtime.MemStats) float64 { return float64(m.Frees) }),
	memGauge("gc_sys_bytes", "Number of bytes used for garbage collection system metadata.", func(m *runtime.MemStats) float64 { return float64(m.GCSys) }),
	memGauge("heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes.", func(m *runtime.MemStats) float64 { return float64(m.HeapAlloc) }),
	memGauge("heap_idle_bytes", "Number of heap bytes waiting to be used.", func(m *runtime.MemStats) float64 { return float64(m.HeapIdle) }),
	memGauge("heap_inuse_bytes", "Number of heap bytes that are in use.", func(m *runtime.MemStats) float64 { return float64(m.HeapInuse) }),
	memGauge("heap_objects", "Number of currently allocated objects.", func(m *runtime.MemStats) float64 { return float64(m.HeapObjects) }),
	memGauge("heap_released_bytes", "Number of heap bytes released to OS.", func(m *runtime.MemStats) float64 { return float64(m.HeapReleased) }),
	memGauge("heap_sys_bytes", "Number of heap bytes obtained from system.", func(m *runtime.MemStats) float64 { return float64(m.HeapSys) }),
	memGauge("last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", func(m *runtime.MemStats) float64 { return float64(m.LastGC) / 1e9 }),
	memCounter("mallocs_total", "Total number of heap objects allocated, both live and gc-ed.", func(m *runtime.MemStats) float64 { return float64(m.Mallocs) }),
	memGauge("mcache_inuse_bytes", "Number of bytes in use by mcache structures.", func(m *runtime.MemStats) float64 { return float64(m.MCacheInuse) }),
	memGauge("mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system.", func(m *runtime.MemStats) float64 { return float64(m.MCacheSys) }),
	memGauge("mspan_inuse_bytes", "Number of bytes in use by mspan structures.", func(m *runtime.MemStats) float64 { return float64(m.MSpanInuse) }),
	memGauge("mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system.", func(m *runtime.MemStats) float64 { return float64(m.MSpanSys) }),
	memGauge("next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", func(m *runtime.MemStats) float64 { return float64(m.NextGC) }),
	memGauge("other_sys_bytes", "Number of bytes used for other system allocations.", func(m *runtime.MemStats) float64 { return float64(m.OtherSys) }),
	memGauge("stack_inuse_bytes", "Number of bytes in use by the stack allocator.", func(m *runtime.MemStats) float64 { return float64(m.StackInuse) }),
	memGauge("stack_sys_bytes", "Number of bytes obtained from system for stack allocator.", func(m *runtime.MemStats) float64 { return float64(m.StackSys) }),
	memGauge("sys_bytes", "Number of bytes obtained from system.", func(m *runtime.MemStats) float64 { return float64(m.Sys) }),
}

// RegisterRuntime adds the Go runtime's and the process's series to r (what
// client_golang's collectors.NewGoCollector and NewProcessCollector wrote).
func RegisterRuntime(r *Registry) {
	descs := []*Desc{goGCDuration, goGOGC, goMemLimit, goGoroutines, goInfo, goMaxProcs, goThreads,
		procCPU, procMaxFDs, procNetIn, procNetOut, procOpenFDs, procRSS, procStart, procVSize, procMaxVSize}
	for _, m := range memStats {
		descs = append(descs, m.desc)
	}
	r.Register(CollectorFunc(func(emit func(d *Desc, v float64, labelValues ...string)) {
		collectGo(emit)
		collectProcess(emit)
	}), descs...)
	r.add(runtimeSummary{})
}

func collectGo(emit func(d *Desc, v float64, labelValues ...string)) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for _, m := range memStats {
		emit(m.desc, m.read(&ms))
	}
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(samples)
	for i, d := range []*Desc{goGOGC, goMemLimit} {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			emit(d, float64(samples[i].Value.Uint64()))
		}
	}
	emit(goGoroutines, float64(runtime.NumGoroutine()))
	emit(goInfo, 1, runtime.Version())
	emit(goMaxProcs, float64(runtime.GOMAXPROCS(0)))
	if n, ok := statusField("Threads:"); ok {
		emit(goThreads, n)
	}
}

// runtimeSummary writes go_gc_duration_seconds: the GC pauses' minimum,
// quartiles and maximum, their sum and count (debug.ReadGCStats).
type runtimeSummary struct{}

func (runtimeSummary) gather(g *gathering) {
	var st debug.GCStats
	st.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&st)
	q := &quantiles{at: []float64{0, 0.25, 0.5, 0.75, 1}, sum: st.PauseTotal.Seconds(), count: uint64(st.NumGC)}
	for _, d := range st.PauseQuantiles {
		q.val = append(q.val, d.Seconds())
	}
	g.add(goGCDuration, nil, 0, q)
}

// userHZ is the kernel's clock tick for /proc times (USER_HZ, 100 on every
// Linux architecture Go runs on; procfs assumes the same).
const userHZ = 100

func collectProcess(emit func(d *Desc, v float64, labelValues ...string)) {
	if f, ok := procStat(); ok {
		// Fields after the command name (which may hold spaces), from field 3 on:
		// utime 14, stime 15, starttime 22, vsize 23, rss 24.
		at := func(n int) float64 { v, _ := strconv.ParseFloat(f[n-3], 64); return v }
		emit(procCPU, (at(14)+at(15))/userHZ)
		emit(procVSize, at(23))
		emit(procRSS, at(24)*float64(os.Getpagesize()))
		if boot, ok := bootTime(); ok {
			emit(procStart, boot+at(22)/userHZ)
		}
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		emit(procOpenFDs, float64(len(ents)-1)) // less the descriptor reading the directory
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		emit(procMaxFDs, rlimitValue(lim.Cur))
	}
	if unix.Getrlimit(unix.RLIMIT_AS, &lim) == nil {
		emit(procMaxVSize, rlimitValue(lim.Cur))
	}
	if in, out, ok := netOctets(); ok {
		emit(procNetIn, in)
		emit(procNetOut, out)
	}
}

func rlimitValue(v uint64) float64 {
	if v == unix.RLIM_INFINITY {
		return math.MaxUint64
	}
	return float64(v)
}

// procStat is /proc/self/stat from its third field (state) on.
func procStat() ([]string, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(string(b[i+1:]))
	return f, len(f) >= 22
}

// statusField reads a numeric field of /proc/self/status ("Threads:").
func statusField(name string) (float64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, name); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// bootTime is /proc/stat's btime, the epoch second the machine booted.
func bootTime() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// netOctets are the IpExt InOctets and OutOctets of /proc/self/net/netstat (a
// header line of names, then a line of values).
func netOctets() (in, out float64, ok bool) {
	b, err := os.ReadFile("/proc/self/net/netstat")
	if err != nil {
		return 0, 0, false
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "IpExt:" || len(values) != len(names) || values[0] != "IpExt:" {
			continue
		}
		var gotIn, gotOut bool
		for j, n := range names {
			switch n {
			case "InOctets":
				in, err = strconv.ParseFloat(values[j], 64)
				gotIn = err == nil
			case "OutOctets":
				out, err = strconv.ParseFloat(values[j], 64)
				gotOut = err == nil
			}
		}
		return in, out, gotIn && gotOut
	}
	return 0, 0, false
}
