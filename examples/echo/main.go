// Command loom-plugin-echo is the smallest complete Loom plugin: the task
// echo.upper uppercases params.text. It exists to show the shape of a
// plugin (see docs/PLUGINS.md) and to exercise the protocol end to end in
// plugins/host's tests: progress and text deltas per character, a 5 MiB
// artifact (several 1 MiB chunks), error codes, cancellation.
//
// Build: go build -o bin/loom-plugin-echo ./examples/echo
package main

import "github.com/loomhq/loom/plugins/sdk"

func main() { sdk.Serve(echo{}) }
