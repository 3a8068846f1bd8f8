// Package mp4 writes an H.264 video track into an ISO base media file
// (ISO/IEC 14496-12, with the AVC file format of 14496-15): the .mp4 that
// browsers and ffmpeg play.
//
// Layout, moov before mdat so a player can start before the whole file is
// in ("fast start"); one chunk holds every sample; nothing in the file
// depends on the clock, so equal input gives equal bytes:
//
//	ftyp                      isom, compatible with isom iso2 avc1 mp41
//	moov
//	  mvhd                    timescale 1000, duration in ms
//	  trak
//	    tkhd                  track 1, enabled, width × height
//	    mdia
//	      mdhd                timescale 1000·fps, a sample lasts 1000
//	      hdlr                vide
//	      minf
//	        vmhd
//	        dinf/dref/url     data in this file
//	        stbl
//	          stsd/avc1       width × height, avcC (SPS, PPS), colr nclx
//	          stts            one run: every sample the same duration
//	          stss            the key (IDR) samples
//	          stsc            one chunk of all samples
//	          stsz            each sample's size
//	          stco            the chunk's offset
//	mdat                      the samples, each NAL unit behind a 4-byte length
package mp4

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Track is an H.264 video track's description.
type Track struct {
	Width, Height int
	FPS           int
	SPS, PPS      []byte // NAL units, header byte first
}

// Sample is one access unit: its NAL units (header byte first, no start
// codes) and whether it is an IDR picture.
type Sample struct {
	NALs [][]byte
	Key  bool
}

