package sound

import "math"

// Quantization and Huffman coding of one granule's 576 lines (ISO/IEC
// 11172-3 §2.4.2.7 and §2.4.3.4). A decoder reconstructs a line as
// sign·|ix|^(4/3)·2^((global_gain−210)/4) (scalefactors being zero), so the
// coder picks the smallest global_gain (the finest step) whose coded lines
// fit the bit budget, by bisection: the bit count falls as the gain rises.
//
// The lines split into big_values pairs, count1 quadruples (values −1…1,
// table B) and the zeros after them. The pairs split again into three
// regions at scalefactor band edges, each with the cheapest table that can
// hold its largest value; every admissible split is tried.

// maxQuant is the largest magnitude the tables code: 15 + 2^13 − 1.
const maxQuant = 15 + 1<<13 - 1

// granuleInfo is what the side info says about a coded granule.
type granuleInfo struct {
	part23     int // bits of main data (no scalefactor bits: all slen 0)
	bigValues  int // pairs coded with the big-value tables
	count1End  int // end of the count1 quadruples (lines)
	globalGain int
	tables     [3]int // table_select per region
	region0    int    // region0_count
	region1    int    // region1_count
}

// granuleCoder holds one granule's lines while its gain is searched.
type granuleCoder struct {
	xr34 [granuleLen]float64 // |xr|^(3/4)
	neg  [granuleLen]bool
	ix   [granuleLen]int32 // quantized magnitudes at the gain last tried
	sfb  *[23]int
}

// smallTables are the big-value tables without linbits, cheapest first
// for small values; family16 and family24 are the linbits tables (16…23
// reuse table 16's codes, 24…31 table 24's) and their linbits.
var (
	smallTables = []int{1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15}
	family16    = [8]int{1, 2, 3, 4, 6, 8, 10, 13}
	family24    = [8]int{4, 5, 6, 7, 8, 9, 11, 13}
)

const nTables = 13 + 2 // the small tables, then the 16 and 24 families

// code quantizes xr to fit budget bits and returns its side info; the
// quantized lines stay in c for write.
func (c *granuleCoder) code(xr *[granuleLen]float64, sfb *[23]int, budget int) granuleInfo {
	c.sfb = sfb
	peak := 0.0
	for i, v := range xr {
		c.neg[i] = v < 0
		c.xr34[i] = math.Pow(math.Abs(v), 0.75)
		peak = max(peak, c.xr34[i])
	}
	if peak < 1e-12 {
		c.ix = [granuleLen]int32{}
		return granuleInfo{globalGain: 210}
	}
	lo, hi := 0, 255
	var best granuleInfo
	found := false
	for lo <= hi {
		g := (lo + hi) / 2
		if gi, ok := c.try(g); ok && gi.part23 <= budget {
			best, found, hi = gi, true, g-1
		} else {
			lo = g + 1
		}
	}
	if !found { // cannot happen for input in [−1, 1]: gain 255 quantizes it to zeros
		best, _ = c.try(255)
	}
	c.try(best.globalGain) // leave that gain's lines in c.ix
	return best
}

// try quantizes at gain g and counts the bits; false if a line overflows.
func (c *granuleCoder) try(g int) (granuleInfo, bool) {
	step := math.Exp2(-float64(g-210) * 3 / 16)
	for i, v := range c.xr34 {
		q := v*step + 0.4054 // the standard's rounding: nint(x − 0.0946)
		if q > maxQuant {
			return granuleInfo{}, false
		}
		c.ix[i] = int32(q)
	}
	gi := c.layout()
	gi.globalGain = g
	return gi, true
}

// bandStats sums, per scalefactor band (clipped to the big values), what
// each table would spend on its pairs.
type bandStats struct {
	max, nz, esc int32
	cost         [nTables]int32 // Huffman code bits only (signs and linbits apart)
}

