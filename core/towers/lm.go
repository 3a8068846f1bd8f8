package towers

// The language-model contract every text family meets, so the text plugin
// streams them all the same way. What a family keeps between tokens differs
// — an attention KV cache (Llama, Qwen…), a latent cache (DeepSeek's MLA),
// a fixed-size recurrent state (Mamba's SSM and conv state, RWKV's WKV and
// token-shift state) — and lives behind Session: Forward appends tokens,
// Fork copies whatever the state is, so n choices decode from one prefill.

import (
	"fmt"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/nn"
)

// LMInfo is what a server needs to know of a loaded language model.
type LMInfo struct {
	Arch    string
	Vocab   int
	Dim     int
	Layers  int
	Context int // most positions a session may hold
}

// LM is a loaded language model, read-only after load: one LM serves any
// number of concurrent sessions.
type LM interface {
	Info() LMInfo
	// NewSession returns an empty session for at most maxPos positions
	// (≤ 0 or above the context: the context).
	NewSession(maxPos int) Session
}

// Session is one generation's mutable state. Not safe for concurrent use.
type Session interface {
	// Forward runs tokens at positions pos… and returns the last token's
	// logits (reused by the next call). pos is the number of positions
	// already held: attention caches may also rewind (a smaller pos),
	// recurrent states only restart (pos 0).
	Forward(tokens []int, pos int) ([]float32, error)
	// Logits are the last Forward's logits.
	Logits() []float32
	// Fork returns an independent copy that continues from here.
	Fork() Session
}

// LoadLM binds the language model of a file's architecture
// (general.architecture): the attention decoder families, Mamba, RWKV-6
// or DeepSeek-V2/V3.
func LoadLM(src formats.InfoSource) (LM, error) {
	arch := src.Meta().Arch()
	if load, ok := lmFamilies[arch]; ok {
		return load(src)
	}
	if supportedArchs[arch] {
		d, err := LoadDecoder(src)
		if err != nil {
			return nil, err
		}
		return decoderLM{d}, nil
	}
	return nil, fmt.Errorf("language model: unsupported architecture %q", arch)
}

// lmFamilies load the architectures that are not the attention decoder.
var lmFamilies = map[string]func(formats.InfoSource) (LM, error){
	"mamba":     func(src formats.InfoSource) (LM, error) { return LoadMamba(src) },
	"mamba2":    func(src formats.InfoSource) (LM, error) { return LoadMamba2(src) },
	"rwkv6":     func(src formats.InfoSource) (LM, error) { return LoadRWKV6(src) },
	"deepseek2": func(src formats.InfoSource) (LM, error) { return LoadDeepSeek2(src) },
}

// ArchKind says what a file of architecture arch serves.
type ArchKind int

const (
	ArchUnknown ArchKind = iota
	ArchDecoder          // an attention decoder: generates, and embeds by pooling its states
	ArchLMOnly           // an LM whose states are not pooled here (Mamba, RWKV, DeepSeek-V2): generates only
	ArchEncoder          // a sentence encoder (BERT): embeds only, LoadBERT
)

// KindOf classifies a general.architecture value.
func KindOf(arch string) ArchKind {
	switch {
	case arch == "bert":
		return ArchEncoder
	case lmFamilies[arch] != nil:
		return ArchLMOnly
	case supportedArchs[arch]:
		return ArchDecoder
	}
	return ArchUnknown
}

// AsDecoder returns the attention decoder behind lm (nil for other
// families): what pooled decoder embeddings run on.
func AsDecoder(lm LM) *Decoder {
	if d, ok := lm.(decoderLM); ok {
		return d.Decoder
	}
	return nil
}

// decoderLM presents a Decoder as an LM.
type decoderLM struct{ *Decoder }

func (d decoderLM) Info() LMInfo {
	c := d.Config
	return LMInfo{Arch: c.Arch, Vocab: c.Vocab, Dim: c.Dim, Layers: c.Layers, Context: c.Context}
}

func (d decoderLM) NewSession(maxPos int) Session { return decoderSession{d.NewState(maxPos)} }

