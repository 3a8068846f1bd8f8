// Command mkarch writes a tiny random-weight GGUF of one of the
// non-Llama architectures Loom runs — mamba, rwkv6, deepseek2 — with
// llama.cpp's tensor and metadata names, for the fixtures that check Loom
// against llama.cpp (tools/ggmlref/make-fixtures.sh runs llama.cpp on
// them). Matrices are N(0, 1/in) so activations stay O(1) and the logits
// spread (greedy tokens are then far from ties); other tensors get values
// in the ranges a trained model has (Mamba's A negative, norms near 1).
// -type q8_0 stores every matrix whose rows fit q8_0's 32-wide blocks as
// q8_0 (llama-quantize's choice for these architectures); small or 1-D
// tensors stay f32. The file says tokenizer.ggml.model = "no_vocab".
//
//	go run ./tools/mkarch -arch mamba -type q8_0 -out /tmp/mamba-q8_0.gguf
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"os"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

func main() {
	arch := flag.String("arch", "mamba", "architecture: mamba, mamba2, rwkv6 or deepseek2")
	typ := flag.String("type", "f32", "matrix storage: f32 or q8_0")
	out := flag.String("out", "", "output file (default /tmp/ARCH-TYPE.gguf)")
	seed := flag.Int64("seed", 1, "weight seed")
	yarn := flag.Bool("yarn", false, "deepseek2: YaRN rope scaling (factor 4 over an original context of 64, DeepSeek-V2's yarn_log_multiplier 0.0707)")
	bench := flag.Bool("bench", false, "a ~100M-parameter model of the architecture (width 768, vocabulary 32000) for loom bench generate and llama-bench, instead of the tiny fixture")
	flag.Parse()
	if *out == "" {
		*out = fmt.Sprintf("/tmp/%s-%s.gguf", *arch, *typ)
	}
	if err := run(*arch, *typ, *out, *seed, *yarn, *bench); err != nil {
		fmt.Fprintln(os.Stderr, "mkarch:", err)
		os.Exit(1)
	}
}

// model collects a file's tensors and metadata.
type model struct {
	r      *rand.Rand
	typ    kernels.DType
	infos  []*formats.Info
	meta   formats.Metadata
	params int
	yarn   bool // deepseek2: YaRN rope scaling
	bench  bool // the ~100M shape instead of the fixture's
}

// pick returns the fixture's value, or the ~100M benchmark shape's.
func (m *model) pick(tiny, bench int) int {
	if m.bench {
		return bench
	}
	return tiny
}

// f32 adds a tensor of values (shape outermost first) stored as f32.
func (m *model) f32(name string, v []float32, shape ...int) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	m.infos = append(m.infos, &formats.Info{Name: name, Type: kernels.F32, Shape: shape, Data: b})
	m.params += len(v)
}

// fill returns n values from f.
func (m *model) fill(n int, f func() float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(f())
	}
	return v
}

// normal returns n values N(mean, std²).
func (m *model) normal(n int, mean, std float64) []float32 {
	return m.fill(n, func() float64 { return mean + std*m.r.NormFloat64() })
}

// vec adds a 1-D f32 tensor N(mean, std²).
func (m *model) vec(name string, n int, mean, std float64) {
	m.f32(name, m.normal(n, mean, std), n)
}

// mat adds a (rows, cols) matrix N(0, 1/cols), in the model's type when
// its rows fit the type's blocks (else f32).
func (m *model) mat(name string, rows, cols int) error {
	return m.matStd(name, rows, cols, 1/math.Sqrt(float64(cols)))
}

func (m *model) matStd(name string, rows, cols int, std float64) error {
	return m.stack(name, 0, rows, cols, std)
}

