package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/loomhq/loom/plugins/host"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/plugintest"
)

//go:embed scaffold/*.tmpl
var scaffoldFS embed.FS

// sdkVersion is the SDK module version a scaffolded plugin requires.
const sdkVersion = "v0.1.0"

func init() {
	register(command{Name: "plugin new", Summary: "scaffold an out-of-tree plugin module (engine, test, README)", Run: runPluginNew})
	register(command{Name: "plugin check", Summary: "start a plugin binary and check its handshake, manifest and a sample job", Run: runPluginCheck})
}

// Compiled on first use: package-level regexps compile in main's init, in
// every loom command (most of main's 46 KB of init heap).
var (
	pluginNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`) })
	taskRE       = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`) })
)

// scaffold is what the templates are filled with.
type scaffold struct {
	Name, Task, Module, SDKVersion, SDKDir string
}

func runPluginNew(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plugin new", stderr)
	task := fs.String("task", "", "the task the plugin serves, modality.verb (e.g. image.grayscale)")
	dir := fs.String("dir", "", "where to write the module (default ./loom-plugin-NAME; must not exist)")
	module := fs.String("module", "", "the module path (default example.com/loom-plugin-NAME)")
	sdkDir := fs.String("sdk", "", "a local checkout's plugins/sdk folder to use through a replace line (for working offline or on the SDK)")
	name, err := parseOneArg(fs, args, stderr, "Usage: loom plugin new NAME --task TASK [--dir DIR] [--module PATH] [--sdk DIR]")
	if err != nil {
		return err
	}
	switch {
	case name == "":
		return usagef("name the plugin: loom plugin new NAME --task TASK")
	case !pluginNameRE().MatchString(name):
		return usagef("plugin name %q: use 1…40 lower-case letters, digits, '-' or '_', starting with a letter (the binary is loom-plugin-NAME)", name)
	case *task == "":
		return usagef("--task is required (e.g. --task image.grayscale)")
	case !taskRE().MatchString(*task):
		return usagef("task %q: name it modality.verb in lower case, e.g. image.grayscale", *task)
	}
	sc := scaffold{Name: name, Task: *task, Module: *module, SDKVersion: sdkVersion}
	if sc.Module == "" {
		sc.Module = "example.com/loom-plugin-" + name
	}
	if *sdkDir != "" {
		abs, err := filepath.Abs(*sdkDir)
		if err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return usagef("--sdk %s: no go.mod there (point it at LOOM_CHECKOUT/plugins/sdk)", *sdkDir)
		}
		sc.SDKDir = abs
	}
	out := *dir
	if out == "" {
		out = "loom-plugin-" + name
	}
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s already exists; pick another --dir", out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	files := map[string]string{"go.mod.tmpl": "go.mod", "main.go.tmpl": "main.go", "engine.go.tmpl": "engine.go",
		"engine_test.go.tmpl": "engine_test.go", "README.md.tmpl": "README.md"}
	for src, dst := range files {
		// [[ ]] delimiters: Go's composite literals are full of {{.
		t, err := template.New(src).Delims("[[", "]]").ParseFS(scaffoldFS, "scaffold/"+src)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, sc); err != nil {
			return fmt.Errorf("scaffold %s: %w", dst, err)
		}
		if err := os.WriteFile(filepath.Join(out, dst), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if sc.SDKDir != "" {
		// The SDK's own checksums cover what the plugin needs from it, so
		// the module builds without asking the checksum database.
		if sum, err := os.ReadFile(filepath.Join(sc.SDKDir, "go.sum")); err == nil {
			if err := os.WriteFile(filepath.Join(out, "go.sum"), sum, 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stdout, "wrote %s (module %s, task %s)\nnext:\n  cd %s && go mod tidy && go test ./...\n  go build -o loom-plugin-%s . && loom plugin check ./loom-plugin-%s\n",
		out, sc.Module, sc.Task, out, name, name)
	return nil
}

// parseOneArg parses flags around one positional argument (before or after
// them); it answers "" when there is none.
func parseOneArg(fs *flag.FlagSet, args []string, stderr io.Writer, usage string) (string, error) {
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	arg, rest := "", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, rest = args[0], args[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return "", err
	}
	switch {
	case arg == "" && fs.NArg() == 1:
		arg = fs.Arg(0)
	case fs.NArg() > 0:
		return "", usagef("one argument, then flags (got %q more)", fs.Args())
	}
	return arg, nil
}

// checkReport collects what loom plugin check found.
type checkReport struct {
	w        io.Writer
	problems int
}

func (r *checkReport) ok(format string, args ...any) {
	fmt.Fprintf(r.w, "ok       "+format+"\n", args...)
}
func (r *checkReport) bad(format string, args ...any) {
	r.problems++
	fmt.Fprintf(r.w, "PROBLEM  "+format+"\n", args...)
}

func runPluginCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plugin check", stderr)
	params := fs.String("params", "", "params JSON of the sample job (default: made from the schema's required keys)")
	taskFlag := fs.String("task", "", "the sample job's task (default: the first ready model's first task)")
	models := fs.String("models", "", "model directories for the plugin (LOOM_MODELS)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long the sample job may take")
	path, err := parseOneArg(fs, args, stderr, "Usage: loom plugin check PATH [--task TASK] [--params JSON] [--models DIRS]")
	if err != nil {
		return err
	}
	if path == "" {
		return usagef("name one plugin binary: loom plugin check PATH")
	}
	r := &checkReport{w: stdout}
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", path, err)
	case !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s is not an executable file (go build -o %s .)", path, path)
	}
	if _, ok := strings.CutPrefix(filepath.Base(path), host.BinaryPrefix); !ok {
		r.bad("the file is named %s; loom serve only runs files named %sNAME", filepath.Base(path), host.BinaryPrefix)
		// Run it under the right name so the rest can be checked.
		tmp, err := os.MkdirTemp("", "loom-plugin-check-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		link := filepath.Join(tmp, host.BinaryPrefix+"checked")
		abs, _ := filepath.Abs(path)
		if err := os.Symlink(abs, link); err != nil {
			return err
		}
		path = link
	}
	var logs bytes.Buffer
	h, err := host.New(host.Config{Binaries: []string{path}, ModelDirs: absDirs(*models), StartTimeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer h.Close()
	ctx := context.Background()
	if err := h.Start(ctx); err != nil {
		r.bad("the plugin did not start: %v", plainStartError(err))
		if logs.Len() > 0 {
			fmt.Fprintf(stdout, "its log:\n%s", logs.String())
		}
		return fmt.Errorf("%d problem(s)", r.problems)
	}
	r.ok("handshake: it speaks plugin protocol %d over gRPC", sdk.ProtocolVersion)
	var name string
	var eng sdk.Engine
	for n, e := range h.Engines() {
		name, eng = n, e
	}
	m := h.Manifests()[name]
	r.ok("describe: plugin %q version %q, tasks %s, %d model(s)", m.Name, m.Version, strings.Join(m.Tasks, ", "), len(m.Models))
	if m.Name != name {
		r.bad("the manifest names the plugin %q but the binary is %s%s; use the same name", m.Name, host.BinaryPrefix, name)
	}
	for _, p := range plugintest.Lint(m) {
		r.bad("manifest: %s", p)
	}
	job, why := sampleJob(m, *taskFlag, *params)
	if why != "" {
		r.bad("no sample job: %s", why)
		return fmt.Errorf("%d problem(s)", r.problems)
	}
	jctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var events []sdk.Event
	start := time.Now()
	err = eng.Run(jctx, job, func(ev sdk.Event) error { events = append(events, ev); return nil })
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err != nil:
		r.bad("the sample job (%s on %s, params %s) failed after %s: %v", job.Task, job.Model, job.Params, took, err)
	case len(events) == 0 || events[len(events)-1].Kind != sdk.EventResult:
		r.bad("the sample job ended without a result")
	default:
		counts := map[sdk.EventKind]int{}
		for _, ev := range events {
			counts[ev.Kind]++
		}
		r.ok("sample job: %s on %s with params %s: %d progress, %d text, %d artifact(s), result %.200s (%s)",
			job.Task, job.Model, job.Params, counts[sdk.EventProgress], counts[sdk.EventDelta], counts[sdk.EventArtifact],
			events[len(events)-1].Result, took)
	}
	if h.RestartCount(name) > 0 {
		r.bad("the plugin process crashed and was restarted during the check")
	}
	if r.problems > 0 {
		if logs.Len() > 0 {
			fmt.Fprintf(stdout, "the plugin's log (warnings and errors):\n%s", logs.String())
		}
		return fmt.Errorf("%d problem(s)", r.problems)
	}
	fmt.Fprintln(stdout, "no problems found")
	return nil
}

// plainStartError says what a failed start usually means.
func plainStartError(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "Incompatible API version") || strings.Contains(s, "incompatible"):
		return s + " (built against another SDK protocol version: rebuild with the SDK this loom uses)"
	case strings.Contains(s, "timeout"):
		return s + " (it did not answer the handshake: does main call sdk.Serve, and nothing print to stdout first?)"
	case strings.Contains(s, "exec format") || strings.Contains(s, "permission denied"):
		return s + " (not a program for this machine, or not executable)"
	case strings.Contains(s, "plugin exited before we could connect"), strings.Contains(s, "Unrecognized remote plugin message"):
		return s + " (it is not a Loom plugin, or it exited early: its main must be sdk.Serve(engine))"
	}
	return s
}

