// Package host runs Loom plugin processes for the worker. It finds
// loom-plugin-* binaries in a directory, starts each through hashicorp's
// go-plugin (gRPC only, versioned handshake), and hands every plugin to the
// worker as a sdk.Engine that outlives the process behind it: the host
// health-checks each plugin, restarts one that crashed or hung with
// exponential backoff, and routes later jobs to the new process.
//
// Lifecycle:
//
//	h, err := host.New(host.Config{Dir: "bin", ModelDirs: []string{"models"}})
//	err = h.Start(ctx)        // launch and Describe every plugin found
//	engines := h.Engines()    // name ("text" for loom-plugin-text) → Engine
//	manifests := h.Manifests()
//	defer h.Close()           // kills every plugin process
//
// A job running when its plugin process dies fails with
// *sdk.Error{Code: sdk.CodePluginCrashed}; it did not fail on its
// merits, so the worker retries it (the next run waits for the restart).
package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/loomhq/loom/plugins/sdk"
)

// BinaryPrefix starts the file name of every plugin binary; the rest of the
// name is the plugin's name in Engines and Manifests.
const BinaryPrefix = "loom-plugin-"

// Config says where plugins are and how to supervise them. Zero durations
// take the defaults named beside them.
type Config struct {
	// Dir is searched for plugin binaries (see Discover) unless Binaries is set.
	Dir string
	// Binaries, when set, are the plugin binaries to run instead of Dir's.
	Binaries []string
	// ModelDirs reach each plugin as LOOM_MODELS (sdk.ModelDirs).
	ModelDirs []string
	// Env adds KEY=VALUE pairs to each plugin's environment, which is
	// otherwise the host's own.
	Env []string
	// Logger receives the host's messages, go-plugin's and each plugin's
	// log lines (with "plugin": the plugin's name; go-plugin's hclog is
	// routed into it). Default: slog.Default().
	Logger *slog.Logger

	StartTimeout      time.Duration // launch, handshake and Describe: 30s
	HealthInterval    time.Duration // between health checks: 10s
	HealthTimeout     time.Duration // one health check: 5s
	HealthFailures    int           // consecutive failed checks that mean "hung": 3
	RestartBackoff    time.Duration // first wait before a restart: 250ms; doubles per failure
	RestartBackoffMax time.Duration // cap of that wait: 30s; a plugin up this long starts over at RestartBackoff
	ReadyWait         time.Duration // how long a Run waits for a restarting plugin: 30s

	// OnRestart, when set, is called after each successful restart with the
	// plugin's name and its restart count so far (for metrics).
	OnRestart func(name string, restarts int)
}

// exitPoll is how often the supervisor looks whether a process exited;
// go-plugin offers no channel for it, and the check is a mutex read.
const exitPoll = 100 * time.Millisecond

