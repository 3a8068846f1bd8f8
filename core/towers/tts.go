package towers

// FastSpeech 2 acoustic model: "FastSpeech 2: Fast and High-Quality End-to-End
// Text to Speech" (Ren et al. 2020), written to the configuration (model.yaml)
// and tensor names of the open implementation ming024/FastSpeech2, so its
// checkpoints exported to safetensors bind to this code:
//
//	encoder.src_word_emb.weight (V, H), encoder.position_enc (1, P, H),
//	encoder.layer_stack.L.slf_attn.{w_qs,w_ks,w_vs,fc,layer_norm},
//	encoder.layer_stack.L.pos_ffn.{w_1 (F, H, k0), w_2 (H, F, k1), layer_norm},
//	speaker_emb.weight (S, H),
//	variance_adaptor.{duration,pitch,energy}_predictor.conv_layer.
//	  {conv1d_1.conv, layer_norm_1, conv1d_2.conv, layer_norm_2}, .linear_layer,
//	variance_adaptor.{pitch,energy}_bins (B-1), .{pitch,energy}_embedding (B, H),
//	decoder.position_enc, decoder.layer_stack.L.…, mel_linear (M, H),
//	postnet.convolutions.N.0.conv (Conv1d) + .1 (BatchNorm1d).
//
// Text (symbol ids) → encoder (post-norm FFT blocks: self-attention on the
// core's flash-attention kernel, then a 1-D conv feed-forward) → + speaker
// embedding → variance adaptor (log-duration predictor; phoneme-level pitch
// and energy predictors whose bucketised values add embeddings) → length
// regulator (each symbol's hidden state repeated for its frames) → decoder
// (FFT blocks) → mel_linear → postnet residual. One utterance at a time, so
// no padding mask is needed. Loom's own models are character-level (see
// core/textnorm); the tower does not care what the ids spell.

import (
	"cmp"
	"fmt"
	"math"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
	"github.com/loomhq/loom/core/tensor"
)

// FastSpeech2Config mirrors ming024's model.yaml (plus the preprocessing
// values a checkpoint needs). UsePitch/UseEnergy are Loom's: the published
// model always has both; Loom's small models may drop them.
type FastSpeech2Config struct {
	NSrcVocab    int  `json:"n_src_vocab"`
	NMelChannels int  `json:"n_mel_channels"`
	MaxSeqLen    int  `json:"max_seq_len"`
	MultiSpeaker bool `json:"multi_speaker"`
	NSpeaker     int  `json:"n_speaker"`
	UsePitch     bool `json:"use_pitch"`
	UseEnergy    bool `json:"use_energy"`
	Transformer  struct {
		EncoderLayer   int   `json:"encoder_layer"`
		EncoderHead    int   `json:"encoder_head"`
		EncoderHidden  int   `json:"encoder_hidden"`
		DecoderLayer   int   `json:"decoder_layer"`
		DecoderHead    int   `json:"decoder_head"`
		DecoderHidden  int   `json:"decoder_hidden"`
		ConvFilterSize int   `json:"conv_filter_size"`
		ConvKernelSize []int `json:"conv_kernel_size"`
	} `json:"transformer"`
	VariancePredictor struct {
		FilterSize int `json:"filter_size"`
		KernelSize int `json:"kernel_size"`
	} `json:"variance_predictor"`
	VarianceEmbedding struct {
		NBins int `json:"n_bins"`
	} `json:"variance_embedding"`
	Postnet struct {
		NConvolutions int `json:"n_convolutions"`
		EmbeddingDim  int `json:"embedding_dim"`
		KernelSize    int `json:"kernel_size"`
	} `json:"postnet"`
}

