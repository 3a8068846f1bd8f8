package towers

import (
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
)

// testdata/mamba holds a random 2-block Mamba (tools/mkarch -arch mamba) in
// f32 and q8_0 with llama.cpp's logits for eight prompt tokens and eight
// greedy ones (tools/ggmlref/make-fixtures.sh).
func TestMambaMatchesLlamaCpp(t *testing.T) {
	for _, typ := range []string{"f32", "q8_0"} {
		t.Run(typ, func(t *testing.T) { checkLlamaCpp(t, "mamba", typ, 1e-4) })
	}
}

// TestRecurrentStateContinuesOrRestarts: a recurrent state cannot rewind to
// a middle position (it holds no past positions), but restarts at 0 with
// the logits of a fresh state.
func TestRecurrentStateContinuesOrRestarts(t *testing.T) {
	src, err := formats.Open("testdata/mamba/f32.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	lm, err := LoadLM(src.(formats.InfoSource))
	if err != nil {
		t.Fatal(err)
	}
	st := lm.NewSession(8)
	first, err := st.Forward([]int{1, 2, 3}, 0)
	if err != nil {
		t.Fatal(err)
	}
	first = append([]float32(nil), first...)
	if _, err := st.Forward([]int{4}, 1); err == nil || !strings.Contains(err.Error(), "continue or restart") {
		t.Fatalf("rewind to 1: %v", err)
	}
	if _, err := st.Forward([]int{4, 5, 6, 7, 8, 9}, 3); err == nil {
		t.Fatal("9 positions in a session of 8 were accepted")
	}
	if _, err := st.Forward([]int{300}, 3); err == nil {
		t.Fatal("a token outside the vocabulary was accepted")
	}
	again, err := st.Forward([]int{1, 2, 3}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if again[i] != first[i] {
			t.Fatalf("restart: logit %d is %v, a fresh state gave %v", i, again[i], first[i])
		}
	}
}
