package towers

// Vocos: "Vocos: Closing the gap between time-domain and Fourier-based neural
// vocoders for high-quality audio synthesis" (Siuzdak 2023), written to the
// authors' config.yaml keys (backbone/head init_args) and tensor names
// (gemelo-ai/vocos), so its checkpoints converted to safetensors bind here:
//
//	backbone.embed.{weight,bias}              Conv1d(input_channels, dim, 7, pad 3)
//	backbone.norm.{weight,bias}               LayerNorm(dim, eps 1e-6)
//	backbone.convnext.N.dwconv.{weight,bias}  Conv1d(dim, dim, 7, pad 3, groups dim)
//	backbone.convnext.N.norm.{weight,bias}    LayerNorm(dim, eps 1e-6)
//	backbone.convnext.N.pwconv1.{weight,bias} Linear(dim → intermediate_dim)
//	backbone.convnext.N.pwconv2.{weight,bias} Linear(intermediate_dim → dim)
//	backbone.convnext.N.gamma                 (dim) layer scale
//	backbone.final_layer_norm.{weight,bias}   LayerNorm(dim, eps 1e-6)
//	head.out.{weight,bias}                    Linear(dim → n_fft + 2)
//	head.istft.window                         (n_fft) Hann window, checked
//
// mel (input_channels, T) → embed → LayerNorm → N ConvNeXt blocks (x +
// γ·pwconv2(GELU(pwconv1(LN(dwconv(x)))))) → LayerNorm → head.out, whose
// first n_fft/2+1 outputs per frame are log-magnitudes and last n_fft/2+1
// phases → S = min(exp(logmag), 100)·e^{i·phase} → inverse STFT with "same"
// padding (nn.ISTFT) → T·hop_length samples. Unlike HiFi-GAN, every layer runs
// at frame rate; samples appear only in the inverse FFT.

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// VocosConfig is gemelo-ai/vocos' config.yaml (as JSON) without the
// feature extractor, which runs at training time only.
type VocosConfig struct {
	Backbone struct {
		InitArgs struct {
			InputChannels       int     `json:"input_channels"`
			Dim                 int     `json:"dim"`
			IntermediateDim     int     `json:"intermediate_dim"`
			NumLayers           int     `json:"num_layers"`
			LayerScaleInitValue float64 `json:"layer_scale_init_value"`
			AdanormEmbeddings   int     `json:"adanorm_num_embeddings"`
		} `json:"init_args"`
	} `json:"backbone"`
	Head struct {
		ClassPath string `json:"class_path"`
		InitArgs  struct {
			Dim       int    `json:"dim"`
			NFFT      int    `json:"n_fft"`
			HopLength int    `json:"hop_length"`
			Padding   string `json:"padding"`
		} `json:"init_args"`
	} `json:"head"`
	FeatureExtractor struct {
		InitArgs struct {
			SampleRate int `json:"sample_rate"`
		} `json:"init_args"`
	} `json:"feature_extractor"`
	SamplingRate int `json:"sampling_rate"` // Loom's exports; else feature_extractor's sample_rate
}

const (
	vocosEps    = 1e-6
	vocosMagMax = 1e2 // the reference clips exp(logmag) here
	maxVocosDim = 4096
)

func (c *VocosConfig) validate() error {
	b, h := c.Backbone.InitArgs, c.Head.InitArgs
	switch {
	case b.AdanormEmbeddings != 0:
		return fmt.Errorf("vocos: adanorm_num_embeddings %d: bandwidth-conditioned (EnCodec) backbones are not supported", b.AdanormEmbeddings)
	case h.Padding != "" && h.Padding != "same":
		return fmt.Errorf("vocos: head padding %q, only \"same\" is supported", h.Padding)
	case b.InputChannels <= 0 || b.InputChannels > maxVocosDim || b.Dim <= 0 || b.Dim > maxVocosDim ||
		b.IntermediateDim <= 0 || b.IntermediateDim > 4*maxVocosDim || b.NumLayers <= 0 || b.NumLayers > 64:
		return fmt.Errorf("vocos: backbone %d channels, dim %d, intermediate %d, %d layers", b.InputChannels, b.Dim, b.IntermediateDim, b.NumLayers)
	case h.Dim != b.Dim:
		return fmt.Errorf("vocos: head dim %d, backbone dim %d", h.Dim, b.Dim)
	case h.NFFT <= 0 || h.NFFT > kernels.MaxFFT || h.HopLength > maxHop:
		return fmt.Errorf("vocos: n_fft %d, hop_length %d", h.NFFT, h.HopLength)
	}
	return nil
}

