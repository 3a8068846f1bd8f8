package sched

import "testing"

// Any configuration either is refused by New or gives a sampler whose whole
// run and image-to-image start take no panic, with every timestep inside the
// training schedule.
func FuzzSampler(f *testing.F) {
	f.Add(uint8(0), 10, 1000, 0.00085, 0.012, uint8(0), uint8(0), 1, 0.0, 0.5)
	f.Add(uint8(3), 1, 2, 0.1, 0.2, uint8(1), uint8(2), 0, 1.0, 1.0)
	f.Add(uint8(2), 999, 1000, 1e-9, 0.9, uint8(2), uint8(1), 5, 0.3, 0.0)
	f.Fuzz(func(t *testing.T, kind uint8, steps, train int, b0, b1 float64, sched, spacing uint8, offset int, eta, strength float64) {
		if train > 5000 || steps > 5000 {
			return
		}
		c := Config{NumTrainTimesteps: train, BetaStart: b0, BetaEnd: b1, StepsOffset: offset, Eta: eta,
			BetaSchedule:    []string{"scaled_linear", "linear", "cosine"}[sched%3],
			TimestepSpacing: []string{"", "linspace", "leading", "trailing", "bogus"}[spacing%5],
			PredictionType:  []string{"epsilon", "v_prediction"}[kind/4%2]}
		s, err := New(Kinds[kind%4], c, steps)
		if err != nil {
			return
		}
		n := c.NumTrainTimesteps
		if n == 0 {
			n = 1000 // the default
		}
		for _, ts := range s.Timesteps() {
			if !(ts >= 0 && ts <= float64(n-1)) {
				t.Fatalf("timestep %g outside the training range (%+v, %d steps)", ts, c, steps)
			}
		}
		x := []float32{0.5, -1, 2}
		noise := []float32{1, -0.5, 0.25}
		for i := range s.Timesteps() {
			s.ScaleInput(x, x, i)
			if err := s.Step(x, []float32{0.1, 0.2, -0.3}, i, noise); err != nil {
				t.Fatal(err)
			}
		}
		if start, err := Img2ImgStart(steps, strength); err == nil && start < steps {
			s.AddNoise(x, x, noise, start)
		}
	})
}
