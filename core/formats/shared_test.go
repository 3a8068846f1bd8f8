package formats

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedModel returns the path of a file in ../shared/models (relative to the
// repository root), skipping the test when the shared models are absent.
func sharedModel(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "models", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared model %s not present (%v): tests on real models need ../shared/models next to the repository", rel, err)
	}
	return p
}
