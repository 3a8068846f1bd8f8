package towers

// HiFi-GAN generator: "HiFi-GAN: Generative Adversarial Networks for
// Efficient and High Fidelity Speech Synthesis" (Kong, Kim, Bae 2020), written
// to the authors' config.json keys and tensor names (jik876/hifi-gan), so its
// generator checkpoints (weight-normed, as released) converted to
// safetensors bind here unchanged:
//
//	conv_pre.{weight_g,weight_v,bias}      Conv1d(num_mels, C0, 7, pad 3)
//	ups.i.{weight_g,weight_v,bias}         ConvTranspose1d(C0/2^i, C0/2^(i+1), k_i, u_i, pad (k_i-u_i)/2)
//	resblocks.(i·K+j).convs1.n / .convs2.n ResBlock1 (kernel k_j, dilations d_j) or
//	resblocks.(i·K+j).convs.n              ResBlock2
//	conv_post.{weight_g,weight_v,bias}     Conv1d(C0/2^U, 1, 7, pad 3)
//
// mel (num_mels, T) → conv_pre → for each upsampling stage: leaky ReLU 0.1,
// transposed conv, the mean of K multi-receptive-field residual blocks →
// leaky ReLU (PyTorch's default slope 0.01, as the reference) → conv_post →
// tanh → waveform (T·prod(upsample_rates)) in [-1, 1]. Plain weights (after
// remove_weight_norm) bind too.

import (
	"encoding/json"
	"fmt"

	"github.com/loomhq/loom/core/nn"
)

// HiFiGANConfig is the generator part of a HiFi-GAN config.json.
type HiFiGANConfig struct {
	ResBlock               string  `json:"resblock"` // "1" or "2"
	NumMels                int     `json:"num_mels"`
	UpsampleRates          []int   `json:"upsample_rates"`
	UpsampleKernelSizes    []int   `json:"upsample_kernel_sizes"`
	UpsampleInitialChannel int     `json:"upsample_initial_channel"`
	ResBlockKernelSizes    []int   `json:"resblock_kernel_sizes"`
	ResBlockDilationSizes  [][]int `json:"resblock_dilation_sizes"`
	SamplingRate           int     `json:"sampling_rate"`
	HopSize                int     `json:"hop_size"`
}

// Hop is the number of samples each mel frame becomes.
func (c HiFiGANConfig) Hop() int {
	h := 1
	for _, u := range c.UpsampleRates {
		h *= u
	}
	return h
}

func (c *HiFiGANConfig) validate() error {
	if c.NumMels == 0 {
		c.NumMels = 80
	}
	switch {
	case c.ResBlock != "1" && c.ResBlock != "2":
		return fmt.Errorf("hifigan: resblock %q, want \"1\" or \"2\"", c.ResBlock)
	case len(c.UpsampleRates) == 0 || len(c.UpsampleRates) != len(c.UpsampleKernelSizes):
		return fmt.Errorf("hifigan: %d upsample rates, %d kernel sizes", len(c.UpsampleRates), len(c.UpsampleKernelSizes))
	case len(c.ResBlockKernelSizes) == 0 || len(c.ResBlockKernelSizes) != len(c.ResBlockDilationSizes):
		return fmt.Errorf("hifigan: %d resblock kernel sizes, %d dilation lists", len(c.ResBlockKernelSizes), len(c.ResBlockDilationSizes))
	case c.NumMels < 0 || c.UpsampleInitialChannel>>len(c.UpsampleRates) <= 0:
		return fmt.Errorf("hifigan: %d mels, %d initial channels for %d stages", c.NumMels, c.UpsampleInitialChannel, len(c.UpsampleRates))
	}
	hop := 1
	for i, u := range c.UpsampleRates {
		if k := c.UpsampleKernelSizes[i]; u <= 0 || k < u || (k-u)%2 != 0 {
			return fmt.Errorf("hifigan: upsample %d: rate %d with kernel %d", i, u, k)
		}
		if hop *= u; hop > maxHop {
			return fmt.Errorf("hifigan: upsample rates %v exceed a hop of %d", c.UpsampleRates, maxHop)
		}
	}
	if c.HopSize != 0 && c.HopSize != hop {
		return fmt.Errorf("hifigan: hop_size %d but upsample rates multiply to %d", c.HopSize, hop)
	}
	for j, k := range c.ResBlockKernelSizes {
		ds := c.ResBlockDilationSizes[j]
		if k <= 0 || k%2 == 0 || len(ds) == 0 {
			return fmt.Errorf("hifigan: resblock %d: kernel %d, dilations %v", j, k, ds)
		}
		for _, d := range ds {
			if d <= 0 {
				return fmt.Errorf("hifigan: resblock %d: dilation %d", j, d)
			}
		}
	}
	return nil
}

