package kernels

import "testing"

func TestImplSelector(t *testing.T) {
	have := Impls()
	if len(have) == 0 || have[len(have)-1] != ImplGeneric {
		t.Fatalf("Impls() = %v, want generic last", have)
	}
	if Impl() != have[0] {
		t.Fatalf("Impl() = %q at start-up, want best %q", Impl(), have[0])
	}
	for _, name := range have {
		withImpl(t, name, func() {
			if got := Impl(); got != name {
				t.Fatalf("after SetImpl(%q), Impl() = %q", name, got)
			}
			if useAVX512 && !useAVX2 {
				t.Fatalf("useAVX512 without useAVX2")
			}
		})
	}
	before := Impl()
	if err := SetImpl("sse9"); err == nil {
		t.Fatal("SetImpl(sse9) succeeded")
	}
	if Impl() != before {
		t.Fatalf("failed SetImpl changed Impl to %q", Impl())
	}
}
