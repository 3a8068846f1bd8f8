//go:build !unix

package host

// processAlive cannot tell here, so every process counts as alive and
// sweepSockDirs removes nothing.
func processAlive(int) bool { return true }
