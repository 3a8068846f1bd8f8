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
	from  string // import path prefix ("loom/core/")
	deny  []string
	allow []string
	why   string
}

var rules = []rule{
	{from: "loom/core/", deny: []string{"loom/"}, allow: []string{"loom/core/"},
		why: "core imports nothing of Loom above it"},
	{from: "loom/shapes", deny: []string{"loom/"}, allow: []string{"loom/shapes"},
		why: "the Shapes world is a leaf every tool and test may use"},
	{from: "loom/queue", deny: []string{"loom/"}, allow: []string{"loom/queue"},
		why: "the queue is a leaf: gateway and worker depend on it, not the other way"},
	{from: "loom/plugins", deny: []string{"loom/core/", "loom/gateway", "loom/queue", "loom/worker"},
		allow: nil, why: "the plugin contract, SDK and host never link kernels or serving code"},
	{from: "loom/gateway", deny: []string{"loom/core/", "loom/plugins/text", "loom/plugins/vision", "loom/plugins/audio", "loom/plugins/video", "loom/worker"},
		why: "the gateway learns capabilities from manifests, never from model code"},
	{from: "loom/worker", deny: []string{"loom/core/", "loom/gateway"},
		why: "the worker runs plugins through the contract, never kernels"},
}

// pluginModalities may link core (they are the model code) but not serving code.
var pluginModalities = []string{"loom/plugins/text", "loom/plugins/vision", "loom/plugins/audio", "loom/plugins/video"}

func deps(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "loom/...").CombinedOutput()
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
			if d == "loom" || strings.HasPrefix(d, "loom/") {
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
		for _, r := range rules {
			if !strings.HasPrefix(pkg, r.from) {
				continue
			}
			if r.from == "loom/plugins" && hasPrefixAny(pkg, pluginModalities) {
				// Modality plugins are model code: they may link core, never serving code.
				for _, d := range ds {
					if hasPrefixAny(d, []string{"loom/gateway", "loom/queue", "loom/worker"}) {
						t.Errorf("%s imports %s: a plugin never imports gateway, queue or worker", pkg, d)
					}
				}
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
	if !hasPrefixAny("loom/gateway", r.deny) || hasPrefixAny("loom/gateway", r.allow) {
		t.Fatal("rule for core does not flag loom/gateway")
	}
	if hasPrefixAny("loom/core/kernels", r.deny) && !hasPrefixAny("loom/core/kernels", r.allow) {
		t.Fatal("rule for core flags core itself")
	}
}