func (c *Config) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.StartTimeout, 30*time.Second)
	def(&c.HealthInterval, 10*time.Second)
	def(&c.HealthTimeout, 5*time.Second)
	def(&c.RestartBackoff, 250*time.Millisecond)
	def(&c.RestartBackoffMax, 30*time.Second)
	def(&c.ReadyWait, 30*time.Second)
	if c.HealthFailures <= 0 {
		c.HealthFailures = 3
	}
	if c.RestartBackoffMax < c.RestartBackoff {
		c.RestartBackoffMax = c.RestartBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Discover returns the plugin binaries in dir, sorted: regular, executable
// files whose name is BinaryPrefix followed by a name of letters, digits,
// '-' or '_' (so "loom-plugin-text.log" or a "loom-plugin-text~" backup is
// not taken for a plugin).
func Discover(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("discover plugins: %w", err)
	}
	var paths []string
	for _, e := range entries {
		name, ok := pluginName(e.Name())
		if !ok || name == "" {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	slices.Sort(paths)
	return paths, nil
}

// pluginName returns NAME for a file named loom-plugin-NAME.
func pluginName(file string) (string, bool) {
	name, ok := strings.CutPrefix(file, BinaryPrefix)
	if !ok {
		return "", false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", false
		}
	}
	return name, true
}

// Host runs and supervises plugin processes. Its methods are safe for
// concurrent use.
type Host struct {
	cfg Config

	mu      sync.Mutex
	started bool
	closed  bool
	procs   map[string]*process

	stop     context.CancelFunc // ends the supervisors
	superCtx context.Context    // the supervisors' context (Rescan starts more)
	done     chan struct{}      // closed by Close
	wg       sync.WaitGroup     // supervisors
}

// New checks cfg and returns a Host; no process starts before Start.
func New(cfg Config) (*Host, error) {
	if cfg.Dir == "" && len(cfg.Binaries) == 0 {
		return nil, errors.New("plugin host: neither Dir nor Binaries is set")
	}
	for _, b := range cfg.Binaries {
		if _, ok := pluginName(filepath.Base(b)); !ok {
			return nil, fmt.Errorf("plugin host: %s is not named %sNAME", b, BinaryPrefix)
		}
	}
	for _, d := range cfg.ModelDirs {
		if strings.ContainsRune(d, os.PathListSeparator) {
			return nil, fmt.Errorf("plugin host: model dir %q contains the list separator %q", d, os.PathListSeparator)
		}
	}
	cfg.fill()
	return &Host{cfg: cfg, procs: map[string]*process{}, done: make(chan struct{})}, nil
}

// Start launches every plugin and reads its manifest, in parallel. It
// returns an error naming each plugin that failed to start (those are not
// retried; the others run and are in Engines), or an error when there is no
// plugin at all. Supervision (health checks, restarts) lasts until Close,
// not until ctx ends; ctx bounds the start only.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errors.New("plugin host: closed")
	}
	if h.started {
		h.mu.Unlock()
		return errors.New("plugin host: already started")
	}
	h.started = true
	sweepSockDirs(h.cfg.Logger)
	superCtx, stop := context.WithCancel(context.Background())
	h.stop, h.superCtx = stop, superCtx
	h.mu.Unlock()

	paths := h.cfg.Binaries
	if len(paths) == 0 {
		var err error
		if paths, err = Discover(h.cfg.Dir); err != nil {
			return err
		}
		if len(paths) == 0 {
			return fmt.Errorf("plugin host: no %s* binaries in %s", BinaryPrefix, h.cfg.Dir)
		}
	}

	procs := make([]*process, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, path := range paths {
		name, _ := pluginName(filepath.Base(path))
		p := &process{name: name, path: path, h: h, up: make(chan struct{}), kick: make(chan *instance, 1)}
		procs[i] = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst, err := p.launch(ctx)
			if err != nil {
				errs[i] = fmt.Errorf("start plugin %s: %w", name, err)
				return
			}
			p.setUp(inst)
		}()
	}
	wg.Wait()

	h.mu.Lock()
	defer h.mu.Unlock()
	for i, p := range procs {
		if errs[i] != nil {
			continue
		}
		if h.closed { // Close raced with Start: do not leave orphans
			p.current().kill()
			continue
		}
		if _, dup := h.procs[p.name]; dup {
			errs[i] = fmt.Errorf("start plugin %s: two binaries with that name (%s)", p.name, p.path)
			p.current().kill()
			continue
		}
		if clash := laneClash(h.procs, p); clash != "" {
			errs[i] = fmt.Errorf("start plugin %s (%s): %s", p.name, p.path, clash)
			p.current().kill()
			continue
		}
		h.procs[p.name] = p
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			p.supervise(superCtx)
		}()
	}
	return errors.Join(errs...)
}

