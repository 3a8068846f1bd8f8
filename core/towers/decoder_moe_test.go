package towers

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

// tinyLlama describes a random model for the reference test.
type tinyLlama struct {
	dim, layers, heads, kvHeads, ff, vocab int
	experts, used, sharedFF                int // experts 0: dense
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// build writes a random model as GGUF with llama.cpp's names and keys (the
// MoE ones included), reads it back, and returns the parsed file and the
// tensors by name for the reference.
func (m tinyLlama) build(t *testing.T, seed int64) (*formats.GGUFFile, map[string][]float32) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	ws := map[string][]float32{}
	var infos []*formats.Info
	add := func(name string, scale float32, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = (r.Float32()*2 - 1) * scale
		}
		ws[name] = v
		infos = append(infos, &formats.Info{Name: name, Type: kernels.F32, Shape: shape, Data: f32Bytes(v)})
	}
	hd := m.dim / m.heads
	add("token_embd.weight", 1, m.vocab, m.dim)
	for l := 0; l < m.layers; l++ {
		p := "blk." + string(rune('0'+l)) + "."
		add(p+"attn_norm.weight", 1, m.dim)
		add(p+"attn_q.weight", 0.3, m.dim, m.dim)
		add(p+"attn_k.weight", 0.3, m.kvHeads*hd, m.dim)
		add(p+"attn_v.weight", 0.3, m.kvHeads*hd, m.dim)
		add(p+"attn_output.weight", 0.3, m.dim, m.dim)
		add(p+"ffn_norm.weight", 1, m.dim)
		if m.experts == 0 {
			add(p+"ffn_gate.weight", 0.3, m.ff, m.dim)
			add(p+"ffn_up.weight", 0.3, m.ff, m.dim)
			add(p+"ffn_down.weight", 0.3, m.dim, m.ff)
			continue
		}
		add(p+"ffn_gate_inp.weight", 1, m.experts, m.dim)
		add(p+"ffn_gate_exps.weight", 0.3, m.experts, m.ff, m.dim)
		add(p+"ffn_up_exps.weight", 0.3, m.experts, m.ff, m.dim)
		add(p+"ffn_down_exps.weight", 0.3, m.experts, m.dim, m.ff)
		if m.sharedFF > 0 {
			add(p+"ffn_gate_shexp.weight", 0.3, m.sharedFF, m.dim)
			add(p+"ffn_up_shexp.weight", 0.3, m.sharedFF, m.dim)
			add(p+"ffn_down_shexp.weight", 0.3, m.dim, m.sharedFF)
		}
	}
	add("output_norm.weight", 1, m.dim)
	add("output.weight", 0.5, m.vocab, m.dim)
	meta := formats.Metadata{
		"general.architecture":                   "llama",
		"llama.context_length":                   uint32(64),
		"llama.embedding_length":                 uint32(m.dim),
		"llama.block_count":                      uint32(m.layers),
		"llama.feed_forward_length":              uint32(m.ff),
		"llama.attention.head_count":             uint32(m.heads),
		"llama.attention.head_count_kv":          uint32(m.kvHeads),
		"llama.rope.freq_base":                   float32(10000),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
	}
	if m.experts > 0 {
		meta["llama.expert_count"] = uint32(m.experts)
		meta["llama.expert_used_count"] = uint32(m.used)
		if m.sharedFF > 0 {
			meta["llama.expert_shared_feed_forward_length"] = uint32(m.sharedFF)
		}
	}
	var buf bytes.Buffer
	if err := formats.WriteGGUF(&buf, meta, infos); err != nil {
		t.Fatal(err)
	}
	g, err := formats.ParseGGUF(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return g, ws
}

