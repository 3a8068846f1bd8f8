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

type vitLayer struct {
	ln1, ln2   nn.LayerNorm
	q, k, v, o nn.Linear // (H, H)
	fc1        nn.Linear // (I, H)
	fc2        nn.Linear // (H, I)
}

// ViT is a loaded encoder. It is not safe for concurrent use (it owns its
// scratch buffers); load one per worker.
type ViT struct {
	Cfg    ViTConfig
	cls    []float32 // (H)
	pos    []float32 // (N+1, H)
	patchW nn.Linear // (H, C·P·P): the stride-P convolution as one GEMM over patches
	layers []vitLayer
	lnf    nn.LayerNorm

	// scratch, (T, ·)
	patches, x, h, q, k, v, att, ff []float32
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
	H, P, C := cfg.HiddenSize, cfg.PatchSize, cfg.NumChannels
	T := cfg.Tokens()
	m := &ViT{Cfg: cfg}
	e := b.Sub("embeddings")
	m.cls = e.Flat("cls_token", H)
	m.pos = e.Flat("position_embeddings", T*H)
	conv := e.Sub("patch_embeddings.projection")
	m.patchW = nn.Linear{W: conv.FlatMatrix("weight", H, C*P*P), Bias: conv.Vector("bias", H)}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		l := b.Sub("encoder.layer.%d", i)
		eps := cfg.LayerNormEps
		m.layers = append(m.layers, vitLayer{
			ln1: l.LayerNorm("layernorm_before", H, eps),
			q:   l.Linear("attention.attention.query", H, H),
			k:   l.Linear("attention.attention.key", H, H),
			v:   l.Linear("attention.attention.value", H, H),
			o:   l.Linear("attention.output.dense", H, H),
			ln2: l.LayerNorm("layernorm_after", H, eps),
			fc1: l.Linear("intermediate.dense", cfg.IntermediateSize, H),
			fc2: l.Linear("output.dense", H, cfg.IntermediateSize),
		})
	}
	m.lnf = b.LayerNorm("layernorm", H, cfg.LayerNormEps)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load vit: %w", err)
	}
	if len(m.cls) != H || len(m.pos) != T*H {
		return nil, fmt.Errorf("load vit: cls token has %d values (want %d), position embeddings %d (want %d×%d)", len(m.cls), H, len(m.pos), T, H)
	}
	return m, nil
}

// Forward encodes one image, pixels (C, S, S) already normalised, into out
// (Tokens(), H): the last hidden state after the final layer norm.
func (m *ViT) Forward(out, pixels []float32) error {
	c := m.Cfg
	H, P, C, S := c.HiddenSize, c.PatchSize, c.NumChannels, c.ImageSize
	T, G := c.Tokens(), S/P
	if len(pixels) != C*S*S || len(out) < T*H {
		return fmt.Errorf("vit: pixels %d (want %d), out %d (want %d)", len(pixels), C*S*S, len(out), T*H)
	}
	grow := func(b *[]float32, n int) []float32 {
		if cap(*b) < n {
			*b = make([]float32, n)
		}
		return (*b)[:n]
	}
	I := c.IntermediateSize
	patches := grow(&m.patches, (T-1)*C*P*P) // (N, C·P·P), each row in the conv weight's (C, P, P) order
	x := grow(&m.x, T*H)
	h := grow(&m.h, T*H)
	q, k, v, att := grow(&m.q, T*H), grow(&m.k, T*H), grow(&m.v, T*H), grow(&m.att, T*H)
	ff := grow(&m.ff, T*I)

	for gy := 0; gy < G; gy++ {
		for gx := 0; gx < G; gx++ {
			row := patches[(gy*G+gx)*C*P*P:]
			for ch := 0; ch < C; ch++ {
				for py := 0; py < P; py++ {
					src := pixels[ch*S*S+(gy*P+py)*S+gx*P:]
					copy(row[(ch*P+py)*P:(ch*P+py)*P+P], src[:P])
				}
			}
		}
	}
	copy(x[:H], m.cls)
	if err := m.patchW.Forward(x[H:], patches, T-1); err != nil {
		return fmt.Errorf("vit patch embedding: %w", err)
	}
	if err := kernels.Add(x, x, m.pos); err != nil {
		return err
	}
	heads := c.NumAttentionHeads
	ap := kernels.AttnParams{Heads: heads, KVHeads: heads, HeadDim: H / heads, SeqQ: T, SeqKV: T}
	gelu := kernels.GELUErf
	if c.HiddenAct == "gelu_new" {
		gelu = kernels.GELU
	}
	for i := range m.layers {
		l := &m.layers[i]
		if err := firstErr(
			l.ln1.Forward(h, x, T),
			l.q.Forward(q, h, T), l.k.Forward(k, h, T), l.v.Forward(v, h, T),
		); err != nil {
			return fmt.Errorf("vit layer %d: %w", i, err)
		}
		if err := kernels.FlashAttention(att, q, k, v, ap); err != nil {
			return fmt.Errorf("vit layer %d attention: %w", i, err)
		}
		if err := firstErr(l.o.Forward(h, att, T), kernels.Add(x, x, h), l.ln2.Forward(h, x, T), l.fc1.Forward(ff, h, T)); err != nil {
			return fmt.Errorf("vit layer %d: %w", i, err)
		}
		if err := firstErr(gelu(ff, ff), l.fc2.Forward(h, ff, T), kernels.Add(x, x, h)); err != nil {
			return fmt.Errorf("vit layer %d mlp: %w", i, err)
		}
	}
	return m.lnf.Forward(out[:T*H], x, T)
}

// firstErr returns the first non-nil error. Arguments are evaluated in order
// by Go, so a chain of layer calls reads as one step of the paper. Every call
// of the chain runs even after one fails: that costs only wasted work on a
// path that cannot occur once load has checked every shape (each layer still
// checks its lengths and answers an error, never a panic).
func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