type decoderSession struct{ *State }

func (s decoderSession) Fork() Session { return decoderSession{s.State.Fork()} }

// recurrent is the part of a recurrent model's session that does not
// depend on the family: fixed-size state buffers per block (Bufs[block] —
// Mamba's conv and scan states, RWKV's WKV state and token shift), the
// positions seen and the last logits. A recurrent state cannot rewind: it
// continues (pos = Len) or restarts (pos 0).
type recurrent struct {
	arch   string
	Bufs   [][][]float32 // [block][buffer]
	Len    int           // positions seen
	maxPos int
	logits []float32
}

// newRecurrent makes zero buffers of the given sizes for each of layers
// blocks, for at most maxPos positions (≤ 0 or above context: context).
func newRecurrent(arch string, layers, vocab, maxPos, context int, sizes ...int) recurrent {
	if maxPos <= 0 || maxPos > context {
		maxPos = context
	}
	r := recurrent{arch: arch, Bufs: make([][][]float32, layers), maxPos: maxPos, logits: make([]float32, vocab)}
	for i := range r.Bufs {
		for _, n := range sizes {
			r.Bufs[i] = append(r.Bufs[i], make([]float32, n))
		}
	}
	return r
}

// Logits implements Session.
func (r *recurrent) Logits() []float32 { return r.logits }

// clone copies the buffers and logits.
func (r *recurrent) clone() recurrent {
	c := *r
	c.logits = append([]float32(nil), r.logits...)
	c.Bufs = make([][][]float32, len(r.Bufs))
	for i, bs := range r.Bufs {
		for _, b := range bs {
			c.Bufs[i] = append(c.Bufs[i], append([]float32(nil), b...))
		}
	}
	return c
}

// forward checks pos (Len to continue, 0 to restart from zero state) and
// runs tokens through step in chunks of at most prefillChunk, each chunk
// leaving its last token's logits in r.logits.
func (r *recurrent) forward(tokens []int, pos int, step func([]int) error) ([]float32, error) {
	switch {
	case len(tokens) == 0:
		return nil, fmt.Errorf("%s: no tokens", r.arch)
	case pos != 0 && pos != r.Len:
		return nil, fmt.Errorf("%s: position %d: a recurrent state holds %d positions and can only continue or restart at 0", r.arch, pos, r.Len)
	case pos+len(tokens) > r.maxPos:
		return nil, fmt.Errorf("%s: %d positions exceed the context of %d", r.arch, pos+len(tokens), r.maxPos)
	}
	if pos == 0 && r.Len > 0 {
		for _, bs := range r.Bufs {
			for _, b := range bs {
				clear(b)
			}
		}
		r.Len = 0
	}
	for len(tokens) > 0 {
		n := min(len(tokens), prefillChunk)
		if err := step(tokens[:n]); err != nil {
			return nil, err
		}
		r.Len += n
		tokens = tokens[n:]
	}
	return r.logits, nil
}

// bindRMSHead binds output_norm.weight and output.weight, or the embedding
// table when the file ties the output to it: the head of the RMSNorm
// families here.
func bindRMSHead(b *nn.Binder, embed nn.Embedding, dim, vocab int, eps float32) (nn.RMSNorm, nn.Linear) {
	norm := nn.RMSNorm{W: b.Vector("output_norm.weight", dim), Eps: eps}
	if b.Has("output.weight") {
		return norm, b.Linear("output", vocab, dim)
	}
	return norm, nn.Linear{W: embed.Table}
}

// lastLogits sets logits from the last row of x (seq, dim) through the
// final norm and the output projection; scratch holds at least dim floats.
func lastLogits(logits, x, scratch []float32, seq, dim int, norm interface {
	Forward(out, x []float32, rows int) error
}, out *nn.Linear) error {
	if err := norm.Forward(scratch[:dim], x[(seq-1)*dim:seq*dim], 1); err != nil {
		return err
	}
	return out.Forward(logits, scratch[:dim], 1)
}