type convNeXtBlock struct {
	dwconv           nn.Conv1D
	norm             nn.LayerNorm
	pwconv1, pwconv2 nn.Linear
	gamma            []float32 // (dim)
}

// Vocos is a loaded vocoder. It is safe for concurrent use.
type Vocos struct {
	Cfg       VocosConfig
	embed     nn.Conv1D
	norm, fin nn.LayerNorm
	blocks    []convNeXtBlock
	out       nn.Linear // (n_fft + 2, dim)
	istft     *nn.ISTFT
	arenas    tensor.ArenaPool // Forward's activations, kept between calls
}

// LoadVocos binds a Vocos vocoder under b.
func LoadVocos(b *nn.Binder, cfg VocosConfig) (*Vocos, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a, h := cfg.Backbone.InitArgs, cfg.Head.InitArgs
	is, err := nn.NewISTFT(h.NFFT, h.HopLength)
	if err != nil {
		return nil, fmt.Errorf("vocos: %w", err)
	}
	m := &Vocos{Cfg: cfg, istft: is}
	bb := b.Sub("backbone")
	m.embed = bb.Conv1D("embed", a.Dim, a.InputChannels, 7, nn.Conv1DOpts{Pad: 3})
	m.norm = bb.LayerNorm("norm", a.Dim, vocosEps)
	for i := range a.NumLayers {
		cb := bb.Sub("convnext.%d", i)
		m.blocks = append(m.blocks, convNeXtBlock{
			dwconv:  cb.Conv1D("dwconv", a.Dim, a.Dim, 7, nn.Conv1DOpts{Pad: 3, Groups: a.Dim}),
			norm:    cb.LayerNorm("norm", a.Dim, vocosEps),
			pwconv1: cb.Linear("pwconv1", a.IntermediateDim, a.Dim),
			pwconv2: cb.Linear("pwconv2", a.Dim, a.IntermediateDim),
			gamma:   cb.Vector("gamma", a.Dim),
		})
	}
	m.fin = bb.LayerNorm("final_layer_norm", a.Dim, vocosEps)
	hb := b.Sub("head")
	m.out = hb.Linear("out", h.NFFT+2, a.Dim)
	if hb.Has("istft.window") {
		w := hb.Vector("istft.window", h.NFFT)
		for i, v := range w {
			if math.Abs(float64(v-is.Window[i])) > 1e-5 {
				return nil, fmt.Errorf("load vocos: head.istft.window[%d] = %g is not a periodic Hann window (%g)", i, v, is.Window[i])
			}
		}
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load vocos: %w", err)
	}
	// Every call runs these on a band of frames or a sentence: pack once.
	for i := range m.blocks {
		m.blocks[i].pwconv1.Pack()
		m.blocks[i].pwconv2.Pack()
	}
	m.out.Pack()
	return m, nil
}

// Mels is the number of mel bins the vocoder reads.
func (m *Vocos) Mels() int { return m.Cfg.Backbone.InitArgs.InputChannels }

// Hop is the number of samples each frame becomes.
func (m *Vocos) Hop() int { return m.Cfg.Head.InitArgs.HopLength }

// SampleRate is the rate of the samples it makes (0 when the config omits it).
func (m *Vocos) SampleRate() int {
	if m.Cfg.SamplingRate != 0 {
		return m.Cfg.SamplingRate
	}
	return m.Cfg.FeatureExtractor.InitArgs.SampleRate
}

