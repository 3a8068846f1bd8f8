package kernels

// Implementation selection shared by every SIMD kernel in this package.
//
// CPU features are detected once at start-up (cpu_amd64.go); the best
// implementation is chosen then, and tests or benchmarks may force another
// with SetImpl. Kernels dispatch by reading useAVX512 and useAVX2 — plain
// bools so the check costs one load in a hot path:
//
//	switch {
//	case useAVX512: fooAVX512(...)
//	case useAVX2:   fooAVX2(...)
//	default:        fooGeneric(...)
//	}
//
// useAVX512 implies the AVX-512 F/BW/DQ/VL subset plus AVX2 and FMA, so an
// AVX-512 kernel may also use 256-bit instructions; useAVX2 implies FMA.

import (
	"fmt"
	"strings"
)

// Implementation names, in order of preference.
const (
	ImplAVX512  = "avx512"
	ImplAVX2    = "avx2"
	ImplGeneric = "generic"
)

// Set by SetImpl (and once by init); read by kernels. Exactly one of the
// three states holds: both false = generic, useAVX2 only, or both true.
// SetImpl must not be called while kernels run on other goroutines.
var (
	useAVX512 bool
	useAVX2   bool
	curImpl   int // implGeneric, implAVX2 or implAVX512: the column of the dtype table's dot products
)

// available lists the implementations this machine and build can run, best
// first; it is filled once at start-up.
var available = detectImpls()

func init() {
	if err := SetImpl(available[0]); err != nil {
		panic("kernels: " + err.Error())
	}
}

// detectImpls reports the implementations the CPU supports, best first.
// "generic" is always last. hasAVX2FMA and hasAVX512 come from the
// build-specific cpu_*.go file (false under -tags noasm or off amd64).
func detectImpls() []string {
	var out []string
	if hasAVX512 {
		out = append(out, ImplAVX512)
	}
	if hasAVX2FMA {
		out = append(out, ImplAVX2)
	}
	return append(out, ImplGeneric)
}

// Impl reports the implementation kernels use now: "avx512", "avx2" or
// "generic".
func Impl() string {
	switch {
	case useAVX512:
		return ImplAVX512
	case useAVX2:
		return ImplAVX2
	default:
		return ImplGeneric
	}
}

// Impls returns the implementations available on this machine and build,
// best first (a fresh slice the caller may keep).
func Impls() []string { return append([]string(nil), available...) }

// SetImpl forces an implementation for all kernels. It fails, changing
// nothing, if name is unknown or not supported here.
func SetImpl(name string) error {
	for _, a := range available {
		if a == name {
			useAVX512 = name == ImplAVX512
			useAVX2 = name == ImplAVX512 || name == ImplAVX2
			curImpl = implGeneric
			switch {
			case useAVX512:
				curImpl = implAVX512
			case useAVX2:
				curImpl = implAVX2
			}
			return nil
		}
	}
	return fmt.Errorf("kernels: implementation %q not available (have %s)", name, strings.Join(available, ", "))
}