// stack adds n matrices (rows, cols) as one (n, rows, cols) tensor (n = 0:
// one 2-D matrix).
func (m *model) stack(name string, n, rows, cols int, std float64) error {
	v := m.normal(max(n, 1)*rows*cols, 0, std)
	shape := []int{rows, cols}
	if n > 0 {
		shape = []int{n, rows, cols}
	}
	t := m.typ
	if cols%t.BlockSize() != 0 {
		t = kernels.F32
	}
	if t == kernels.F32 {
		m.f32(name, v, shape...)
		return nil
	}
	rb, err := t.RowBytes(cols)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	b := make([]byte, max(n, 1)*rows*rb)
	if err := t.Quantize(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m.infos = append(m.infos, &formats.Info{Name: name, Type: t, Shape: shape, Data: b})
	m.params += len(v)
	return nil
}

func run(arch, typ, out string, seed int64, yarn, bench bool) error {
	t, err := kernels.ParseDType(typ)
	if err != nil || t != kernels.F32 && t != kernels.Q8_0 {
		return fmt.Errorf("type %q: want f32 or q8_0", typ)
	}
	m := &model{r: rand.New(rand.NewSource(seed)), typ: t, yarn: yarn, bench: bench, meta: formats.Metadata{
		"general.architecture": arch,
		"general.name":         fmt.Sprintf("random-%s-%s", arch, typ),
		"tokenizer.ggml.model": "no_vocab", // llama.cpp: vocab_size dummy tokens
	}}
	build, ok := archs[arch]
	if !ok {
		return fmt.Errorf("architecture %q: want mamba, mamba2, rwkv6 or deepseek2", arch)
	}
	if err := build(m); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := formats.WriteGGUF(f, m.meta, m.infos); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("%s: %s, %d parameters, %s\n", out, arch, m.params, typ)
	return nil
}

var archs = map[string]func(*model) error{
	"mamba":     mamba,
	"rwkv6":     rwkv6,
	"deepseek2": deepseek2,
	"mamba2":    mamba2,
}

// mamba is a 2-block Mamba-1 of width 64 (inner 128, state 16, d_conv 4,
// dt_rank 4), vocabulary 256 (-bench: 16 blocks of width 768, inner 1536,
// dt_rank 48, vocabulary 32000: 109M, Mamba-130M's blocks). The output is its own matrix: tied to the
// random embedding, the residual stream would make every token predict
// itself and the greedy continuation would repeat one token.
func mamba(m *model) error {
	dim, layers, vocab, inner, dtRank := m.pick(64, 768), m.pick(2, 16), m.pick(256, 32000), m.pick(128, 1536), m.pick(4, 48)
	const state, convK = 16, 4
	m.meta["mamba.context_length"] = uint32(1024)
	m.meta["mamba.embedding_length"] = uint32(dim)
	m.meta["mamba.block_count"] = uint32(layers)
	m.meta["mamba.feed_forward_length"] = uint32(0)
	m.meta["mamba.attention.head_count"] = uint32(0)
	m.meta["mamba.attention.layer_norm_rms_epsilon"] = float32(1e-5)
	m.meta["mamba.ssm.conv_kernel"] = uint32(convK)
	m.meta["mamba.ssm.inner_size"] = uint32(inner)
	m.meta["mamba.ssm.state_size"] = uint32(state)
	m.meta["mamba.ssm.time_step_rank"] = uint32(dtRank)
	m.meta["mamba.vocab_size"] = uint32(vocab)
	if err := m.matStd("token_embd.weight", vocab, dim, 1); err != nil {
		return err
	}
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		m.vec(p+"attn_norm.weight", dim, 1, 0.1)
		if err := m.mat(p+"ssm_in.weight", 2*inner, dim); err != nil {
			return err
		}
		m.f32(p+"ssm_conv1d.weight", m.normal(inner*convK, 0, 0.5), inner, convK)
		m.vec(p+"ssm_conv1d.bias", inner, 0, 0.1)
		if err := m.mat(p+"ssm_x.weight", dtRank+2*state, inner); err != nil {
			return err
		}
		if err := m.mat(p+"ssm_dt.weight", inner, dtRank); err != nil {
			return err
		}
		m.vec(p+"ssm_dt.bias", inner, -1, 0.5)
		// A = −exp(A_log), A_log = log(1…state) as Mamba initialises it, jittered.
		a := make([]float32, inner*state)
		for i := range a {
			a[i] = -float32(float64(i%state+1) * math.Exp(0.1*m.r.NormFloat64()))
		}
		m.f32(p+"ssm_a", a, inner, state)
		m.vec(p+"ssm_d", inner, 1, 0.1)
		if err := m.mat(p+"ssm_out.weight", dim, inner); err != nil {
			return err
		}
	}
	m.vec("output_norm.weight", dim, 1, 0.1)
	return m.mat("output.weight", vocab, dim)
}