func (c *FastSpeech2Config) validate() error {
	t := &c.Transformer
	switch {
	case c.NSrcVocab <= 0 || c.NMelChannels <= 0 || c.MaxSeqLen <= 0:
		return fmt.Errorf("fastspeech2: vocab %d, mels %d, max_seq_len %d must be positive", c.NSrcVocab, c.NMelChannels, c.MaxSeqLen)
	case t.EncoderLayer < 0 || t.DecoderLayer < 0 || t.EncoderHead <= 0 || t.DecoderHead <= 0 || t.ConvFilterSize <= 0:
		return fmt.Errorf("fastspeech2: bad transformer sizes %+v", *t)
	case t.EncoderHidden <= 0 || t.EncoderHidden != t.DecoderHidden:
		return fmt.Errorf("fastspeech2: encoder hidden %d must equal decoder hidden %d", t.EncoderHidden, t.DecoderHidden)
	case t.EncoderHidden%t.EncoderHead != 0 || t.DecoderHidden%t.DecoderHead != 0:
		return fmt.Errorf("fastspeech2: hidden %d not divisible by heads %d/%d", t.EncoderHidden, t.EncoderHead, t.DecoderHead)
	case len(t.ConvKernelSize) != 2 || t.ConvKernelSize[0] <= 0 || t.ConvKernelSize[1] <= 0:
		return fmt.Errorf("fastspeech2: conv_kernel_size %v, want two positive sizes", t.ConvKernelSize)
	case c.VariancePredictor.FilterSize <= 0 || c.VariancePredictor.KernelSize <= 0:
		return fmt.Errorf("fastspeech2: variance predictor %+v", c.VariancePredictor)
	case (c.UsePitch || c.UseEnergy) && c.VarianceEmbedding.NBins < 2:
		return fmt.Errorf("fastspeech2: %d variance bins", c.VarianceEmbedding.NBins)
	case c.MultiSpeaker && c.NSpeaker <= 0:
		return fmt.Errorf("fastspeech2: multi-speaker with %d speakers", c.NSpeaker)
	case c.Postnet.NConvolutions == 1 || c.Postnet.NConvolutions < 0 ||
		c.Postnet.NConvolutions > 0 && (c.Postnet.EmbeddingDim <= 0 || c.Postnet.KernelSize <= 0):
		return fmt.Errorf("fastspeech2: postnet %+v", c.Postnet)
	}
	return nil
}

// fftBlock is FastSpeech's feed-forward Transformer block, post-norm:
// x = LN(x + fc(attn(x))); x = LN(x + w_2(relu(w_1(x)))) with w_1, w_2 1-D
// convolutions over time.
type fftBlock struct {
	attn     nn.CrossAttention // self-attention: w_qs, w_ks, w_vs, fc (H, H)
	ln1, ln2 nn.LayerNorm
	w1, w2   nn.Conv1D // (F, H, k0), (H, F, k1)
}

// variancePredictor: conv → relu → LN → conv → relu → LN → linear (1).
type variancePredictor struct {
	c1, c2   nn.Conv1D
	ln1, ln2 nn.LayerNorm
	out      nn.Linear // (1, F)
}

type varianceEmbedding struct {
	pred variancePredictor
	bins []float32 // (B-1) ascending bucket edges
	emb  []float32 // (B, H)
}

// FastSpeech2 is a loaded acoustic model. It is safe for concurrent use:
// every call takes its own arena for the layers' activations (arenas) and
// allocates what it returns.
type FastSpeech2 struct {
	Cfg             FastSpeech2Config
	wordEmb         []float32 // (V, H)
	encPos, decPos  []float32 // (P, H) sinusoid tables as stored
	enc, dec        []fftBlock
	speaker         []float32 // (S, H) or nil
	duration        variancePredictor
	pitch, energy   *varianceEmbedding
	melLinear       nn.Linear // (M, H)
	postnet         []nn.Conv1D
	postBN          []nn.BatchNorm1D
	hidden, posRows int
	// arenas hold the FFT blocks' attention and feed-forward scratch and
	// the postnet's inner maps between calls: a sentence's decoder
	// allocated 3 MiB of them afresh, zeroed, every call.
	arenas tensor.ArenaPool
}

