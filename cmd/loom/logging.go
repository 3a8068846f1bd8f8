package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
)

// logFlags are --log-level and --log-format, shared by serve, gateway and
// worker: one slog logger per process, which the gateway, the worker, the
// plugin host and (through it) go-plugin and every plugin's log lines use.
type logFlags struct {
	level  string
	format string
}

func (lf *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&lf.level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&lf.format, "log-format", "text", "text (key=value lines) or json (one JSON object a line)")
}

// logger builds the process logger writing to w.
func (lf *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lf.level)); err != nil {
		return nil, usagef("--log-level %q: use debug, info, warn or error", lf.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(lf.format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: use text or json", lf.format)
}

// quietLogger is the logger of the one-shot commands (generate, caption,
// image, speak, bench): plugin warnings and errors only, as text.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
