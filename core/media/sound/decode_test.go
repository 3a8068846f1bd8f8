package sound

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"testing"
)

// makeWAV writes a WAV file by hand: fmt (16 bytes, or 40 with
// WAVE_FORMAT_EXTENSIBLE wrapping format) then data; frames[i][c] in [-1, 1].
func makeWAV(format uint16, extensible bool, rate, bits int, frames [][]float64, extra ...[]byte) []byte {
	ch := len(frames[0])
	var data []byte
	for _, fr := range frames {
		for _, v := range fr {
			switch {
			case format == 3:
				data = binary.LittleEndian.AppendUint32(data, math.Float32bits(float32(v)))
			case bits == 8:
				data = append(data, byte(int(math.Round(v*127))+128))
			case bits == 16:
				data = binary.LittleEndian.AppendUint16(data, uint16(int16(math.Round(v*32767))))
			case bits == 24:
				x := int32(math.Round(v * 8388607))
				data = append(data, byte(x), byte(x>>8), byte(x>>16))
			case bits == 32:
				data = binary.LittleEndian.AppendUint32(data, uint32(int32(math.Round(v*2147483647))))
			}
		}
	}
	fmtc := binary.LittleEndian.AppendUint16(nil, format)
	if extensible {
		fmtc = binary.LittleEndian.AppendUint16(nil, 0xFFFE)
	}
	fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(ch))
	fmtc = binary.LittleEndian.AppendUint32(fmtc, uint32(rate))
	fmtc = binary.LittleEndian.AppendUint32(fmtc, uint32(rate*ch*bits/8))
	fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(ch*bits/8))
	fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(bits))
	if extensible {
		fmtc = binary.LittleEndian.AppendUint16(fmtc, 22)
		fmtc = binary.LittleEndian.AppendUint16(fmtc, uint16(bits))
		fmtc = binary.LittleEndian.AppendUint32(fmtc, 0)
		fmtc = binary.LittleEndian.AppendUint16(fmtc, format)
		fmtc = append(fmtc, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71)
	}
	body := []byte("WAVE")
	for _, e := range extra { // chunks before fmt (LIST, bext …)
		body = append(body, e...)
	}
	body = append(body, chunk("fmt ", fmtc)...)
	body = append(body, chunk("data", data)...)
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func chunk(id string, b []byte) []byte {
	out := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(b)))...)
	out = append(out, b...)
	if len(b)%2 == 1 {
		out = append(out, 0)
	}
	return out
}

func ramp(n, ch int) [][]float64 {
	fr := make([][]float64, n)
	for i := range fr {
		fr[i] = make([]float64, ch)
		for c := range fr[i] {
			fr[i][c] = 0.9 * math.Sin(float64(i)*0.1+float64(c))
		}
	}
	return fr
}

func TestDecodeWAVFormats(t *testing.T) {
	for _, tc := range []struct {
		name        string
		format      uint16
		ext         bool
		bits, ch    int
		tol         float64
		extraChunks [][]byte
	}{
		{"pcm8", 1, false, 8, 1, 1.0 / 50, nil},
		{"pcm16 stereo", 1, false, 16, 2, 1e-4, nil},
		{"pcm24", 1, false, 24, 1, 1e-6, nil},
		{"pcm32 extensible", 1, true, 32, 2, 1e-6, nil},
		{"float32", 3, false, 32, 1, 1e-7, nil},
		{"float32 extensible 6ch", 3, true, 32, 6, 1e-6, nil},
		{"list chunk first, odd size", 1, false, 16, 1, 1e-4, [][]byte{chunk("LIST", []byte("INFOabc"))}},
	} {
		fr := ramp(1000, tc.ch)
		clip, err := DecodeAudio(makeWAV(tc.format, tc.ext, 22050, tc.bits, fr, tc.extraChunks...), 60)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if clip.Rate != 22050 || clip.Channels != tc.ch || len(clip.Samples) != 1000 || clip.Format != "wav" {
			t.Errorf("%s: %d Hz, %d channels, %d samples", tc.name, clip.Rate, clip.Channels, len(clip.Samples))
			continue
		}
		for i, f := range fr {
			var want float64
			for _, v := range f {
				want += v
			}
			want /= float64(len(f))
			if d := math.Abs(float64(clip.Samples[i]) - want); d > tc.tol {
				t.Errorf("%s: sample %d = %v, want %v (mono average)", tc.name, i, clip.Samples[i], want)
				break
			}
		}
	}
	// A data chunk that claims more than the file holds is cut to what is there.
	w := makeWAV(1, false, 16000, 16, ramp(500, 1))
	binary.LittleEndian.PutUint32(w[len(w)-1000-4:], 1<<30)
	clip, err := DecodeAudio(w[:len(w)-200], 60)
	if err != nil || len(clip.Samples) != 400 {
		t.Errorf("truncated data chunk: %d samples, %v (want 400)", len(clip.Samples), err)
	}
}

