package sdk

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Serve runs engine as a Loom plugin process and returns only when the host
// closes it. It is the whole of a plugin's main:
//
//	func main() { sdk.Serve(newEngine()) }
//
// Started by hand (not by a host), it prints a hint and exits with status 1.
// It exits by itself when its host is gone (see hostwatch.go).
// Logging: the default slog logger writes JSON lines on stderr in the shape
// go-plugin's host parses, so the host logs them at their own level under
// the plugin's name. Log with slog; never write protocol data to stdout.
func Serve(engine Engine) {
	stderr := os.Stderr // go-plugin swaps os.Stderr once serving; keep the real one
	slog.SetDefault(slog.New(NewLogHandler(stderr, slog.LevelInfo)))
	// The host is gone: nobody reads our results or our exit status.
	gone := func(reason string) {
		slog.Warn("exiting: host gone", "reason", reason)
		os.Exit(0)
	}
	go watchParent(context.Background(), parentPoll, os.Getppid, gone)
	watch := &connWatch{grace: hostGoneGrace, gone: gone}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(engine),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.StatsHandler(watch))
			return grpc.NewServer(append(opts, GRPCServerOptions()...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Level:      hclog.Info,
			Output:     stderr,
			JSONFormat: true,
		}),
	})
}

// NewLogHandler returns a slog handler writing JSON lines with the keys
// go-plugin's host reads (@level, @message, @timestamp); other attributes
// become key/value pairs on the host's log line.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// The host parses exactly this layout.
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	})
}

func hclogLevel(v any) string {
	l, ok := v.(slog.Level)
	if !ok {
		return "info"
	}
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}