// uniform returns n values uniform in [lo, hi).
func (m *model) uniform(n int, lo, hi float64) []float32 {
	return m.fill(n, func() float64 { return lo + (hi-lo)*m.r.Float64() })
}

// rwkv6 is a 2-block RWKV-6 of width 64 (4 heads of 16, ff 224, ddlerp
// rank 8, decay rank 16), vocabulary 256 (-bench: 8 blocks of width 768,
// 12 heads of 64, ff 2688, ranks 32 and 64, vocabulary 32000: 110M).
func rwkv6(m *model) error {
	dim, layers, vocab, head, ff := m.pick(64, 768), m.pick(2, 8), m.pick(256, 32000), m.pick(16, 64), m.pick(224, 2688)
	extra, dextra := m.pick(8, 32), m.pick(16, 64)
	for k, v := range map[string]any{
		"context_length": uint32(1024), "embedding_length": uint32(dim), "block_count": uint32(layers),
		"feed_forward_length": uint32(ff), "attention.head_count": uint32(0),
		"attention.layer_norm_epsilon": float32(1e-5), "wkv.head_size": uint32(head),
		"time_mix_extra_dim": uint32(extra), "time_decay_extra_dim": uint32(dextra),
		"rescale_every_n_layers": uint32(0), "token_shift_count": uint32(2), "vocab_size": uint32(vocab),
	} {
		m.meta["rwkv6."+k] = v
	}
	ln := func(name string) {
		m.vec(name+".weight", dim, 1, 0.1)
		m.vec(name+".bias", dim, 0, 0.1)
	}
	if err := m.matStd("token_embd.weight", vocab, dim, 1); err != nil {
		return err
	}
	ln("token_embd_norm")
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ln(p + "attn_norm")
		ln(p + "attn_norm_2")
		m.f32(p+"time_mix_lerp_x.weight", m.uniform(dim, 0, 1), 1, 1, dim)
		m.f32(p+"time_mix_lerp_fused.weight", m.uniform(5*dim, 0, 1), 5, 1, 1, dim)
		if err := m.matStd(p+"time_mix_w1.weight", 5*extra, dim, 0.5/math.Sqrt(float64(dim))); err != nil {
			return err
		}
		if err := m.stack(p+"time_mix_w2.weight", 5, dim, extra, 0.5/math.Sqrt(float64(extra))); err != nil {
			return err
		}
		m.f32(p+"time_mix_first.weight", m.normal(dim, 0, 0.5), dim/head, head)
		m.vec(p+"time_mix_decay.weight", dim, -1, 0.7)
		if err := m.matStd(p+"time_mix_decay_w1.weight", dextra, dim, 0.5/math.Sqrt(float64(dim))); err != nil {
			return err
		}
		if err := m.matStd(p+"time_mix_decay_w2.weight", dim, dextra, 0.5/math.Sqrt(float64(dextra))); err != nil {
			return err
		}
		for _, n := range []string{"key", "value", "receptance", "gate", "output"} {
			if err := m.mat(p+"time_mix_"+n+".weight", dim, dim); err != nil {
				return err
			}
		}
		ln(p + "time_mix_ln")
		m.f32(p+"channel_mix_lerp_k.weight", m.uniform(dim, 0, 1), 1, 1, dim)
		m.f32(p+"channel_mix_lerp_r.weight", m.uniform(dim, 0, 1), 1, 1, dim)
		if err := m.mat(p+"channel_mix_key.weight", ff, dim); err != nil {
			return err
		}
		if err := m.mat(p+"channel_mix_value.weight", dim, ff); err != nil {
			return err
		}
		if err := m.mat(p+"channel_mix_receptance.weight", dim, dim); err != nil {
			return err
		}
	}
	ln("output_norm")
	return m.mat("output.weight", vocab, dim)
}