func TestDecodeAudioRejects(t *testing.T) {
	good := makeWAV(1, false, 16000, 16, ramp(1600, 1))
	huge := makeWAV(1, false, 16000, 16, ramp(10, 1), append([]byte("LIST"), 0xf0, 0xff, 0xff, 0xff))
	for name, b := range map[string][]byte{
		"empty":           nil,
		"text":            []byte("hello, this is not audio at all"),
		"ogg":             append([]byte("OggS"), make([]byte, 60)...),
		"header only":     good[:12],
		"cut in fmt":      good[:30],
		"4 GB list chunk": huge,
		"no samples":      makeWAV(1, false, 16000, 16, [][]float64{{}}),
		"12-bit":          makeWAV(1, false, 16000, 12, ramp(10, 1)),
		"64-bit float":    makeWAV(3, false, 16000, 64, ramp(10, 1)),
		"a-law":           makeWAV(6, false, 16000, 8, ramp(10, 1)),
		"rate 100 Hz":     makeWAV(1, false, 100, 16, ramp(10, 1)),
		"too long":        makeWAV(1, false, 16000, 16, ramp(16000*3, 1)),
		"flac garbage":    append([]byte("fLaC"), make([]byte, 40)...),
	} {
		_, err := DecodeAudio(b, 2)
		var ae *AudioError
		if !errors.As(err, &ae) {
			t.Errorf("%s: got %v, want an AudioError", name, err)
		}
	}
}

func TestDecodeFLACRoundTrip(t *testing.T) {
	pcm := make([]int16, 10000)
	for i := range pcm {
		pcm[i] = int16(12000 * math.Sin(float64(i)*0.05))
	}
	f, err := FLAC(pcm, 24000)
	if err != nil {
		t.Fatal(err)
	}
	clip, err := DecodeAudio(f, 60)
	if err != nil {
		t.Fatal(err)
	}
	if clip.Rate != 24000 || len(clip.Samples) != len(pcm) || clip.Format != "flac" {
		t.Fatalf("%d Hz, %d samples (%s)", clip.Rate, len(clip.Samples), clip.Format)
	}
	for i, v := range pcm {
		if clip.Samples[i] != float32(v)/32768 {
			t.Fatalf("sample %d = %v, want %v", i, clip.Samples[i], float32(v)/32768)
		}
	}
	if _, err := DecodeAudio(f, 0.2); err == nil {
		t.Error("a FLAC file over the duration limit was accepted")
	}
}

// goertzel is the power of x at frequency f (Hz) at rate.
func goertzel(x []float32, f float64, rate int) float64 {
	w := 2 * math.Pi * f / float64(rate)
	var s1, s2 float64
	for _, v := range x {
		s := float64(v) + 2*math.Cos(w)*s1 - s2
		s2, s1 = s1, s
	}
	return s1*s1 + s2*s2 - 2*math.Cos(w)*s1*s2
}

// testdata/tone440.mp3: ffmpeg -f lavfi -i sine=frequency=440:sample_rate=22050:duration=0.5
// -af volume=0.5 -ac 1 -b:a 32k (a 440 Hz tone, 0.5 s).
func TestDecodeMP3(t *testing.T) {
	b, err := os.ReadFile("testdata/tone440.mp3")
	if err != nil {
		t.Fatal(err)
	}
	clip, err := DecodeAudio(b, 60)
	if err != nil {
		t.Fatal(err)
	}
	if clip.Rate != 22050 || clip.Format != "mp3" || math.Abs(clip.Seconds()-0.5) > 0.15 {
		t.Fatalf("%d Hz, %.3f s (%s)", clip.Rate, clip.Seconds(), clip.Format)
	}
	if on, off := goertzel(clip.Samples, 440, clip.Rate), goertzel(clip.Samples, 1000, clip.Rate); on < 1000*off {
		t.Errorf("440 Hz power %g vs 1 kHz %g: not the tone", on, off)
	}
	if _, err := DecodeAudio(b, 0.1); err == nil {
		t.Error("an MP3 over the duration limit was accepted")
	}
}

// FuzzDecodeAudio: whatever the bytes, DecodeAudio returns samples in range
// within the limit, or an AudioError; it never panics or hangs.
func FuzzDecodeAudio(f *testing.F) {
	w := makeWAV(1, false, 8000, 16, ramp(300, 2))
	f.Add(w)
	f.Add(w[:50])
	f.Add(makeWAV(3, true, 44100, 32, ramp(100, 1)))
	f.Add(makeWAV(1, false, 8000, 8, ramp(100, 1), chunk("LIST", []byte("INFOx"))))
	pcm := make([]int16, 5000)
	for i := range pcm {
		pcm[i] = int16(i * 7)
	}
	fl, _ := FLAC(pcm, 16000)
	f.Add(fl)
	f.Add(fl[:len(fl)/2])
	if mp, err := os.ReadFile("testdata/tone440.mp3"); err == nil {
		f.Add(mp)
		f.Add(mp[:len(mp)/3])
	}
	f.Add([]byte("ID3\x03\x00\x00\x00\x00\x00\x10"))
	f.Fuzz(func(t *testing.T, b []byte) {
		clip, err := DecodeAudio(b, 5)
		if err != nil {
			var ae *AudioError
			if !errors.As(err, &ae) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if len(clip.Samples) == 0 || clip.Rate <= 0 || clip.Seconds() > 5+1e-9 {
			t.Fatalf("%d samples at %d Hz", len(clip.Samples), clip.Rate)
		}
		for _, v := range clip.Samples {
			if !(v >= -1 && v <= 1) {
				t.Fatalf("sample %v out of range", v)
			}
		}
	})
}