// refForward is the plain twin of State.Forward over a whole sequence: every
// op a loop over float64, attention materialised per head, the MoE routed
// token by token through each chosen expert. It returns the last row's logits.
func (m tinyLlama) refForward(ws map[string][]float32, tokens []int) []float64 {
	hd, kvw := m.dim/m.heads, m.kvHeads*(m.dim/m.heads)
	seq := len(tokens)
	matvec := func(w []float32, x []float64, rows, cols int) []float64 {
		y := make([]float64, rows)
		for i := range y {
			for j := 0; j < cols; j++ {
				y[i] += float64(w[i*cols+j]) * x[j]
			}
		}
		return y
	}
	rms := func(x []float64, w []float32) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+1e-5)
		out := make([]float64, len(x))
		for i := range x {
			out[i] = x[i] * inv * float64(w[i])
		}
		return out
	}
	rope := func(v []float64, pos int) {
		for h := 0; h < len(v)/hd; h++ {
			for i := 0; i < hd/2; i++ {
				a := float64(pos) * math.Pow(10000, -float64(2*i)/float64(hd))
				x0, x1 := v[h*hd+2*i], v[h*hd+2*i+1]
				v[h*hd+2*i] = x0*math.Cos(a) - x1*math.Sin(a)
				v[h*hd+2*i+1] = x0*math.Sin(a) + x1*math.Cos(a)
			}
		}
	}
	silu := func(v float64) float64 { return v / (1 + math.Exp(-v)) }
	swiglu := func(x []float64, g, u, d []float32, ff int) []float64 {
		gv, uv := matvec(g, x, ff, m.dim), matvec(u, x, ff, m.dim)
		for i := range gv {
			gv[i] = silu(gv[i]) * uv[i]
		}
		return matvec(d, gv, m.dim, ff)
	}
	xs := make([][]float64, seq)
	for s, id := range tokens {
		xs[s] = make([]float64, m.dim)
		for j := range xs[s] {
			xs[s][j] = float64(ws["token_embd.weight"][id*m.dim+j])
		}
	}
	for l := 0; l < m.layers; l++ {
		p := "blk." + string(rune('0'+l)) + "."
		ks, vs, qs := make([][]float64, seq), make([][]float64, seq), make([][]float64, seq)
		for s := range xs {
			h := rms(xs[s], ws[p+"attn_norm.weight"])
			qs[s] = matvec(ws[p+"attn_q.weight"], h, m.dim, m.dim)
			ks[s] = matvec(ws[p+"attn_k.weight"], h, kvw, m.dim)
			vs[s] = matvec(ws[p+"attn_v.weight"], h, kvw, m.dim)
			rope(qs[s], s)
			rope(ks[s], s)
		}
		for s := range xs {
			att := make([]float64, m.dim)
			for h := 0; h < m.heads; h++ {
				kh := h / (m.heads / m.kvHeads)
				sc := make([]float64, s+1)
				mx := math.Inf(-1)
				for j := 0; j <= s; j++ {
					for d := 0; d < hd; d++ {
						sc[j] += qs[s][h*hd+d] * ks[j][kh*hd+d]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var sum float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for d := 0; d < hd; d++ {
						att[h*hd+d] += sc[j] / sum * vs[j][kh*hd+d]
					}
				}
			}
			o := matvec(ws[p+"attn_output.weight"], att, m.dim, m.dim)
			for j := range o {
				xs[s][j] += o[j]
			}
		}
		for s := range xs {
			h := rms(xs[s], ws[p+"ffn_norm.weight"])
			var y []float64
			if m.experts == 0 {
				y = swiglu(h, ws[p+"ffn_gate.weight"], ws[p+"ffn_up.weight"], ws[p+"ffn_down.weight"], m.ff)
			} else {
				logits := matvec(ws[p+"ffn_gate_inp.weight"], h, m.experts, m.dim)
				mx := math.Inf(-1)
				for _, v := range logits {
					mx = math.Max(mx, v)
				}
				probs := make([]float64, m.experts)
				var sum float64
				for e, v := range logits {
					probs[e] = math.Exp(v - mx)
					sum += probs[e]
				}
				chosen := map[int]bool{}
				var wsum float64
				var picks []int
				for k := 0; k < m.used; k++ {
					best := -1
					for e := range probs {
						if !chosen[e] && (best < 0 || probs[e] > probs[best]) {
							best = e
						}
					}
					chosen[best] = true
					picks = append(picks, best)
					wsum += probs[best]
				}
				y = make([]float64, m.dim)
				per, perD := m.ff*m.dim, m.dim*m.ff
				for _, e := range picks {
					ye := swiglu(h, ws[p+"ffn_gate_exps.weight"][e*per:(e+1)*per], ws[p+"ffn_up_exps.weight"][e*per:(e+1)*per],
						ws[p+"ffn_down_exps.weight"][e*perD:(e+1)*perD], m.ff)
					for j := range y {
						y[j] += probs[e] / wsum * ye[j]
					}
				}
				if m.sharedFF > 0 {
					ys := swiglu(h, ws[p+"ffn_gate_shexp.weight"], ws[p+"ffn_up_shexp.weight"], ws[p+"ffn_down_shexp.weight"], m.sharedFF)
					for j := range y {
						y[j] += ys[j]
					}
				}
			}
			for j := range y {
				xs[s][j] += y[j]
			}
		}
	}
	h := rms(xs[seq-1], ws["output_norm.weight"])
	return matvec(ws["output.weight"], h, m.vocab, m.dim)
}

