//go:build unix && !linux

package formats

import "os"

// readResident is Linux only (transparent huge pages): elsewhere the file is
// mapped.
func readResident(*os.File, int) ([]byte, func() error, bool) { return nil, nil, false }
