package towers

// ViT encoder: "An Image is Worth 16x16 Words" (Dosovitskiy et al. 2020),
// written to Hugging Face's ViTModel configuration and tensor names
// (transformers/models/vit/modeling_vit.py), so a ViT checkpoint in
// safetensors binds to the same code:
//
//	embeddings.cls_token (1, 1, H), embeddings.position_embeddings (1, N+1, H),
//	embeddings.patch_embeddings.projection.{weight (H, C, P, P), bias},
//	encoder.layer.L.layernorm_before, attention.attention.{query,key,value},
//	attention.output.dense, layernorm_after, intermediate.dense, output.dense,
//	layernorm.
//
// Pre-norm blocks; attention is the core's fused flash attention (no mask,
// every patch sees every patch); GELU is the exact (erf) form.

import (
	"fmt"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// ViTConfig is the part of a ViTConfig (config.json) the encoder needs.
type ViTConfig struct {
	HiddenSize        int     `json:"hidden_size"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	IntermediateSize  int     `json:"intermediate_size"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float32 `json:"layer_norm_eps"`
	ImageSize         int     `json:"image_size"`
	PatchSize         int     `json:"patch_size"`
	NumChannels       int     `json:"num_channels"`
}

// Tokens is the sequence length the encoder produces: class token + patches.
func (c ViTConfig) Tokens() int { g := c.ImageSize / c.PatchSize; return 1 + g*g }

func (c ViTConfig) validate() error {
	switch {
	case c.HiddenSize <= 0 || c.NumHiddenLayers <= 0 || c.NumAttentionHeads <= 0 || c.IntermediateSize <= 0:
		return fmt.Errorf("vit: sizes must be positive: %+v", c)
	case c.HiddenSize%c.NumAttentionHeads != 0:
		return fmt.Errorf("vit: hidden size %d not divisible by %d heads", c.HiddenSize, c.NumAttentionHeads)
	case c.PatchSize <= 0 || c.ImageSize <= 0 || c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("vit: image size %d not a multiple of patch size %d", c.ImageSize, c.PatchSize)
	case c.NumChannels <= 0:
		return fmt.Errorf("vit: %d channels", c.NumChannels)
	case c.HiddenAct != "" && c.HiddenAct != "gelu" && c.HiddenAct != "gelu_new":
		return fmt.Errorf("vit: activation %q not supported (gelu, gelu_new)", c.HiddenAct)
	}
	return nil
}

// ViT is a loaded encoder. Each Forward takes its activations from an arena
// of its own, so one encoder may serve concurrent calls.
type ViT struct {
	Cfg    ViTConfig
	cls    []float32 // (H)
	pos    []float32 // (N+1, H)
	patchW nn.Linear // (H, C·P·P): the stride-P convolution as one GEMM over patches
	layers []nn.EncoderLayer
	lnf    nn.LayerNorm
	arenas tensor.ArenaPool
}

// LoadViT binds a ViT under b (e.g. the "encoder" prefix of a
// VisionEncoderDecoderModel).
func LoadViT(b *nn.Binder, cfg ViTConfig) (*ViT, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.LayerNormEps == 0 {
		cfg.LayerNormEps = 1e-12
	}
	H, P, C, I := cfg.HiddenSize, cfg.PatchSize, cfg.NumChannels, cfg.IntermediateSize
	T, heads := cfg.Tokens(), cfg.NumAttentionHeads
	gelu := nn.Activation(kernels.GELUErf)
	if cfg.HiddenAct == "gelu_new" {
		gelu = kernels.GELU
	}
	m := &ViT{Cfg: cfg}
	e := b.Sub("embeddings")
	m.cls = e.Flat("cls_token", H)
	m.pos = e.Flat("position_embeddings", T*H)
	conv := e.Sub("patch_embeddings.projection")
	m.patchW = nn.Linear{W: conv.FlatMatrix("weight", H, C*P*P), Bias: conv.Vector("bias", H)}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		l := b.Sub("encoder.layer.%d", i)
		eps := cfg.LayerNormEps
		m.layers = append(m.layers, nn.EncoderLayer{
			Norm1: l.LayerNorm("layernorm_before", H, eps),
			Attn: nn.CrossAttention{Heads: heads, HeadDim: H / heads,
				Q: l.Linear("attention.attention.query", H, H), K: l.Linear("attention.attention.key", H, H),
				V: l.Linear("attention.attention.value", H, H), O: l.Linear("attention.output.dense", H, H)},
			Norm2: l.LayerNorm("layernorm_after", H, eps),
			MLP:   nn.MLP{FC1: l.Linear("intermediate.dense", I, H), FC2: l.Linear("output.dense", H, I), Act: gelu},
		})
	}
	m.lnf = b.LayerNorm("layernorm", H, cfg.LayerNormEps)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load vit: %w", err)
	}
	for i := range m.layers {
		m.layers[i].Pack() // one short call per layer and image: pack once
	}
	m.patchW.Pack()
	if len(m.cls) != H || len(m.pos) != T*H {
		return nil, fmt.Errorf("load vit: cls token has %d values (want %d), position embeddings %d (want %d×%d)", len(m.cls), H, len(m.pos), T, H)
	}
	return m, nil
}

