package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	return &pluginSession{host: h, engine: e}, nil
}

func (s *pluginSession) Close() error { return s.host.Close() }

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