const hifiganSlope = 0.1 // LRELU_SLOPE of the reference

// maxHop bounds samples per mel frame (real vocoders use 200–600).
const maxHop = 4096

// hifiResBlock holds ResBlock1's (convs1[n], convs2[n]) pairs, or ResBlock2's
// single convs[n] (second nil).
type hifiResBlock struct {
	convs1, convs2 []nn.Conv1D
}

// HiFiGAN is a loaded generator. It is safe for concurrent use.
type HiFiGAN struct {
	Cfg       HiFiGANConfig
	pre, post nn.Conv1D
	ups       []nn.ConvTranspose1D
	res       []hifiResBlock // (stages × K)
}

// LoadHiFiGAN binds a HiFi-GAN generator under b.
func LoadHiFiGAN(b *nn.Binder, cfg HiFiGANConfig) (*HiFiGAN, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c0 := cfg.UpsampleInitialChannel
	m := &HiFiGAN{Cfg: cfg}
	m.pre = b.Conv1D("conv_pre", c0, cfg.NumMels, 7, nn.Conv1DOpts{Pad: 3})
	for i, u := range cfg.UpsampleRates {
		k := cfg.UpsampleKernelSizes[i]
		m.ups = append(m.ups, b.ConvTranspose1D(fmt.Sprintf("ups.%d", i), c0>>(i+1), c0>>i, k, u, (k-u)/2))
	}
	r := 0
	for i := range cfg.UpsampleRates {
		ch := c0 >> (i + 1)
		for j, k := range cfg.ResBlockKernelSizes {
			rb := b.Sub("resblocks.%d", r)
			var blk hifiResBlock
			for n, d := range cfg.ResBlockDilationSizes[j] {
				if cfg.ResBlock == "1" {
					blk.convs1 = append(blk.convs1, rb.Conv1D(fmt.Sprintf("convs1.%d", n), ch, ch, k, nn.Conv1DOpts{Dil: d, Pad: (k*d - d) / 2}))
					blk.convs2 = append(blk.convs2, rb.Conv1D(fmt.Sprintf("convs2.%d", n), ch, ch, k, nn.Conv1DOpts{Pad: (k - 1) / 2}))
				} else {
					blk.convs1 = append(blk.convs1, rb.Conv1D(fmt.Sprintf("convs.%d", n), ch, ch, k, nn.Conv1DOpts{Dil: d, Pad: (k*d - d) / 2}))
				}
			}
			m.res = append(m.res, blk)
			r++
		}
	}
	m.post = b.Conv1D("conv_post", 1, c0>>len(cfg.UpsampleRates), 7, nn.Conv1DOpts{Pad: 3})
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load hifigan: %w", err)
	}
	return m, nil
}

// MaxVocoderFrames bounds one Forward call (about 3 minutes of 22 kHz audio
// at hop 256), so a bad request cannot ask for unbounded memory.
const MaxVocoderFrames = 16384

// Forward turns a log-mel spectrogram mel (num_mels, T) into T·Hop() samples.
func (m *HiFiGAN) Forward(mel []float32, T int) ([]float32, error) {
	if T <= 0 || T > MaxVocoderFrames || len(mel) != m.Cfg.NumMels*T {
		return nil, fmt.Errorf("hifigan: mel has %d values for %d mels × %d frames (at most %d)", len(mel), m.Cfg.NumMels, T, MaxVocoderFrames)
	}
	L := T
	x := make([]float32, m.pre.Out*L)
	if err := m.pre.Forward(x, mel, L); err != nil {
		return nil, fmt.Errorf("hifigan conv_pre: %w", err)
	}
	K := len(m.Cfg.ResBlockKernelSizes)
	for i := range m.ups {
		up := &m.ups[i]
		if err := nn.LeakyReLU(x, x, hifiganSlope); err != nil {
			return nil, err
		}
		ol := up.OutLen(L)
		y := make([]float32, up.Out*ol)
		if err := up.Forward(y, x, L); err != nil {
			return nil, fmt.Errorf("hifigan ups.%d: %w", i, err)
		}
		L = ol
		// Multi-receptive-field fusion: mean of the K residual blocks, which
		// share one set of scratch buffers.
		sum := make([]float32, len(y))
		xs, a, t := make([]float32, len(y)), make([]float32, len(y)), make([]float32, len(y))
		for j := 0; j < K; j++ {
			if err := m.res[i*K+j].forward(sum, y, xs, a, t, L); err != nil {
				return nil, fmt.Errorf("hifigan resblocks.%d: %w", i*K+j, err)
			}
		}
		inv := 1 / float32(K)
		for n := range sum {
			sum[n] *= inv
		}
		x = sum
	}
	if err := nn.LeakyReLU(x, x, 0.01); err != nil {
		return nil, err
	}
	wav := make([]float32, L)
	if err := m.post.Forward(wav, x, L); err != nil {
		return nil, fmt.Errorf("hifigan conv_post: %w", err)
	}
	if err := nn.Tanh(wav, wav); err != nil {
		return nil, err
	}
	return wav, nil
}

