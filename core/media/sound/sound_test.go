package sound

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
)

func TestResampleSine(t *testing.T) {
	for _, c := range []struct{ from, to int }{{22050, 24000}, {24000, 22050}, {16000, 24000}} {
		const hz = 1000.0
		in := make([]float32, c.from) // one second
		for i := range in {
			in[i] = float32(0.5 * math.Sin(2*math.Pi*hz*float64(i)/float64(c.from)))
		}
		out, err := Resample(in, c.from, c.to)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != c.to {
			t.Fatalf("%d→%d: %d samples, want %d", c.from, c.to, len(out), c.to)
		}
		worst := 0.0
		for j := 100; j < len(out)-100; j++ { // away from the edges, where the kernel is cut
			want := 0.5 * math.Sin(2*math.Pi*hz*float64(j)/float64(c.to))
			worst = math.Max(worst, math.Abs(float64(out[j])-want))
		}
		if worst > 1e-3 {
			t.Errorf("%d→%d: worst error %g against the exact sine", c.from, c.to, worst)
		}
	}
	// Downsampling removes what the new rate cannot hold: 11 kHz at 22050 → 16000 is gone.
	in := make([]float32, 22050)
	for i := range in {
		in[i] = float32(math.Sin(2 * math.Pi * 11000 * float64(i) / 22050))
	}
	out, _ := Resample(in, 22050, 16000)
	var e float64
	for _, v := range out[200 : len(out)-200] {
		e += float64(v) * float64(v)
	}
	if rms := math.Sqrt(e / float64(len(out)-400)); rms > 1e-3 {
		t.Errorf("an 11 kHz tone leaks through a 16 kHz resample at RMS %g", rms)
	}
	if _, err := Resample(in, 0, 24000); err == nil {
		t.Error("rate 0 accepted")
	}
}

// TestFLACDecodesBitExact: ffmpeg decodes what FLAC writes back to the same
// samples, for speech-like audio, silence (CONSTANT), noise (VERBATIM), a
// short last block and files shorter than one block.
func TestFLACDecodesBitExact(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: ffmpeg missing")
		}
		t.Skip("ffmpeg not on PATH")
	}
	r := rand.New(rand.NewPCG(1, 2))
	cases := map[string][]int16{}
	tone := make([]int16, 24000*2+123)
	for i := range tone {
		v := 0.4*math.Sin(2*math.Pi*220*float64(i)/24000) + 0.2*math.Sin(2*math.Pi*1375*float64(i)/24000) + 0.001*r.NormFloat64()
		tone[i] = int16(v * 32767)
	}
	cases["tone"] = tone
	cases["silence"] = make([]int16, 5000)
	noise := make([]int16, 4096+17)
	for i := range noise {
		noise[i] = int16(r.IntN(65536) - 32768)
	}
	cases["noise"] = noise
	cases["tiny"] = []int16{1, -2, 3}
	for name, samples := range cases {
		data, err := FLAC(samples, 24000)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(ffmpeg, "-v", "error", "-i", "-", "-f", "s16le", "-acodec", "pcm_s16le", "-")
		cmd.Stdin = bytes.NewReader(data)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("%s: ffmpeg: %v %s", name, err, stderr.String())
		}
		got := make([]int16, out.Len()/2)
		_ = binary.Read(bytes.NewReader(out.Bytes()), binary.LittleEndian, got)
		if len(got) != len(samples) {
			t.Fatalf("%s: decoded %d samples, want %d", name, len(got), len(samples))
		}
		for i := range got {
			if got[i] != samples[i] {
				t.Fatalf("%s: sample %d decoded %d, want %d", name, i, got[i], samples[i])
			}
		}
		if name == "tone" && len(data) > 3*len(samples)/2 { // raw is 2 bytes a sample
			t.Errorf("tone: %d bytes for %d samples: no compression", len(data), len(samples))
		}
		t.Logf("%s: %d samples → %d bytes", name, len(samples), len(data))
	}
}
