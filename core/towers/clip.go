package towers

// CLIP text encoder: "Learning Transferable Visual Models From Natural
// Language Supervision" (Radford et al. 2021), written to the configuration
// and tensor names of Hugging Face's CLIPTextModel
// (transformers/models/clip/modeling_clip.py), the text encoder of Stable
// Diffusion 1.x/2.x:
//
//	text_model.embeddings.{token_embedding (V, H), position_embedding (P, H)},
//	text_model.encoder.layers.L.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2},
//	text_model.final_layer_norm
//
// (bind under b.Sub("text_model")). Pre-norm blocks with causal self-attention
// on the core's flash attention; the MLP activation is quick_gelu (OpenAI
// CLIP) or exact gelu (OpenCLIP, SD 2.x).

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// CLIPTextConfig is the part of a CLIPTextConfig (config.json) the encoder needs.
type CLIPTextConfig struct {
	VocabSize             int     `json:"vocab_size"`
	HiddenSize            int     `json:"hidden_size"`
	IntermediateSize      int     `json:"intermediate_size"`
	NumHiddenLayers       int     `json:"num_hidden_layers"`
	NumAttentionHeads     int     `json:"num_attention_heads"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	HiddenAct             string  `json:"hidden_act"`
	LayerNormEps          float32 `json:"layer_norm_eps"`
	BOSTokenID            int     `json:"bos_token_id"`
	EOSTokenID            int     `json:"eos_token_id"`
	PadTokenID            int     `json:"pad_token_id"`
}

// ReadCLIPTextConfig reads a config.json (a CLIPTextConfig, or a full
// CLIPConfig whose text_config it takes).
func ReadCLIPTextConfig(path string) (CLIPTextConfig, error) {
	var c struct {
		CLIPTextConfig
		TextConfig *CLIPTextConfig `json:"text_config"`
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return CLIPTextConfig{}, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return CLIPTextConfig{}, fmt.Errorf("clip config %s: %w", path, err)
	}
	if c.TextConfig != nil {
		return *c.TextConfig, nil
	}
	return c.CLIPTextConfig, nil
}

func (c *CLIPTextConfig) validate() error {
	switch {
	case c.VocabSize <= 0 || c.HiddenSize <= 0 || c.IntermediateSize <= 0 || c.NumHiddenLayers <= 0 || c.NumAttentionHeads <= 0 || c.MaxPositionEmbeddings <= 0:
		return fmt.Errorf("clip: sizes must be positive: %+v", *c)
	case c.HiddenSize%c.NumAttentionHeads != 0:
		return fmt.Errorf("clip: hidden size %d not divisible by %d heads", c.HiddenSize, c.NumAttentionHeads)
	case c.HiddenAct != "" && c.HiddenAct != "quick_gelu" && c.HiddenAct != "gelu":
		return fmt.Errorf("clip: activation %q not supported (quick_gelu, gelu)", c.HiddenAct)
	}
	return nil
}

// CLIPText is a loaded text encoder. Each Forward takes its activations from
// an arena of its own, so one encoder may serve concurrent calls.
type CLIPText struct {
	Cfg      CLIPTextConfig
	tok, pos nn.Embedding // (V, H), (P, H)
	layers   []nn.EncoderLayer
	final    nn.LayerNorm
	arenas   tensor.ArenaPool
}

// LoadCLIPText binds a CLIPTextModel's text_model under b.
func LoadCLIPText(b *nn.Binder, cfg CLIPTextConfig) (*CLIPText, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.LayerNormEps == 0 {
		cfg.LayerNormEps = 1e-5
	}
	H, I, eps, heads := cfg.HiddenSize, cfg.IntermediateSize, cfg.LayerNormEps, cfg.NumAttentionHeads
	act := nn.Activation(nn.QuickGELU)
	if cfg.HiddenAct == "gelu" {
		act = kernels.GELUErf
	}
	m := &CLIPText{Cfg: cfg}
	m.tok = nn.Embedding{Table: b.Matrix("embeddings.token_embedding.weight", cfg.VocabSize, H)}
	m.pos = nn.Embedding{Table: b.Matrix("embeddings.position_embedding.weight", cfg.MaxPositionEmbeddings, H)}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		l := b.Sub("encoder.layers.%d", i)
		m.layers = append(m.layers, nn.EncoderLayer{
			Norm1: l.LayerNorm("layer_norm1", H, eps),
			Attn: nn.CrossAttention{Heads: heads, HeadDim: H / heads, Causal: true,
				Q: l.DenseLinear("self_attn.q_proj", H, H), K: l.DenseLinear("self_attn.k_proj", H, H),
				V: l.DenseLinear("self_attn.v_proj", H, H), O: l.DenseLinear("self_attn.out_proj", H, H)},
			Norm2: l.LayerNorm("layer_norm2", H, eps),
			MLP:   nn.MLP{FC1: l.DenseLinear("mlp.fc1", I, H), FC2: l.DenseLinear("mlp.fc2", H, I), Act: act},
		})
	}
	m.final = b.LayerNorm("final_layer_norm", H, eps)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load clip text: %w", err)
	}
	return m, nil
}

// Forward encodes ids (T ≤ max_position_embeddings, already padded as the
// pipeline wants) into out (T, H): the last hidden state after the final
// layer norm, which Stable Diffusion cross-attends to.
func (m *CLIPText) Forward(out []float32, ids []int) error {
	c := m.Cfg
	T, H := len(ids), c.HiddenSize
	if T == 0 || T > c.MaxPositionEmbeddings || len(out) < T*H {
		return fmt.Errorf("clip: %d tokens (1..%d), out %d floats (want %d)", T, c.MaxPositionEmbeddings, len(out), T*H)
	}
	ar := m.arenas.Get()
	defer m.arenas.Put(ar)
	x, p := ar.Scratch(T*H), ar.Scratch(T*H)
	pos := make([]int, T)
	for i := range pos {
		pos[i] = i
	}
	if err := m.tok.Forward(x, ids); err != nil {
		return fmt.Errorf("clip embeddings: %w", err)
	}
	if err := m.pos.Forward(p, pos); err != nil {
		return fmt.Errorf("clip embeddings: %w", err)
	}
	if err := kernels.Add(x, x, p); err != nil {
		return err
	}
	for i := range m.layers {
		if err := m.layers[i].Forward(x, T, ar); err != nil {
			return fmt.Errorf("clip layer %d: %w", i, err)
		}
	}
	return m.final.Forward(out[:T*H], x, T)
}