// LoadFastSpeech2 binds a FastSpeech 2 model under b.
func LoadFastSpeech2(b *nn.Binder, cfg FastSpeech2Config) (*FastSpeech2, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := cfg.Transformer
	H, F := t.EncoderHidden, t.ConvFilterSize
	m := &FastSpeech2{Cfg: cfg, hidden: H, posRows: cfg.MaxSeqLen + 1}
	m.wordEmb = b.Flat("encoder.src_word_emb.weight", cfg.NSrcVocab*H)
	m.encPos = b.Flat("encoder.position_enc", m.posRows*H)
	m.decPos = b.Flat("decoder.position_enc", m.posRows*H)
	block := func(l *nn.Binder, heads int) fftBlock {
		k0, k1 := t.ConvKernelSize[0], t.ConvKernelSize[1]
		return fftBlock{
			// Scale 1/sqrt(d_k): the reference's temperature d_k^0.5.
			attn: nn.CrossAttention{Heads: heads, HeadDim: H / heads,
				Q: l.Linear("slf_attn.w_qs", H, H), K: l.Linear("slf_attn.w_ks", H, H),
				V: l.Linear("slf_attn.w_vs", H, H), O: l.Linear("slf_attn.fc", H, H)},
			ln1: l.LayerNorm("slf_attn.layer_norm", H, 1e-5),
			w1:  l.Conv1D("pos_ffn.w_1", F, H, k0, nn.Conv1DOpts{Pad: (k0 - 1) / 2}),
			w2:  l.Conv1D("pos_ffn.w_2", H, F, k1, nn.Conv1DOpts{Pad: (k1 - 1) / 2}),
			ln2: l.LayerNorm("pos_ffn.layer_norm", H, 1e-5),
		}
	}
	for i := 0; i < t.EncoderLayer; i++ {
		m.enc = append(m.enc, block(b.Sub("encoder.layer_stack.%d", i), t.EncoderHead))
	}
	for i := 0; i < t.DecoderLayer; i++ {
		m.dec = append(m.dec, block(b.Sub("decoder.layer_stack.%d", i), t.DecoderHead))
	}
	if cfg.MultiSpeaker {
		m.speaker = b.Flat("speaker_emb.weight", cfg.NSpeaker*H)
	}
	vp := cfg.VariancePredictor
	predictor := func(p *nn.Binder) variancePredictor {
		k := vp.KernelSize
		return variancePredictor{
			c1:  p.Conv1D("conv_layer.conv1d_1.conv", vp.FilterSize, H, k, nn.Conv1DOpts{Pad: (k - 1) / 2}),
			ln1: p.LayerNorm("conv_layer.layer_norm_1", vp.FilterSize, 1e-5),
			c2:  p.Conv1D("conv_layer.conv1d_2.conv", vp.FilterSize, vp.FilterSize, k, nn.Conv1DOpts{Pad: (k - 1) / 2}),
			ln2: p.LayerNorm("conv_layer.layer_norm_2", vp.FilterSize, 1e-5),
			out: p.Linear("linear_layer", 1, vp.FilterSize),
		}
	}
	va := b.Sub("variance_adaptor")
	m.duration = predictor(va.Sub("duration_predictor"))
	nb := cfg.VarianceEmbedding.NBins
	if cfg.UsePitch {
		m.pitch = &varianceEmbedding{pred: predictor(va.Sub("pitch_predictor")),
			bins: va.Flat("pitch_bins", nb-1), emb: va.Flat("pitch_embedding.weight", nb*H)}
	}
	if cfg.UseEnergy {
		m.energy = &varianceEmbedding{pred: predictor(va.Sub("energy_predictor")),
			bins: va.Flat("energy_bins", nb-1), emb: va.Flat("energy_embedding.weight", nb*H)}
	}
	M := cfg.NMelChannels
	m.melLinear = b.Linear("mel_linear", M, H)
	pn := cfg.Postnet
	for i := 0; i < pn.NConvolutions; i++ {
		in, out := pn.EmbeddingDim, pn.EmbeddingDim
		if i == 0 {
			in = M
		}
		if i == pn.NConvolutions-1 {
			out = M
		}
		c := b.Sub("postnet.convolutions.%d", i)
		m.postnet = append(m.postnet, c.Conv1D("0.conv", out, in, pn.KernelSize, nn.Conv1DOpts{Pad: (pn.KernelSize - 1) / 2}))
		m.postBN = append(m.postBN, c.BatchNorm1D("1", out, 1e-5))
	}
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("load fastspeech2: %w", err)
	}
	// A sentence is one short call per layer: pack the weights once (the
	// convs pack theirs on first use, nn.Conv1D.ForwardRows).
	for _, blk := range [][]fftBlock{m.enc, m.dec} {
		for i := range blk {
			blk[i].attn.Pack()
		}
	}
	m.melLinear.Pack()
	return m, nil
}

// TTSControls are the synthesis knobs of FastSpeech 2: Speed scales speaking
// rate (2 = twice as fast; durations are multiplied by 1/Speed, the
// reference's d_control), Pitch and Energy scale the predicted values
// (p_control, e_control). Zero values mean 1.
type TTSControls struct {
	Speed, Pitch, Energy float32
}

