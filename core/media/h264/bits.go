package h264

// bitWriter writes the RBSP bit syntax of H.264 §7.2: fixed-width fields
// u(n) most significant bit first, Exp-Golomb ue(v) and se(v) (§9.1).
type bitWriter struct {
	buf  []byte
	cur  uint64 // pending bits, right-aligned
	ncur uint   // how many
}

// u writes the low n bits of v (n ≤ 32).
func (w *bitWriter) u(n uint, v uint32) {
	w.cur = w.cur<<n | uint64(v)&(1<<n-1)
	w.ncur += n
	for w.ncur >= 8 {
		w.ncur -= 8
		w.buf = append(w.buf, byte(w.cur>>w.ncur))
	}
}

func (w *bitWriter) flag(b bool) {
	if b {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

// ue writes v as unsigned Exp-Golomb: leadingZeros zeros, then v+1 in
// leadingZeros+1 bits.
func (w *bitWriter) ue(v uint32) {
	x := uint64(v) + 1
	n := uint(0)
	for x>>(n+1) != 0 {
		n++
	}
	w.u(n, 0)
	w.cur = w.cur<<(n+1) | x
	w.ncur += n + 1
	for w.ncur >= 8 {
		w.ncur -= 8
		w.buf = append(w.buf, byte(w.cur>>w.ncur))
	}
}

// se writes v as signed Exp-Golomb: k > 0 as 2k−1, k ≤ 0 as −2k.
func (w *bitWriter) se(v int32) {
	if v > 0 {
		w.ue(uint32(2*v - 1))
	} else {
		w.ue(uint32(-2 * v))
	}
}

func (w *bitWriter) aligned() bool { return w.ncur == 0 }

// alignZero pads with zero bits to the next byte (pcm_alignment_zero_bit).
func (w *bitWriter) alignZero() {
	if w.ncur > 0 {
		w.u(8-w.ncur, 0)
	}
}

// bytes appends whole bytes; the writer must be aligned.
func (w *bitWriter) bytes(b []byte) {
	if w.ncur != 0 {
		panic("h264: unaligned byte write")
	}
	w.buf = append(w.buf, b...)
}

// trailing writes rbsp_trailing_bits: a one, then zeros to the byte.
func (w *bitWriter) trailing() []byte {
	w.u(1, 1)
	w.alignZero()
	return w.buf
}

// nal wraps an RBSP into a NAL unit: the one-byte header (forbidden zero
// bit, nal_ref_idc, nal_unit_type) and the payload with emulation
// prevention (§7.4.1): within it no two zero bytes are followed by a byte
// ≤ 3, so a 0x03 goes between them.
func nal(refIdc, unitType byte, rbsp []byte) []byte {
	out := make([]byte, 0, len(rbsp)+len(rbsp)/64+2)
	out = append(out, refIdc<<5|unitType)
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}
