package towers

import "github.com/loomhq/loom/core/tensor"

// Every test of the package runs with poisoned scratch: a tower that reads a
// scratch float it did not write gets NaN and fails its golden comparison.
func init() { tensor.PoisonScratch = true }