// tensorSpec is n stacked (rows, c) matrices (n = 0: one 2-D matrix).
type tensorSpec struct {
	name       string
	n, rows, c int
}

// deepseek2 is a 2-block DeepSeek-V3-style model of width 64: MLA with 4
// heads (q_lora 32, kv_lora 32, nope 16 + rope 16, values 16), block 0 a
// dense SwiGLU of 128, block 1 an MoE of 8 experts of 32 in 4 groups (2
// groups used, top-2, sigmoid scores with a selection bias, renormalised,
// scaled 2.5) and one shared expert; vocabulary 256, its own output. The
// router stays f32 (llama-quantize keeps ffn_gate_inp so). -bench: 6
// blocks of width 768, 12 heads (q_lora 384, kv_lora 256, nope 64 + rope
// 32, values 64), a dense block of 2048, then MoEs of 8 experts of 512 and
// a shared one, vocabulary 32000: 120M.
func deepseek2(m *model) error {
	dim, layers, vocab, heads := m.pick(64, 768), m.pick(2, 6), m.pick(256, 32000), m.pick(4, 12)
	qLora, kvLora, nope, rope, vDim := m.pick(32, 384), m.pick(32, 256), m.pick(16, 64), m.pick(16, 32), m.pick(16, 64)
	ff, expFF := m.pick(128, 2048), m.pick(32, 512)
	const experts, used, groups, groupsUsed = 8, 2, 4, 2
	for k, v := range map[string]any{
		"context_length": uint32(1024), "embedding_length": uint32(dim), "block_count": uint32(layers),
		"feed_forward_length": uint32(ff), "leading_dense_block_count": uint32(1),
		"attention.head_count": uint32(heads), "attention.head_count_kv": uint32(1),
		"attention.key_length": uint32(kvLora + rope), "attention.value_length": uint32(kvLora),
		"attention.key_length_mla": uint32(nope + rope), "attention.value_length_mla": uint32(vDim),
		"attention.q_lora_rank": uint32(qLora), "attention.kv_lora_rank": uint32(kvLora),
		"attention.layer_norm_rms_epsilon": float32(1e-6), "rope.dimension_count": uint32(rope),
		"rope.freq_base": float32(10000), "expert_count": uint32(experts), "expert_used_count": uint32(used),
		"expert_feed_forward_length": uint32(expFF), "expert_shared_count": uint32(1),
		"expert_weights_scale": float32(2.5), "expert_weights_norm": true, "expert_gating_func": uint32(2),
		"expert_group_count": uint32(groups), "expert_group_used_count": uint32(groupsUsed), "vocab_size": uint32(vocab),
	} {
		m.meta["deepseek2."+k] = v
	}
	if m.yarn {
		m.meta["deepseek2.rope.scaling.type"] = "yarn"
		m.meta["deepseek2.rope.scaling.factor"] = float32(4)
		m.meta["deepseek2.rope.scaling.original_context_length"] = uint32(64)
		m.meta["deepseek2.rope.scaling.yarn_log_multiplier"] = float32(0.0707)
	}
	if err := m.matStd("token_embd.weight", vocab, dim, 1); err != nil {
		return err
	}
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		m.vec(p+"attn_norm.weight", dim, 1, 0.1)
		m.vec(p+"attn_q_a_norm.weight", qLora, 1, 0.1)
		m.vec(p+"attn_kv_a_norm.weight", kvLora, 1, 0.1)
		m.vec(p+"ffn_norm.weight", dim, 1, 0.1)
		mats := []tensorSpec{
			{"attn_q_a.weight", 0, qLora, dim}, {"attn_q_b.weight", 0, heads * (nope + rope), qLora},
			{"attn_kv_a_mqa.weight", 0, kvLora + rope, dim}, {"attn_k_b.weight", heads, kvLora, nope},
			{"attn_v_b.weight", heads, vDim, kvLora}, {"attn_output.weight", 0, dim, heads * vDim},
		}
		if l == 0 {
			mats = append(mats, tensorSpec{"ffn_gate.weight", 0, ff, dim}, tensorSpec{"ffn_up.weight", 0, ff, dim},
				tensorSpec{"ffn_down.weight", 0, dim, ff})
		} else {
			m.f32(p+"ffn_gate_inp.weight", m.normal(experts*dim, 0, 1/math.Sqrt(float64(dim))), experts, dim)
			m.vec(p+"exp_probs_b.bias", experts, 0, 0.05)
			mats = append(mats, []tensorSpec{
				{"ffn_gate_exps.weight", experts, expFF, dim}, {"ffn_up_exps.weight", experts, expFF, dim},
				{"ffn_down_exps.weight", experts, dim, expFF}, {"ffn_gate_shexp.weight", 0, expFF, dim},
				{"ffn_up_shexp.weight", 0, expFF, dim}, {"ffn_down_shexp.weight", 0, dim, expFF},
			}...)
		}
		for _, t := range mats {
			if err := m.stack(p+t.name, t.n, t.rows, t.c, 1/math.Sqrt(float64(t.c))); err != nil {
				return err
			}
		}
	}
	m.vec("output_norm.weight", dim, 1, 0.1)
	return m.mat("output.weight", vocab, dim)
}

