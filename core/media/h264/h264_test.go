package h264

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestExpGolomb(t *testing.T) {
	// §9.1 Table 9-2: codeNum → bit string.
	for _, c := range []struct {
		v    uint32
		bits string
	}{{0, "1"}, {1, "010"}, {2, "011"}, {3, "00100"}, {6, "00111"}, {7, "0001000"}, {30, "000011111"},
		{1<<32 - 2, strings.Repeat("0", 31) + strings.Repeat("1", 32)}} {
		var w bitWriter
		w.ue(c.v)
		if got := bitString(&w); got != c.bits {
			t.Errorf("ue(%d) = %s, want %s", c.v, got, c.bits)
		}
		r := bitReader{b: padBits(&w)}
		if got, err := r.ue(); err != nil || got != c.v {
			t.Errorf("read back ue(%d) = %d %v", c.v, got, err)
		}
	}
	for _, c := range []struct {
		v    int32
		bits string
	}{{0, "1"}, {1, "010"}, {-1, "011"}, {2, "00100"}, {-2, "00101"}} {
		var w bitWriter
		w.se(c.v)
		if got := bitString(&w); got != c.bits {
			t.Errorf("se(%d) = %s, want %s", c.v, got, c.bits)
		}
	}
}

// bitString is the writer's bits so far as 0s and 1s.
func bitString(w *bitWriter) string {
	var s string
	for _, b := range w.buf {
		s += fmt.Sprintf("%08b", b)
	}
	for i := int(w.ncur) - 1; i >= 0; i-- {
		s += fmt.Sprint(w.cur >> uint(i) & 1)
	}
	return s
}

func padBits(w *bitWriter) []byte {
	c := *w
	c.buf = append([]byte(nil), w.buf...)
	c.alignZero()
	return c.buf
}

func TestEmulationPrevention(t *testing.T) {
	for _, c := range []struct{ in, out []byte }{
		{[]byte{0, 0, 0}, []byte{0, 0, 3, 0}},
		{[]byte{0, 0, 1, 0, 0, 2}, []byte{0, 0, 3, 1, 0, 0, 3, 2}},
		{[]byte{0, 0, 4, 0, 0}, []byte{0, 0, 4, 0, 0}},
		{[]byte{0, 0, 3, 0, 0, 3}, []byte{0, 0, 3, 3, 0, 0, 3, 3}},
		{[]byte{0, 0, 0, 0}, []byte{0, 0, 3, 0, 0, 3}[:5]}, // 0 0 | 0 0 → 0 0 3 0 0
	} {
		got := nal(0, 1, c.in)[1:]
		if !bytes.Equal(got, c.out) {
			t.Errorf("escape %v = %v, want %v", c.in, got, c.out)
		}
		if back := unescape(got); !bytes.Equal(back, c.in) {
			t.Errorf("unescape %v = %v", got, back)
		}
	}
}

// The test's decoder: exactly the subset the encoder writes, strictly, so
// a field in the wrong place fails here as well as in ffmpeg.

type bitReader struct {
	b   []byte
	pos int // bits read
}

var errShort = errors.New("short")

func (r *bitReader) u(n int) (uint32, error) {
	var v uint32
	for i := 0; i < n; i++ {
		if r.pos >= 8*len(r.b) {
			return 0, errShort
		}
		v = v<<1 | uint32(r.b[r.pos/8]>>(7-r.pos%8)&1)
		r.pos++
	}
	return v, nil
}

func (r *bitReader) ue() (uint32, error) {
	n := 0
	for {
		b, err := r.u(1)
		if err != nil {
			return 0, err
		}
		if b == 1 {
			break
		}
		if n++; n > 32 {
			return 0, errors.New("ue: too long")
		}
	}
	v, err := r.u(n)
	return uint32(uint64(1)<<n - 1 + uint64(v)), err
}

// expect reads fields and checks their values: each pair is a width (0
// for ue) and the value wanted.
func (r *bitReader) expect(what string, fields ...int) error {
	for i := 0; i < len(fields); i += 2 {
		var v uint32
		var err error
		if fields[i] == 0 {
			v, err = r.ue()
		} else {
			v, err = r.u(fields[i])
		}
		if err != nil {
			return fmt.Errorf("%s field %d: %w", what, i/2, err)
		}
		if v != uint32(fields[i+1]) {
			return fmt.Errorf("%s field %d = %d, want %d", what, i/2, v, fields[i+1])
		}
	}
	return nil
}

