package sdk

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// What a plugin says travels to API clients: error messages and a model's
// Missing text reach them through the worker, the queue and the gateway. A
// server's absolute paths are no client's business, so the SDK's server
// takes them out at the gRPC boundary, for every plugin: a path under a
// LOOM_MODELS directory is shown relative to it ("shapes-diffusion/unet"),
// the directory itself as "LOOM_MODELS"; a path under the plugin's working
// directory or its executable's folder relative to that ("." alone).
// Plugins log full paths for the operator.

// serverDir is one directory to take out and what stands for it alone.
type serverDir struct{ path, name string }

// serverDirs lists them longest first, so a nested one goes before its
// parent.
func serverDirs() []serverDir {
	var dirs []serverDir
	add := func(d, name string) {
		if d == "" {
			return
		}
		for _, p := range []string{filepath.Clean(d), absOr(d)} {
			if p != "." && p != string(filepath.Separator) && !slices.ContainsFunc(dirs, func(s serverDir) bool { return s.path == p }) {
				dirs = append(dirs, serverDir{p, name})
			}
		}
	}
	for _, d := range ModelDirs() {
		add(d, "LOOM_MODELS")
	}
	if wd, err := os.Getwd(); err == nil {
		add(wd, ".")
	}
	if exe, err := os.Executable(); err == nil {
		add(filepath.Dir(exe), ".")
	}
	slices.SortStableFunc(dirs, func(a, b serverDir) int { return len(b.path) - len(a.path) })
	return dirs
}

func absOr(d string) string {
	if abs, err := filepath.Abs(d); err == nil {
		return abs
	}
	return filepath.Clean(d)
}

// RedactPaths returns msg with the server's directories taken out (see
// above).
func RedactPaths(msg string) string { return redactPaths(msg, serverDirs()) }

func redactPaths(msg string, dirs []serverDir) string {
	for _, d := range dirs {
		var b strings.Builder
		rest := msg
		for {
			i := strings.Index(rest, d.path)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			b.WriteString(rest[:i])
			after := rest[i+len(d.path):]
			switch {
			case strings.HasPrefix(after, string(filepath.Separator)) && len(after) > 1:
				rest = after[1:] // a path inside: shown relative
			case after == "" || !pathByte(after[0]):
				b.WriteString(d.name)
				rest = after
			default: // a longer name that merely starts the same
				b.WriteString(d.path)
				rest = after
			}
		}
		msg = b.String()
	}
	return msg
}

// pathByte reports whether c may continue a file name.
func pathByte(c byte) bool {
	return c == '.' || c == '-' || c == '_' || c == '/' || c == '\\' ||
		'0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}
