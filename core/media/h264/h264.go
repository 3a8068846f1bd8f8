// Package h264 is a small H.264 (ITU-T H.264 | ISO/IEC 14496-10) encoder for
// Loom's generated clips, in pure Go: Constrained Baseline profile, one
// slice per picture, CAVLC syntax, 8-bit 4:2:0.
//
// It codes every macroblock one of three ways, the first that fits:
//
//   - P_Skip, in P pictures, where the macroblock's samples equal (within
//     Options.SkipTolerance) those of the same macroblock in the previous
//     decoded picture. Every motion vector of the stream is zero, so a
//     skipped macroblock's predicted vector is zero too (§8.4.1.1: its
//     neighbours are intra, with no vector, or skipped, with a zero one) and
//     it is a copy of the reference.
//   - Intra_16x16 with no residual, where the macroblock equals (within the
//     tolerance) one of its intra predictions — vertical, horizontal or DC
//     from the samples above and to the left (intra.go): a flat or striped
//     area costs a few bits.
//   - I_PCM (mb_type 25 in I slices, 30 in P slices): the macroblock's
//     256 luma and 2×64 chroma samples verbatim.
//
// None of them transforms or quantises, so at tolerance 0 the decoded
// picture is the encoder's 4:2:0 picture exactly — the only loss is the
// RGB → Y′CbCr 4:2:0 conversion. This trades size for simplicity and
// exactness: a macroblock with detail costs 388 bytes. A transform-and-CAVLC
// residual path would make detailed pictures much smaller; it is not
// written.
//
// Colour: BT.601 Y′CbCr at limited range (Y′ 16–235, Cb/Cr 16–240), chroma
// the mean of each 2×2 block, signalled in the VUI (SMPTE 170M primaries,
// transfer and matrix) with the frame rate. Sizes that are not multiples of
// 16 are padded by repeating the last column and row and cropped in the
// SPS, so any even width and height up to 4096 works.
package h264

import (
	"fmt"
	"image"
)

// NAL unit types (§7.4.1, Table 7-1).
const (
	nalSlice = 1
	nalIDR   = 5
	nalSPS   = 7
	nalPPS   = 8
)

const (
	profileBaseline = 66
	// constraint_set0_flag and constraint_set1_flag: the stream keeps to
	// Baseline and to Main, which makes it Constrained Baseline.
	constraintFlags = 0xC0
	log2MaxFrameNum = 8 // frame_num counts modulo 256
	maxSide         = 4096
)

// Options are an encoder's settings.
type Options struct {
	FPS int // frames per second, 1…120 (VUI timing)
	// KeyInterval is the distance between IDR pictures; 0 or 1 makes every
	// picture an IDR (no P pictures, nothing skipped).
	KeyInterval int
	// SkipTolerance is the largest difference of any sample from the
	// previous decoded picture at which a macroblock of a P picture is
	// skipped; 0 skips only exact repeats, keeping the stream exact.
	SkipTolerance int
}

// Encoder turns frames of one size into access units.
type Encoder struct {
	w, h      int // picture size
	mbw, mbh  int // in macroblocks
	opt       Options
	level     byte
	frame     int    // pictures encoded
	idrID     uint32 // idr_pic_id of the last IDR
	frameNum  uint32
	ref       *Picture // the last decoded picture
	sps, pps  []byte
	mbScratch [384]byte
	kinds     []mbKind // how each macroblock of the picture being coded was coded
}

// Picture is a 4:2:0 picture padded to whole macroblocks.
type Picture struct {
	W, H   int    // padded size, multiples of 16
	Y      []byte // W×H
	Cb, Cr []byte // W/2 × H/2
}

// AccessUnit is one coded picture: its NAL units (header byte first,
// emulation prevention applied, no start codes or length prefixes).
type AccessUnit struct {
	NALs [][]byte
	Key  bool // an IDR picture: decoding may start here
}

