package host

import "syscall"

// pluginProcAttr asks Linux to SIGKILL the plugin when the thread that
// started it dies, which for a Go host is when the host process dies (the Go
// runtime keeps its threads for the life of the process, and the host starts
// plugins from ordinary goroutines, never from a locked thread that exits).
// So kill -9 of loom serve or loom worker takes its plugins with it. The SDK's
// own watch of the parent (sdk.Serve) is the fallback elsewhere.
func pluginProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