// Rescan looks in Dir again and starts the plugin binaries that are not
// running yet (a new file since Start or the last Rescan), under the same
// rules as Start: a failed start or a model id clash is reported and that
// plugin left out. It returns the engines of the plugins it started, for
// the worker's AddEngines. Running plugins are left alone: a replaced
// binary of one is picked up at that plugin's next restart.
func (h *Host) Rescan(ctx context.Context) (map[string]sdk.Engine, error) {
	if h.cfg.Dir == "" {
		return nil, errors.New("plugin host: Rescan needs Dir (it was started with a list of binaries)")
	}
	paths, err := Discover(h.cfg.Dir)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closed || !h.started {
		h.mu.Unlock()
		return nil, errors.New("plugin host: Rescan before Start or after Close")
	}
	superCtx := h.superCtx
	var fresh []string
	for _, path := range paths {
		name, _ := pluginName(filepath.Base(path))
		if _, ok := h.procs[name]; !ok {
			fresh = append(fresh, path)
		}
	}
	h.mu.Unlock()
	out := map[string]sdk.Engine{}
	var errs []error
	for _, path := range fresh {
		name, _ := pluginName(filepath.Base(path))
		p := &process{name: name, path: path, h: h, up: make(chan struct{}), kick: make(chan *instance, 1)}
		inst, err := p.launch(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("start plugin %s: %w", name, err))
			continue
		}
		p.setUp(inst)
		h.mu.Lock()
		clash := laneClash(h.procs, p)
		switch {
		case h.closed:
			clash = "host closed"
		case h.procs[name] != nil:
			clash = "started meanwhile"
		}
		if clash != "" {
			h.mu.Unlock()
			inst.kill()
			errs = append(errs, fmt.Errorf("start plugin %s (%s): %s", name, path, clash))
			continue
		}
		h.procs[name] = p
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			p.supervise(superCtx)
		}()
		h.mu.Unlock()
		h.cfg.Logger.Info("plugin added by rescan", "plugin", name, "path", path, "models", len(inst.manifest.Models))
		out[name] = &engine{p: p}
	}
	return out, errors.Join(errs...)
}

// laneClash says why p may not join running: a model id it serves for a task
// that a running plugin serves under the same id. Jobs name a task and a
// model, not a plugin, so such a pair would go to either; the plugin that
// sorts later is refused. One id for different tasks in two plugins (a
// pipeline folder whose text encoder another plugin serves for embeddings)
// is no clash.
func laneClash(running map[string]*process, p *process) string {
	mine := p.manifestNow()
	names := make([]string, 0, len(running))
	for n := range running {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		other := running[n].manifestNow()
		for _, a := range mine.Models {
			for _, b := range other.Models {
				if a.ID != b.ID {
					continue
				}
				for _, t := range modelTasks(mine, a) {
					if slices.Contains(modelTasks(other, b), t) {
						return fmt.Sprintf("model id %q for %s is already served by plugin %s; model ids are global "+
							"(a job names a task and a model, not a plugin), so rename one of them — the plugin was not started", a.ID, t, n)
					}
				}
			}
		}
	}
	return ""
}

func modelTasks(m sdk.Manifest, mi sdk.ModelInfo) []string {
	if len(mi.Tasks) > 0 {
		return mi.Tasks
	}
	return m.Tasks
}

// Engines returns each running plugin by name. An Engine stays valid across
// restarts of its process; Describe answers the manifest of the newest one.
func (h *Host) Engines() map[string]sdk.Engine {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]sdk.Engine, len(h.procs))
	for name, p := range h.procs {
		out[name] = &engine{p: p}
	}
	return out
}

// Manifests returns each running plugin's manifest by plugin name, as read
// at its latest (re)start.
func (h *Host) Manifests() map[string]sdk.Manifest {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]sdk.Manifest, len(h.procs))
	for name, p := range h.procs {
		out[name] = p.manifestNow()
	}
	return out
}