func (r *bitReader) trailing() error {
	if b, err := r.u(1); err != nil || b != 1 {
		return errors.New("no rbsp_stop_one_bit")
	}
	for r.pos%8 != 0 {
		if b, _ := r.u(1); b != 0 {
			return errors.New("trailing bit not zero")
		}
	}
	if r.pos != 8*len(r.b) {
		return fmt.Errorf("%d bytes after the trailing bits", len(r.b)-r.pos/8)
	}
	return nil
}

func unescape(b []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// decoder reconstructs pictures of one stream.
type decoder struct {
	mbw, mbh int
	w, h     int
	ref      *Picture
}

func parseSPS(unit []byte) (*decoder, error) {
	if unit[0] != 3<<5|nalSPS {
		return nil, fmt.Errorf("SPS header %#x", unit[0])
	}
	r := &bitReader{b: unescape(unit[1:])}
	if err := r.expect("sps", 8, profileBaseline, 8, constraintFlags); err != nil {
		return nil, err
	}
	if _, err := r.u(8); err != nil { // level_idc
		return nil, err
	}
	if err := r.expect("sps", 0, 0, 0, log2MaxFrameNum-4, 0, 2, 0, 1, 1, 0); err != nil {
		return nil, err
	}
	mbw, _ := r.ue()
	mbh, _ := r.ue()
	d := &decoder{mbw: int(mbw) + 1, mbh: int(mbh) + 1}
	if err := r.expect("sps", 1, 1, 1, 1); err != nil {
		return nil, err
	}
	d.w, d.h = 16*d.mbw, 16*d.mbh
	if crop, _ := r.u(1); crop == 1 {
		var c [4]uint32
		for i := range c {
			c[i], _ = r.ue()
		}
		if c[0] != 0 || c[2] != 0 {
			return nil, fmt.Errorf("crop %v", c)
		}
		d.w -= 2 * int(c[1])
		d.h -= 2 * int(c[3])
	}
	if err := r.expect("vui", 1, 1, 1, 0, 1, 0, 1, 1, 3, 5, 1, 0, 1, 1, 8, 6, 8, 6, 8, 6, 1, 0, 1, 1, 32, 1); err != nil {
		return nil, err
	}
	if _, err := r.u(32); err != nil { // time_scale
		return nil, err
	}
	if err := r.expect("vui", 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 15, 0, 15, 0, 0, 0, 1); err != nil {
		return nil, err
	}
	return d, r.trailing()
}

func checkPPS(unit []byte) error {
	if unit[0] != 3<<5|nalPPS {
		return fmt.Errorf("PPS header %#x", unit[0])
	}
	r := &bitReader{b: unescape(unit[1:])}
	if err := r.expect("pps", 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 0); err != nil {
		return err
	}
	return r.trailing()
}

// decode reconstructs one access unit.
func (d *decoder) decode(au AccessUnit, frameNum, idrID uint32) (*Picture, error) {
	if len(au.NALs) != 1 {
		return nil, fmt.Errorf("%d NAL units", len(au.NALs))
	}
	unit := au.NALs[0]
	key := unit[0]&0x1F == nalIDR
	if key != au.Key || unit[0]>>5 == 0 || unit[0]&0x80 != 0 {
		return nil, fmt.Errorf("slice header byte %#x, key %v", unit[0], au.Key)
	}
	if !key && d.ref == nil {
		return nil, errors.New("P picture with no reference")
	}
	r := &bitReader{b: unescape(unit[1:])}
	sliceType := 5
	if key {
		sliceType = 7
	}
	if err := r.expect("slice", 0, 0, 0, sliceType, 0, 0, log2MaxFrameNum, int(frameNum)); err != nil {
		return nil, err
	}
	if key {
		if err := r.expect("idr", 0, int(idrID), 1, 0, 1, 0); err != nil {
			return nil, err
		}
	} else if err := r.expect("p", 1, 0, 1, 0, 1, 0); err != nil {
		return nil, err
	}
	if err := r.expect("slice", 0, 0, 0, 1); err != nil { // slice_qp_delta 0 (se 0 = ue 0), deblocking off
		return nil, err
	}
	p := &Picture{W: 16 * d.mbw, H: 16 * d.mbh}
	p.Y, p.Cb, p.Cr = make([]byte, p.W*p.H), make([]byte, p.W*p.H/4), make([]byte, p.W*p.H/4)
	n := d.mbw * d.mbh
	kinds := make([]mbKind, n)
	for mb := 0; mb < n; {
		if !key {
			run, err := r.ue()
			if err != nil {
				return nil, err
			}
			if mb+int(run) > n {
				return nil, fmt.Errorf("skip run %d past the picture", run)
			}
			for ; run > 0; run-- {
				copyMB(p, d.ref, mb, d.mbw)
				kinds[mb] = mbSkip
				mb++
			}
			if mb == n {
				break
			}
		}
		base := 0
		if !key {
			base = 5
		}
		typ, err := r.ue()
		if err != nil {
			return nil, err
		}
		if t := int(typ) - base; t >= 1 && t <= 3 {
			if err := d.intra16x16(r, p, kinds, mb, t-1); err != nil {
				return nil, fmt.Errorf("macroblock %d: %w", mb, err)
			}
			kinds[mb] = mbPred
			mb++
			continue
		}
		if int(typ) != base+25 {
			return nil, fmt.Errorf("macroblock %d: mb_type %d", mb, typ)
		}
		kinds[mb] = mbPCM
		for r.pos%8 != 0 {
			if b, _ := r.u(1); b != 0 {
				return nil, errors.New("pcm_alignment_zero_bit is one")
			}
		}
		if r.pos/8+384 > len(r.b) {
			return nil, errShort
		}
		s := r.b[r.pos/8:][:384]
		r.pos += 8 * 384
		x0, y0 := 16*(mb%d.mbw), 16*(mb/d.mbw)
		for y := 0; y < 16; y++ {
			copy(p.Y[(y0+y)*p.W+x0:][:16], s[16*y:])
		}
		for y := 0; y < 8; y++ {
			copy(p.Cb[(y0/2+y)*p.W/2+x0/2:][:8], s[256+8*y:])
			copy(p.Cr[(y0/2+y)*p.W/2+x0/2:][:8], s[320+8*y:])
		}
		mb++
	}
	d.ref = p
	return p, r.trailing()
}

// intra16x16 decodes an Intra_16x16 macroblock with coded block patterns 0
// (mode: its luma prediction): intra_chroma_pred_mode, mb_qp_delta 0, the
// DC block's coeff_token for no coefficients in the table nC selects, and
// the prediction as the reconstruction.
func (d *decoder) intra16x16(r *bitReader, p *Picture, kinds []mbKind, mb, mode int) error {
	cm, err := r.ue()
	if err != nil || cm > 2 {
		return fmt.Errorf("intra_chroma_pred_mode %d %v", cm, err)
	}
	if err := r.expect("mb_qp_delta", 0, 0); err != nil {
		return err
	}
	// nC from the neighbours' coefficient counts, with Table 9-5's codes
	// for TotalCoeff 0: 1, 11, 1111, 000011.
	count := func(k mbKind) int { return map[mbKind]int{mbPCM: 16}[k] }
	left, top := mb%d.mbw > 0, mb >= d.mbw
	var nc int
	switch {
	case left && top:
		nc = (count(kinds[mb-1]) + count(kinds[mb-d.mbw]) + 1) / 2
	case left:
		nc = count(kinds[mb-1])
	case top:
		nc = count(kinds[mb-d.mbw])
	}
	token := map[bool][2]int{true: {1, 1}}[nc < 2]
	switch {
	case nc >= 8:
		token = [2]int{6, 3}
	case nc >= 4:
		token = [2]int{4, 15}
	case nc >= 2:
		token = [2]int{2, 3}
	}
	if err := r.expect("coeff_token", token[0], token[1]); err != nil {
		return err
	}
	x0, y0 := 16*(mb%d.mbw), 16*(mb/d.mbw)
	var luma [256]byte
	var cb, cr [64]byte
	if !predictLuma(luma[:], p, x0, y0, left, top, mode) || !predictChroma(cb[:], p.Cb, p.W/2, x0/2, y0/2, left, top, int(cm)) ||
		!predictChroma(cr[:], p.Cr, p.W/2, x0/2, y0/2, left, top, int(cm)) {
		return fmt.Errorf("prediction modes %d/%d need samples outside the picture", mode, cm)
	}
	put(p.Y, p.W, x0, y0, 16, luma[:])
	put(p.Cb, p.W/2, x0/2, y0/2, 8, cb[:])
	put(p.Cr, p.W/2, x0/2, y0/2, 8, cr[:])
	return nil
}

// roundTrip encodes frames and decodes them with the test's decoder,
// checking each picture against the encoder's own reconstruction (and, at
// tolerance 0, against the frame's exact 4:2:0 planes).
func roundTrip(t *testing.T, frames []image.Image, opt Options) {
	t.Helper()
	w, h := frames[0].Bounds().Dx(), frames[0].Bounds().Dy()
	e, err := NewEncoder(w, h, opt)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseSPS(e.SPS())
	if err != nil {
		t.Fatalf("SPS: %v", err)
	}
	if d.w != w || d.h != h {
		t.Fatalf("SPS says %dx%d, frames are %dx%d", d.w, d.h, w, h)
	}
	if err := checkPPS(e.PPS()); err != nil {
		t.Fatalf("PPS: %v", err)
	}
	key := max(opt.KeyInterval, 1)
	idr := uint32(1)
	for i, f := range frames {
		au, err := e.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		if au.Key != (i%key == 0) {
			t.Fatalf("frame %d key %v", i, au.Key)
		}
		if au.Key {
			idr ^= 1
		}
		p, err := d.decode(au, uint32(i%key%(1<<log2MaxFrameNum)), idr)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		y, cb, cr := p.Crop(w, h)
		ey, ecb, ecr := e.Decoded()
		if !bytes.Equal(y, ey) || !bytes.Equal(cb, ecb) || !bytes.Equal(cr, ecr) {
			t.Fatalf("frame %d: decoded picture differs from the encoder's reconstruction", i)
		}
		if opt.SkipTolerance == 0 {
			fy, fcb, fcr := ToPicture(f).Crop(w, h)
			if !bytes.Equal(y, fy) || !bytes.Equal(cb, fcb) || !bytes.Equal(cr, fcr) {
				t.Fatalf("frame %d: decoded picture differs from the frame", i)
			}
		} else {
			fy, _, _ := ToPicture(f).Crop(w, h)
			for k := range fy {
				if dv := int(fy[k]) - int(y[k]); dv > opt.SkipTolerance || dv < -opt.SkipTolerance {
					t.Fatalf("frame %d: luma off by %d, tolerance %d", i, dv, opt.SkipTolerance)
				}
			}
		}
	}
}

func randomFrames(r *rand.Rand, n, w, h, levels int) []image.Image {
	var fs []image.Image
	base := image.NewRGBA(image.Rect(0, 0, w, h))
	for p := range base.Pix {
		base.Pix[p] = uint8(r.IntN(levels) * 255 / max(1, levels-1))
	}
	for i := 0; i < n; i++ {
		f := image.NewRGBA(base.Rect)
		copy(f.Pix, base.Pix)
		// Change a random rectangle, leaving the rest for skips.
		x0, y0 := r.IntN(w), r.IntN(h)
		for y := y0; y < min(h, y0+1+r.IntN(20)); y++ {
			for x := x0; x < min(w, x0+1+r.IntN(20)); x++ {
				o := f.PixOffset(x, y)
				f.Pix[o], f.Pix[o+1], f.Pix[o+2] = uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256))
			}
		}
		fs = append(fs, f)
		base = f
	}
	return fs
}