// Family names the vocoder's published family.
func (m *Vocos) Family() string { return "Vocos" }

// Forward turns a log-mel spectrogram mel (input_channels, T) into T·Hop()
// samples.
func (m *Vocos) Forward(mel []float32, T int) ([]float32, error) {
	C, D := m.Mels(), m.Cfg.Backbone.InitArgs.Dim
	if T <= 0 || T > MaxVocoderFrames || len(mel) != C*T {
		return nil, fmt.Errorf("vocos: mel has %d values for %d mels × %d frames (at most %d)", len(mel), C, T, MaxVocoderFrames)
	}
	ar := m.arenas.Get()
	defer m.arenas.Put(ar)
	// The embedding conv on (T, mels) rows: one GemmT on its packed weight
	// straight into (T, dim), where the channels-first conv rearranged its
	// weight on every call and its output needed a transpose.
	rows := ar.Scratch(T * C) // (T, mels)
	if err := kernels.Transpose(rows, mel, C, T); err != nil {
		return nil, err
	}
	x := ar.Scratch(T * D) // (T, dim) from here on
	if err := m.embed.ForwardRows(x, rows, T, false); err != nil {
		return nil, fmt.Errorf("vocos embed: %w", err)
	}
	if err := m.norm.Forward(x, x, T); err != nil {
		return nil, err
	}
	h := ar.Scratch(T * D)
	mid := ar.Scratch(T * m.Cfg.Backbone.InitArgs.IntermediateDim)
	nb := m.istft.Bins()
	spec := ar.Scratch(T * 2 * nb) // (T, n_fft + 2): log-magnitudes, then phases
	re, im := ar.Scratch(T*nb), ar.Scratch(T*nb)
	x2 := ar.Scratch(T * D) // the blocks' other buffer when they run in bands
	errs := make([]error, 2)
	kernels.Default().Team(min(2, T/vocosBandMinFrames), func(part, parts int, bar *kernels.Barrier) {
		if parts == 1 {
			errs[0] = m.backbone(x, h, mid, spec, re, im, T, D)
			return
		}
		errs[part] = m.backboneBand(x, x2, h, mid, spec, re, im, T, D, part, parts, bar)
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	wav := make([]float32, T*m.Hop())
	if err := m.istft.Forward(wav, re, im, T); err != nil {
		return nil, err
	}
	return wav, nil
}

// vocosBandMinFrames is the fewest frames per thread for which the backbone
// runs in time bands (Vocos.backboneBand); shorter inputs split each op.
const vocosBandMinFrames = 32

// backbone runs the ConvNeXt blocks, the final norm and the head on x (T,
// dim), one op after another (each may split over the pool), leaving the
// spectrum's real and imaginary parts in re and im (T, bins); h, mid and spec
// are scratch.
func (m *Vocos) backbone(x, h, mid, spec, re, im []float32, T, D int) error {
	for i := range m.blocks {
		if err := m.blocks[i].forward(x, h, mid, T, D); err != nil {
			return fmt.Errorf("vocos convnext.%d: %w", i, err)
		}
	}
	if err := m.fin.Forward(x, x, T); err != nil {
		return err
	}
	if err := m.out.Forward(spec, x, T); err != nil {
		return fmt.Errorf("vocos head: %w", err)
	}
	kernels.ParallelFor(T, 8, func(lo, hi int) { m.polar(spec, re, im, lo, hi) })
	return nil
}

// backboneBand is backbone for one member of a team: frames [lo, hi) of
// Band(T, 8, part, parts) through every block, each member on its own thread.
// Everything but the depthwise conv works frame by frame, so a member
// touches only its own rows, and reads its neighbours' rows only for the
// conv's three frames of context: the blocks alternate between x and x2 (a
// block reads one and writes the other), so one barrier per block is all
// the hand-off there is, where splitting each op over the threads had four
// pool rounds per block with every op's output crossing cores. Each frame
// is computed by the same kernels as in backbone, so the result is the
// same bit for bit (TestVocosBandsMatch).
func (m *Vocos) backboneBand(x, x2, h, mid, spec, re, im []float32, T, D, part, parts int, bar *kernels.Barrier) error {
	lo, hi := kernels.Band(T, 8, part, parts)
	var err error
	src, dst := x, x2
	for i := range m.blocks {
		if err == nil {
			if e := m.blocks[i].forwardBand(dst, src, h, mid, T, D, lo, hi); e != nil {
				err = fmt.Errorf("vocos convnext.%d: %w", i, e)
			}
		}
		bar.Wait() // the next block's conv reads the neighbours' rows of dst
		src, dst = dst, src
	}
	if err != nil {
		return err
	}
	rows, xs := hi-lo, src[lo*D:hi*D]
	if err := m.fin.Forward(xs, xs, rows); err != nil {
		return err
	}
	nb := m.istft.Bins()
	if err := m.out.Forward(spec[lo*2*nb:hi*2*nb], xs, rows); err != nil {
		return fmt.Errorf("vocos head: %w", err)
	}
	m.polar(spec, re, im, lo, hi)
	return nil
}

// polar turns frames [lo, hi) of the head's log-magnitudes and phases
// (spec) into the spectrum's real and imaginary parts.
func (m *Vocos) polar(spec, re, im []float32, lo, hi int) {
	nb := m.istft.Bins()
	for t := lo; t < hi; t++ {
		row := spec[t*2*nb : (t+1)*2*nb]
		// Validated shapes: PolarExp cannot fail here.
		_ = kernels.PolarExp(re[t*nb:(t+1)*nb], im[t*nb:(t+1)*nb], row[:nb], row[nb:], vocosMagMax)
	}
}

// forwardBand sets frames [lo, hi) of dst (T, dim) to the block applied to
// src (T, dim), on the calling thread; it reads src's frames within the
// depthwise conv's reach of the band and uses the band's rows of h (T, dim)
// and mid (T, intermediate) as scratch.
func (c *convNeXtBlock) forwardBand(dst, src, h, mid []float32, T, D, lo, hi int) error {
	I, rows := c.pwconv1.W.Rows, hi-lo
	hb, mb := h[lo*D:hi*D], mid[lo*I:hi*I]
	if err := c.dwconv.DepthwiseRowsBand(h, src, T, lo, hi); err != nil {
		return err
	}
	if err := c.pointwise(hb, mb, rows); err != nil {
		return err
	}
	for t := lo; t < hi; t++ {
		row, in, hr := dst[t*D:(t+1)*D], src[t*D:(t+1)*D], h[t*D:(t+1)*D]
		for d, g := range c.gamma {
			row[d] = in[d] + g*hr[d]
		}
	}
	return nil
}

// forward applies one ConvNeXt block to x (T, dim) in place; h (T, dim) and
// mid (T, intermediate) are scratch.
func (c *convNeXtBlock) forward(x, h, mid []float32, T, D int) error {
	if err := c.dwconv.ForwardRows(h, x, T, false); err != nil { // depthwise, on the rows
		return err
	}
	if err := c.pointwise(h, mid, T); err != nil {
		return err
	}
	for t := range T {
		row, hr := x[t*D:(t+1)*D], h[t*D:(t+1)*D]
		for d, g := range c.gamma {
			row[d] += g * hr[d]
		}
	}
	return nil
}

// pointwise replaces rows of the depthwise conv's output h (rows, dim) with
// pwconv2(GELU(pwconv1(LN(h)))); mid (rows, intermediate) is scratch.
func (c *convNeXtBlock) pointwise(h, mid []float32, rows int) error {
	if err := c.norm.Forward(h, h, rows); err != nil {
		return err
	}
	if err := c.pwconv1.Forward(mid, h, rows); err != nil {
		return err
	}
	if err := kernels.GELUErf(mid, mid); err != nil {
		return err
	}
	return c.pwconv2.Forward(h, mid, rows)
}