// RestartCount returns how many times the named plugin was restarted.
func (h *Host) RestartCount(name string) int {
	p := h.process(name)
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// PID returns the process id of the named plugin's running process, or 0
// when there is none (no such plugin, or between a crash and its restart).
// `loom bench` reads the process's CPU time with it.
func (h *Host) PID(name string) int {
	p := h.process(name)
	if p == nil {
		return 0
	}
	inst := p.current()
	if inst == nil {
		return 0
	}
	if rc := inst.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// process is the named plugin's supervised process, nil if there is none.
func (h *Host) process(name string) *process {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.procs[name]
}

// Close stops supervision and kills every plugin process (gracefully first,
// then by force after go-plugin's two seconds). Jobs still running fail with
// CodePluginCrashed. Close is idempotent.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.done)
	stop := h.stop
	procs := make([]*process, 0, len(h.procs))
	for _, p := range h.procs {
		procs = append(procs, p)
	}
	h.mu.Unlock()

	if stop != nil {
		stop()
	}
	h.wg.Wait() // no supervisor restarts anything after this
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if inst := p.setDown(); inst != nil {
				inst.kill()
			}
		}()
	}
	wg.Wait()
	return nil
}

func (h *Host) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// environ is a plugin's environment: the host's, with LOOM_MODELS from the
// config (never inherited, so the config is the one source of truth) and
// cfg.Env last so it wins.
func (h *Host) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == sdk.ModelsEnv || k == sdk.Handshake.MagicCookieKey {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, sdk.ModelsEnv+"="+sdk.JoinModelDirs(h.cfg.ModelDirs))
	return append(env, h.cfg.Env...)
}

// instance is one running process of a plugin.
type instance struct {
	cmd      *exec.Cmd // go-plugin runs this very value
	client   *plugin.Client
	engine   *sdk.Client
	manifest sdk.Manifest
	started  time.Time
	stderr   *stderrTail // the last lines the process wrote to its stderr
	// sockDir holds the process's Unix socket (go-plugin's
	// PLUGIN_UNIX_SOCKET_DIR); kill removes it, so a process that died
	// without closing its listener (SIGKILL, OOM, a crash) leaves nothing
	// behind in the temp directory.
	sockDir string
	// dead is set by a Run that saw this process exit mid-job, before the
	// supervisor's next poll replaces it: new Runs wait for the restart
	// instead of failing on the corpse (which would burn the job's retry).
	dead atomic.Bool
}

// exited reports whether the process is gone.
func (i *instance) exited() bool { return i.client.Exited() }

// hardKill ends the process at once (SIGKILL), for a hung plugin whose
// graceful shutdown RPC would hang as well; then releases the client. It
// goes through the process handle, not a pid, so a reaped process's reused
// pid is never hit.
func (i *instance) hardKill() {
	if i.cmd.Process != nil {
		_ = i.cmd.Process.Kill()
	}
	i.kill()
}

// kill ends the process through go-plugin (gracefully, then by force after
// its two seconds) and removes the process's socket directory.
func (i *instance) kill() {
	i.client.Kill()
	_ = os.RemoveAll(i.sockDir)
}

// process is one plugin across its restarts.
type process struct {
	name string
	path string
	h    *Host
	kick chan *instance // a Run saw this instance's connection break: look now

	mu       sync.Mutex
	inst     *instance     // nil while down
	up       chan struct{} // closed while inst != nil
	manifest sdk.Manifest
	restarts int
}

func (p *process) logger() *slog.Logger { return p.h.cfg.Logger.With("plugin", p.name) }

func (p *process) current() *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inst
}

func (p *process) manifestNow() sdk.Manifest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.manifest
}

func (p *process) setUp(inst *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inst = inst
	p.manifest = inst.manifest
	close(p.up)
}

// setDown marks the plugin down and returns the instance that was up.
func (p *process) setDown() *instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	inst := p.inst
	if inst != nil {
		p.inst = nil
		p.up = make(chan struct{})
	}
	return inst
}

