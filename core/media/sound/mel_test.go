package sound

import (
	"math"
	"math/rand/v2"
	"testing"
)

// logMelRef is LogMel.Compute written as the definition: the direct float64
// DFT of each reflect-padded, Hann-windowed frame, the filterbank as a sum.
func logMelRef(l *LogMel, audio []float32) []float64 {
	const n, hop = WhisperNFFT, WhisperHop
	bins := n/2 + 1
	x := make([]float64, l.Samples)
	for i := 0; i < min(len(audio), l.Samples); i++ {
		x[i] = float64(audio[i])
	}
	at := func(i int) float64 { // reflect padding
		if i < 0 {
			i = -i
		}
		if i >= l.Samples {
			i = 2*(l.Samples-1) - i
		}
		return x[i]
	}
	out := make([]float64, l.Mels*l.Frames)
	top := math.Inf(-1)
	power := make([]float64, bins)
	for t := 0; t < l.Frames; t++ {
		for k := 0; k < bins; k++ {
			var re, im float64
			for j := 0; j < n; j++ {
				v := at(t*hop-n/2+j) * (0.5 - 0.5*math.Cos(2*math.Pi*float64(j)/n))
				ph := 2 * math.Pi * float64(k*j) / n
				re += v * math.Cos(ph)
				im -= v * math.Sin(ph)
			}
			power[k] = re*re + im*im
		}
		for m := 0; m < l.Mels; m++ {
			var s float64
			for k, p := range power {
				s += float64(l.filters[m*bins+k]) * p
			}
			v := math.Log10(math.Max(s, 1e-10))
			out[m*l.Frames+t] = v
			top = math.Max(top, v)
		}
	}
	for i, v := range out {
		out[i] = (math.Max(v, top-8) + 4) / 4
	}
	return out
}

func TestLogMelMatchesDirectDFT(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ samples, n int }{{1600, 1600}, {4800, 37}, {3200, 0}} {
		l, err := NewLogMel(80, tc.samples)
		if err != nil {
			t.Fatal(err)
		}
		audio := make([]float32, tc.n) // shorter than the window: zero-padded
		for i := range audio {
			audio[i] = float32(0.4*math.Sin(float64(i)*0.05) + 0.1*r.NormFloat64())
		}
		got, want := l.Compute(audio), logMelRef(l, audio)
		if len(got) != 80*tc.samples/WhisperHop {
			t.Fatalf("%d features for %d samples", len(got), tc.samples)
		}
		var worst float64
		for i := range want {
			worst = math.Max(worst, math.Abs(float64(got[i])-want[i]))
		}
		if worst > 2e-5 {
			t.Errorf("window %d, %d samples of audio: GEMM path differs from the direct DFT by %g", tc.samples, tc.n, worst)
		}
	}
}

// Every filter is a non-negative, non-empty triangle; one value is pinned to
// the numpy formula's (the full table is compared in core/towers' golden).
func TestMelFiltersShape(t *testing.T) {
	f, err := MelFilters(16000, 400, 80)
	if err != nil {
		t.Fatal(err)
	}
	bins := 201
	for m := 0; m < 80; m++ {
		var nz int
		for k := 0; k < bins; k++ {
			v := f[m*bins+k]
			if v < 0 || math.IsNaN(float64(v)) {
				t.Fatalf("filter %d bin %d = %v", m, k, v)
			}
			if v > 0 {
				nz++
			}
		}
		if nz == 0 {
			t.Errorf("filter %d is empty", m)
		}
	}
	// librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)[1, 2], as the
	// numpy formula in tools/asr/whisper_ref.py computes it.
	if got := f[1*bins+2]; math.Abs(float64(got)-0.02287177) > 1e-7 {
		t.Errorf("filter 1 bin 2 = %v, want 0.02287177", got)
	}
	for _, bad := range [][3]int{{0, 400, 80}, {16000, 1, 80}, {16000, 400, 0}} {
		if _, err := MelFilters(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("MelFilters%v accepted", bad)
		}
	}
	if _, err := NewLogMel(80, 161); err == nil {
		t.Error("a window that is not a whole number of hops was accepted")
	}
}
