package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/host"
	"github.com/loomhq/loom/plugins/sdk"
)

// defaultPluginDir is where plugin binaries live unless --plugins says
// otherwise: beside the loom binary (make build puts them all in bin/).
func defaultPluginDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "bin"
	}
	return filepath.Dir(exe)
}

// pluginSession runs jobs on one plugin process through the plugin host —
// the code path the worker uses (spawn, handshake, Describe, Run) — so the
// CLI's answers are the server's answers.
type pluginSession struct {
	host   *host.Host
	name   string
	engine sdk.Engine
}

// startPlugin launches loom-plugin-NAME from dir with modelDirs as its
// LOOM_MODELS and extra KEY=VALUE environment. Plugin logs go to logw at
// warning level and above.
func startPlugin(ctx context.Context, dir, name string, modelDirs, env []string, logw io.Writer) (*pluginSession, error) {
	bin := filepath.Join(dir, host.BinaryPrefix+name)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("plugin %s not found in %s (run make build, or pass --plugins DIR): %w", name, dir, err)
	}
	h, err := host.New(host.Config{
		Binaries:  []string{bin},
		ModelDirs: modelDirs,
		Env:       env,
		Logger:    quietLogger(logw),
	})
	if err != nil {
		return nil, err
	}
	if err := h.Start(ctx); err != nil {
		h.Close()
		return nil, err
	}
	e, ok := h.Engines()[name]
	if !ok {
		h.Close()
		return nil, fmt.Errorf("plugin %s did not start", name)
	}
	return &pluginSession{host: h, name: name, engine: e}, nil
}

func (s *pluginSession) Close() error { return s.host.Close() }

// cpuMark is the CPU time the plugin process and this one had used at the
// start of a timed span.
type cpuMark struct {
	plugin, host time.Duration
	ok           bool // the plugin's could be read
}

func (s *pluginSession) markCPU() cpuMark {
	p, ok := procCPU(s.host.PID(s.name))
	return cpuMark{plugin: p, host: kernels.ProcessCPU(), ok: ok}
}

// addCPU sets out["plugin_cpu_"+key] and out["host_cpu_"+key] to the CPU
// seconds each process used since m, times scale (1000/images: ms per
// image; 1/audio seconds: a real-time factor). Beside the wall time they
// say where a run's time went: kernel threads that had their cores show as
// plugin CPU near threads × wall (spinning included), a thread that waited
// for a core does not, and the host's share is the gRPC hop's.
func (s *pluginSession) addCPU(out map[string]any, m cpuMark, key string, scale float64) {
	out["host_cpu_"+key] = roundSig((kernels.ProcessCPU()-m.host).Seconds()*scale, 4)
	if p, ok := procCPU(s.host.PID(s.name)); ok && m.ok {
		out["plugin_cpu_"+key] = roundSig((p-m.plugin).Seconds()*scale, 4)
	}
}

// procCPU is process pid's user + system CPU time from /proc/PID/stat, in
// clock ticks of 10 ms (Linux's USER_HZ); false where there is no /proc.
func procCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// "pid (comm) state ppid …": the command may hold spaces and ")", so
	// the fields count from the last ")"; utime and stime are the 14th and
	// 15th fields, the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// modelDirsDefault is the default of --models: $LOOM_MODELS, else models/
// (the project's own models, relative to the working directory). The binary
// knows no other place; make run passes ../shared/models too when present.
func modelDirsDefault() string {
	if v := os.Getenv(sdk.ModelsEnv); v != "" {
		return v
	}
	return "models"
}

// absDirs makes model directories absolute so a plugin process started
// elsewhere finds them.
func absDirs(v string) []string {
	var out []string
	for _, d := range sdk.SplitModelDirs(v) {
		if a, err := filepath.Abs(d); err == nil {
			d = a
		}
		out = append(out, d)
	}
	return out
}
