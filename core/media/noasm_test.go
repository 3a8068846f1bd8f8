//go:build noasm

package media

// make test runs core/... twice, the second time with -tags noasm for the
// kernels' generic twins; the encoders have no assembly, so their checks
// with external tools (ffmpeg, Chromium) run in the first pass only.
const externalToolsPass = false