// sampleJob builds one job for the check: the first ready model serving
// task (or its first task), params from the schema's required keys (or
// paramsJSON), and a small input for each required one.
func sampleJob(m sdk.Manifest, task, paramsJSON string) (sdk.Job, string) {
	for _, mi := range m.Models {
		if !mi.Ready {
			continue
		}
		for _, t := range mi.Tasks {
			if task != "" && t != task {
				continue
			}
			sp := mi.SpecFor(t)
			job := sdk.Job{ID: "loom-plugin-check", Task: t, Model: mi.ID, Seed: 1, Params: json.RawMessage(paramsJSON)}
			if paramsJSON == "" {
				job.Params = sampleParams(sp.Params)
			} else if !json.Valid(job.Params) {
				return job, "--params is not valid JSON"
			}
			for _, in := range sp.Inputs {
				if in.Required {
					job.Inputs = append(job.Inputs, sampleInput(in))
				}
			}
			return job, ""
		}
	}
	if task != "" {
		return sdk.Job{}, fmt.Sprintf("no ready model serves %s", task)
	}
	return sdk.Job{}, "no model is ready (each says what it misses in its manifest)"
}

// sampleParams fills a JSON Schema's required keys with the least values
// they accept: a default or the first enum value when given, else "test",
// the minimum (or 1), false, [] or {}.
func sampleParams(raw json.RawMessage) json.RawMessage {
	var s struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
	}
	out := map[string]any{}
	if json.Unmarshal(raw, &s) == nil {
		for _, k := range s.Required {
			p := s.Properties[k]
			if v, ok := p["default"]; ok {
				out[k] = v
				continue
			}
			if e, ok := p["enum"].([]any); ok && len(e) > 0 {
				out[k] = e[0]
				continue
			}
			switch p["type"] {
			case "string":
				v := "test"
				if n, ok := p["minLength"].(float64); ok && int(n) > len(v) {
					v = strings.Repeat("t", int(n))
				}
				out[k] = v
			case "integer", "number":
				if n, ok := p["minimum"].(float64); ok {
					out[k] = n
				} else {
					out[k] = 1
				}
			case "boolean":
				out[k] = false
			case "array":
				out[k] = []any{}
			default:
				out[k] = map[string]any{}
			}
		}
	}
	b, _ := json.Marshal(out)
	return b
}

// sampleInput is a small blob fitting an input's MIME pattern: an 8×8 PNG
// for images, a line of text for text, otherwise a few bytes.
func sampleInput(in sdk.InputSpec) sdk.Blob {
	switch {
	case sdk.MatchMIME(in.MIME, "image/png"):
		var b bytes.Buffer
		_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)))
		return sdk.Blob{Name: in.Name, MIME: "image/png", Data: b.Bytes()}
	case sdk.MatchMIME(in.MIME, "text/plain"):
		return sdk.Blob{Name: in.Name, MIME: "text/plain", Data: []byte("loom plugin check\n")}
	}
	mime := in.MIME
	if strings.Contains(mime, "*") {
		mime = "application/octet-stream"
	}
	return sdk.Blob{Name: in.Name, MIME: mime, Data: []byte{0, 1, 2, 3}}
}