// launch starts a new process and reads its manifest.
func (p *process) launch(ctx context.Context) (*instance, error) {
	cfg := p.h.cfg
	// The process makes its Unix socket in a directory of its own
	// (go-plugin's EnvUnixSocketDir), which kill removes: without it the
	// socket goes straight into the temp directory and stays there when
	// the process is killed.
	sockDir, err := newSockDir()
	if err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	cmd := exec.Command(p.path)
	cmd.Env = append(p.h.environ(), plugin.EnvUnixSocketDir+"="+sockDir)
	cmd.SysProcAttr = pluginProcAttr()
	log := p.logger()
	tail := &stderrTail{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		VersionedPlugins: sdk.VersionedPlugins(nil),
		Cmd:              cmd,
		SkipHostEnv:      true, // environ() already holds it, with LOOM_MODELS ours
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true, // only this host may talk to the plugin's socket
		StartTimeout:     cfg.StartTimeout,
		Logger:           toHCLog(log, ""),
		GRPCDialOptions:  sdk.GRPCDialOptions(),
		SyncStdout:       &lineLog{log: log, stream: "stdout"},
		SyncStderr:       &lineLog{log: log, stream: "stderr"},
		Stderr:           tail, // the raw stderr: a runtime panic's lines land here
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		_ = os.RemoveAll(sockDir)
		return nil, err
	}
	raw, err := rpc.Dispense(sdk.PluginKey)
	if err != nil {
		client.Kill()
		_ = os.RemoveAll(sockDir)
		return nil, fmt.Errorf("dispense: %w", err)
	}
	eng, ok := raw.(*sdk.Client)
	if !ok {
		client.Kill()
		_ = os.RemoveAll(sockDir)
		return nil, fmt.Errorf("dispense: unexpected %T", raw)
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	m, err := eng.Describe(dctx)
	if err != nil {
		client.Kill()
		_ = os.RemoveAll(sockDir)
		return nil, fmt.Errorf("describe: %w", err)
	}
	if m.Name != p.name {
		p.logger().Warn("manifest name differs from the binary's", "manifest_name", m.Name, "binary", p.path)
	}
	return &instance{cmd: cmd, client: client, engine: eng, manifest: m, started: time.Now(), stderr: tail, sockDir: sockDir}, nil
}

// supervise watches the running instance and restarts it when it exits or
// fails HealthFailures checks in a row. It returns when ctx ends.
func (p *process) supervise(ctx context.Context) {
	cfg := p.h.cfg
	health := time.NewTicker(cfg.HealthInterval)
	defer health.Stop()
	poll := time.NewTicker(exitPoll)
	defer poll.Stop()
	backoff := cfg.RestartBackoff
	failures := 0
	for {
		inst := p.current()
		reason := ""
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			if inst.exited() {
				reason = "process exited"
			}
		case broken := <-p.kick:
			if broken == inst { // a stale kick is about a process already replaced
				reason = p.confirmBroken(ctx, inst)
			}
		case <-health.C:
			hctx, cancel := context.WithTimeout(ctx, cfg.HealthTimeout)
			err := inst.engine.Health(hctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				failures = 0
				continue
			}
			failures++
			p.logger().Warn("health check failed", "error", err, "failures", failures)
			if failures >= cfg.HealthFailures {
				reason = fmt.Sprintf("%d health checks failed in a row, last: %v", failures, err)
			}
		}
		if reason == "" {
			continue
		}
		failures = 0
		p.setDown()
		inst.hardKill()
		if time.Since(inst.started) >= cfg.RestartBackoffMax {
			backoff = cfg.RestartBackoff // it was healthy for a good while
		}
		p.logger().Error("plugin down; restarting", "reason", reason, "backoff", backoff)
		if !p.restart(ctx, &backoff) {
			return
		}
	}
}

// confirmBroken is called when a Run saw the connection break: the process
// may not be reaped yet, or it may be alive but unreachable. It returns a
// reason to restart, or "" when the plugin answers after all.
func (p *process) confirmBroken(ctx context.Context, inst *instance) string {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if inst.exited() {
			return "process exited during a job"
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(20 * time.Millisecond):
		}
	}
	hctx, cancel := context.WithTimeout(ctx, p.h.cfg.HealthTimeout)
	defer cancel()
	if err := inst.engine.Health(hctx); err != nil && ctx.Err() == nil {
		return fmt.Sprintf("connection lost during a job and health check failed: %v", err)
	}
	return ""
}