// NewEncoder makes an encoder for w×h frames.
func NewEncoder(w, h int, opt Options) (*Encoder, error) {
	switch {
	case w <= 0 || h <= 0 || w%2 != 0 || h%2 != 0 || w > maxSide || h > maxSide:
		return nil, fmt.Errorf("h264: frame size %dx%d: need even sides up to %d", w, h, maxSide)
	case opt.FPS < 1 || opt.FPS > 120:
		return nil, fmt.Errorf("h264: fps %d outside 1…120", opt.FPS)
	case opt.KeyInterval < 0:
		return nil, fmt.Errorf("h264: key interval %d", opt.KeyInterval)
	case opt.SkipTolerance < 0 || opt.SkipTolerance > 255:
		return nil, fmt.Errorf("h264: skip tolerance %d outside 0…255", opt.SkipTolerance)
	}
	if opt.KeyInterval == 0 {
		opt.KeyInterval = 1
	}
	e := &Encoder{w: w, h: h, mbw: (w + 15) / 16, mbh: (h + 15) / 16, opt: opt}
	lvl, err := chooseLevel(e.mbw*e.mbh, opt.FPS)
	if err != nil {
		return nil, err
	}
	e.level = lvl
	e.kinds = make([]mbKind, e.mbw*e.mbh)
	e.sps = e.writeSPS()
	e.pps = writePPS()
	return e, nil
}

// SPS and PPS are the parameter set NAL units the stream refers to (for an
// MP4 avcC box, or in-band before the first IDR).
func (e *Encoder) SPS() []byte { return e.sps }
func (e *Encoder) PPS() []byte { return e.pps }

// Profile, Compatibility and Level are the SPS's first three bytes
// (profile_idc, constraint flags, level_idc), as avcC and codec strings
// ("avc1.42C00D") carry them.
func (e *Encoder) Profile() byte       { return profileBaseline }
func (e *Encoder) Compatibility() byte { return constraintFlags }
func (e *Encoder) Level() byte         { return e.level }

// levels is Table A-1's rows that matter here: level_idc, MaxMBPS, MaxFS
// (macroblocks) and MaxBR (kbit/s for Baseline).
var levels = []struct {
	idc      byte
	mbps, fs int
	kbps     int
}{
	{10, 1485, 99, 64}, {11, 3000, 396, 192}, {12, 6000, 396, 384}, {13, 11880, 396, 768},
	{20, 11880, 396, 2000}, {21, 19800, 792, 4000}, {22, 20250, 1620, 4000},
	{30, 40500, 1620, 10000}, {31, 108000, 3600, 14000}, {32, 216000, 5120, 20000},
	{40, 245760, 8192, 20000}, {41, 245760, 8192, 50000}, {42, 522240, 8704, 50000},
	{50, 589824, 22080, 135000}, {51, 983040, 36864, 240000}, {52, 2073600, 36864, 240000},
}

// chooseLevel picks the lowest level whose frame size, macroblock rate and
// bit rate hold the stream at its worst: every macroblock I_PCM.
func chooseLevel(mbs, fps int) (byte, error) {
	kbps := (mbs*(384+4)*8*fps + 999) / 1000
	for _, l := range levels {
		if mbs <= l.fs && mbs*fps <= l.mbps && kbps <= l.kbps {
			return l.idc, nil
		}
	}
	return 0, fmt.Errorf("h264: %d macroblocks at %d fps exceed level 5.2", mbs, fps)
}

func (e *Encoder) writeSPS() []byte {
	var w bitWriter
	w.u(8, profileBaseline)
	w.u(8, constraintFlags)
	w.u(8, uint32(e.level))
	w.ue(0)                   // seq_parameter_set_id
	w.ue(log2MaxFrameNum - 4) // log2_max_frame_num_minus4
	w.ue(2)                   // pic_order_cnt_type: order = decoding order
	w.ue(1)                   // max_num_ref_frames
	w.flag(false)             // gaps_in_frame_num_value_allowed_flag
	w.ue(uint32(e.mbw - 1))   // pic_width_in_mbs_minus1
	w.ue(uint32(e.mbh - 1))   // pic_height_in_map_units_minus1
	w.flag(true)              // frame_mbs_only_flag
	w.flag(true)              // direct_8x8_inference_flag
	cropR, cropB := 16*e.mbw-e.w, 16*e.mbh-e.h
	w.flag(cropR != 0 || cropB != 0) // frame_cropping_flag
	if cropR != 0 || cropB != 0 {
		// In units of two samples for 4:2:0 frames (CropUnitX = CropUnitY = 2).
		w.ue(0)
		w.ue(uint32(cropR / 2))
		w.ue(0)
		w.ue(uint32(cropB / 2))
	}
	w.flag(true)                 // vui_parameters_present_flag (Annex E)
	w.flag(false)                // aspect_ratio_info_present_flag: square samples
	w.flag(false)                // overscan_info_present_flag
	w.flag(true)                 // video_signal_type_present_flag
	w.u(3, 5)                    // video_format: unspecified
	w.flag(false)                // video_full_range_flag: limited range
	w.flag(true)                 // colour_description_present_flag
	w.u(8, 6)                    // colour_primaries: SMPTE 170M
	w.u(8, 6)                    // transfer_characteristics: SMPTE 170M
	w.u(8, 6)                    // matrix_coefficients: SMPTE 170M (BT.601)
	w.flag(false)                // chroma_loc_info_present_flag
	w.flag(true)                 // timing_info_present_flag
	w.u(32, 1)                   // num_units_in_tick
	w.u(32, uint32(2*e.opt.FPS)) // time_scale: a frame is two ticks
	w.flag(true)                 // fixed_frame_rate_flag
	w.flag(false)                // nal_hrd_parameters_present_flag
	w.flag(false)                // vcl_hrd_parameters_present_flag
	w.flag(false)                // pic_struct_present_flag
	w.flag(true)                 // bitstream_restriction_flag
	w.flag(true)                 // motion_vectors_over_pic_boundaries_flag
	w.ue(0)                      // max_bytes_per_pic_denom: no limit
	w.ue(0)                      // max_bits_per_mb_denom: no limit
	w.ue(15)                     // log2_max_mv_length_horizontal
	w.ue(15)                     // log2_max_mv_length_vertical
	w.ue(0)                      // max_num_reorder_frames: output at once
	w.ue(1)                      // max_dec_frame_buffering
	return nal(3, nalSPS, w.trailing())
}

