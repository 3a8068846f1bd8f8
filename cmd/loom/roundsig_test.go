package main

import "testing"

func TestRoundSig(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{0.018749, 0.01875}, {0.0187449, 0.01874}, {1234.56, 1235}, {-0.00123456, -0.001235}, {1, 1}, {0, 0}, {0.99996, 1},
	} {
		if got := roundSig(c.x, 4); got != c.want {
			t.Errorf("roundSig(%v, 4) = %v, want %v", c.x, got, c.want)
		}
	}
}
