package towers

import "testing"

// testdata/rwkv6 holds a random 2-block RWKV-6 (tools/mkarch -arch rwkv6)
// in f32 and q8_0 with llama.cpp's logits for a 7-token prompt and 9 greedy
// tokens (tools/ggmlref/make-fixtures.sh).
func TestRWKV6MatchesLlamaCpp(t *testing.T) {
	for _, typ := range []string{"f32", "q8_0"} {
		t.Run(typ, func(t *testing.T) { checkLlamaCpp(t, "rwkv6", typ, 1e-4) })
	}
}