// MaxTTSSymbols bounds one utterance's input; longer texts are split into
// sentences by the caller.
const MaxTTSSymbols = 4096

// Encoded is the encoder side of one utterance.
type Encoded struct {
	N           int
	Hidden      []float32 // (N, H): encoder output + speaker embedding
	LogDuration []float32 // (N)
	Pitch       []float32 // (N) predictions (before control), nil without pitch
	Energy      []float32 // (N) predictions, nil without energy
	adapted     []float32 // (N, H): Hidden + pitch/energy embeddings
}

// Encode runs the encoder, the speaker embedding and the variance predictors
// on symbol ids.
func (m *FastSpeech2) Encode(ids []int, speaker int, ctl TTSControls) (*Encoded, error) {
	N, H := len(ids), m.hidden
	if N == 0 || N > MaxTTSSymbols {
		return nil, fmt.Errorf("fastspeech2: %d symbols (want 1..%d)", N, MaxTTSSymbols)
	}
	for _, id := range ids {
		if id < 0 || id >= m.Cfg.NSrcVocab {
			return nil, fmt.Errorf("fastspeech2: symbol id %d outside vocabulary of %d", id, m.Cfg.NSrcVocab)
		}
	}
	if m.speaker != nil && (speaker < 0 || speaker >= m.Cfg.NSpeaker) {
		return nil, fmt.Errorf("fastspeech2: speaker %d outside 0..%d", speaker, m.Cfg.NSpeaker-1)
	}
	x := make([]float32, N*H) // (N, H)
	for i, id := range ids {
		copy(x[i*H:(i+1)*H], m.wordEmb[id*H:(id+1)*H])
	}
	if err := m.addPositions(x, N, m.encPos); err != nil {
		return nil, err
	}
	ar := m.arenas.Get()
	defer m.arenas.Put(ar)
	for i := range m.enc {
		if err := m.enc[i].forward(x, N, ar); err != nil {
			return nil, fmt.Errorf("fastspeech2 encoder layer %d: %w", i, err)
		}
	}
	if m.speaker != nil {
		s := m.speaker[speaker*H : (speaker+1)*H]
		for i := 0; i < N; i++ {
			if err := kernels.Add(x[i*H:(i+1)*H], x[i*H:(i+1)*H], s); err != nil {
				return nil, err
			}
		}
	}
	e := &Encoded{N: N, Hidden: x}
	var err error
	if e.LogDuration, err = m.duration.forward(x, N); err != nil {
		return nil, fmt.Errorf("fastspeech2 duration predictor: %w", err)
	}
	a := append([]float32(nil), x...)
	// Pitch first; the energy predictor sees the pitch-embedded states, as
	// in the reference.
	if m.pitch != nil {
		if e.Pitch, err = m.pitch.apply(a, N, H, orOneF(ctl.Pitch)); err != nil {
			return nil, fmt.Errorf("fastspeech2 pitch: %w", err)
		}
	}
	if m.energy != nil {
		if e.Energy, err = m.energy.apply(a, N, H, orOneF(ctl.Energy)); err != nil {
			return nil, fmt.Errorf("fastspeech2 energy: %w", err)
		}
	}
	e.adapted = a
	return e, nil
}

func orOneF(v float32) float32 {
	if v == 0 {
		return 1
	}
	return v
}

// Durations turns log durations into frame counts as the reference does:
// int(max(round(exp(d) - 1) · d_control, 0)) with d_control = 1/speed and
// round half to even (torch.round).
func Durations(logDur []float32, speed float32) ([]int, error) {
	speed = orOneF(speed)
	if !(speed > 0) || math.IsInf(float64(speed), 0) {
		return nil, fmt.Errorf("fastspeech2: speed %v must be positive", speed)
	}
	dc := 1 / speed
	out := make([]int, len(logDur))
	for i, ld := range logDur {
		r := float32(math.RoundToEven(float64(float32(math.Exp(float64(ld))) - 1)))
		f := max(r*dc, 0)
		if math.IsNaN(float64(f)) || f > 1e6 {
			return nil, fmt.Errorf("fastspeech2: duration %v for symbol %d", f, i)
		}
		out[i] = int(f)
	}
	return out, nil
}