func writePPS() []byte {
	var w bitWriter
	w.ue(0)       // pic_parameter_set_id
	w.ue(0)       // seq_parameter_set_id
	w.flag(false) // entropy_coding_mode_flag: CAVLC
	w.flag(false) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)       // num_slice_groups_minus1
	w.ue(0)       // num_ref_idx_l0_default_active_minus1
	w.ue(0)       // num_ref_idx_l1_default_active_minus1
	w.flag(false) // weighted_pred_flag
	w.u(2, 0)     // weighted_bipred_idc
	w.se(0)       // pic_init_qp_minus26
	w.se(0)       // pic_init_qs_minus26
	w.se(0)       // chroma_qp_index_offset
	w.flag(true)  // deblocking_filter_control_present_flag: slices turn it off
	w.flag(false) // constrained_intra_pred_flag
	w.flag(false) // redundant_pic_cnt_present_flag
	return nal(3, nalPPS, w.trailing())
}

// Encode codes the next frame, which must have the encoder's size.
func (e *Encoder) Encode(img image.Image) (AccessUnit, error) {
	if b := img.Bounds(); b.Dx() != e.w || b.Dy() != e.h {
		return AccessUnit{}, fmt.Errorf("h264: frame %d is %dx%d, the stream %dx%d", e.frame, b.Dx(), b.Dy(), e.w, e.h)
	}
	pic := ToPicture(img)
	key := e.frame%e.opt.KeyInterval == 0
	if key {
		e.frameNum = 0
		if e.frame > 0 {
			e.idrID ^= 1 // consecutive IDRs differ in idr_pic_id
		}
	}
	var w bitWriter
	e.sliceHeader(&w, key)
	n := e.mbw * e.mbh
	kinds := e.kinds[:n]
	run := uint32(0) // P_Skip macroblocks not yet written
	for mb := 0; mb < n; mb++ {
		if !key && e.same(pic, mb) {
			run++
			kinds[mb] = mbSkip
			copyMB(pic, e.ref, mb, e.mbw) // the decoder copies the reference
			continue
		}
		intra := uint32(0) // mb_type offset: intra types follow the five P types in P slices
		if !key {
			w.ue(run) // mb_skip_run
			run = 0
			intra = 5
		}
		if luma, chroma, ok := predictable(pic, mb, e.mbw, e.opt.SkipTolerance, &e.mbScratch); ok {
			kinds[mb] = mbPred
			w.ue(intra + 1 + uint32(luma))           // I_16x16_<luma>_0_0: coded block patterns 0
			w.ue(uint32(chroma))                     // intra_chroma_pred_mode
			w.se(0)                                  // mb_qp_delta
			noCoefficients(&w, nC(kinds, mb, e.mbw)) // the Intra16x16DCLevel block
			continue
		}
		kinds[mb] = mbPCM
		w.ue(intra + 25) // I_PCM
		e.pcm(&w, pic, mb)
	}
	if run > 0 {
		w.ue(run)
	}
	unit := byte(nalSlice)
	if key {
		unit = nalIDR
	}
	au := AccessUnit{Key: key, NALs: [][]byte{nal(2, unit, w.trailing())}}
	e.ref = pic
	e.frame++
	e.frameNum = (e.frameNum + 1) % (1 << log2MaxFrameNum)
	return au, nil
}