// Write writes the file.
func Write(w io.Writer, t Track, samples []Sample) error {
	switch {
	case t.Width <= 0 || t.Height <= 0 || t.Width > 0xFFFF || t.Height > 0xFFFF:
		return fmt.Errorf("mp4: size %dx%d", t.Width, t.Height)
	case t.FPS < 1 || t.FPS > 1000:
		return fmt.Errorf("mp4: fps %d", t.FPS)
	case len(t.SPS) < 4 || len(t.PPS) < 1 || len(t.SPS) > 0xFFFF || len(t.PPS) > 0xFFFF:
		return fmt.Errorf("mp4: SPS of %d bytes, PPS of %d", len(t.SPS), len(t.PPS))
	case len(samples) == 0:
		return fmt.Errorf("mp4: no samples")
	case !samples[0].Key:
		return fmt.Errorf("mp4: the first sample is not a key frame")
	}
	sizes := make([]uint32, len(samples))
	var mdatLen uint64
	for i, s := range samples {
		n := uint64(0)
		for _, u := range s.NALs {
			n += 4 + uint64(len(u))
		}
		if n == 0 || n > math.MaxUint32 {
			return fmt.Errorf("mp4: sample %d is %d bytes", i, n)
		}
		sizes[i] = uint32(n)
		mdatLen += n
	}
	if mdatLen+8 > math.MaxUint32 {
		return fmt.Errorf("mp4: %d bytes of samples do not fit a 32-bit file", mdatLen)
	}
	ftyp := box("ftyp", []byte("isom"), be32(0x200), []byte("isomiso2avc1mp41"))
	// The chunk offset depends on moov's size, which does not depend on the
	// offset's value: build moov once to measure it, then for real.
	moov := t.moov(samples, sizes, 0)
	offset := uint64(len(ftyp)+len(moov)) + 8
	if offset+mdatLen > math.MaxUint32 {
		return fmt.Errorf("mp4: file over 4 GiB")
	}
	moov = t.moov(samples, sizes, uint32(offset))
	for _, b := range [][]byte{ftyp, moov, be32(uint32(8 + mdatLen)), []byte("mdat")} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	for _, s := range samples {
		for _, u := range s.NALs {
			if _, err := w.Write(be32(uint32(len(u)))); err != nil {
				return err
			}
			if _, err := w.Write(u); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t Track) moov(samples []Sample, sizes []uint32, chunkOffset uint32) []byte {
	n := uint32(len(samples))
	const delta = 1000
	mediaScale := uint32(delta * t.FPS)
	mediaDur := n * delta
	movieDur := uint32((uint64(n)*1000 + uint64(t.FPS) - 1) / uint64(t.FPS)) // ms, rounded up
	wh := cat(be32(uint32(t.Width)<<16), be32(uint32(t.Height)<<16))         // 16.16 fixed point

	mvhd := fullBox("mvhd", 0, 0, be32(0), be32(0), be32(1000), be32(movieDur),
		be32(0x00010000), be16(0x0100), make([]byte, 10), matrix(), make([]byte, 24), be32(2))
	tkhd := fullBox("tkhd", 0, 3, be32(0), be32(0), be32(1), be32(0), be32(movieDur),
		make([]byte, 8), be16(0), be16(0), be16(0), be16(0), matrix(), wh)
	mdhd := fullBox("mdhd", 0, 0, be32(0), be32(0), be32(mediaScale), be32(mediaDur), be16(0x55C4 /* und */), be16(0))
	hdlr := fullBox("hdlr", 0, 0, be32(0), []byte("vide"), make([]byte, 12), []byte("VideoHandler\x00"))
	vmhd := fullBox("vmhd", 0, 1, make([]byte, 8))
	dinf := box("dinf", fullBox("dref", 0, 0, be32(1), fullBox("url ", 0, 1)))

	sps := t.SPS
	avcC := box("avcC", []byte{1, sps[1], sps[2], sps[3], 0xFF, 0xE1}, be16(uint16(len(sps))), sps,
		[]byte{1}, be16(uint16(len(t.PPS))), t.PPS)
	// nclx: SMPTE 170M primaries, transfer and matrix, limited range — what
	// the SPS's VUI says, for players that read only the container.
	colr := box("colr", []byte("nclx"), be16(6), be16(6), be16(6), []byte{0})
	compressor := make([]byte, 32)
	avc1 := box("avc1", make([]byte, 6), be16(1), make([]byte, 16), be16(uint16(t.Width)), be16(uint16(t.Height)),
		be32(0x00480000), be32(0x00480000), be32(0), be16(1), compressor, be16(0x0018), be16(0xFFFF), avcC, colr)
	stsd := fullBox("stsd", 0, 0, be32(1), avc1)
	stts := fullBox("stts", 0, 0, be32(1), be32(n), be32(delta))
	var keys [][]byte
	for i, s := range samples {
		if s.Key {
			keys = append(keys, be32(uint32(i+1)))
		}
	}
	stss := fullBox("stss", 0, 0, be32(uint32(len(keys))), cat(keys...))
	stsc := fullBox("stsc", 0, 0, be32(1), be32(1), be32(n), be32(1))
	sz := make([]byte, 0, 4*len(sizes))
	for _, s := range sizes {
		sz = binary.BigEndian.AppendUint32(sz, s)
	}
	stsz := fullBox("stsz", 0, 0, be32(0), be32(n), sz)
	stco := fullBox("stco", 0, 0, be32(1), be32(chunkOffset))
	stbl := box("stbl", stsd, stts, stss, stsc, stsz, stco)
	minf := box("minf", vmhd, dinf, stbl)
	return box("moov", mvhd, box("trak", tkhd, box("mdia", mdhd, hdlr, minf)))
}

// matrix is the identity transformation (16.16, 16.16, 2.30 fixed point).
func matrix() []byte {
	return cat(be32(0x00010000), be32(0), be32(0), be32(0), be32(0x00010000), be32(0), be32(0), be32(0), be32(0x40000000))
}

func box(typ string, parts ...[]byte) []byte {
	body := cat(parts...)
	return cat(be32(uint32(8+len(body))), []byte(typ), body)
}

func fullBox(typ string, version byte, flags uint32, parts ...[]byte) []byte {
	return box(typ, append([][]byte{be32(uint32(version)<<24 | flags&0xFFFFFF)}, parts...)...)
}

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
