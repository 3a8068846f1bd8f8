package towers

// Whisper: "Robust Speech Recognition via Large-Scale Weak Supervision"
// (Radford et al. 2022), reference implementation openai/whisper model.py,
// written to Hugging Face's WhisperForConditionalGeneration configuration
// and tensor names (transformers/models/whisper/modeling_whisper.py), so an
// openai checkpoint converted by transformers, or one of ours made by
// tools/asr, binds unchanged:
//
//	model.encoder.conv1 (D, n_mels, 3), conv2 (D, D, 3) stride 2,
//	model.encoder.embed_positions.weight (max_source_positions, D): sinusoids,
//	model.encoder.layers.L.{self_attn_layer_norm, self_attn.{q,k,v,out}_proj
//	  (k_proj has no bias), final_layer_norm, fc1 (F, D), fc2 (D, F)},
//	model.encoder.layer_norm,
//	model.decoder.embed_tokens.weight (V, D), embed_positions.weight (max_target_positions, D),
//	model.decoder.layers.L.{self_attn*, encoder_attn_layer_norm,
//	  encoder_attn.{q,k,v,out}_proj, final_layer_norm, fc1, fc2},
//	model.decoder.layer_norm, proj_out.weight (V, D): tied to embed_tokens.
//
// The encoder reads a log-mel window (n_mels, 2·S) (core/media/sound.LogMel)
// through two GELU convolutions, the second halving time, adds the sinusoidal
// positions and runs pre-LN layers; the decoder runs pre-LN layers with
// causal self-attention over a KV cache and cross-attention to the encoder
// states, whose keys and values are computed once per window. GELU is the
// exact (erf) form. The decoding protocol (special tokens, timestamps,
// search) is in whisper_decode.go.

