package sound

// A FLAC encoder (https://xiph.org/flac/format.html, RFC 9639) for mono
// 16-bit audio: blocks of 4096 samples, each the cheapest of a CONSTANT
// subframe or a FIXED predictor of order 0…4 with its residual Rice-coded
// over 2^p partitions (p 0…4, each partition's parameter the cheapest of
// 0…14), chosen by exact bit count. Lossless: a decoder returns the samples
// bit for bit, and STREAMINFO carries their MD5.

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"fmt"
)

const flacBlock = 4096

// FLAC encodes mono 16-bit samples at sampleRate as a FLAC file.
func FLAC(samples []int16, sampleRate int) ([]byte, error) {
	if sampleRate <= 0 || sampleRate >= 1<<20 {
		return nil, fmt.Errorf("flac: sample rate %d", sampleRate)
	}
	if int64(len(samples)) >= 1<<36 {
		return nil, fmt.Errorf("flac: %d samples", len(samples))
	}
	var out bytes.Buffer
	out.WriteString("fLaC")
	// STREAMINFO, the only (so last) metadata block, 34 bytes.
	var w bitWriter
	w.bits(1, 1)
	w.bits(0, 7)
	w.bits(34, 24)
	minBlock := flacBlock
	if len(samples) < flacBlock {
		minBlock = max(16, len(samples)) // the last block may be shorter; tiny files: one short block
	}
	w.bits(uint64(minBlock), 16)
	w.bits(flacBlock, 16)
	w.bits(0, 24) // min frame size: unknown
	w.bits(0, 24) // max frame size: unknown
	w.bits(uint64(sampleRate), 20)
	w.bits(0, 3)  // channels − 1
	w.bits(15, 5) // bits per sample − 1
	w.bits(uint64(len(samples)), 36)
	raw := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(raw[2*i:], uint16(s))
	}
	sum := md5.Sum(raw)
	for _, b := range sum {
		w.bits(uint64(b), 8)
	}
	out.Write(w.buf)
	for f, start := 0, 0; start < len(samples); f, start = f+1, start+flacBlock {
		out.Write(flacFrame(samples[start:min(start+flacBlock, len(samples))], uint64(f)))
	}
	return out.Bytes(), nil
}

func flacFrame(block []int16, number uint64) []byte {
	var w bitWriter
	w.bits(0x3ffe, 14) // sync
	w.bits(0, 1)
	w.bits(0, 1) // fixed block size
	short := len(block) != flacBlock
	if short {
		w.bits(7, 4) // block size − 1 in 16 bits after the header
	} else {
		w.bits(12, 4) // 4096
	}
	w.bits(0, 4) // sample rate: from STREAMINFO
	w.bits(0, 4) // mono
	w.bits(4, 3) // 16 bits per sample
	w.bits(0, 1)
	w.utf8(number)
	if short {
		w.bits(uint64(len(block)-1), 16)
	}
	w.bits(uint64(crc8(w.buf)), 8)
	writeSubframe(&w, block)
	w.align()
	crc := crc16(w.buf)
	w.bits(uint64(crc), 16)
	return w.buf
}

// writeSubframe writes the cheapest encoding of block.
func writeSubframe(w *bitWriter, block []int16) {
	constant := true
	for _, s := range block[1:] {
		constant = constant && s == block[0]
	}
	if constant {
		w.bits(0, 8) // pad, CONSTANT, no wasted bits
		w.bits(uint64(uint16(block[0])), 16)
		return
	}
	x := make([]int64, len(block))
	for i, s := range block {
		x[i] = int64(s)
	}
	bestOrder, bestCost := -1, 0
	var best rice
	for order := 0; order <= 4 && order < len(block); order++ {
		res := fixedResidual(x, order)
		r := bestRice(res, len(block), order)
		if cost := 16*order + r.bits; bestOrder < 0 || cost < bestCost {
			bestOrder, bestCost, best = order, cost, r
		}
	}
	if bestCost >= 16*len(block) { // incompressible: VERBATIM
		w.bits(2, 8)
		for _, s := range block {
			w.bits(uint64(uint16(s)), 16)
		}
		return
	}
	w.bits(uint64(0x08|bestOrder)<<1, 8) // pad, FIXED (001xxx) of that order, no wasted bits
	for _, s := range block[:bestOrder] {
		w.bits(uint64(uint16(s)), 16)
	}
	w.bits(0, 2) // Rice, 4-bit parameters
	w.bits(uint64(best.order), 4)
	res := fixedResidual(x, bestOrder)
	n := len(block) >> best.order
	pos := 0
	for p, k := range best.params {
		end := (p+1)*n - bestOrder // residual i is sample i + order
		w.bits(uint64(k), 4)
		for _, r := range res[pos:end] {
			u := zigzag(r)
			q := u >> k
			for ; q > 0; q-- {
				w.bits(0, 1)
			}
			w.bits(1, 1)
			w.bits(u&(1<<k-1), k)
		}
		pos = end
	}
}