func TestDecoderMatchesReference(t *testing.T) {
	cases := []struct {
		name string
		m    tinyLlama
	}{
		{"dense", tinyLlama{dim: 32, layers: 2, heads: 4, kvHeads: 2, ff: 48, vocab: 40}},
		{"moe", tinyLlama{dim: 32, layers: 2, heads: 4, kvHeads: 2, ff: 24, vocab: 40, experts: 4, used: 2}},
		{"moe+shared", tinyLlama{dim: 32, layers: 2, heads: 4, kvHeads: 1, ff: 16, vocab: 40, experts: 6, used: 2, sharedFF: 20}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, ws := c.m.build(t, int64(i+1))
			d, err := LoadDecoder(g)
			if err != nil {
				t.Fatal(err)
			}
			d.KVF32 = true // the reference keeps float32 keys and values (the f16 cache: below)
			if (d.Blocks[0].MoE != nil) != (c.m.experts > 0) {
				t.Fatalf("MoE block bound %v for %d experts", d.Blocks[0].MoE != nil, c.m.experts)
			}
			if c.m.experts > 0 && (d.Config.Experts != c.m.experts || d.Config.ExpertsUse != c.m.used || !d.Config.ExpertNorm) {
				t.Fatalf("config %+v", d.Config)
			}
			tokens := []int{3, 17, 5, 39, 0, 22, 8}
			want := c.m.refForward(ws, tokens)
			tol := 1e-9
			check := func(mode string, got []float32) {
				t.Helper()
				g64 := make([]float32, len(want))
				w32 := make([]float32, len(want))
				for j := range want {
					g64[j], w32[j] = got[j], float32(want[j])
				}
				var num, den float64
				for j := range want {
					num += (float64(got[j]) - want[j]) * (float64(got[j]) - want[j])
					den += want[j] * want[j]
				}
				if num/den > tol || math.IsNaN(num) {
					t.Fatalf("%s: normalised MSE %g against the reference\n got %v\nwant %v", mode, num/den, g64[:6], w32[:6])
				}
			}
			st := d.NewState(0)
			logits, err := st.Forward(tokens, 0)
			if err != nil {
				t.Fatal(err)
			}
			check("prefill", logits)
			st = d.NewState(0)
			if _, err = st.Forward(tokens[:4], 0); err != nil {
				t.Fatal(err)
			}
			for j := 4; j < len(tokens); j++ {
				if logits, err = st.Forward(tokens[j:j+1], j); err != nil {
					t.Fatal(err)
				}
			}
			check("prefill+decode", logits)
			// A prefill whose MoE blocks route the tokens in chunks of 3.
			defer func(n int) { moeChunk = n }(moeChunk)
			moeChunk = 3
			if logits, err = d.NewState(0).Forward(tokens, 0); err != nil {
				t.Fatal(err)
			}
			check("prefill, MoE in chunks of 3 tokens", logits)
			// The default f16 cache: keys and values rounded to halves move
			// these logits by a normalised MSE of 1.6e-9 to 9.3e-9.
			d.KVF32, tol = false, 1e-7
			if logits, err = d.NewState(0).Forward(tokens, 0); err != nil {
				t.Fatal(err)
			}
			check("prefill, f16 cache", logits)
		})
	}
}

// A missing expert tensor or a wrong shape is a load error naming it.
func TestLoadDecoderReportsMissingTensors(t *testing.T) {
	m := tinyLlama{dim: 16, layers: 1, heads: 2, kvHeads: 2, ff: 8, vocab: 10, experts: 2, used: 3}
	g, _ := m.build(t, 9)
	if _, err := LoadDecoder(g); err == nil {
		t.Fatal("3 of 2 experts per token accepted")
	}
}