func (c *granuleCoder) layout() granuleInfo {
	ix := &c.ix
	n := granuleLen
	for n >= 2 && ix[n-1] == 0 && ix[n-2] == 0 {
		n -= 2
	}
	c1 := n
	for c1 >= 4 && ix[c1-1] <= 1 && ix[c1-2] <= 1 && ix[c1-3] <= 1 && ix[c1-4] <= 1 {
		c1 -= 4
	}
	gi := granuleInfo{bigValues: c1 / 2, count1End: n}
	bits := 0
	for i := c1; i < n; i++ {
		if ix[i] != 0 {
			bits++
		}
	}
	bits += (n - c1) // 4 bits per quadruple in table B
	var stats [22]bandStats
	var small [13]*huffCodes
	for ti, t := range smallTables {
		small[ti] = huffTables[t]
	}
	h16, h24 := huffTables[16], huffTables[24]
	nb := 0
	for b := 0; b < 22 && c.sfb[b] < c1; b++ {
		st := &stats[b]
		for i := c.sfb[b]; i < min(c.sfb[b+1], c1); i += 2 {
			x, y := ix[i], ix[i+1]
			st.max = max(st.max, x, y)
			if x != 0 {
				st.nz++
			}
			if y != 0 {
				st.nz++
			}
			if x >= 15 {
				st.esc++
			}
			if y >= 15 {
				st.esc++
			}
			if x < 16 && y < 16 {
				for ti, h := range small {
					if int(x) < h.width && int(y) < h.width {
						st.cost[ti] += int32(h.lens[int(x)*h.width+int(y)])
					}
				}
			}
			xe, ye := min(x, 15), min(y, 15)
			st.cost[13] += int32(h16.lens[xe*16+ye])
			st.cost[14] += int32(h24.lens[xe*16+ye])
		}
		nb = b + 1
	}
	if nb == 0 {
		gi.part23 = bits
		return gi
	}
	// Prefix sums over the bands, so each region's sums cost one subtraction.
	var pre [23]bandStats
	for b := range nb {
		p, q, st := &pre[b], &pre[b+1], &stats[b]
		q.nz, q.esc = p.nz+st.nz, p.esc+st.esc
		for t := range q.cost {
			q.cost[t] = p.cost[t] + st.cost[t]
		}
	}
	region := func(lo, hi int) (int, int) {
		var m int32
		for _, st := range stats[lo:hi] {
			m = max(m, st.max)
		}
		var sum bandStats
		sum.max, sum.nz, sum.esc = m, pre[hi].nz-pre[lo].nz, pre[hi].esc-pre[lo].esc
		for t := range sum.cost {
			sum.cost[t] = pre[hi].cost[t] - pre[lo].cost[t]
		}
		return regionTable(&sum)
	}
	// Every split: region0 is bands [0, r0+1), region1 [r0+1, r0+r1+2),
	// region2 the rest of the big values.
	bestBits := -1
	for r0 := 0; r0 < 16; r0++ {
		for r1 := 0; r1 < 8 && r0+r1+2 <= 22; r1++ {
			e0, e1 := min(r0+1, nb), min(r0+r1+2, nb)
			t0, b0 := region(0, e0)
			t1, b1 := region(e0, e1)
			t2, b2 := region(e1, nb)
			if sum := b0 + b1 + b2; bestBits < 0 || sum < bestBits {
				bestBits = sum
				gi.tables = [3]int{t0, t1, t2}
				gi.region0, gi.region1 = r0, r1
			}
			if e1 == nb {
				break // region2 is empty; a longer region1 changes nothing
			}
		}
	}
	gi.part23 = bits + bestBits
	return gi
}

// regionTable picks the cheapest table for a region's summed statistics
// and says its bits.
func regionTable(r *bandStats) (int, int) {
	m, nz, esc, cost := r.max, r.nz, r.esc, &r.cost
	if m == 0 {
		return 0, 0
	}
	best, bestBits := 0, int32(-1)
	if m < 16 {
		for ti, t := range smallTables {
			if m < int32(huffTables[t].width) && (bestBits < 0 || cost[ti] < bestBits) {
				best, bestBits = t, cost[ti]
			}
		}
	}
	for f, family := range [2]*[8]int{&family16, &family24} {
		for k, lb := range family {
			if m <= 15+1<<lb-1 {
				if b := cost[13+f] + esc*int32(lb); bestBits < 0 || b < bestBits {
					best, bestBits = 16+8*f+k, b
				}
				break
			}
		}
	}
	return best, int(bestBits + nz)
}

// linbitsOf is table t's (0…31) code table number and its linbits.
func linbitsOf(t int) (int, int) {
	switch {
	case t >= 24:
		return 24, family24[t-24]
	case t >= 16:
		return 16, family16[t-16]
	}
	return t, 0
}

// write emits the granule's Huffman-coded lines (part 3 of its main data).
func (c *granuleCoder) write(w *bitWriter, gi *granuleInfo) {
	ix := &c.ix
	big := 2 * gi.bigValues
	r1 := min(c.sfb[gi.region0+1], big)
	r2 := min(c.sfb[gi.region0+gi.region1+2], big)
	for i := 0; i < big; i += 2 {
		t := gi.tables[2]
		switch {
		case i < r1:
			t = gi.tables[0]
		case i < r2:
			t = gi.tables[1]
		}
		if t == 0 {
			continue
		}
		ct, lb := linbitsOf(t)
		h := huffTables[ct]
		x, y := int(ix[i]), int(ix[i+1])
		xe, ye := min(x, 15), min(y, 15)
		if lb == 0 {
			xe, ye = x, y
		}
		k := xe*h.width + ye
		w.bits(uint64(h.codes[k]), int(h.lens[k]))
		for j, v := range [2]int{x, y} {
			if lb > 0 && v >= 15 {
				w.bits(uint64(v-15), lb)
			}
			if v != 0 {
				w.bits(b2u(c.neg[i+j]), 1)
			}
		}
	}
	for i := big; i < gi.count1End; i += 4 {
		q := ix[i]<<3 | ix[i+1]<<2 | ix[i+2]<<1 | ix[i+3]
		w.bits(uint64(15-q), 4)
		for j := range 4 {
			if ix[i+j] != 0 {
				w.bits(b2u(c.neg[i+j]), 1)
			}
		}
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