// forward adds the block's output for x (C, L) to sum; x is not changed and
// xs, a, t are scratch of len(x). ResBlock1: xs += c2(lrelu(c1(lrelu(xs))))
// per pair; ResBlock2: xs += c(lrelu(xs)); the residual adds are the last
// convolution's accumulation (ForwardAdd).
func (r *hifiResBlock) forward(sum, x, xs, a, t []float32, L int) error {
	copy(xs, x)
	for n := range r.convs1 {
		if err := nn.LeakyReLU(a, xs, hifiganSlope); err != nil {
			return err
		}
		if r.convs2 == nil {
			if err := r.convs1[n].ForwardAdd(xs, a, L); err != nil {
				return err
			}
			continue
		}
		if err := r.convs1[n].Forward(t, a, L); err != nil {
			return err
		}
		if err := nn.LeakyReLU(t, t, hifiganSlope); err != nil {
			return err
		}
		if err := r.convs2[n].ForwardAdd(xs, t, L); err != nil {
			return err
		}
	}
	for i, v := range xs {
		sum[i] += v
	}
	return nil
}

// MelToVocoder transposes an acoustic model's (T, n_mel) output into the
// vocoder's (n_mel, T) input.
func MelToVocoder(mel []float32, T, nMel int) ([]float32, error) { return transposeRows(mel, T, nMel) }

// Mels is the number of mel bins the generator reads.
func (m *HiFiGAN) Mels() int { return m.Cfg.NumMels }

// Hop is the number of samples each frame becomes.
func (m *HiFiGAN) Hop() int { return m.Cfg.Hop() }

// SampleRate is the rate of the samples it makes (0 when the config omits it).
func (m *HiFiGAN) SampleRate() int { return m.Cfg.SamplingRate }

// Family names the vocoder's published family.
func (m *HiFiGAN) Family() string { return "HiFi-GAN" }

// Vocoder turns log-mel frames into samples; HiFi-GAN and Vocos both are.
type Vocoder interface {
	// Forward turns mel (Mels(), T) into T·Hop() samples.
	Forward(mel []float32, T int) ([]float32, error)
	Mels() int
	Hop() int
	SampleRate() int
	Family() string // "HiFi-GAN", "Vocos"
}

// VocoderFamily names the family a vocoder config.json describes: "Vocos"
// when it has a "backbone" section (gemelo-ai/vocos' config.yaml layout),
// else "HiFi-GAN" (jik876/hifi-gan's config.json).
func VocoderFamily(config []byte) (string, error) {
	var probe struct {
		Backbone json.RawMessage `json:"backbone"`
	}
	if err := json.Unmarshal(config, &probe); err != nil {
		return "", fmt.Errorf("vocoder config: %w", err)
	}
	if probe.Backbone != nil {
		return "Vocos", nil
	}
	return "HiFi-GAN", nil
}

// LoadVocoder binds the vocoder that config (a config.json) describes, of
// the family VocoderFamily names.
func LoadVocoder(b *nn.Binder, config []byte) (Vocoder, error) {
	family, err := VocoderFamily(config)
	if err != nil {
		return nil, err
	}
	if family == "Vocos" {
		var c VocosConfig
		if err := json.Unmarshal(config, &c); err != nil {
			return nil, fmt.Errorf("vocos config: %w", err)
		}
		return LoadVocos(b, c)
	}
	var c HiFiGANConfig
	if err := json.Unmarshal(config, &c); err != nil {
		return nil, fmt.Errorf("hifigan config: %w", err)
	}
	return LoadHiFiGAN(b, c)
}
