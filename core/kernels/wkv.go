package kernels

// RWKV-6's WKV linear attention (Peng et al. 2024, "Eagle and Finch: RWKV
// with Matrix-Valued States and Dynamic Recurrence"): per head a
// (head_size × head_size) state S that each token decays and adds to,
//
//	y[j]   = Σᵢ r[i]·(u[i]·k[i]·v[j] + S[i][j])
//	S[i][j] = S[i][j]·w[i] + k[i]·v[j]
//
// with a data-dependent decay w per token and channel. The state is what an
// RWKV model carries between tokens, in place of a KV cache. The order of
// the sums is ggml's rwkv_wkv6 (llama.cpp), which the tower is checked
// against.

import "fmt"

// WKVParams shapes a WKV-6 call: Seq tokens of Heads·HeadSize channels.
type WKVParams struct {
	Seq, Heads, HeadSize int
}

func (p WKVParams) check(y, state, k, v, r, u, w []float32) error {
	if p.Seq <= 0 || p.Heads <= 0 || p.HeadSize <= 0 {
		return fmt.Errorf("wkv6: shape %+v", p)
	}
	C := p.Heads * p.HeadSize
	tc := p.Seq * C
	if len(y) < tc || len(k) < tc || len(v) < tc || len(r) < tc || len(w) < tc || len(u) < C || len(state) < C*p.HeadSize {
		return fmt.Errorf("wkv6 %+v: y %d, state %d, k %d, v %d, r %d, u %d, w %d floats", p,
			len(y), len(state), len(k), len(v), len(r), len(u), len(w))
	}
	return nil
}

// WKV6 runs RWKV-6's WKV over p.Seq tokens: k, v, r, w and y are (seq,
// heads·head_size), u (time_first) is (heads·head_size) and state is
// (heads, head_size, head_size), S[h][i][j], updated in place. The heads are
// independent, so they are split across threads, each walking the whole
// sequence with its head's state in cache (the prefill path); WKV6Ref is the
// plain reference it is tested against.
func WKV6(y, state, k, v, r, u, w []float32, p WKVParams) error {
	if err := p.check(y, state, k, v, r, u, w); err != nil {
		return err
	}
	ParallelFor(p.Heads, 1, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			wkv6Head(y, state, k, v, r, u, w, p, h)
		}
	})
	return nil
}

// wkv6Head runs head h over the whole sequence: by wkv6HeadAVX512 when
// the head size is a multiple of 16 (RWKV-6's is 64), else the generic loop.
func wkv6Head(y, state, k, v, r, u, w []float32, p WKVParams, h int) {
	N, C := p.HeadSize, p.Heads*p.HeadSize
	if useAVX512 && N%16 == 0 {
		o := h * N
		wkv6HeadAVX512(&y[o], &state[h*N*N], &k[o], &v[o], &r[o], &u[o], &w[o], p.Seq, C, N)
		return
	}
	wkv6HeadGeneric(y, state, k, v, r, u, w, p, C, h)
}

// wkv6HeadGeneric runs head h with rows ld floats apart, state row by state
// row, each row's update vectorisable over the head's columns.
func wkv6HeadGeneric(y, state, k, v, r, u, w []float32, p WKVParams, ld, h int) {
	N := p.HeadSize
	S := state[h*N*N : (h+1)*N*N : (h+1)*N*N]
	uh := u[h*N : (h+1)*N : (h+1)*N]
	for t := 0; t < p.Seq; t++ {
		off := t*ld + h*N
		yt := y[off : off+N : off+N]
		vt := v[off : off+N : off+N]
		kt, rt, wt := k[off:off+N:off+N], r[off:off+N:off+N], w[off:off+N:off+N]
		clear(yt)
		for i, ki := range kt {
			ri, ui, wi := rt[i], uh[i], wt[i]
			si := S[i*N : (i+1)*N : (i+1)*N]
			for j, vj := range vt {
				kv := vj * ki
				prev := si[j]
				yt[j] += (kv*ui + prev) * ri
				si[j] = prev*wi + kv
			}
		}
	}
}

// WKV6Ref is the reference WKV-6: token by token, head by head, on one
// thread, indexing the tensors directly.
func WKV6Ref(y, state, k, v, r, u, w []float32, p WKVParams) error {
	if err := p.check(y, state, k, v, r, u, w); err != nil {
		return err
	}
	N, C := p.HeadSize, p.Heads*p.HeadSize
	for t := 0; t < p.Seq; t++ {
		for h := 0; h < p.Heads; h++ {
			for j := 0; j < N; j++ {
				y[t*C+h*N+j] = 0
			}
			for i := 0; i < N; i++ {
				c := t*C + h*N + i
				for j := 0; j < N; j++ {
					kv := v[t*C+h*N+j] * k[c]
					s := &state[h*N*N+i*N+j]
					y[t*C+h*N+j] += (kv*u[h*N+i] + *s) * r[c]
					*s = *s*w[c] + kv
				}
			}
		}
	}
	return nil
}