// fixedResidual is FLAC's fixed predictor of the given order applied to x
// from position order on.
func fixedResidual(x []int64, order int) []int64 {
	res := make([]int64, len(x)-order)
	for i := order; i < len(x); i++ {
		var p int64
		switch order {
		case 1:
			p = x[i-1]
		case 2:
			p = 2*x[i-1] - x[i-2]
		case 3:
			p = 3*x[i-1] - 3*x[i-2] + x[i-3]
		case 4:
			p = 4*x[i-1] - 6*x[i-2] + 4*x[i-3] - x[i-4]
		}
		res[i-order] = x[i] - p
	}
	return res
}

func zigzag(r int64) uint64 { return uint64(r<<1) ^ uint64(r>>63) }

// rice is a partitioning of a residual: 2^order partitions, their
// parameters, and the bits they take (headers included).
type rice struct {
	order  int
	params []int
	bits   int
}

// bestRice finds the cheapest partition order (the block must split evenly
// and the first partition hold more than the warm-up) and parameters.
func bestRice(res []int64, blockLen, predOrder int) rice {
	var best rice
	best.bits = -1
	for po := 0; po <= 4; po++ {
		if blockLen%(1<<po) != 0 || blockLen>>po <= predOrder {
			break
		}
		n := blockLen >> po
		r := rice{order: po, bits: 2 + 4}
		pos := 0
		for p := 0; p < 1<<po; p++ {
			end := (p+1)*n - predOrder // residual i is sample i + order
			k, bits := bestParam(res[pos:end])
			r.params = append(r.params, k)
			r.bits += 4 + bits
			pos = end
		}
		if best.bits < 0 || r.bits < best.bits {
			best = r
		}
	}
	return best
}

// bestParam is the Rice parameter 0…14 that codes part in the fewest bits.
func bestParam(part []int64) (int, int) {
	bestK, bestBits := 0, -1
	for k := 0; k <= 14; k++ {
		bits := 0
		for _, r := range part {
			bits += int(zigzag(r)>>k) + 1 + k
		}
		if bestBits < 0 || bits < bestBits {
			bestK, bestBits = k, bits
		}
	}
	return bestK, bestBits
}

// bitWriter appends bits most significant first.
type bitWriter struct {
	buf  []byte
	nbit int // bits used in the last byte (0 = byte aligned)
}

func (w *bitWriter) bits(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		if w.nbit == 0 {
			w.buf = append(w.buf, 0)
		}
		if v>>i&1 == 1 {
			w.buf[len(w.buf)-1] |= 1 << (7 - w.nbit)
		}
		w.nbit = (w.nbit + 1) % 8
	}
}

func (w *bitWriter) align() { w.nbit = 0 }

// utf8 writes v in FLAC's extended UTF-8 coding of frame numbers.
func (w *bitWriter) utf8(v uint64) {
	if v < 0x80 {
		w.bits(v, 8)
		return
	}
	n := 2
	for v >= 1<<(5*n+1) {
		n++
	}
	w.bits((0xff<<(8-n))&0xff|v>>(6*(n-1)), 8)
	for i := n - 2; i >= 0; i-- {
		w.bits(0x80|v>>(6*i)&0x3f, 8)
	}
}

func crc8(b []byte) byte {
	var c byte
	for _, x := range b {
		c ^= x
		for i := 0; i < 8; i++ {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x07
			} else {
				c <<= 1
			}
		}
	}
	return c
}

func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c ^= uint16(x) << 8
		for i := 0; i < 8; i++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x8005
			} else {
				c <<= 1
			}
		}
	}
	return c
}
