package sound

import (
	"encoding/binary"
	"fmt"
)

// parsedGranule is one frame as a decoder reads it: side info and the
// quantized lines (signed).
type parsedGranule struct {
	begin, part23, bigValues, gain, sfc int
	tables                              [3]int
	region0, region1, count1Table       int
	ix                                  [granuleLen]int
}

type bitReader struct {
	b   []byte
	pos int // bit position
}

func (r *bitReader) bits(n int) (int, error) {
	v := 0
	for range n {
		if r.pos >= 8*len(r.b) {
			return 0, fmt.Errorf("read past the end")
		}
		v = v<<1 | int(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v, nil
}

// parseMP3 is a plain reading of an MPEG-2 layer III mono stream as this
// encoder writes it (long blocks, zero scalefactors), down to the
// quantized lines: the twin the bitstream writer is tested against.
func parseMP3(data []byte, rate int) ([]parsedGranule, error) {
	var out []parsedGranule
	var main []byte // every frame's main data slot, concatenated
	rateIdx := index(MP3SampleRates, rate)
	for pos := 0; pos < len(data); {
		h := binary.BigEndian.Uint32(data[pos:])
		br, pad := MP3Bitrates[int(h>>12&15)-1], int(h>>9&1)
		size := 72*1000*br/rate + pad
		r := &bitReader{b: data[pos+4 : pos+13]}
		var g parsedGranule
		g.begin, _ = r.bits(8)
		r.bits(1)
		g.part23, _ = r.bits(12)
		g.bigValues, _ = r.bits(9)
		g.gain, _ = r.bits(8)
		g.sfc, _ = r.bits(9)
		if ws, _ := r.bits(1); ws != 0 {
			return nil, fmt.Errorf("frame %d: window switching", len(out))
		}
		for i := range g.tables {
			g.tables[i], _ = r.bits(5)
		}
		g.region0, _ = r.bits(4)
		g.region1, _ = r.bits(3)
		r.bits(1)
		g.count1Table, _ = r.bits(1)
		start := len(main) - g.begin
		if start < 0 || g.sfc != 0 || g.bigValues > 288 {
			return nil, fmt.Errorf("frame %d: begin %d, scalefac_compress %d, big_values %d", len(out), g.begin, g.sfc, g.bigValues)
		}
		main = append(main, data[pos+13:pos+size]...)
		if err := g.decodeLines(main[start:], &lsfBands[rateIdx]); err != nil {
			return nil, fmt.Errorf("frame %d: %w", len(out), err)
		}
		out = append(out, g)
		pos += size
	}
	return out, nil
}

func (g *parsedGranule) decodeLines(main []byte, sfb *[23]int) error {
	r := &bitReader{b: main}
	end := g.part23
	big := 2 * g.bigValues
	r1 := min(sfb[g.region0+1], big)
	r2 := min(sfb[min(g.region0+g.region1+2, 22)], big)
	for i := 0; i < big; i += 2 {
		t := g.tables[2]
		switch {
		case i < r1:
			t = g.tables[0]
		case i < r2:
			t = g.tables[1]
		}
		if t == 0 {
			continue
		}
		ct, lb := linbitsOf(t)
		h := huffTables[ct]
		if h == nil {
			return fmt.Errorf("table %d", t)
		}
		k, err := huffDecode(r, h)
		if err != nil {
			return err
		}
		vals := [2]int{k / h.width, k % h.width}
		for j := range vals {
			if lb > 0 && vals[j] == 15 {
				e, _ := r.bits(lb)
				vals[j] += e
			}
			if vals[j] != 0 {
				if s, _ := r.bits(1); s == 1 {
					vals[j] = -vals[j]
				}
			}
			g.ix[i+j] = vals[j]
		}
	}
	for i := big; r.pos < end && i+4 <= granuleLen; i += 4 {
		if g.count1Table != 1 {
			return fmt.Errorf("count1 table A")
		}
		q, _ := r.bits(4)
		q = 15 - q
		for j := range 4 {
			v := q >> (3 - j) & 1
			if v != 0 {
				if s, _ := r.bits(1); s == 1 {
					v = -v
				}
			}
			g.ix[i+j] = v
		}
	}
	if r.pos != end {
		return fmt.Errorf("lines end at bit %d, part2_3_length %d", r.pos, end)
	}
	return nil
}

// huffDecode reads one code of h by trying each length in turn.
func huffDecode(r *bitReader, h *huffCodes) (int, error) {
	v := 0
	for n := 1; n <= 19; n++ {
		b, err := r.bits(1)
		if err != nil {
			return 0, err
		}
		v = v<<1 | b
		for k, l := range h.lens {
			if int(l) == n && int(h.codes[k]) == v {
				return k, nil
			}
		}
	}
	return 0, fmt.Errorf("no code")
}
