package main

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/loomhq/loom/core/media/sound"
)

// encodeWAV writes mono 16-bit PCM WAV bytes: the 44-byte RIFF header
// (RIFF, WAVE, a 16-byte PCM fmt chunk, data) and the samples little-endian,
// the bytes go-audio/wav's encoder wrote (TestEncodeWAVMatchesGoAudio), which
// spent ~110 ns per sample (10 ms for a 4-second job, a fifth of the job).
func encodeWAV(samples []float32, sampleRate int) ([]byte, error) {
	data := 2 * len(samples)
	if sampleRate <= 0 || 36+data > math.MaxUint32 || 2*sampleRate > math.MaxUint32 {
		return nil, fmt.Errorf("wav: %d samples at %d Hz", len(samples), sampleRate)
	}
	b := make([]byte, 44+data)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+data))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)                   // fmt chunk size
	le.PutUint16(b[20:], 1)                    // PCM
	le.PutUint16(b[22:], 1)                    // channels
	le.PutUint32(b[24:], uint32(sampleRate))   // sample rate
	le.PutUint32(b[28:], uint32(2*sampleRate)) // byte rate
	le.PutUint16(b[32:], 2)                    // block align
	le.PutUint16(b[34:], 16)                   // bits per sample
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(data))
	putPCM16(b[44:], samples)
	return b, nil
}

// encodePCM writes raw 16-bit little-endian mono samples (OpenAI's "pcm").
func encodePCM(samples []float32) []byte {
	out := make([]byte, 2*len(samples))
	putPCM16(out, samples)
	return out
}

// putPCM16 writes sound.PCM16(samples) little-endian into b (2 bytes each).
func putPCM16(b []byte, samples []float32) {
	b = b[:2*len(samples)]
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(sound.PCM16Sample(s)))
	}
}