// restart launches a new instance, waiting backoff before each try and
// doubling it (up to the cap) after each failure. It returns false when ctx
// ended first.
func (p *process) restart(ctx context.Context, backoff *time.Duration) bool {
	cfg := p.h.cfg
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(*backoff):
		}
		*backoff = min(*backoff*2, cfg.RestartBackoffMax)
		inst, err := p.launch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return false
			}
			p.logger().Error("restart failed", "error", err, "next_backoff", *backoff)
			continue
		}
		if ctx.Err() != nil { // Close began while launching
			inst.kill()
			return false
		}
		p.mu.Lock()
		p.restarts++
		n := p.restarts
		p.mu.Unlock()
		p.setUp(inst)
		p.logger().Info("plugin restarted", "restarts", n)
		if cfg.OnRestart != nil {
			cfg.OnRestart(p.name, n)
		}
		return true
	}
}

// waitUp returns the running instance, waiting up to ReadyWait for a
// restart to finish.
func (p *process) waitUp(ctx context.Context) (*instance, error) {
	timer := time.NewTimer(p.h.cfg.ReadyWait)
	defer timer.Stop()
	for {
		if p.h.isClosed() {
			return nil, sdk.Errorf(sdk.CodePluginCrashed, "plugin %s: host is closed", p.name)
		}
		p.mu.Lock()
		inst, up := p.inst, p.up
		p.mu.Unlock()
		var recheck <-chan time.Time
		if inst != nil {
			if !inst.dead.Load() {
				return inst, nil
			}
			recheck = time.After(20 * time.Millisecond) // the supervisor is about to replace it
		}
		select {
		case <-recheck:
		case <-up:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.h.done:
		case <-timer.C:
			return nil, sdk.Errorf(sdk.CodePluginCrashed, "plugin %s is down and did not restart within %s", p.name, p.h.cfg.ReadyWait)
		}
	}
}

// engine is the sdk.Engine the worker sees for one plugin; it follows
// the plugin across restarts.
type engine struct{ p *process }

var (
	_ sdk.Engine        = (*engine)(nil)
	_ sdk.HealthChecker = (*engine)(nil)
	_ sdk.Unloader      = (*engine)(nil)
)

// Describe returns the manifest read when the current process started.
func (e *engine) Describe(ctx context.Context) (sdk.Manifest, error) {
	if _, err := e.p.waitUp(ctx); err != nil {
		return sdk.Manifest{}, err
	}
	return e.p.manifestNow(), nil
}

// Health asks the current process.
func (e *engine) Health(ctx context.Context) error {
	inst := e.p.current()
	if inst == nil {
		return fmt.Errorf("plugin %s is restarting", e.p.name)
	}
	return inst.engine.Health(ctx)
}

// Unload asks the current process to free model (sdk.Unloader); a plugin
// that cannot answers sdk.ErrUnloadUnsupported.
func (e *engine) Unload(ctx context.Context, model string) error {
	inst := e.p.current()
	if inst == nil {
		return fmt.Errorf("plugin %s is restarting", e.p.name)
	}
	return inst.engine.Unload(ctx, model)
}

