//go:build !linux

package host

import "syscall"

// pluginProcAttr: only Linux has a parent-death signal; elsewhere a plugin
// notices its host is gone by itself (sdk.Serve watches its parent and its
// connection).
func pluginProcAttr() *syscall.SysProcAttr { return nil }
