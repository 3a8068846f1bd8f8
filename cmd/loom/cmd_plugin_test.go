package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// offlineGo runs the go tool in dir the way a test without network must:
// modules from the local cache only (GOPROXY=off), go.mod/go.sum updated
// as needed (-mod=mod).
func offlineGo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// scaffoldPlugin writes a plugin with loom plugin new into a temporary
// directory, using this checkout's SDK through a replace line.
func scaffoldPlugin(t *testing.T, name, task string) string {
	t.Helper()
	sdkDir, err := filepath.Abs("../../plugins/sdk")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "loom-plugin-"+name)
	var stdout, stderr bytes.Buffer
	if code := runMain([]string{"plugin", "new", name, "--task", task, "--dir", dir, "--sdk", sdkDir}, &stdout, &stderr); code != 0 {
		t.Fatalf("plugin new: %d %s", code, stderr.String())
	}
	primeModuleCache(t, dir)
	return dir
}

// primeModuleCache makes sure the module cache holds every go.mod of the
// scaffold's module graph before the offline builds: a fresh machine's cache
// has only what building Loom fetched, and the scaffold's graph reaches older
// versions (go-isatty's golang.org/x/sys) whose go.mod files Loom's pruned
// graph never needed. With a warm cache nothing is fetched; otherwise the
// environment's GOPROXY (the Go module proxy in CI) fills it once, with
// the same package loading as the test's own go test.
func primeModuleCache(t *testing.T, dir string) {
	t.Helper()
	prime := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", "-test", "./...")
	prime.Dir = dir
	prime.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := prime.CombinedOutput(); err != nil {
		t.Fatalf("the scaffold's modules are not in the module cache and the module proxy did not give them: %v\n%s", err, out)
	}
}

// A scaffolded plugin is a module of its own that builds and passes its
// plugintest test offline, and loom plugin check finds nothing wrong with it.
func TestPluginNewBuildsAndChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module (-short)")
	}
	dir := scaffoldPlugin(t, "gray", "image.grayscale")
	for _, f := range []string{"go.mod", "go.sum", "main.go", "engine.go", "engine_test.go", "README.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("scaffold lacks %s", f)
		}
	}
	if out := offlineGo(t, dir, "test", "-count=1", "./..."); !strings.Contains(out, "ok  \texample.com/loom-plugin-gray") {
		t.Fatalf("go test: %s", out)
	}
	bin := filepath.Join(dir, "loom-plugin-gray")
	offlineGo(t, dir, "build", "-o", bin, ".")
	var stdout, stderr bytes.Buffer
	code := runMain([]string{"plugin", "check", bin}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 || !strings.Contains(out, "ok       handshake: it speaks plugin protocol 1") ||
		!strings.Contains(out, `describe: plugin "gray" version "0.1.0", tasks image.grayscale, 1 model(s)`) ||
		!strings.Contains(out, `sample job: image.grayscale on gray with params {"text":"test"}: 3 progress, 0 text, 1 artifact(s), result {"text":"TEST","input_bytes":0}`) ||
		!strings.Contains(out, "no problems found") {
		t.Fatalf("check: %d\n%s%s", code, out, stderr.String())
	}

	// A plugin with manifest mistakes and a failing job: each is named.
	eng := filepath.Join(dir, "engine.go")
	src, _ := os.ReadFile(eng)
	broken := strings.NewReplacer(`version = "0.1.0"`, `version = ""`, `Name:    modelID,`, `Name:    "grey",`,
		`return sdk.Errorf(sdk.CodeInvalidRequest, "%s serves`, `return sdk.Errorf(sdk.CodeInvalidRequest, "%s does not serve`,
		`	if p.Steps == 0 {`, "	if p.Text == \"test\" {\n\t\treturn sdk.Errorf(sdk.CodeInvalidRequest, \"no tests here\")\n\t}\n\tif p.Steps == 0 {").Replace(string(src))
	if err := os.WriteFile(eng, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	offlineGo(t, dir, "build", "-o", bin, ".")
	stdout.Reset()
	code = runMain([]string{"plugin", "check", bin}, &stdout, &stderr)
	out = stdout.String()
	for _, want := range []string{
		`PROBLEM  the manifest names the plugin "grey" but the binary is loom-plugin-gray`,
		"PROBLEM  manifest: the manifest has no version",
		`PROBLEM  the sample job (image.grayscale on gray, params {"text":"test"}) failed after`, "invalid_request: no tests here",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check of the broken plugin does not say %q:\n%s", want, out)
		}
	}
	if code != 1 || !strings.Contains(stderr.String(), "3 problem(s)") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestPluginCommandsRefuseBadArguments(t *testing.T) {
	notPlugin := filepath.Join(t.TempDir(), "loom-plugin-sh")
	if err := os.WriteFile(notPlugin, []byte("#!/bin/sh\necho hello\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"plugin", "new"}, 2, "name the plugin"},
		{[]string{"plugin", "new", "Gray"}, 2, `plugin name "Gray"`},
		{[]string{"plugin", "new", "gray"}, 2, "--task is required"},
		{[]string{"plugin", "new", "gray", "--task", "grayscale"}, 2, `task "grayscale": name it modality.verb`},
		{[]string{"plugin", "new", "gray", "--task", "image.gray", "--sdk", t.TempDir()}, 2, "no go.mod there"},
		{[]string{"plugin", "new", "gray", "--task", "image.gray", "--dir", t.TempDir()}, 1, "already exists"},
		{[]string{"plugin", "check"}, 2, "name one plugin binary"},
		{[]string{"plugin", "check", "/nonexistent/loom-plugin-x"}, 1, "no such file"},
		{[]string{"plugin", "check", notPlugin}, 1, "1 problem(s)"},
	} {
		var stdout, stderr bytes.Buffer
		code := runMain(c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stderr.String()+stdout.String(), c.says) {
			t.Errorf("%v: exit %d, %s%s; want %d saying %q", c.args, code, stdout.String(), stderr.String(), c.code, c.says)
		}
	}
}
