//go:build !noasm

package media

const externalToolsPass = true
