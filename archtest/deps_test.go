// Package archtest fails the build when an import points the wrong way
// (docs/ARCHITECTURE.md, "Layout and the direction of imports").
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// rule: packages matching From may depend (transitively) on no Loom package
// matching any of Deny, unless it also matches one of Allow.
type rule struct {
	from  string // import path prefix ("github.com/loomhq/loom/core/")
	deny  []string
	allow []string
	why   string
}

var rules = []rule{
	{from: "github.com/loomhq/loom/core/", deny: []string{"github.com/loomhq/loom/"}, allow: []string{"github.com/loomhq/loom/core/"},
		why: "core imports nothing of Loom above it"},
	{from: "github.com/loomhq/loom/shapes", deny: []string{"github.com/loomhq/loom/"}, allow: []string{"github.com/loomhq/loom/shapes"},
		why: "the Shapes world is a leaf every tool and test may use"},
	{from: "github.com/loomhq/loom/hub", deny: []string{"github.com/loomhq/loom/"}, allow: []string{"github.com/loomhq/loom/hub"},
		why: "the hub client is a leaf the CLI uses"},
	{from: "github.com/loomhq/loom/queue", deny: []string{"github.com/loomhq/loom/"}, allow: []string{"github.com/loomhq/loom/queue", "github.com/loomhq/loom/plugins/sdk"},
		why: "the queue depends only on the plugin contract (its error codes): gateway and worker depend on it, not the other way"},
	{from: "github.com/loomhq/loom/plugins/host", deny: []string{"github.com/loomhq/loom/core/", "github.com/loomhq/loom/gateway", "github.com/loomhq/loom/queue", "github.com/loomhq/loom/worker"},
		allow: nil, why: "the plugin host never links kernels or serving code"},
	{from: "github.com/loomhq/loom/gateway", deny: []string{"github.com/loomhq/loom/core/", "github.com/loomhq/loom/plugins/text", "github.com/loomhq/loom/plugins/vision", "github.com/loomhq/loom/plugins/audio", "github.com/loomhq/loom/plugins/video", "github.com/loomhq/loom/worker"},
		why: "the gateway learns capabilities from manifests, never from model code"},
	{from: "github.com/loomhq/loom/worker", deny: []string{"github.com/loomhq/loom/core/", "github.com/loomhq/loom/gateway"},
		why: "the worker runs plugins through the contract, never kernels"},
}

// coreOrder is the layering inside core, lowest first (docs/ARCHITECTURE.md):
// kernels compute on slices, tensor describes memory in the kernels' dtypes,
// formats read files into tensors, nn binds layers from formats, towers
// compose layers. A package may depend only on the layers before its own.
var coreOrder = []string{
	"github.com/loomhq/loom/core/kernels",
	"github.com/loomhq/loom/core/tensor",
	"github.com/loomhq/loom/core/formats",
	"github.com/loomhq/loom/core/nn",
	"github.com/loomhq/loom/core/towers",
}

// coreLayer returns the index of pkg's layer in coreOrder, or -1.
func coreLayer(pkg string) int {
	for i, p := range coreOrder {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return i
		}
	}
	return -1
}

// coreOrderViolations lists the dependencies of pkg that sit in a later core
// layer than pkg itself.
func coreOrderViolations(pkg string, ds []string) []string {
	own := coreLayer(pkg)
	if own < 0 {
		return nil
	}
	var bad []string
	for _, d := range ds {
		if coreLayer(d) > own {
			bad = append(bad, d)
		}
	}
	return bad
}

// pluginModalities may link core (they are the model code) but not serving code.
var pluginModalities = []string{"github.com/loomhq/loom/plugins/text", "github.com/loomhq/loom/plugins/vision", "github.com/loomhq/loom/plugins/audio", "github.com/loomhq/loom/plugins/video"}

func deps(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "github.com/loomhq/loom/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var own []string
		for _, d := range f[1:] {
			if d == "github.com/loomhq/loom" || strings.HasPrefix(d, "github.com/loomhq/loom/") {
				own = append(own, d)
			}
		}
		m[f[0]] = own
	}
	if len(m) == 0 {
		t.Fatal("go list found no packages")
	}
	return m
}

func hasPrefixAny(s string, ps []string) bool {
	for _, p := range ps {
		if s == strings.TrimSuffix(p, "/") || strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func TestImportDirection(t *testing.T) {
	all := deps(t)
	for pkg, ds := range all {
		if hasPrefixAny(pkg, pluginModalities) {
			// Modality plugins are model code: they may link core, never serving code.
			for _, d := range ds {
				if hasPrefixAny(d, []string{"github.com/loomhq/loom/gateway", "github.com/loomhq/loom/queue", "github.com/loomhq/loom/worker"}) {
					t.Errorf("%s imports %s: a plugin never imports gateway, queue or worker", pkg, d)
				}
			}
		}
		for _, d := range coreOrderViolations(pkg, ds) {
			t.Errorf("%s imports %s: inside core, kernels ← tensor ← formats ← nn ← towers", pkg, d)
		}
		for _, r := range rules {
			if !strings.HasPrefix(pkg, r.from) {
				continue
			}
			for _, d := range ds {
				if hasPrefixAny(d, r.deny) && !hasPrefixAny(d, r.allow) {
					t.Errorf("%s imports %s: %s", pkg, d, r.why)
				}
			}
		}
	}
}

func TestRulesCatchViolations(t *testing.T) {
	// The checker itself must be able to fail: a core package depending on
	// the gateway is flagged by the first rule.
	r := rules[0]
	if !hasPrefixAny("github.com/loomhq/loom/gateway", r.deny) || hasPrefixAny("github.com/loomhq/loom/gateway", r.allow) {
		t.Fatal("rule for core does not flag loom/gateway")
	}
	if hasPrefixAny("github.com/loomhq/loom/core/kernels", r.deny) && !hasPrefixAny("github.com/loomhq/loom/core/kernels", r.allow) {
		t.Fatal("rule for core flags core itself")
	}
	// The core order flags an upward import and lets a downward one pass.
	if bad := coreOrderViolations("github.com/loomhq/loom/core/kernels", []string{"github.com/loomhq/loom/core/tensor"}); len(bad) != 1 {
		t.Fatal("core order does not flag kernels importing tensor")
	}
	if bad := coreOrderViolations("github.com/loomhq/loom/core/nn", []string{"github.com/loomhq/loom/core/formats", "github.com/loomhq/loom/core/kernels"}); len(bad) != 0 {
		t.Fatalf("core order flags nn's downward imports: %v", bad)
	}
}
