package sound

// Decoding uploaded audio for speech recognition. The bytes are untrusted:
// the container is recognised by its magic, a WAV file's RIFF chunks are
// walked here before go-audio/wav reads them (that reader allocates whatever
// a chunk header claims, so a 100-byte file claiming a 4 GB LIST chunk is
// refused here, and a data chunk longer than the file is cut to what is
// there), duration is bounded before and while samples are decoded, and a
// decoder that panics on a corrupt stream becomes an error. Decoders, all
// pure Go: WAV PCM 8/16/24/32-bit and 32-bit float through go-audio/wav,
// FLAC through mewkiz/flac, MP3 (MPEG-1/2 layer III) through
// hajimehoshi/go-mp3. OGG/Vorbis has no pure-Go decoder on the module proxy
// this build may use (jfreymuth/oggvorbis is not served), so it is refused
// by name.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/go-audio/wav"
	"github.com/hajimehoshi/go-mp3"
	"github.com/mewkiz/flac"
)

// Clip is decoded audio: mono samples in [-1, 1] at Rate.
type Clip struct {
	Samples []float32
	Rate    int
	Format  string // "wav", "flac" or "mp3"
	// Channels is how many channels the file had (averaged into one).
	Channels int
}

// Seconds is the clip's duration.
func (c Clip) Seconds() float64 { return float64(len(c.Samples)) / float64(c.Rate) }

// AudioError is a problem with the audio itself (not audio, corrupt,
// unsupported, too long): the caller's fault, a 4xx.
type AudioError struct{ Msg string }

func (e *AudioError) Error() string { return e.Msg }

func audioErr(format string, a ...any) error { return &AudioError{Msg: fmt.Sprintf(format, a...)} }

// DecodeAudio decodes a WAV, FLAC or MP3 file of at most maxSeconds.
func DecodeAudio(data []byte, maxSeconds float64) (c Clip, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = Clip{}, audioErr("corrupt %s audio (the decoder failed: %v)", sniff(data), r)
		}
	}()
	switch f := sniff(data); f {
	case "wav":
		return readWAV(data, maxSeconds)
	case "flac":
		return readFLAC(data, maxSeconds)
	case "mp3":
		return readMP3(data, maxSeconds)
	case "ogg":
		return Clip{}, audioErr("OGG audio is not supported (no pure-Go Vorbis/Opus decoder in this build); send WAV, FLAC or MP3")
	default:
		if len(data) == 0 {
			return Clip{}, audioErr("the audio file is empty")
		}
		return Clip{}, audioErr("not a WAV, FLAC or MP3 file (unrecognised header % x)", data[:min(len(data), 8)])
	}
}

// sniff names the container by its magic bytes.
func sniff(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return "wav"
	case len(b) >= 4 && string(b[:4]) == "fLaC":
		return "flac"
	case len(b) >= 4 && string(b[:4]) == "OggS":
		return "ogg"
	case len(b) >= 3 && string(b[:3]) == "ID3":
		if skip := id3Size(b); skip < len(b) && sniff(b[skip:]) == "flac" {
			return "flac"
		}
		return "mp3"
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xE6 == 0xE2: // frame sync, layer III
		return "mp3"
	}
	return ""
}

// id3Size is the length of an ID3v2 tag at the start of b.
func id3Size(b []byte) int {
	if len(b) < 10 {
		return len(b)
	}
	return 10 + int(b[6]&0x7F)<<21 | int(b[7]&0x7F)<<14 | int(b[8]&0x7F)<<7 | int(b[9]&0x7F)
}

func tooLong(sec, maxSeconds float64) error {
	return audioErr("the audio is %.0f s long; the limit is %.0f s", sec, maxSeconds)
}

// wavFmt is the fields of a WAV fmt chunk decoding needs.
type wavFmt struct {
	format, channels uint16
	rate             uint32
	bits             uint16
}

