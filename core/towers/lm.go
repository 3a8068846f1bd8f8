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
)

// LMInfo is what a server needs to know of a loaded language model.
type LMInfo struct {
	Arch    string
	Vocab   int
	Dim     int
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
	"mamba": func(src formats.InfoSource) (LM, error) { return LoadMamba(src) },
}

// AsDecoder returns the attention decoder behind lm (nil for other
// families): what mean-pooled embeddings run on.
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
	return LMInfo{Arch: c.Arch, Vocab: c.Vocab, Dim: c.Dim, Context: c.Context}
}

func (d decoderLM) NewSession(maxPos int) Session { return decoderSession{d.NewState(maxPos)} }

type decoderSession struct{ *State }

func (s decoderSession) Fork() Session { return decoderSession{s.State.Fork()} }

// recurrentPos checks a recurrent state's pos: the positions it holds
// (continue) or 0 (restart). It reports whether to reset the state.
func recurrentPos(arch string, pos, held, n, maxPos int) (reset bool, err error) {
	switch {
	case n == 0:
		return false, fmt.Errorf("%s: no tokens", arch)
	case pos != 0 && pos != held:
		return false, fmt.Errorf("%s: position %d: a recurrent state holds %d positions and can only continue or restart at 0", arch, pos, held)
	case pos+n > maxPos:
		return false, fmt.Errorf("%s: %d positions exceed the context of %d", arch, pos+n, maxPos)
	}
	return pos == 0 && held > 0, nil
}
