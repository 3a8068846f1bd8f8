package host

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// go-plugin's hclog lines (and through them every plugin's) land in the
// host's slog logger at their level, with their names and key/values.
func TestHCLogRoutedIntoSlog(t *testing.T) {
	var out bytes.Buffer
	l := toHCLog(slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})), "")
	l.Named("loom-plugin-echo").With("plugin", "echo").Warn("echo: run canceled", "job", "c2")
	l.Debug("below the level: dropped")
	l.Named("a").Named("b").Error("boom")
	if l.IsDebug() || !l.IsInfo() {
		t.Fatalf("IsDebug %v IsInfo %v at slog Info", l.IsDebug(), l.IsInfo())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	var first, second map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	_ = json.Unmarshal([]byte(lines[1]), &second)
	if first["level"] != "WARN" || first["msg"] != "echo: run canceled" || first["logger"] != "loom-plugin-echo" ||
		first["plugin"] != "echo" || first["job"] != "c2" {
		t.Fatalf("first line %v", first)
	}
	if second["level"] != "ERROR" || second["logger"] != "a.b" {
		t.Fatalf("second line %v", second)
	}
	var _ hclog.Logger = l
}