// sanitizeWAV walks the RIFF chunks of b and returns a copy go-audio/wav can
// read without trusting a size: every chunk lies inside the file, the data
// chunk cut to the bytes present. It also returns the fmt chunk.
func sanitizeWAV(b []byte) ([]byte, wavFmt, int, error) {
	var f wavFmt
	out := append([]byte(nil), b[:12]...)
	dataLen, haveFmt := -1, false
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int64(binary.LittleEndian.Uint32(b[off+4:off+8]))
		body := b[off+8:]
		if id == "data" {
			n := int(min(size, int64(len(body))))
			n -= n % 2 // keep whole 16-bit words at least; frames are checked below
			chunk := binary.LittleEndian.AppendUint32([]byte("data"), uint32(n))
			out = append(append(out, chunk...), body[:n]...)
			dataLen = n
			break
		}
		if size > int64(len(body)) {
			return nil, f, 0, audioErr("corrupt WAV: chunk %q claims %d bytes, %d remain", id, size, len(body))
		}
		if id == "fmt " {
			if size < 16 {
				return nil, f, 0, audioErr("corrupt WAV: fmt chunk of %d bytes", size)
			}
			f = wavFmt{format: binary.LittleEndian.Uint16(body[0:]), channels: binary.LittleEndian.Uint16(body[2:]),
				rate: binary.LittleEndian.Uint32(body[4:]), bits: binary.LittleEndian.Uint16(body[14:])}
			if f.format == 0xFFFE && size >= 40 { // WAVE_FORMAT_EXTENSIBLE: the SubFormat GUID starts with the real code
				f.format = binary.LittleEndian.Uint16(body[24:])
			}
			haveFmt = true
			// go-audio/wav reads 16 bytes and skips the rest; an extensible
			// header's extra fields need not reach it.
			out = append(append(out, []byte("fmt \x10\x00\x00\x00")...), body[:16]...)
		}
		off += 8 + int(size) + int(size&1) // chunks are padded to even sizes
	}
	switch {
	case !haveFmt:
		return nil, f, 0, audioErr("corrupt WAV: no fmt chunk before the data")
	case dataLen < 0:
		return nil, f, 0, audioErr("corrupt WAV: no data chunk")
	}
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-8))
	return out, f, dataLen, nil
}

func readWAV(b []byte, maxSeconds float64) (Clip, error) {
	clean, f, dataLen, err := sanitizeWAV(b)
	if err != nil {
		return Clip{}, err
	}
	float := false
	switch {
	case f.format == 3 && f.bits == 32:
		float = true
	case f.format == 1:
		if f.bits != 8 && f.bits != 16 && f.bits != 24 && f.bits != 32 {
			return Clip{}, audioErr("WAV with %d-bit samples is not supported (8, 16, 24, 32-bit PCM or 32-bit float)", f.bits)
		}
	default:
		return Clip{}, audioErr("WAV sample format %#x with %d bits is not supported (PCM 8/16/24/32-bit or 32-bit float)", f.format, f.bits)
	}
	if f.channels < 1 || f.channels > 8 {
		return Clip{}, audioErr("WAV with %d channels is not supported (1…8)", f.channels)
	}
	if f.rate < 1000 || f.rate > 384000 {
		return Clip{}, audioErr("WAV sample rate %d Hz is not supported (1000…384000)", f.rate)
	}
	frame := int(f.channels) * int(f.bits) / 8
	frames := dataLen / frame
	if frames == 0 {
		return Clip{}, audioErr("the WAV file holds no samples")
	}
	if sec := float64(frames) / float64(f.rate); sec > maxSeconds {
		return Clip{}, tooLong(sec, maxSeconds)
	}
	d := wav.NewDecoder(bytes.NewReader(clean))
	buf, err := d.FullPCMBuffer()
	if err != nil {
		return Clip{}, audioErr("corrupt WAV: %v", err)
	}
	ch := int(f.channels)
	n := min(len(buf.Data)/ch, frames)
	out := make([]float32, n)
	scale := 1 / math.Pow(2, float64(f.bits-1))
	for i := range out {
		var s float64
		for c := 0; c < ch; c++ {
			v := buf.Data[i*ch+c]
			switch {
			case float:
				s += float64(math.Float32frombits(uint32(int32(v))))
			case f.bits == 8: // unsigned
				s += float64(v-128) / 128
			default:
				s += float64(v) * scale
			}
		}
		out[i] = clampUnit(s / float64(ch))
	}
	return Clip{Samples: out, Rate: int(f.rate), Format: "wav", Channels: ch}, nil
}

// clampUnit maps a sample into [-1, 1] (a float WAV may hold anything,
// NaN included).
func clampUnit(v float64) float32 {
	if math.IsNaN(v) {
		return 0
	}
	return float32(max(-1, min(1, v)))
}