// Forward encodes one image, pixels (C, S, S) already normalised, into out
// (Tokens(), H): the last hidden state after the final layer norm.
//
// The tokens run in bands, a member of a kernels.Pool.Team per thread
// (nn.EncoderLayer.ForwardBand): each member embeds, transforms and
// normalises its own tokens through every layer and meets the others once
// per layer to share keys and values. One image's ops are too small to split
// one by one (a 65-token, 128-wide ViT: 2 threads ran it slower than 1).
// With one thread free, one member owns every token.
func (m *ViT) Forward(out, pixels []float32) error {
	c := m.Cfg
	H, C, S := c.HiddenSize, c.NumChannels, c.ImageSize
	T, inner := c.Tokens(), c.NumAttentionHeads*(c.HiddenSize/c.NumAttentionHeads)
	if len(pixels) != C*S*S || len(out) < T*H {
		return fmt.Errorf("vit: pixels %d (want %d), out %d (want %d)", len(pixels), C*S*S, len(out), T*H)
	}
	ar := m.arenas.Get()
	defer m.arenas.Put(ar)
	x := ar.Scratch(T * H)
	kv := [2][]float32{ar.Scratch(2 * T * inner), ar.Scratch(2 * T * inner)} // (2, T, inner) each: layers alternate
	want := max(1, T/vitBandMinTokens)
	errs := make([]error, want)
	kernels.Default().Team(want, func(part, parts int, bar *kernels.Barrier) {
		mar := ar
		if part > 0 {
			mar = m.arenas.Get()
			defer m.arenas.Put(mar)
		}
		lo, hi := kernels.Band(T, 1, part, parts)
		err := m.embedBand(x, pixels, lo, hi, mar)
		for i := range m.layers {
			if err != nil {
				bar.Wait() // the layer's one meeting, kept so the others do not wait for this member
				continue
			}
			if e := m.layers[i].ForwardBand(x, T, lo, hi, kv[i%2], bar, mar); e != nil {
				err = fmt.Errorf("vit layer %d: %w", i, e)
			}
		}
		if err == nil {
			err = m.lnf.Forward(out[lo*H:hi*H], x[lo*H:hi*H], hi-lo)
		}
		errs[part] = err
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// vitBandMinTokens is the fewest tokens a ViT band member owns: below it a
// member's GEMMs are a sliver of rows and the barriers cost more than they
// share.
const vitBandMinTokens = 16

// embedBand sets tokens lo…hi of x (T, H): the class token, and each patch
// (the stride-P convolution as one GEMM over the band's patches), plus the
// position embeddings.
func (m *ViT) embedBand(x, pixels []float32, lo, hi int, ar *tensor.Arena) error {
	c := m.Cfg
	H, P, C, S := c.HiddenSize, c.PatchSize, c.NumChannels, c.ImageSize
	G := S / P
	if lo == 0 {
		copy(x[:H], m.cls)
	}
	if p0 := max(lo, 1); p0 < hi {
		n := hi - p0
		patches := ar.Scratch(n * C * P * P) // (n, C·P·P), each row in the conv weight's (C, P, P) order
		for t := p0; t < hi; t++ {
			gy, gx := (t-1)/G, (t-1)%G
			row := patches[(t-p0)*C*P*P:]
			for ch := 0; ch < C; ch++ {
				for py := 0; py < P; py++ {
					src := pixels[ch*S*S+(gy*P+py)*S+gx*P:]
					copy(row[(ch*P+py)*P:(ch*P+py)*P+P], src[:P])
				}
			}
		}
		if err := m.patchW.Forward(x[p0*H:hi*H], patches, n); err != nil {
			return fmt.Errorf("vit patch embedding: %w", err)
		}
	}
	return kernels.Add(x[lo*H:hi*H], x[lo*H:hi*H], m.pos[lo*H:hi*H])
}