// Decode length-regulates the adapted encoder states by durations (one count
// per symbol) and decodes them; it returns the mel before and after the
// postnet, both (T, n_mel) with T = sum(durations).
func (m *FastSpeech2) Decode(e *Encoded, durations []int) (mel, postnet []float32, err error) {
	H := m.hidden
	if len(durations) != e.N {
		return nil, nil, fmt.Errorf("fastspeech2: %d durations for %d symbols", len(durations), e.N)
	}
	T := 0
	for _, d := range durations {
		if d < 0 || d > 1<<20 {
			return nil, nil, fmt.Errorf("fastspeech2: duration %d", d)
		}
		T += d
	}
	if T == 0 {
		return nil, nil, fmt.Errorf("fastspeech2: every duration is zero")
	}
	if T > 1<<22/H {
		return nil, nil, fmt.Errorf("fastspeech2: %d frames is too long", T)
	}
	// Length regulator: (N, H) → (T, H).
	x := make([]float32, 0, T*H)
	for i, d := range durations {
		for j := 0; j < d; j++ {
			x = append(x, e.adapted[i*H:(i+1)*H]...)
		}
	}
	if err := m.addPositions(x, T, m.decPos); err != nil {
		return nil, nil, err
	}
	var errs [2]error
	var b *ttsBands
	kernels.Default().Team(min(2, T/ttsBandMinFrames), func(part, parts int, bar *kernels.Barrier) {
		if parts == 1 {
			mel, postnet, errs[0] = m.decodeOps(x, T)
			return
		}
		if part == 0 {
			b = m.newBands(T)
		}
		bar.Wait()
		errs[part] = m.decodeBand(x, b, T, part, parts, bar)
	})
	if b != nil {
		mel, postnet = b.mel, b.postnet
	}
	if err := cmp.Or(errs[0], errs[1]); err != nil {
		return nil, nil, err
	}
	return mel, postnet, nil
}

// ttsBandMinFrames is the fewest frames per thread for which the decoder
// runs in time bands (FastSpeech2.decodeBand); shorter sentences split each
// op.
const ttsBandMinFrames = 32

// decodeOps runs the decoder layers, the mel projection and the postnet on
// x (T, H), one op after another (each may split over the pool).
func (m *FastSpeech2) decodeOps(x []float32, T int) (mel, postnet []float32, err error) {
	M := m.Cfg.NMelChannels
	ar := m.arenas.Get()
	defer m.arenas.Put(ar)
	for i := range m.dec {
		if err := m.dec[i].forward(x, T, ar); err != nil {
			return nil, nil, fmt.Errorf("fastspeech2 decoder layer %d: %w", i, err)
		}
	}
	mel = make([]float32, T*M)
	if err := m.melLinear.Forward(mel, x, T); err != nil {
		return nil, nil, err
	}
	if len(m.postnet) == 0 {
		return mel, mel, nil
	}
	// Postnet on (T, C) rows: conv → BN → tanh, the last without tanh.
	h := mel
	for i := range m.postnet {
		c := &m.postnet[i]
		var o []float32 // the last is returned; the others live in the arena
		if i < len(m.postnet)-1 {
			o = ar.Scratch(T * c.Out)
		} else {
			o = make([]float32, T*c.Out)
		}
		if err := c.ForwardRows(o, h, T, false); err != nil {
			return nil, nil, fmt.Errorf("fastspeech2 postnet %d: %w", i, err)
		}
		if err := m.postBN[i].ForwardRows(o, o, T); err != nil {
			return nil, nil, fmt.Errorf("fastspeech2 postnet %d: %w", i, err)
		}
		if i < len(m.postnet)-1 {
			if err := nn.Tanh(o, o); err != nil {
				return nil, nil, err
			}
		}
		h = o
	}
	postnet = h
	if err := kernels.Add(postnet, postnet, mel); err != nil {
		return nil, nil, err
	}
	return mel, postnet, nil
}

// ttsBands is decodeBand's working memory, shared by the members.
type ttsBands struct {
	x2, mid, k, v []float32   // (T, H), (T, F), (T, inner) twice
	mel, postnet  []float32   // (T, M): the results
	post          [][]float32 // each postnet conv's output (T, out)
}