// Run runs job on the current process. If the process dies during the job
// the error is *sdk.Error{Code: CodePluginCrashed} and the supervisor is
// told at once.
func (e *engine) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	inst, err := e.p.waitUp(ctx)
	if err != nil {
		return err
	}
	err = inst.engine.Run(ctx, job, emit)
	if err == nil || ctx.Err() != nil {
		return err
	}
	var pe *sdk.Error
	crashed := errors.As(err, &pe) && pe.Code == sdk.CodePluginCrashed
	if !crashed && pe == nil && inst.exited() {
		crashed = true // an emit or transport error while the process died
	}
	if !crashed {
		return err
	}
	// A killed process is reaped a moment after its connection breaks; wait
	// for that so the instance is marked dead before the worker retries.
	for i := 0; i < 25 && !inst.exited(); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if inst.exited() {
		inst.dead.Store(true)
	}
	select {
	case e.p.kick <- inst:
	default:
	}
	if e.p.h.isClosed() {
		return sdk.Errorf(sdk.CodePluginCrashed, "plugin %s: host closed during job %s", e.p.name, job.ID)
	}
	// The client is told what the process said last, in a line, and an
	// error id; the log line with that id has the plugin's last stderr
	// lines (a panic's goroutine dump among them).
	id := sdk.NewErrorID()
	lines := inst.stderr.Lines()
	e.p.logger().Error("plugin crashed during a job; the worker decides whether it runs again", "job", job.ID,
		"error_id", id, "exited", inst.exited(), "error", err, "stderr_tail", strings.Join(lines, "\n"))
	said := crashSummary(lines)
	if said == "" {
		said = err.Error()
	}
	return sdk.Errorf(sdk.CodePluginCrashed, "plugin %s died during job %s: %s (error id %s; the server log has its last stderr lines)",
		e.p.name, job.ID, said, id)
}

// lineLog logs what a plugin writes to its stdout/stderr after go-plugin
// took them over, one log line per text line, under the plugin's name.
type lineLog struct {
	log    *slog.Logger
	stream string
	mu     sync.Mutex
	buf    []byte
}

var _ io.Writer = (*lineLog)(nil)

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, b...)
	for {
		i := slices.Index(l.buf, '\n')
		if i < 0 {
			break
		}
		l.log.Info(strings.TrimRight(string(l.buf[:i]), "\r"), "stream", l.stream)
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a runaway line: log what we have
		l.log.Info(string(l.buf), "stream", l.stream)
		l.buf = l.buf[:0]
	}
	return len(b), nil
}

// stderrTailLines is how many of a plugin's last stderr lines the host keeps
// for the log line of a crash.
const stderrTailLines = 40

// stderrTail keeps the last stderrTailLines lines a plugin process wrote to
// its raw stderr (go-plugin copies them here line by line).
type stderrTail struct {
	mu    sync.Mutex
	lines []string
	part  []byte
}

func (t *stderrTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, b...)
	for {
		i := slices.Index(t.part, '\n')
		if i < 0 {
			break
		}
		line := string(t.part[:min(i, 1024)]) // a line is kept up to 1 KiB
		t.part = t.part[i+1:]
		t.lines = append(t.lines, strings.TrimRight(line, "\r"))
		if len(t.lines) > stderrTailLines {
			t.lines = slices.Delete(t.lines, 0, len(t.lines)-stderrTailLines)
		}
	}
	if len(t.part) > 1024 {
		t.part = t.part[:1024]
	}
	return len(b), nil
}

// Lines returns the kept lines, oldest first.
func (t *stderrTail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.lines)
}

// crashSummary is what a client is told of a crash, from the plugin's last
// stderr lines: the Go runtime's "panic: …" or "fatal error: …" line when
// there is one, else the last line that is not part of a goroutine dump
// (a JSON log line as its message) — one line, no stack, no build paths.
func crashSummary(lines []string) string {
	last := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return cut(l, 300)
		}
		if strings.HasPrefix(l, "goroutine ") {
			break // the dump of a crash whose first line is cut off
		}
		if strings.HasPrefix(l, "{") {
			var entry struct {
				Level   string `json:"@level"`
				Message string `json:"@message"`
			}
			if json.Unmarshal([]byte(l), &entry) == nil && entry.Message != "" {
				l = entry.Level + ": " + entry.Message
			}
		}
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "\t") {
			last = l
		}
	}
	return cut(last, 300)
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
