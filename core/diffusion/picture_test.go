package diffusion

import (
	"math"
	"slices"
	"testing"

	"github.com/loomhq/loom/core/sched"
)

// TestPictureGuided: of a guided batch the first copy of the items goes to
// plain with each item's frame 0 replaced by the picture noised to t (the
// rest of its latents as given) and the first ctx row, the second copy to held
// untouched with the second row; one copy goes to held alone; a batch of
// another size is refused.
func TestPictureGuided(t *testing.T) {
	p := &Pipeline{Sched: schedConfig(t, "v_prediction")}
	const items, per = 2, 10
	picture := []float32{1, -2, 3, 0.5}
	in := make([]float32, 2*items*per)
	for i := range in {
		in[i] = float32(i) * 0.1
	}
	ctx := []float32{7, 7, 8, 8} // two rows of (1, 2)
	var plainIn, heldIn, plainCtx, heldCtx []float32
	plain := func(out, x []float32, rows int, _ float32, c []float32) error {
		plainIn, plainCtx = append([]float32(nil), x...), c
		for i := range out {
			out[i] = 1
		}
		return nil
	}
	held := func(out, x []float32, rows int, _ float32, c []float32) error {
		heldIn, heldCtx = append([]float32(nil), x...), c
		for i := range out {
			out[i] = 2
		}
		return nil
	}
	const seed, ts = 42, 700
	den := p.PictureGuided(plain, held, picture, items, seed)
	out := make([]float32, len(in))
	if err := den(out, in, 2*items, ts, ctx); err != nil {
		t.Fatal(err)
	}
	a := sched.AlphasCumprod(p.Sched)[ts]
	eps := make([]float32, len(picture))
	sched.NewNoise(seed, 1).Fill(eps, 1)
	for i := 0; i < items; i++ {
		for q := 0; q < per; q++ {
			want := in[i*per+q]
			if q < len(picture) {
				want = float32(math.Sqrt(a)*float64(picture[q]) + math.Sqrt(1-a)*float64(eps[q]))
			}
			if math.Abs(float64(plainIn[i*per+q]-want)) > 1e-6 {
				t.Fatalf("plain input item %d [%d] = %v, want %v", i, q, plainIn[i*per+q], want)
			}
		}
	}
	if !slices.Equal(heldIn, in[items*per:]) || !slices.Equal(plainCtx, ctx[:2]) || !slices.Equal(heldCtx, ctx[2:]) {
		t.Fatalf("held input %v, contexts %v %v", heldIn, plainCtx, heldCtx)
	}
	for i, v := range out {
		if want := float32(1 + i/(items*per)); v != want {
			t.Fatalf("out[%d] = %v, want %v", i, v, want)
		}
	}
	heldIn = nil
	if err := den(out[:items*per], in[:items*per], items, ts, ctx[2:]); err != nil || !slices.Equal(heldIn, in[:items*per]) {
		t.Fatalf("unguided: %v, held saw %v", err, heldIn)
	}
	if err := den(out, in, 3, ts, ctx); err == nil {
		t.Fatal("3 rows of 2 items accepted")
	}
}