func (m *FastSpeech2) newBands(T int) *ttsBands {
	H, M, a := m.hidden, m.Cfg.NMelChannels, m.dec[0].attn
	b := &ttsBands{x2: make([]float32, T*H), mid: make([]float32, T*m.dec[0].w1.Out),
		k: make([]float32, T*a.Heads*a.HeadDim), v: make([]float32, T*a.Heads*a.HeadDim), mel: make([]float32, T*M)}
	for i := range m.postnet {
		b.post = append(b.post, make([]float32, T*m.postnet[i].Out))
	}
	b.postnet = b.mel
	if len(b.post) > 0 {
		b.postnet = b.post[len(b.post)-1]
	}
	return b
}

// decodeBand is decodeOps for one member of a team: frames [lo, hi) of
// Band(T, 8, part, parts) through every decoder layer, the mel projection
// and the postnet, on the calling thread. A layer has two hand-offs: every
// frame's keys and values (the attention needs them all), then the normed
// rows the feed-forward conv's window reaches across the band edge; each
// postnet conv has one (its window). The layers alternate between x and
// b.x2, and each postnet conv writes a buffer of its own, so no member
// overwrites rows a neighbour may still read. Every frame is computed by the
// kernels decodeOps uses, so mel and postnet are the same bit for bit
// (TestFastSpeech2BandsMatch). A member that fails keeps meeting the
// barriers and reports its error.
func (m *FastSpeech2) decodeBand(x []float32, b *ttsBands, T, part, parts int, bar *kernels.Barrier) error {
	H, M := m.hidden, m.Cfg.NMelChannels
	lo, hi := kernels.Band(T, 8, part, parts)
	rows := hi - lo
	var err error
	ok := func(e error) bool { // records the first error; false from then on
		if err == nil {
			err = e
		}
		return err == nil
	}
	src, dst := x, b.x2
	for i := range m.dec {
		f := &m.dec[i]
		inner, F := f.attn.Heads*f.attn.HeadDim, f.w1.Out
		own, mid := src[lo*H:hi*H], b.mid[lo*F:hi*F]
		_ = err == nil && ok(f.attn.ContextKV(b.k[lo*inner:hi*inner], b.v[lo*inner:hi*inner], own, rows))
		bar.Wait() // every frame's keys and values
		_ = err == nil && ok(f.attn.AttendKVAdd(own, own, rows, b.k, b.v, T, lo, nil)) && ok(f.ln1.Forward(own, own, rows))
		bar.Wait() // the conv's window reads the neighbours' normed rows
		copy(dst[lo*H:hi*H], own)
		_ = err == nil && ok(f.w1.ForwardRowsBand(b.mid, src, T, lo, hi, false)) && ok(nn.ReLU(mid, mid))
		if f.w2.Kernel > 1 {
			bar.Wait() // the second conv's window reads the neighbours' rows of mid
		}
		_ = err == nil && ok(f.w2.ForwardRowsBand(dst, b.mid, T, lo, hi, true)) && ok(f.ln2.Forward(dst[lo*H:hi*H], dst[lo*H:hi*H], rows))
		src, dst = dst, src
	}
	_ = err == nil && ok(m.melLinear.Forward(b.mel[lo*M:hi*M], src[lo*H:hi*H], rows))
	h := b.mel
	for i := range m.postnet {
		c, o := &m.postnet[i], b.post[i]
		own := o[lo*c.Out : hi*c.Out]
		bar.Wait() // the conv's window reads the neighbours' rows of h
		_ = err == nil && ok(c.ForwardRowsBand(o, h, T, lo, hi, false)) && ok(m.postBN[i].ForwardRows(own, own, rows))
		if i < len(m.postnet)-1 {
			_ = err == nil && ok(nn.Tanh(own, own))
		}
		h = o
	}
	if len(m.postnet) > 0 {
		_ = err == nil && ok(kernels.Add(b.postnet[lo*M:hi*M], b.postnet[lo*M:hi*M], b.mel[lo*M:hi*M]))
	}
	if err != nil {
		return fmt.Errorf("fastspeech2 decoder, frames %d-%d: %w", lo, hi, err)
	}
	return nil
}

