package towers

import "github.com/loomhq/loom/core/nn"

// Fork returns a state that shares the model and starts where st is: its
// cached positions and last logits are copied, so several continuations
// (OpenAI's n choices) decode from one prefill of their common prompt.
func (st *State) Fork() *State {
	f := &State{d: st.d, Cache: make([]nn.KVCache, len(st.Cache)), Len: st.Len, logits: append([]float32(nil), st.logits...)}
	for i := range st.Cache {
		f.Cache[i] = st.Cache[i].Clone(st.Len)
	}
	return f
}

// Logits are the next-token logits of the last Forward (or of the state
// forked from); the slice is reused by the next Forward.
func (st *State) Logits() []float32 { return st.logits }