func (e *Encoder) sliceHeader(w *bitWriter, key bool) {
	w.ue(0) // first_mb_in_slice
	if key {
		w.ue(7) // slice_type: I, and so are all slices of the picture
	} else {
		w.ue(5) // slice_type: P, likewise
	}
	w.ue(0) // pic_parameter_set_id
	w.u(log2MaxFrameNum, e.frameNum)
	if key {
		w.ue(e.idrID) // idr_pic_id
	} else {
		w.flag(false) // num_ref_idx_active_override_flag
		w.flag(false) // ref_pic_list_modification_flag_l0
	}
	// dec_ref_pic_marking (nal_ref_idc ≠ 0)
	if key {
		w.flag(false) // no_output_of_prior_pics_flag
		w.flag(false) // long_term_reference_flag
	} else {
		w.flag(false) // adaptive_ref_pic_marking_mode_flag: sliding window
	}
	w.se(0) // slice_qp_delta (no residual is coded)
	w.ue(1) // disable_deblocking_filter_idc: off, samples stay exact
}

// pcm writes macroblock mb's samples after pcm_alignment_zero_bits: 16×16
// luma, then 8×8 Cb, then 8×8 Cr, each in raster order.
func (e *Encoder) pcm(w *bitWriter, p *Picture, mb int) {
	w.alignZero()
	s := e.mbScratch[:0]
	x0, y0 := 16*(mb%e.mbw), 16*(mb/e.mbw)
	for y := 0; y < 16; y++ {
		s = append(s, p.Y[(y0+y)*p.W+x0:][:16]...)
	}
	cw := p.W / 2
	for _, c := range [][]byte{p.Cb, p.Cr} {
		for y := 0; y < 8; y++ {
			s = append(s, c[(y0/2+y)*cw+x0/2:][:8]...)
		}
	}
	w.bytes(s)
}

// same reports whether macroblock mb of p is within the skip tolerance of
// the reference picture's.
func (e *Encoder) same(p *Picture, mb int) bool {
	x0, y0 := 16*(mb%e.mbw), 16*(mb/e.mbw)
	tol := e.opt.SkipTolerance
	near := func(a, b []byte) bool {
		for i := range a {
			if d := int(a[i]) - int(b[i]); d > tol || d < -tol {
				return false
			}
		}
		return true
	}
	for y := 0; y < 16; y++ {
		o := (y0+y)*p.W + x0
		if !near(p.Y[o:o+16], e.ref.Y[o:o+16]) {
			return false
		}
	}
	cw := p.W / 2
	for y := 0; y < 8; y++ {
		o := (y0/2+y)*cw + x0/2
		if !near(p.Cb[o:o+8], e.ref.Cb[o:o+8]) || !near(p.Cr[o:o+8], e.ref.Cr[o:o+8]) {
			return false
		}
	}
	return true
}

// copyMB copies macroblock mb from src into dst.
func copyMB(dst, src *Picture, mb, mbw int) {
	x0, y0 := 16*(mb%mbw), 16*(mb/mbw)
	for y := 0; y < 16; y++ {
		o := (y0+y)*dst.W + x0
		copy(dst.Y[o:o+16], src.Y[o:o+16])
	}
	cw := dst.W / 2
	for y := 0; y < 8; y++ {
		o := (y0/2+y)*cw + x0/2
		copy(dst.Cb[o:o+8], src.Cb[o:o+8])
		copy(dst.Cr[o:o+8], src.Cr[o:o+8])
	}
}

// Decoded is the picture a decoder shows for the last encoded frame,
// cropped to the frame size: Y (w×h), Cb and Cr (w/2 × h/2).
func (e *Encoder) Decoded() (y, cb, cr []byte) {
	return e.ref.Crop(e.w, e.h)
}

// Crop returns the top-left w×h of the picture's planes (w, h even).
func (p *Picture) Crop(w, h int) (y, cb, cr []byte) {
	y = make([]byte, 0, w*h)
	for r := 0; r < h; r++ {
		y = append(y, p.Y[r*p.W:][:w]...)
	}
	cw := p.W / 2
	for r := 0; r < h/2; r++ {
		cb = append(cb, p.Cb[r*cw:][:w/2]...)
	}
	for r := 0; r < h/2; r++ {
		cr = append(cr, p.Cr[r*cw:][:w/2]...)
	}
	return y, cb, cr
}