// mamba2 is a 2-block Mamba-2 of width 64 (inner 128 in 8 heads of 16,
// state 16, 2 groups, d_conv 4), vocabulary 256, its own output (-bench:
// 16 blocks of width 768, inner 1536 in 24 heads of 64, state 128, one
// group, vocabulary 32000: 109M, Mamba-2-130M's blocks).
func mamba2(m *model) error {
	dim, layers, vocab, inner := m.pick(64, 768), m.pick(2, 16), m.pick(256, 32000), m.pick(128, 1536)
	state, heads, groups := m.pick(16, 128), m.pick(8, 24), m.pick(2, 1)
	const convK = 4
	xbc := inner + 2*groups*state
	for k, v := range map[string]any{
		"context_length": uint32(1024), "embedding_length": uint32(dim), "block_count": uint32(layers),
		"feed_forward_length": uint32(0), "attention.head_count": uint32(heads), // llama.cpp sizes ssm_in by it
		"attention.layer_norm_rms_epsilon": float32(1e-5), "ssm.conv_kernel": uint32(convK),
		"ssm.inner_size": uint32(inner), "ssm.state_size": uint32(state), "ssm.time_step_rank": uint32(heads),
		"ssm.group_count": uint32(groups), "vocab_size": uint32(vocab),
	} {
		m.meta["mamba2."+k] = v
	}
	if err := m.matStd("token_embd.weight", vocab, dim, 1); err != nil {
		return err
	}
	for l := 0; l < layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		m.vec(p+"attn_norm.weight", dim, 1, 0.1)
		if err := m.mat(p+"ssm_in.weight", inner+xbc+heads, dim); err != nil {
			return err
		}
		m.f32(p+"ssm_conv1d.weight", m.normal(xbc*convK, 0, 0.5), xbc, convK)
		m.vec(p+"ssm_conv1d.bias", xbc, 0, 0.1)
		m.vec(p+"ssm_dt.bias", heads, -3, 1)
		a := m.uniform(heads, 0, 2.7)
		for i := range a {
			a[i] = -float32(math.Exp(float64(a[i])))
		}
		m.f32(p+"ssm_a", a, heads, 1)
		m.f32(p+"ssm_d", m.normal(heads, 1, 0.1), heads, 1)
		m.f32(p+"ssm_norm.weight", m.normal(inner, 1, 0.1), groups, inner/groups)
		if err := m.mat(p+"ssm_out.weight", dim, inner); err != nil {
			return err
		}
	}
	m.vec("output_norm.weight", dim, 1, 0.1)
	return m.mat("output.weight", vocab, dim)
}
