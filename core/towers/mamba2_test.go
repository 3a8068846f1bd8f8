package towers

import "testing"

// testdata/mamba2 holds a random 2-block Mamba-2 (tools/mkarch -arch
// mamba2: 8 heads in 2 groups) in f32 and q8_0 with llama.cpp's logits for
// a 7-token prompt and 9 greedy tokens.
func TestMamba2MatchesLlamaCpp(t *testing.T) {
	for _, typ := range []string{"f32", "q8_0"} {
		t.Run(typ, func(t *testing.T) { checkLlamaCpp(t, "mamba2", typ, 1e-4) })
	}
}
