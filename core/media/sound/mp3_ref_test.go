package sound

import "math"

// refSynthesis is a plain transcription of the decoder side of ISO/IEC
// 11172-3 §2.4.3.4 (alias-reduction butterflies, IMDCT, overlap-add,
// frequency inversion, polyphase synthesis with the window D = 32·C): the
// twin the encoder's filterbank is tested against, without quantization.
type refSynthesis struct {
	overlap [subbands][subbandLines]float64
	v       [1024]float64
}

func (r *refSynthesis) granule(xrIn *[granuleLen]float64, out []float64) {
	k := mp3Tables()
	xr := *xrIn
	for sb := 1; sb < subbands; sb++ {
		for i := range 8 {
			bu, bd := xr[18*sb-1-i], xr[18*sb+i]
			xr[18*sb-1-i] = bu*k.cs[i] - bd*k.ca[i]
			xr[18*sb+i] = bd*k.cs[i] + bu*k.ca[i]
		}
	}
	var sub [subbandLines][subbands]float64 // time, band
	for sb := range subbands {
		var y [36]float64
		for i := range y {
			var s float64
			for m := range subbandLines {
				s += xr[18*sb+m] * math.Cos(math.Pi/72*float64((2*i+1+18)*(2*m+1)))
			}
			y[i] = s * math.Sin(math.Pi/36*(float64(i)+0.5))
		}
		for t := range subbandLines {
			v := y[t] + r.overlap[sb][t]
			if sb%2 == 1 && t%2 == 1 {
				v = -v
			}
			sub[t][sb] = v
			r.overlap[sb][t] = y[t+18]
		}
	}
	for t := range subbandLines {
		copy(r.v[64:], r.v[:1024-64])
		for i := range 64 {
			var s float64
			for kk := range subbands {
				s += math.Cos(float64((16+i)*(2*kk+1))*math.Pi/64) * sub[t][kk]
			}
			r.v[i] = s
		}
		var u [512]float64
		for i := range 8 {
			for j := range 32 {
				u[i*64+j] = r.v[i*128+j]
				u[i*64+32+j] = r.v[i*128+96+j]
			}
		}
		for j := range 32 {
			var s float64
			for i := range 16 {
				s += u[j+32*i] * 32 * k.window[j+32*i]
			}
			out[32*t+j] = s
		}
	}
}
