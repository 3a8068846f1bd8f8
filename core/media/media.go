package media

import (
	"bytes"
	"image"
	"image/png"

	"github.com/loomhq/loom/core/media/gif"
	"github.com/loomhq/loom/core/media/h264"
	"github.com/loomhq/loom/core/media/mp4"
)

// MP4 encodes frames of one size as an H.264 video in an MP4 file at fps
// frames per second: the first frame an IDR picture, the rest P pictures
// that skip the macroblocks equal to the previous picture's (see package
// h264), so the decoded Y′CbCr 4:2:0 frames are the encoder's exactly.
func MP4(frames []image.Image, fps int) ([]byte, error) {
	if len(frames) == 0 {
		return nil, errNoFrames
	}
	b := frames[0].Bounds()
	enc, err := h264.NewEncoder(b.Dx(), b.Dy(), h264.Options{FPS: fps, KeyInterval: keyInterval})
	if err != nil {
		return nil, err
	}
	samples := make([]mp4.Sample, len(frames))
	for i, f := range frames {
		au, err := enc.Encode(f)
		if err != nil {
			return nil, err
		}
		samples[i] = mp4.Sample{NALs: au.NALs, Key: au.Key}
	}
	var out bytes.Buffer
	err = mp4.Write(&out, mp4.Track{Width: b.Dx(), Height: b.Dy(), FPS: fps, SPS: enc.SPS(), PPS: enc.PPS()}, samples)
	return out.Bytes(), err
}

// keyInterval puts an IDR picture every 64 frames: a clip of Loom's is one
// GOP, longer ones can still be sought in.
const keyInterval = 64

// GIF encodes frames as a looping animated GIF at fps frames per second,
// with a median-cut palette and no dithering (see package gif).
func GIF(frames []image.Image, fps int) ([]byte, error) {
	var out bytes.Buffer
	err := gif.Encode(&out, frames, gif.Options{FPS: fps})
	return out.Bytes(), err
}

// pngEncoder's fixed compression level makes the bytes a function of the
// pixels alone (compress/flate is deterministic for a given level).
var pngEncoder = png.Encoder{CompressionLevel: png.BestSpeed}

// PNG encodes one image.
func PNG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	if err := pngEncoder.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
