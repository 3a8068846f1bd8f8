package plugins

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The contract and the host are linked by the gateway and worker, which must
// not link kernels: nothing here may import core, gateway or queue.
func TestImportsPointDown(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goTool, "list", "-deps", "loom/plugins", "loom/plugins/host").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{"loom/core", "loom/gateway", "loom/queue", "loom/cmd"} {
			if pkg == banned || strings.HasPrefix(pkg, banned+"/") {
				t.Errorf("plugins imports %s", pkg)
			}
		}
	}
}
