package formats

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

// stTensor is one tensor for writeSafetensors.
type stTensor struct {
	name  string
	dtype string
	shape []int
	data  []byte
}

// safetensorsBytes builds a safetensors file (header padded to 8 bytes as
// Hugging Face's writer does).
func safetensorsBytes(ts []stTensor, meta map[string]string) []byte {
	hdr := map[string]any{}
	if meta != nil {
		hdr["__metadata__"] = meta
	}
	var body []byte
	for _, t := range ts {
		hdr[t.name] = map[string]any{"dtype": t.dtype, "shape": t.shape, "data_offsets": []int{len(body), len(body) + len(t.data)}}
		body = append(body, t.data...)
	}
	j, _ := json.Marshal(hdr)
	for len(j)%8 != 0 {
		j = append(j, ' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(j)))
	out = append(out, j...)
	return append(out, body...)
}

func rawSafetensors(header string, body []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, body...)
}

func TestSafetensorsSingleFile(t *testing.T) {
	ts := []stTensor{
		{"a.weight", "F32", []int{2, 2}, f32Bytes(1, 2, 3, 4)},
		{"b", "F16", []int{3}, []byte{0, 0x3c, 0, 0x40, 0, 0xc0}},
		{"c", "BF16", []int{1, 1}, []byte{0x80, 0x3f}},
		{"empty", "F32", []int{0}, nil},
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(path, safetensorsBytes(ts, map[string]string{"format": "pt"}), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want := map[string]kernels.DType{"a.weight": kernels.F32, "b": kernels.F16, "c": kernels.BF16, "empty": kernels.F32}
	for _, tt := range ts {
		in, err := src.Info(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if in.Type != want[tt.name] || !reflect.DeepEqual(in.Shape, tt.shape) || !bytes.Equal(in.Data, tt.data) {
			t.Errorf("%s: %v %v %v", tt.name, in.Type, in.Shape, in.Data)
		}
	}
	if v, _ := src.Meta().String("safetensors.format"); v != "pt" {
		t.Errorf("metadata %v", src.Meta())
	}
}

func TestSafetensorsRejects(t *testing.T) {
	body := make([]byte, 16)
	cases := map[string][]byte{
		"short":      {1, 2, 3},
		"hugeheader": binary.LittleEndian.AppendUint64(nil, 1<<62),
		"headerpast": rawSafetensors(`{}`, nil)[:9],
		"badjson":    rawSafetensors(`{"a":`, body),
		"baddtype":   rawSafetensors(`{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}`, body),
		"outofrange": rawSafetensors(`{"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}`, body),
		"sizewrong":  rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}}`, body),
		"reversed":   rawSafetensors(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}`, body),
		"negative":   rawSafetensors(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, body),
		"overflow":   rawSafetensors(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}`, body),
		"overlap": rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},`+
			`"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, body),
		"offsets3": rawSafetensors(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, body),
	}
	for name, b := range cases {
		if _, _, err := ParseSafetensors(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
}

// writeHFFolder writes config.json, optional extra files and the tensors
// split over nShards shards with an index when nShards > 1.
func writeHFFolder(t *testing.T, config string, ts []stTensor, nShards int, extra map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-hf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"config.json": config}
	for k, v := range extra {
		files[k] = v
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if nShards == 1 {
		if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), safetensorsBytes(ts, nil), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	weightMap := map[string]string{}
	for s := 0; s < nShards; s++ {
		var part []stTensor
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, nShards)
		for i, tt := range ts {
			if i%nShards == s {
				part = append(part, tt)
				weightMap[tt.name] = name
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), safetensorsBytes(part, nil), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 0}, "weight_map": weightMap})
	if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// seqF32 is n float32 values start, start+1, … as bytes.
func seqF32(start float32, n int) []byte {
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = start + float32(i)
	}
	return f32Bytes(xs...)
}

func TestHFQwen2ShardedFolder(t *testing.T) {
	// hidden 4, 2 heads, 1 kv head (head_dim 2), ffn 6, 1 layer, vocab 5.
	config := `{"architectures":["Qwen2ForCausalLM"],"hidden_size":4,"intermediate_size":6,"num_hidden_layers":1,
	"num_attention_heads":2,"num_key_value_heads":1,"rms_norm_eps":1e-6,"rope_theta":1000000.0,
	"max_position_embeddings":32,"vocab_size":5,"tie_word_embeddings":true,"bos_token_id":3,"eos_token_id":[4,2]}`
	ts := []stTensor{
		{"model.embed_tokens.weight", "F32", []int{5, 4}, seqF32(0, 20)},
		{"model.layers.0.input_layernorm.weight", "F32", []int{4}, seqF32(100, 4)},
		{"model.layers.0.self_attn.q_proj.weight", "F32", []int{4, 4}, seqF32(200, 16)},
		{"model.layers.0.self_attn.q_proj.bias", "F32", []int{4}, seqF32(300, 4)},
		{"model.layers.0.self_attn.k_proj.weight", "F32", []int{2, 4}, seqF32(400, 8)},
		{"model.layers.0.self_attn.k_proj.bias", "F32", []int{2}, seqF32(500, 2)},
		{"model.layers.0.self_attn.v_proj.weight", "BF16", []int{2, 4}, make([]byte, 16)},
		{"model.layers.0.self_attn.v_proj.bias", "F32", []int{2}, seqF32(600, 2)},
		{"model.layers.0.self_attn.o_proj.weight", "F16", []int{4, 4}, make([]byte, 32)},
		{"model.layers.0.post_attention_layernorm.weight", "F32", []int{4}, seqF32(700, 4)},
		{"model.layers.0.mlp.gate_proj.weight", "F32", []int{6, 4}, seqF32(800, 24)},
		{"model.layers.0.mlp.up_proj.weight", "F32", []int{6, 4}, seqF32(900, 24)},
		{"model.layers.0.mlp.down_proj.weight", "F32", []int{4, 6}, seqF32(1000, 24)},
		{"model.norm.weight", "F32", []int{4}, seqF32(1100, 4)},
	}
	dir := writeHFFolder(t, config, ts, 3, map[string]string{
		"tokenizer.json":        `{}`,
		"tokenizer_config.json": `{"chat_template":"{% for m in messages %}<|im_start|>{{m.role}}{% endfor %}","add_bos_token":false}`,
	})
	src, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	wantNames := []string{"blk.0.attn_k.bias", "blk.0.attn_k.weight", "blk.0.attn_norm.weight", "blk.0.attn_output.weight",
		"blk.0.attn_q.bias", "blk.0.attn_q.weight", "blk.0.attn_v.bias", "blk.0.attn_v.weight", "blk.0.ffn_down.weight",
		"blk.0.ffn_gate.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_up.weight", "output_norm.weight", "token_embd.weight"}
	if got := src.Names(); !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("names %v", got)
	}
	for _, tt := range ts {
		g, _ := hfToGGUF(tt.name)
		in, err := src.Info(g)
		if err != nil || !bytes.Equal(in.Data, tt.data) || !reflect.DeepEqual(in.Shape, tt.shape) {
			t.Errorf("%s → %s: %v", tt.name, g, err)
		}
	}
	m := src.Meta()
	checks := map[string]any{
		"general.architecture": "qwen2", "general.name": "tiny-hf", "loom.rope.neox": true,
		"qwen2.embedding_length": uint32(4), "qwen2.block_count": uint32(1), "qwen2.attention.head_count_kv": uint32(1),
		"qwen2.rope.freq_base": float32(1e6), "qwen2.rope.dimension_count": uint32(2), "qwen2.context_length": uint32(32),
		"qwen2.feed_forward_length": uint32(6), "loom.tie_word_embeddings": true,
		"tokenizer.ggml.bos_token_id": uint32(3), "tokenizer.ggml.eos_token_id": uint32(4), "loom.eos_token_ids": []int32{4, 2},
		"tokenizer.chat_template":      "{% for m in messages %}<|im_start|>{{m.role}}{% endfor %}",
		"tokenizer.ggml.add_bos_token": false,
		KeyTokenizerPath:               filepath.Join(dir, "tokenizer.json"),
	}
	for k, v := range checks {
		if !reflect.DeepEqual(m[k], v) {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
}

func TestHFMixtralExpertsStacked(t *testing.T) {
	config := `{"architectures":["MixtralForCausalLM"],"hidden_size":4,"intermediate_size":3,"num_hidden_layers":1,
	"num_attention_heads":2,"vocab_size":5,"num_local_experts":2,"num_experts_per_tok":1}`
	ts := []stTensor{
		{"model.layers.0.block_sparse_moe.gate.weight", "F32", []int{2, 4}, seqF32(0, 8)},
		{"model.layers.0.block_sparse_moe.experts.1.w1.weight", "F32", []int{3, 4}, seqF32(112, 12)},
		{"model.layers.0.block_sparse_moe.experts.0.w1.weight", "F32", []int{3, 4}, seqF32(100, 12)},
		{"model.layers.0.block_sparse_moe.experts.0.w2.weight", "F32", []int{4, 3}, seqF32(200, 12)},
		{"model.layers.0.block_sparse_moe.experts.1.w2.weight", "F32", []int{4, 3}, seqF32(212, 12)},
		{"model.layers.0.block_sparse_moe.experts.0.w3.weight", "F32", []int{3, 4}, seqF32(300, 12)},
		{"model.layers.0.block_sparse_moe.experts.1.w3.weight", "F32", []int{3, 4}, seqF32(312, 12)},
		{"lm_head.weight", "F32", []int{5, 4}, seqF32(0, 20)},
	}
	dir := writeHFFolder(t, config, ts, 2, nil)
	src, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for name, want := range map[string]struct {
		shape []int
		start float32
	}{
		"blk.0.ffn_gate_exps.weight": {[]int{2, 3, 4}, 100},
		"blk.0.ffn_down_exps.weight": {[]int{2, 4, 3}, 200},
		"blk.0.ffn_up_exps.weight":   {[]int{2, 3, 4}, 300},
		"blk.0.ffn_gate_inp.weight":  {[]int{2, 4}, 0},
		"output.weight":              {[]int{5, 4}, 0},
	} {
		in, err := src.Info(name)
		if err != nil {
			t.Fatal(err)
		}
		n := in.Elements()
		if !reflect.DeepEqual(in.Shape, want.shape) || !bytes.Equal(in.Data, seqF32(want.start, n)) {
			t.Errorf("%s: shape %v data %v", name, in.Shape, in.Data[:8])
		}
	}
	if src.Meta().Arch() != "llama" || src.Meta().IntOr("llama.expert_count", 0) != 2 || src.Meta().IntOr("llama.expert_used_count", 0) != 1 {
		t.Errorf("meta %v", src.Meta())
	}
	// An expert missing from the files is an error, not a short tensor.
	ts = append(ts[:1], ts[2:]...)
	if _, err := Open(writeHFFolder(t, config, ts, 1, nil)); err == nil {
		t.Error("missing expert accepted")
	}
}

func TestHFNameMapping(t *testing.T) {
	cases := map[string]string{
		"model.layers.12.self_attn.o_proj.weight":         "blk.12.attn_output.weight",
		"model.layers.3.mlp.down_proj.weight":             "blk.3.ffn_down.weight",
		"model.layers.3.mlp.shared_expert.up_proj.weight": "blk.3.ffn_up_shexp.weight",
		"model.layers.x.mlp.down_proj.weight":             "model.layers.x.mlp.down_proj.weight",
		"model.layers.+3.mlp.down_proj.weight":            "model.layers.+3.mlp.down_proj.weight",
		"vision_tower.something":                          "vision_tower.something",
	}
	for in, want := range cases {
		if got, _ := hfToGGUF(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
	if g, e := hfToGGUF("model.layers.0.mlp.experts.7.gate_proj.weight"); g != "blk.0.ffn_gate_exps.weight" || e != 7 {
		t.Errorf("qwen moe expert → %s %d", g, e)
	}
	if _, err := hfConfigMeta([]byte(`{"architectures":["GPTNeoXForCausalLM"]}`)); err == nil {
		t.Error("unsupported arch accepted")
	}
}

func FuzzSafetensors(f *testing.F) {
	f.Add(safetensorsBytes([]stTensor{{"a", "F32", []int{2}, f32Bytes(1, 2)}, {"b", "BF16", []int{1}, []byte{1, 2}}}, map[string]string{"k": "v"}))
	f.Add(rawSafetensors(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 16)))
	f.Fuzz(func(t *testing.T, b []byte) {
		infos, _, err := ParseSafetensors(b)
		if err != nil {
			return
		}
		type span struct{ lo, hi int }
		var spans []span
		for _, in := range infos {
			size, err := dataSize(in.Type, in.Shape, 1<<62)
			if err != nil || size != int64(len(in.Data)) {
				t.Fatalf("%s: %d bytes for %v", in.Name, len(in.Data), in.Shape)
			}
			if len(in.Data) > 0 {
				lo := int(uintptrOf(in.Data) - uintptrOf(b))
				spans = append(spans, span{lo, lo + len(in.Data)})
			}
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
		for i := 1; i < len(spans); i++ {
			if spans[i].lo < spans[i-1].hi {
				t.Fatal("overlapping tensors accepted")
			}
		}
	})
}

func TestHFConfigArchitectures(t *testing.T) {
	for arch, want := range map[string]string{"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "MixtralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"} {
		m, err := hfConfigMeta([]byte(`{"architectures":["` + arch + `"],"hidden_size":8,"num_hidden_layers":2,"num_attention_heads":2,"vocab_size":10,"sliding_window":4096,"use_sliding_window":false}`))
		if err != nil {
			t.Fatal(err)
		}
		if m.Arch() != want || m.IntOr(want+".attention.head_count_kv", 0) != 2 || m.FloatOr(want+".rope.freq_base", 0) != 10000 ||
			m.IntOr(want+".rope.dimension_count", 0) != 4 {
			t.Errorf("%s: %v", arch, m)
		}
		if _, ok := m["loom.sliding_window"]; ok {
			t.Errorf("%s: unused sliding window recorded", arch)
		}
	}
	m, _ := hfConfigMeta([]byte(`{"architectures":["MistralForCausalLM"],"hidden_size":8,"num_hidden_layers":2,"num_attention_heads":2,"vocab_size":10,"sliding_window":4096,"rope_scaling":{"rope_type":"llama3","factor":8.0}}`))
	if m.IntOr("loom.sliding_window", 0) != 4096 || m["llama.rope.scaling.type"] != "llama3" || m.FloatOr("llama.rope.scaling.factor", 0) != 8 {
		t.Errorf("mistral: %v", m)
	}
}