// Synthesize runs the whole acoustic model: ids → (T, n_mel) log-mel
// (postnet output) and the frame count of each symbol.
func (m *FastSpeech2) Synthesize(ids []int, speaker int, ctl TTSControls) (mel []float32, durations []int, err error) {
	e, err := m.Encode(ids, speaker, ctl)
	if err != nil {
		return nil, nil, err
	}
	if durations, err = Durations(e.LogDuration, ctl.Speed); err != nil {
		return nil, nil, err
	}
	_, mel, err = m.Decode(e, durations)
	return mel, durations, err
}

// addPositions adds the sinusoid table to x (L, H): the stored rows while L
// fits them, a freshly computed table beyond (the reference does the same at
// inference when a sequence is longer than max_seq_len).
func (m *FastSpeech2) addPositions(x []float32, L int, table []float32) error {
	H := m.hidden
	if L <= m.posRows {
		return kernels.Add(x, x, table[:L*H])
	}
	return kernels.Add(x, x, sinusoidTable(L, H))
}

// sinusoidTable is (n, d): sin(pos / 10000^(2·(i/2)/d)) on even i, cos on odd.
func sinusoidTable(n, d int) []float32 {
	t := make([]float32, n*d)
	for p := 0; p < n; p++ {
		for i := 0; i < d; i++ {
			a := float64(p) / math.Pow(10000, float64(2*(i/2))/float64(d))
			if i%2 == 0 {
				t[p*d+i] = float32(math.Sin(a))
			} else {
				t[p*d+i] = float32(math.Cos(a))
			}
		}
	}
	return t
}

// forward updates x (L, H) in place.
func (f *fftBlock) forward(x []float32, L int, ar *tensor.Arena) error {
	if err := f.attn.ForwardAdd(x, x, L, x, L, ar); err != nil {
		return err
	}
	if err := f.ln1.Forward(x, x, L); err != nil {
		return err
	}
	// Position-wise conv feed-forward on the (L, H) rows themselves; the
	// second conv adds its output (and bias) to x: the residual.
	mid := ar.Scratch(L * f.w1.Out) // (L, F)
	if err := f.w1.ForwardRows(mid, x, L, false); err != nil {
		return err
	}
	if err := nn.ReLU(mid, mid); err != nil {
		return err
	}
	if err := f.w2.ForwardRows(x, mid, L, true); err != nil {
		return err
	}
	return f.ln2.Forward(x, x, L)
}

// forward predicts one value per row of x (N, H).
func (p *variancePredictor) forward(x []float32, N int) ([]float32, error) {
	F := p.c1.Out
	// conv → relu → LN twice, on (N, C) rows throughout.
	h, r := make([]float32, N*F), make([]float32, N*F)
	if err := p.c1.ForwardRows(h, x, N, false); err != nil {
		return nil, err
	}
	if err := nn.ReLU(h, h); err != nil {
		return nil, err
	}
	if err := p.ln1.Forward(h, h, N); err != nil {
		return nil, err
	}
	if err := p.c2.ForwardRows(r, h, N, false); err != nil {
		return nil, err
	}
	if err := nn.ReLU(r, r); err != nil {
		return nil, err
	}
	if err := p.ln2.Forward(r, r, N); err != nil {
		return nil, err
	}
	out := make([]float32, N)
	if err := p.out.Forward(out, r, N); err != nil {
		return nil, err
	}
	return out, nil
}

// apply predicts the variance from x (N, H), scales it by control, and adds
// the embedding of its bucket to x in place; it returns the unscaled
// prediction.
func (v *varianceEmbedding) apply(x []float32, N, H int, control float32) ([]float32, error) {
	pred, err := v.pred.forward(x, N)
	if err != nil {
		return nil, err
	}
	for i, p := range pred {
		b := bucketize(p*control, v.bins)
		if err := kernels.Add(x[i*H:(i+1)*H], x[i*H:(i+1)*H], v.emb[b*H:(b+1)*H]); err != nil {
			return nil, err
		}
	}
	return pred, nil
}

// bucketize is torch.bucketize(v, edges, right=False): the index of the first
// edge ≥ v (len(edges) when none is).
func bucketize(v float32, edges []float32) int {
	lo, hi := 0, len(edges)
	for lo < hi {
		mid := (lo + hi) / 2
		if edges[mid] < v {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// transposeRows returns the (cols, rows) transpose of x (rows, cols).
func transposeRows(x []float32, rows, cols int) ([]float32, error) {
	t := make([]float32, rows*cols)
	return t, kernels.Transpose(t, x, rows, cols)
}