func readFLAC(b []byte, maxSeconds float64) (Clip, error) {
	s, err := flac.New(bytes.NewReader(b))
	if err != nil {
		return Clip{}, audioErr("corrupt FLAC: %v", err)
	}
	info := s.Info
	rate, ch, bits := int(info.SampleRate), int(info.NChannels), int(info.BitsPerSample)
	if rate < 1000 || rate > 655350 || ch < 1 || ch > 8 || bits < 4 || bits > 32 {
		return Clip{}, audioErr("FLAC stream of %d Hz, %d channels, %d bits is not supported", rate, ch, bits)
	}
	if sec := float64(info.NSamples) / float64(rate); sec > maxSeconds {
		return Clip{}, tooLong(sec, maxSeconds)
	}
	limit := int(maxSeconds * float64(rate))
	scale := 1 / math.Pow(2, float64(bits-1))
	var out []float32
	for {
		fr, err := s.ParseNext()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(out) > 0 && errors.Is(err, io.ErrUnexpectedEOF) {
				break // a truncated file: keep the frames that were whole
			}
			return Clip{}, audioErr("corrupt FLAC frame: %v", err)
		}
		if len(fr.Subframes) != ch {
			return Clip{}, audioErr("corrupt FLAC: a frame has %d channels, the stream %d", len(fr.Subframes), ch)
		}
		n := len(fr.Subframes[0].Samples)
		for i := 0; i < n; i++ {
			var v float64
			for c := 0; c < ch; c++ {
				if i < len(fr.Subframes[c].Samples) {
					v += float64(fr.Subframes[c].Samples[i])
				}
			}
			out = append(out, clampUnit(v*scale/float64(ch)))
		}
		if len(out) > limit {
			return Clip{}, tooLong(float64(len(out))/float64(rate), maxSeconds)
		}
	}
	if len(out) == 0 {
		return Clip{}, audioErr("the FLAC file holds no samples")
	}
	return Clip{Samples: out, Rate: rate, Format: "flac", Channels: ch}, nil
}

func readMP3(b []byte, maxSeconds float64) (Clip, error) {
	if len(b) >= 3 && string(b[:3]) == "ID3" {
		// go-mp3 allocates the size an ID3v2 tag claims (up to 256 MB):
		// skip the tag here, refusing one that runs past the file.
		n := id3Size(b)
		if n > len(b) {
			return Clip{}, audioErr("corrupt MP3: its ID3 tag claims %d bytes, the file has %d", n, len(b))
		}
		b = b[n:]
	}
	d, err := mp3.NewDecoder(bytes.NewReader(b))
	if err != nil {
		return Clip{}, audioErr("corrupt MP3: %v", err)
	}
	rate := d.SampleRate()
	if rate < 8000 || rate > 48000 {
		return Clip{}, audioErr("MP3 sample rate %d Hz", rate)
	}
	if sec := float64(d.Length()) / 4 / float64(rate); sec > maxSeconds {
		return Clip{}, tooLong(sec, maxSeconds)
	}
	limit := int(maxSeconds * float64(rate))
	var out []float32
	buf := make([]byte, 16384) // go-mp3 always gives 16-bit little-endian stereo
	for {
		n, err := io.ReadFull(d, buf)
		for i := 0; i+4 <= n; i += 4 {
			l := int16(binary.LittleEndian.Uint16(buf[i:]))
			r := int16(binary.LittleEndian.Uint16(buf[i+2:]))
			out = append(out, float32((float64(l)+float64(r))/65536))
		}
		if len(out) > limit {
			return Clip{}, tooLong(float64(len(out))/float64(rate), maxSeconds)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			if len(out) > 0 {
				break // trailing garbage after the last whole frame
			}
			return Clip{}, audioErr("corrupt MP3: %v", err)
		}
	}
	if len(out) == 0 {
		return Clip{}, audioErr("the MP3 file holds no samples")
	}
	return Clip{Samples: out, Rate: rate, Format: "mp3", Channels: 2}, nil
}

// ToRate returns the clip's samples at rate (a copy when it already is).
func (c Clip) ToRate(rate int) ([]float32, error) { return Resample(c.Samples, c.Rate, rate) }
