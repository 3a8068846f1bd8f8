package h264

import "image"

// ToPicture converts an image to BT.601 limited-range Y′CbCr 4:2:0, padded
// to whole macroblocks by repeating the last column and row (the SPS crops
// the padding off). Y′ = 16 + (66R + 129G + 25B)/256; Cb and Cr are computed
// from the mean R, G, B of each 2×2 block (the fixed-point BT.601 matrix
// of the JPEG/MPEG tradition, rounded to nearest). Alpha is ignored.
func ToPicture(img image.Image) *Picture {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	W, H := (w+15)/16*16, (h+15)/16*16
	p := &Picture{W: W, H: H, Y: make([]byte, W*H), Cb: make([]byte, W*H/4), Cr: make([]byte, W*H/4)}
	// rgb holds the padded frame's 8-bit R, G, B.
	rgb := make([][3]int32, W*H)
	for y := 0; y < H; y++ {
		for x := 0; x < W; x++ {
			rgb[y*W+x] = pixel(img, b.Min.X+min(x, w-1), b.Min.Y+min(y, h-1))
		}
	}
	for i, px := range rgb {
		p.Y[i] = uint8((66*px[0]+129*px[1]+25*px[2]+128)>>8 + 16)
	}
	cw := W / 2
	for y := 0; y < H/2; y++ {
		for x := 0; x < cw; x++ {
			var s [3]int32
			for _, o := range [4]int{2*y*W + 2*x, 2*y*W + 2*x + 1, (2*y+1)*W + 2*x, (2*y+1)*W + 2*x + 1} {
				s[0], s[1], s[2] = s[0]+rgb[o][0], s[1]+rgb[o][1], s[2]+rgb[o][2]
			}
			// The sums are four times the means: shift by two more bits.
			p.Cb[y*cw+x] = uint8((-38*s[0]-74*s[1]+112*s[2]+512)>>10 + 128)
			p.Cr[y*cw+x] = uint8((112*s[0]-94*s[1]-18*s[2]+512)>>10 + 128)
		}
	}
	return p
}

// pixel is (x, y)'s 8-bit R, G, B, read without an interface call for the
// image types Loom makes.
func pixel(img image.Image, x, y int) [3]int32 {
	switch m := img.(type) {
	case *image.RGBA:
		o := m.PixOffset(x, y)
		return [3]int32{int32(m.Pix[o]), int32(m.Pix[o+1]), int32(m.Pix[o+2])}
	case *image.NRGBA:
		o := m.PixOffset(x, y)
		return [3]int32{int32(m.Pix[o]), int32(m.Pix[o+1]), int32(m.Pix[o+2])}
	}
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]int32{int32(r >> 8), int32(g >> 8), int32(b >> 8)}
}
