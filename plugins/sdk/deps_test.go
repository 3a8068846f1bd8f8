package sdk

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The SDK is a module of its own that plugin authors `go get`: it may depend
// on go-plugin, gRPC and protobuf (and what they pull in), never on the
// server's module (core, gateway, queue, worker) or its other dependencies.
func TestSDKDependsOnlyOnThePluginStack(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := []string{
		"github.com/loomhq/loom/plugins/sdk",
		"github.com/hashicorp/", "google.golang.org/", "golang.org/x/",
		"github.com/golang/protobuf", "github.com/fatih/color", "github.com/mattn/", "github.com/oklog/run",
	}
	for _, pkg := range strings.Fields(string(out)) {
		ok := false
		for _, a := range allowed {
			if pkg == a || strings.HasPrefix(pkg, a) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("the SDK depends on %s", pkg)
		}
	}
}
