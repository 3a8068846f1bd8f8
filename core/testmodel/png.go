package testmodel

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"io"
)

// WriteBlackPNG writes a side×side all-black RGBA PNG, 16 bits a channel
// when deep, streaming its zero rows through zlib so that no image is ever
// held in memory. A 4096×4096 16-bit one is about 130 KB on disk and 128 MiB
// once decoded: the decompression amplification an upload check must refuse
// from the header.
func WriteBlackPNG(w io.Writer, side int, deep bool) error {
	depth, bpp := byte(8), 4
	if deep {
		depth, bpp = 16, 8
	}
	if _, err := w.Write([]byte("\x89PNG\r\n\x1a\n")); err != nil {
		return err
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(side))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(side))
	ihdr[8], ihdr[9] = depth, 6 // RGBA; compression, filter, interlace 0
	if err := pngChunk(w, "IHDR", ihdr); err != nil {
		return err
	}
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	row := make([]byte, 1+side*bpp) // filter byte 0, then zero pixels
	for range side {
		if _, err := zw.Write(row); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := pngChunk(w, "IDAT", idat.Bytes()); err != nil {
		return err
	}
	return pngChunk(w, "IEND", nil)
}

func pngChunk(w io.Writer, typ string, data []byte) error {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
	copy(hdr[4:], typ)
	crc := crc32.NewIEEE()
	crc.Write(hdr[4:])
	crc.Write(data)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	for _, b := range [][]byte{hdr[:], data, sum[:]} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
