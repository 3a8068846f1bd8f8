package main

import (
	"errors"
	"io"
	"math"

	"github.com/go-audio/audio"
	"github.com/go-audio/wav"

	"github.com/loomhq/loom/core/media/sound"
)

// toPCM16 is sound.PCM16 as the WAV encoder's ints.
func toPCM16(samples []float32) []int {
	out := make([]int, len(samples))
	for i, v := range sound.PCM16(samples) {
		out[i] = int(v)
	}
	return out
}

// encodeWAV writes mono 16-bit PCM WAV bytes with go-audio/wav.
func encodeWAV(samples []float32, sampleRate int) ([]byte, error) {
	var buf seekBuffer
	enc := wav.NewEncoder(&buf, sampleRate, 16, 1, 1)
	if err := enc.Write(&audio.IntBuffer{Format: &audio.Format{NumChannels: 1, SampleRate: sampleRate},
		Data: toPCM16(samples), SourceBitDepth: 16}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.b, nil
}

// encodePCM writes raw 16-bit little-endian mono samples (OpenAI's "pcm").
func encodePCM(samples []float32) []byte {
	out := make([]byte, 2*len(samples))
	for i, v := range toPCM16(samples) {
		out[2*i], out[2*i+1] = byte(v), byte(v>>8)
	}
	return out
}

// seekBuffer is the in-memory io.WriteSeeker the WAV encoder needs: it
// seeks back to fill in the chunk sizes once the samples are written.
type seekBuffer struct {
	b   []byte
	pos int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if end := s.pos + len(p); end > len(s.b) {
		s.b = append(s.b, make([]byte, end-len(s.b))...)
	}
	s.pos += copy(s.b[s.pos:], p)
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = int64(s.pos)
	case io.SeekEnd:
		base = int64(len(s.b))
	default:
		return 0, errors.New("seekBuffer: bad whence")
	}
	p := base + off
	if p < 0 || p > math.MaxInt32 {
		return 0, errors.New("seekBuffer: seek out of range")
	}
	s.pos = int(p)
	return p, nil
}
