package sound

// An MP3 encoder (MPEG-2 Audio Layer III, "LSF": ISO/IEC 13818-3 on top of
// ISO/IEC 11172-3) for mono audio at 16, 22.05 or 24 kHz, constant bit
// rate. Each frame is one granule of 576 samples: the hybrid filterbank
// (mp3_filterbank.go) turns it into 576 frequency lines, a global-gain
// search quantizes them to the granule's bit budget, and the Huffman tables
// code them (mp3_quant.go). Long blocks only and no psychoacoustic model:
// the step size is the same over the whole spectrum, which minimises the
// squared error for the bits (a plain, honest coder for speech, not a
// perceptual one). Scalefactors are all zero (scalefac_compress 0), so the
// quantization noise is white in the MDCT domain, and there is no bit
// reservoir (see below).
//
// There is no Xing/LAME header: the stream is plain CBR frames, and a
// decoder's output is the input delayed by mp3Delay samples (the two
// filterbanks' delay), followed by the zeros that complete the last frame.

import "fmt"

// MP3Bitrates are the MPEG-2 Layer III bit rates in kbit/s, by bitrate_index.
var MP3Bitrates = []int{8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}

// MP3SampleRates are the rates the encoder takes (MPEG-2 LSF), by
// sampling_frequency index.
var MP3SampleRates = []int{22050, 24000, 16000}

// mp3Delay is how many samples a decoder's output lags the input: the
// polyphase analysis and synthesis (481) plus the MDCT's overlap (576).
const mp3Delay = 481 + granuleLen

// maxReservoir is the largest main_data_begin (8 bits in MPEG-2), in bytes.
const maxReservoir = 255

// MP3 encodes mono samples in [−1, 1] at sampleRate (one of MP3SampleRates)
// as an MPEG-2 Layer III stream at kbps kbit/s (one of MP3Bitrates). It
// encodes enough frames for the whole input to come out of a decoder after
// its delay; NaN is taken as 0 and values are clipped to ±1.
func MP3(samples []float32, sampleRate, kbps int) ([]byte, error) {
	rateIdx := index(MP3SampleRates, sampleRate)
	if rateIdx < 0 {
		return nil, fmt.Errorf("mp3: sample rate %d is not one of %v", sampleRate, MP3SampleRates)
	}
	brIdx := index(MP3Bitrates, kbps)
	if brIdx < 0 {
		return nil, fmt.Errorf("mp3: bit rate %d kbit/s is not one of %v", kbps, MP3Bitrates)
	}
	if len(samples) > 1<<31 {
		return nil, fmt.Errorf("mp3: %d samples", len(samples))
	}
	frames := (len(samples) + mp3Delay + granuleLen - 1) / granuleLen
	in := make([]float32, frames*granuleLen)
	for i, s := range samples {
		switch {
		case s != s: // NaN
		case s > 1:
			in[i] = 1
		case s < -1:
			in[i] = -1
		default:
			in[i] = s
		}
	}
	sfb := &lsfBands[rateIdx]

	// Frame sizes: 72·bitrate/rate bytes, padded by one byte as often as
	// needed to keep the average exact.
	num := 72 * 1000 * kbps
	sizes := make([]int, frames)
	pads := make([]bool, frames)
	total, rest := 0, 0
	for f := range sizes {
		sizes[f] = num / sampleRate
		if rest += num % sampleRate; rest >= sampleRate {
			rest -= sampleRate
			sizes[f]++
			pads[f] = true
		}
		total += sizes[f]
	}
	const headerSide = 4 + 9 // header, MPEG-2 mono side info

	// Each frame's main data fills its own slot (main_data_begin 0): no bit
	// reservoir. One was tried (up to 255 bytes, half of it lent to each
	// frame): it gained 0.4 dB on speech at 64 kbit/s, and ffmpeg 5.1
	// decoded one granule of a 160 kbit/s reservoir stream differently from
	// mpg123 and from our own parser, which agreed; not worth the risk.
	out := make([]byte, 0, total)
	var an mp3Analysis
	var xr [granuleLen]float64
	var enc granuleCoder
	for f := range frames {
		an.granule(in[f*granuleLen:(f+1)*granuleLen], &xr)
		slot := sizes[f] - headerSide
		gi := enc.code(&xr, sfb, min(8*slot, 4095))
		var w bitWriter
		writeHeader(&w, brIdx, rateIdx, pads[f], &gi)
		enc.write(&w, &gi)
		out = append(out, w.buf...)
		out = append(out, make([]byte, slot-(len(w.buf)-headerSide))...) // ancillary zeros
	}
	return out, nil
}

// writeHeader writes the frame header and the MPEG-2 mono side info.
func writeHeader(w *bitWriter, brIdx, rateIdx int, pad bool, gi *granuleInfo) {
	w.bits(0x7ff, 11) // sync
	w.bits(2, 2)      // MPEG-2
	w.bits(1, 2)      // layer III
	w.bits(1, 1)      // no CRC
	w.bits(uint64(brIdx+1), 4)
	w.bits(uint64(rateIdx), 2)
	if pad {
		w.bits(1, 1)
	} else {
		w.bits(0, 1)
	}
	w.bits(0, 1) // private
	w.bits(3, 2) // single channel
	w.bits(0, 2) // mode extension
	w.bits(0, 1) // copyright
	w.bits(0, 1) // copy
	w.bits(0, 2) // no emphasis
	w.bits(0, 8) // main_data_begin: no reservoir
	w.bits(0, 1) // private bit (mono)
	w.bits(uint64(gi.part23), 12)
	w.bits(uint64(gi.bigValues), 9)
	w.bits(uint64(gi.globalGain), 8)
	w.bits(0, 9) // scalefac_compress: every slen 0
	w.bits(0, 1) // window_switching_flag: long blocks
	for _, t := range gi.tables {
		w.bits(uint64(t), 5)
	}
	w.bits(uint64(gi.region0), 4)
	w.bits(uint64(gi.region1), 3)
	w.bits(0, 1) // scalefac_scale
	w.bits(1, 1) // count1 table B
}

func index(xs []int, v int) int {
	for i, x := range xs {
		if x == v {
			return i
		}
	}
	return -1
}

// lsfBands are the long-block scalefactor band edges of MPEG-2 LSF (ISO/IEC
// 13818-3 Table B.2), by sampling_frequency index; they place the Huffman
// regions.
var lsfBands = [3][23]int{
	{0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 116, 140, 168, 200, 238, 284, 336, 396, 464, 522, 576}, // 22.05 kHz
	{0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 114, 136, 162, 194, 232, 278, 332, 394, 464, 540, 576}, // 24 kHz
	{0, 6, 12, 18, 24, 30, 36, 44, 54, 66, 80, 96, 116, 140, 168, 200, 238, 284, 336, 396, 464, 522, 576}, // 16 kHz
}
