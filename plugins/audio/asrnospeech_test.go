package main

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/loomhq/loom/plugins/sdk"
)

// The shipped speech-to-text model hears nothing in audio without speech:
// digital silence, low noise (white, leaky-integrated "room" noise), mains
// hum and clicks, from half a second to several windows long, transcribe as
// no words at all. Before the model was trained on such audio, one second of
// digital silence came out as " Where." with no_speech_prob 0.0002, so
// Whisper's no-speech skip (no_speech_prob > 0.6 and avg_logprob < −1) never
// fired. Each clip here is made from a fixed seed in Go, not the Python
// generator training used (tools/asr/nospeech.py).
func TestShippedNoSpeech(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips the shipped model's transcriptions")
	}
	e := shippedASREngine(t)
	for _, c := range noSpeechClips() {
		t.Run(c.name, func(t *testing.T) {
			b, err := encodeWAV(c.samples, 16000)
			if err != nil {
				t.Fatal(err)
			}
			o, err := runTranscribeModel(t, e, "", `{"language":"en"}`, sdk.Blob{Name: "file", MIME: "audio/wav", Data: b})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range o.result.Segments {
				t.Logf("segment %q no_speech_prob %.4f avg_logprob %.3f", s.Text, s.NoSpeechProb, s.AvgLogprob)
			}
			if w := werWords(o.result.Text); len(w) > 0 {
				t.Errorf("%s (%.1f s) transcribed as %q: want no words", c.name, float64(len(c.samples))/16000, o.result.Text)
			}
		})
	}
}

type noSpeechClip struct {
	name    string
	samples []float32
}

// noSpeechClips: silence, noise, hum and clicks at fixed seeds and levels.
func noSpeechClips() []noSpeechClip {
	r := rand.New(rand.NewPCG(2026, 12))
	n := func(sec float64) int { return int(sec * 16000) }
	white := func(sec, dbfs float64) []float32 {
		x := make([]float32, n(sec))
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return atRMS(x, dbfs)
	}
	room := func(sec, dbfs float64) []float32 { // white through a leaky integrator: most power low, like a room's
		x := make([]float32, n(sec))
		var y float64
		for i := range x {
			y = 0.995*y + r.NormFloat64()
			x[i] = float32(y)
		}
		return atRMS(x, dbfs)
	}
	hum := func(sec, f0, dbfs float64) []float32 {
		x := make([]float32, n(sec))
		for i := range x {
			tt := float64(i) / 16000
			for k := 1.0; k <= 4; k++ {
				x[i] += float32(math.Sin(2*math.Pi*f0*k*tt) / k)
			}
			x[i] += float32(0.02 * r.NormFloat64())
		}
		return atRMS(x, dbfs)
	}
	clicks := func(sec float64, count int) []float32 {
		x := room(sec, -70)
		for range count {
			at := r.IntN(len(x) - 200)
			amp := 0.05 + 0.25*r.Float64()
			for j := range 160 {
				x[at+j] += float32(amp * math.Exp(-float64(j)/25) * math.Cos(float64(j)))
			}
		}
		return x
	}
	return []noSpeechClip{
		{"silence-0.5s", make([]float32, n(0.5))},
		{"silence-1s", make([]float32, n(1))},
		{"silence-4s", make([]float32, n(4))},
		{"silence-13s", make([]float32, n(13))},
		{"white-60dB-1s", white(1, -60)},
		{"white-40dB-6s", white(6, -40)},
		{"room-55dB-2s", room(2, -55)},
		{"room-35dB-9s", room(9, -35)},
		{"hum50-45dB-3s", hum(3, 50, -45)},
		{"hum60-30dB-1.5s", hum(1.5, 60, -30)},
		{"clicks-5s", clicks(5, 6)},
		{"room-50dB-25s", room(25, -50)},
	}
}

// atRMS scales x to an RMS of dbfs decibels below full scale.
func atRMS(x []float32, dbfs float64) []float32 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	g := math.Pow(10, dbfs/20) / math.Sqrt(s/float64(max(len(x), 1))+1e-20)
	for i := range x {
		x[i] *= float32(g)
	}
	return x
}