import (
	"fmt"
	"math"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// WhisperConfig is the part of a WhisperConfig (config.json) the tower needs.
type WhisperConfig struct {
	DModel             int    `json:"d_model"`
	EncoderLayers      int    `json:"encoder_layers"`
	EncoderHeads       int    `json:"encoder_attention_heads"`
	EncoderFFN         int    `json:"encoder_ffn_dim"`
	DecoderLayers      int    `json:"decoder_layers"`
	DecoderHeads       int    `json:"decoder_attention_heads"`
	DecoderFFN         int    `json:"decoder_ffn_dim"`
	NumMelBins         int    `json:"num_mel_bins"`
	MaxSourcePositions int    `json:"max_source_positions"`
	MaxTargetPositions int    `json:"max_target_positions"`
	VocabSize          int    `json:"vocab_size"`
	Activation         string `json:"activation_function"`
	ScaleEmbedding     bool   `json:"scale_embedding"`
	// CTCVocabSize > 0: the folder has a CTC head on the encoder (Loom's
	// extension, tools/asr/train.py): ctc_head.weight (K, D) and
	// ctc_head.bias (K), whose labels are the token ids 0…K−2 and whose
	// blank is K−1. Beam search can score hypotheses with it (WhisperOptions.CTCWeight).
	CTCVocabSize int `json:"ctc_vocab_size"`
}

func (c WhisperConfig) validate() error {
	switch {
	case c.DModel <= 0 || c.EncoderLayers <= 0 || c.DecoderLayers <= 0 || c.EncoderFFN <= 0 || c.DecoderFFN <= 0:
		return fmt.Errorf("whisper: sizes must be positive: %+v", c)
	case c.EncoderHeads <= 0 || c.DModel%c.EncoderHeads != 0 || c.DecoderHeads <= 0 || c.DModel%c.DecoderHeads != 0:
		return fmt.Errorf("whisper: d_model %d not divisible by %d encoder / %d decoder heads", c.DModel, c.EncoderHeads, c.DecoderHeads)
	case c.NumMelBins <= 0 || c.MaxSourcePositions <= 0 || c.MaxTargetPositions <= 0 || c.VocabSize <= 0:
		return fmt.Errorf("whisper: mel bins %d, positions %d/%d, vocabulary %d must be positive", c.NumMelBins, c.MaxSourcePositions, c.MaxTargetPositions, c.VocabSize)
	case c.DModel%2 != 0:
		return fmt.Errorf("whisper: d_model %d must be even (sinusoidal positions)", c.DModel)
	case c.Activation != "" && c.Activation != "gelu":
		return fmt.Errorf("whisper: activation %q not supported (gelu)", c.Activation)
	case c.ScaleEmbedding:
		return fmt.Errorf("whisper: scale_embedding is not supported")
	case c.CTCVocabSize < 0 || c.CTCVocabSize == 1 || c.CTCVocabSize > c.VocabSize:
		return fmt.Errorf("whisper: ctc_vocab_size %d must be 0 or 2…vocab_size %d", c.CTCVocabSize, c.VocabSize)
	case c.DModel > 1<<14 || c.VocabSize > 1<<20 || c.MaxSourcePositions > 1<<14 || c.MaxTargetPositions > 1<<14:
		return fmt.Errorf("whisper: implausible sizes %+v", c)
	}
	return nil
}

// Frames is the log-mel frames one window holds, two per encoder position.
func (c WhisperConfig) Frames() int { return 2 * c.MaxSourcePositions }

// Whisper is a loaded encoder-decoder. It is read-only after LoadWhisper;
// decoding state lives in WhisperState, so one model serves concurrent calls.
type Whisper struct {
	Cfg          WhisperConfig
	conv1, conv2 nn.Conv1D
	encPos       []float32 // (max_source_positions, D)
	encLayers    []nn.EncoderLayer
	encNorm      nn.LayerNorm
	embed        nn.Embedding // (V, D)
	decPos       []float32    // (max_target_positions, D)
	decLayers    []nn.DecoderLayer
	decNorm      nn.LayerNorm
	head         nn.Linear // (V, D): embed_tokens unless proj_out is stored
	ctc          nn.Linear // (K, D) CTC head when cfg.CTCVocabSize > 0
	arenas       tensor.ArenaPool
}

// LoadWhisper binds a WhisperForConditionalGeneration under b.
func LoadWhisper(b *nn.Binder, cfg WhisperConfig) (*Whisper, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	D, M := cfg.DModel, cfg.NumMelBins
	m := &Whisper{Cfg: cfg}
	e := b.Sub("model.encoder")
	m.conv1 = e.Conv1D("conv1", D, M, 3, nn.Conv1DOpts{Pad: 1})
	m.conv2 = e.Conv1D("conv2", D, D, 3, nn.Conv1DOpts{Stride: 2, Pad: 1})
	if e.Has("embed_positions.weight") {
		m.encPos = e.Flat("embed_positions.weight", cfg.MaxSourcePositions*D)
	} else {
		m.encPos = WhisperSinusoids(cfg.MaxSourcePositions, D)
	}
	for i := 0; i < cfg.EncoderLayers; i++ {
		m.encLayers = append(m.encLayers, bindWhisperEncoderLayer(e.Sub("layers.%d", i), D, cfg.EncoderHeads, cfg.EncoderFFN))
	}
	m.encNorm = e.LayerNorm("layer_norm", D, 1e-5)
	d := b.Sub("model.decoder")
	m.embed = nn.Embedding{Table: d.Matrix("embed_tokens.weight", cfg.VocabSize, D)}
	m.decPos = d.Flat("embed_positions.weight", cfg.MaxTargetPositions*D)
	for i := 0; i < cfg.DecoderLayers; i++ {
		l := d.Sub("layers.%d", i)
		enc := bindWhisperEncoderLayer(l, D, cfg.DecoderHeads, cfg.DecoderFFN)
		enc.Attn.Causal = true
		m.decLayers = append(m.decLayers, nn.DecoderLayer{
			Norm1: enc.Norm1, Self: enc.Attn,
			NormX: l.LayerNorm("encoder_attn_layer_norm", D, 1e-5), Cross: bindWhisperAttention(l.Sub("encoder_attn"), D, cfg.DecoderHeads),
			Norm2: enc.Norm2, MLP: enc.MLP,
		})
	}
	m.decNorm = d.LayerNorm("layer_norm", D, 1e-5)
	m.head = nn.Linear{W: m.embed.Table}
	if b.Has("proj_out.weight") {
		m.head = b.Linear("proj_out", cfg.VocabSize, D)
	}
	if cfg.CTCVocabSize > 0 {
		m.ctc = b.Linear("ctc_head", cfg.CTCVocabSize, D)
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load whisper: %w", err)
	}
	return m, nil
}

// bindWhisperAttention binds {q,k,v,out}_proj under b (k_proj has no bias).
func bindWhisperAttention(b *nn.Binder, D, heads int) nn.CrossAttention {
	return nn.CrossAttention{Heads: heads, HeadDim: D / heads,
		Q: b.DenseLinear("q_proj", D, D), K: b.DenseLinear("k_proj", D, D),
		V: b.DenseLinear("v_proj", D, D), O: b.DenseLinear("out_proj", D, D)}
}

// bindWhisperEncoderLayer binds the parts an encoder and a decoder layer
// share: self_attn_layer_norm, self_attn, final_layer_norm, fc1, fc2.
func bindWhisperEncoderLayer(b *nn.Binder, D, heads, ff int) nn.EncoderLayer {
	return nn.EncoderLayer{
		Norm1: b.LayerNorm("self_attn_layer_norm", D, 1e-5), Attn: bindWhisperAttention(b.Sub("self_attn"), D, heads),
		Norm2: b.LayerNorm("final_layer_norm", D, 1e-5),
		MLP:   nn.MLP{FC1: b.DenseLinear("fc1", ff, D), FC2: b.DenseLinear("fc2", D, ff), Act: kernels.GELUErf},
	}
}

// WhisperSinusoids is openai/whisper's sinusoids(length, channels): per
// position t, sin(t·τ_i) for the first half of the channels and cos(t·τ_i)
// for the second, τ_i = 10000^(−i/(channels/2−1)).
func WhisperSinusoids(length, channels int) []float32 {
	half := channels / 2
	inc := math.Log(10000) / float64(max(half-1, 1))
	out := make([]float32, length*channels)
	for t := 0; t < length; t++ {
		for i := 0; i < half; i++ {
			a := float64(t) * math.Exp(-inc*float64(i))
			out[t*channels+i] = float32(math.Sin(a))
			out[t*channels+half+i] = float32(math.Cos(a))
		}
	}
	return out
}

// Encode runs the encoder on one log-mel window mel (n_mels, Frames()) and
// returns its last hidden state (max_source_positions, D).
func (m *Whisper) Encode(mel []float32) ([]float32, error) {
	c := m.Cfg
	D, L, S := c.DModel, c.Frames(), c.MaxSourcePositions
	if len(mel) != c.NumMelBins*L {
		return nil, fmt.Errorf("whisper: mel has %d values, want %d×%d", len(mel), c.NumMelBins, L)
	}
	ar := m.arenas.Get()
	defer m.arenas.Put(ar)
	h1 := ar.Scratch(D * L) // (D, L)
	if err := m.conv1.Forward(h1, mel, L); err != nil {
		return nil, fmt.Errorf("whisper conv1: %w", err)
	}
	if err := kernels.GELUErf(h1, h1); err != nil {
		return nil, err
	}
	if ol := m.conv2.OutLen(L); ol != S {
		return nil, fmt.Errorf("whisper: conv2 gives %d positions, want %d", ol, S)
	}
	h2 := ar.Scratch(D * S) // (D, S)
	if err := m.conv2.Forward(h2, h1, L); err != nil {
		return nil, fmt.Errorf("whisper conv2: %w", err)
	}
	if err := kernels.GELUErf(h2, h2); err != nil {
		return nil, err
	}
	x := make([]float32, S*D) // (S, D)
	if err := kernels.Transpose(x, h2, D, S); err != nil {
		return nil, err
	}
	if err := kernels.Add(x, x, m.encPos[:S*D]); err != nil {
		return nil, err
	}
	for i := range m.encLayers {
		if err := m.encLayers[i].Forward(x, S, ar); err != nil {
			return nil, fmt.Errorf("whisper encoder layer %d: %w", i, err)
		}
	}
	if err := m.encNorm.Forward(x, x, S); err != nil {
		return nil, err
	}
	return x, nil
}

// WhisperState is one decoding sequence: the self-attention caches and the
// cross-attention keys and values of the window it transcribes (shared,
// read-only, between the beams forked from it).
type WhisperState struct {
	Pos    int
	cache  []nn.KVCache // per decoder layer
	xk, xv [][]float32  // per decoder layer (S, D)
	ar     tensor.Arena
	Logits []float32 // (V): next-token logits after the last Step
}

// NewState computes every decoder layer's cross-attention keys and values
// of encoder states enc (max_source_positions, D).
func (m *Whisper) NewState(enc []float32) (*WhisperState, error) {
	D, S := m.Cfg.DModel, m.Cfg.MaxSourcePositions
	if len(enc) != S*D {
		return nil, fmt.Errorf("whisper: encoder states have %d values, want %d×%d", len(enc), S, D)
	}
	st := &WhisperState{}
	for i := range m.decLayers {
		k, v := make([]float32, S*D), make([]float32, S*D)
		if err := m.decLayers[i].Cross.ContextKV(k, v, enc, S); err != nil {
			return nil, fmt.Errorf("whisper decoder layer %d: %w", i, err)
		}
		st.xk, st.xv = append(st.xk, k), append(st.xv, v)
		st.cache = append(st.cache, nn.KVCache{Width: D, Max: m.Cfg.MaxTargetPositions})
	}
	return st, nil
}

// Fork copies a state for a new beam; the cross keys and values are shared.
func (st *WhisperState) Fork() *WhisperState {
	c := &WhisperState{Pos: st.Pos, xk: st.xk, xv: st.xv, Logits: append([]float32(nil), st.Logits...)}
	for i := range st.cache {
		c.cache = append(c.cache, st.cache[i].Clone(st.Pos))
	}
	return c
}

// Step feeds tokens at positions st.Pos… through the decoder, leaves the
// logits after the last of them in st.Logits and returns, when all is set,
// the logits after every one of them (len(tokens), V).
func (m *Whisper) Step(st *WhisperState, tokens []int, all bool) ([]float32, error) {
	c := m.Cfg
	D, V, T := c.DModel, c.VocabSize, len(tokens)
	if T == 0 {
		return nil, fmt.Errorf("whisper: no tokens to decode")
	}
	if st.Pos+T > c.MaxTargetPositions {
		return nil, fmt.Errorf("whisper: %d tokens beyond the decoder's %d positions", st.Pos+T, c.MaxTargetPositions)
	}
	defer st.ar.Reset()
	x := st.ar.Scratch(T * D)
	if err := m.embed.Forward(x, tokens); err != nil {
		return nil, fmt.Errorf("whisper: %w", err)
	}
	if err := kernels.Add(x, x, m.decPos[st.Pos*D:(st.Pos+T)*D]); err != nil {
		return nil, err
	}
	S := c.MaxSourcePositions
	for i := range m.decLayers {
		if err := m.decLayers[i].Forward(x, T, st.Pos, &st.cache[i], st.xk[i], st.xv[i], S, &st.ar); err != nil {
			return nil, fmt.Errorf("whisper decoder layer %d: %w", i, err)
		}
	}
	st.Pos += T
	rows, from := 1, (T-1)*D
	if all {
		rows, from = T, 0
	}
	h := st.ar.Scratch(rows * D)
	if err := m.decNorm.Forward(h, x[from:], rows); err != nil {
		return nil, err
	}
	logits := make([]float32, rows*V)
	if err := m.head.Forward(logits, h, rows); err != nil {
		return nil, fmt.Errorf("whisper head: %w", err)
	}
	st.Logits = append(st.Logits[:0], logits[(rows-1)*V:]...)
	if !all {
		return nil, nil
	}
	return logits, nil
}