// flatFrames are pictures an intra prediction fits: flat colours, vertical
// and horizontal stripes, a flat field with a noisy square, each for a few
// frames so P pictures see them too.
func flatFrames(w, h int) []image.Image {
	r := rand.New(rand.NewPCG(9, 9))
	var fs []image.Image
	for k := 0; k < 4; k++ {
		f := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := [4][3]uint8{{240, 240, 235}, {uint8(x * 9), 40, 200}, {30, uint8(y * 7), 90}, {250, 250, 250}}[k]
				o := f.PixOffset(x, y)
				f.Pix[o], f.Pix[o+1], f.Pix[o+2], f.Pix[o+3] = c[0], c[1], c[2], 255
				if k == 3 && x > w/3 && x < w/2 && y > h/3 && y < h/2 {
					f.Pix[o], f.Pix[o+1] = uint8(r.IntN(256)), uint8(r.IntN(256))
				}
			}
		}
		fs = append(fs, f, f)
	}
	return fs
}

// TestIntraPrediction: pictures that are their own predictions code as
// Intra_16x16 macroblocks of a few bits, and still decode exactly.
func TestIntraPrediction(t *testing.T) {
	for _, size := range [][2]int{{64, 48}, {34, 18}} {
		fs := flatFrames(size[0], size[1])
		roundTrip(t, fs, Options{FPS: 8, KeyInterval: 3})
		e, _ := NewEncoder(size[0], size[1], Options{FPS: 8})
		au, _ := e.Encode(fs[0]) // flat: one I_PCM macroblock at most (the top-left, with nothing to predict from)
		if n := len(au.NALs[0]); n > 420 {
			t.Errorf("%dx%d flat IDR picture: %d bytes", size[0], size[1], n)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct {
		w, h int
		opt  Options
	}{
		{64, 64, Options{FPS: 8, KeyInterval: 64}}, {2, 2, Options{FPS: 1}}, {18, 34, Options{FPS: 30, KeyInterval: 3}},
		{48, 16, Options{FPS: 8, KeyInterval: 10, SkipTolerance: 4}}, {100, 6, Options{FPS: 120, KeyInterval: 300}},
	} {
		roundTrip(t, randomFrames(r, 7, c.w, c.h, 4), c.opt)
	}
	roundTrip(t, flatFrames(48, 32), Options{FPS: 8, KeyInterval: 5, SkipTolerance: 3})
	// frame_num wraps at 256.
	roundTrip(t, randomFrames(r, 300, 16, 16, 2), Options{FPS: 8, KeyInterval: 1000})
}

// TestSkipsStillMacroblocks: a P picture of a still frame is only a skip run.
func TestSkipsStillMacroblocks(t *testing.T) {
	f := randomFrames(rand.New(rand.NewPCG(2, 2)), 1, 64, 64, 256)[0]
	e, _ := NewEncoder(64, 64, Options{FPS: 8, KeyInterval: 16})
	key, _ := e.Encode(f)
	still, _ := e.Encode(f)
	if len(key.NALs[0]) < 16*384 || len(still.NALs[0]) > 16 {
		t.Fatalf("IDR %d bytes, still P %d bytes", len(key.NALs[0]), len(still.NALs[0]))
	}
}

func TestNewEncoderRejects(t *testing.T) {
	for _, c := range []struct {
		w, h int
		opt  Options
	}{{0, 16, Options{FPS: 8}}, {15, 16, Options{FPS: 8}}, {16, 5000, Options{FPS: 8}}, {16, 16, Options{FPS: 0}},
		{16, 16, Options{FPS: 121}}, {16, 16, Options{FPS: 8, KeyInterval: -1}}, {16, 16, Options{FPS: 8, SkipTolerance: 256}},
		{4096, 4096, Options{FPS: 120}}} {
		if _, err := NewEncoder(c.w, c.h, c.opt); err == nil {
			t.Errorf("NewEncoder(%d, %d, %+v) accepted", c.w, c.h, c.opt)
		}
	}
	e, _ := NewEncoder(16, 16, Options{FPS: 8})
	if _, err := e.Encode(image.NewRGBA(image.Rect(0, 0, 16, 18))); err == nil {
		t.Error("a frame of another size accepted")
	}
}

func TestLevel(t *testing.T) {
	for _, c := range []struct {
		mbs, fps int
		want     byte
	}{{16, 8, 13}, {16, 1, 10}, {1, 1, 10}, {1024, 8, 41}, {8160, 60, 0}} {
		got, err := chooseLevel(c.mbs, c.fps)
		if (err != nil) != (c.want == 0) || got != c.want {
			t.Errorf("chooseLevel(%d, %d) = %d %v, want %d", c.mbs, c.fps, got, err, c.want)
		}
	}
}

// FuzzEncode: any frames of any even size, any options, decode back to the
// encoder's reconstruction through the strict test decoder.
func FuzzEncode(f *testing.F) {
	f.Add(uint8(4), uint8(4), uint8(3), uint8(0), uint8(2), uint64(1))
	f.Add(uint8(33), uint8(8), uint8(5), uint8(2), uint8(1), uint64(7))
	f.Fuzz(func(t *testing.T, w, h, n, tol, key uint8, seed uint64) {
		W, H := 2+2*int(w%40), 2+2*int(h%40)
		r := rand.New(rand.NewPCG(seed, 3))
		roundTrip(t, randomFrames(r, 1+int(n%8), W, H, 1+int(seed%5)), Options{FPS: 8, KeyInterval: int(key % 5), SkipTolerance: int(tol % 8)})
	})
}
