package formats

// safetensors (Hugging Face): u64 little-endian header length N, N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, …,
// "__metadata__": {…}}, then the data; offsets are relative to byte 8+N.
// Hugging Face model folders hold config.json, one or more *.safetensors and,
// when sharded, model.safetensors.index.json ({"weight_map": {name: file}}).

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/loomhq/loom/core/kernels"
)

const safetensorsMaxHeader = 100 << 20 // the reference implementation's limit

var safetensorsTypes = map[string]kernels.DType{
	"F32": kernels.F32, "F16": kernels.F16, "BF16": kernels.BF16, "F64": kernels.F64,
	"I32": kernels.I32, "I16": kernels.I16, "I8": kernels.I8,
}

func looksSafetensors(head []byte) bool {
	if len(head) < 9 {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n >= 2 && n <= safetensorsMaxHeader && head[8] == '{'
}

type safetensorsEntry struct {
	DType       string  `json:"dtype"`
	Shape       []int64 `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// ParseSafetensors reads one safetensors file held in memory: tensor views
// on data (named as in the file) and the free-form __metadata__ strings.
func ParseSafetensors(data []byte) ([]*Info, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, formatErr("safetensors: %d bytes is shorter than the header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > safetensorsMaxHeader || n > uint64(len(data)-8) {
		return nil, nil, formatErr("safetensors: header of %d bytes in a %d-byte file", n, len(data))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &raw); err != nil {
		return nil, nil, formatErr("safetensors: header JSON: %v", err)
	}
	body := data[8+n:]
	var meta map[string]string
	type span struct {
		lo, hi int64
		name   string
	}
	var spans []span
	var infos []*Info
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, formatErr("safetensors: __metadata__: %v", err)
			}
			continue
		}
		var e safetensorsEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, nil, formatErr("safetensors: tensor %q: %v", name, err)
		}
		typ, ok := safetensorsTypes[e.DType]
		if !ok {
			return nil, nil, formatErr("safetensors: tensor %q: dtype %q not supported (F32, F16, BF16, F64, I32, I16, I8 are)", name, e.DType)
		}
		if len(e.DataOffsets) != 2 || e.DataOffsets[0] < 0 || e.DataOffsets[1] < e.DataOffsets[0] || e.DataOffsets[1] > int64(len(body)) {
			return nil, nil, formatErr("safetensors: tensor %q: data_offsets %v outside the %d data bytes", name, e.DataOffsets, len(body))
		}
		if len(e.Shape) > 8 {
			return nil, nil, formatErr("safetensors: tensor %q has %d dimensions", name, len(e.Shape))
		}
		shape := make([]int, len(e.Shape))
		for i, d := range e.Shape {
			if d < 0 || d > int64(len(body)) && d > 1 {
				return nil, nil, formatErr("safetensors: tensor %q: dimension %d", name, d)
			}
			shape[i] = int(d)
		}
		size, err := dataSize(typ, shape, int64(len(body)))
		if err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		lo, hi := e.DataOffsets[0], e.DataOffsets[1]
		if hi-lo != size {
			return nil, nil, formatErr("safetensors: tensor %q: %d bytes for shape %v of %s (want %d)", name, hi-lo, e.Shape, e.DType, size)
		}
		spans = append(spans, span{lo, hi, name})
		infos = append(infos, &Info{Name: name, Type: typ, Shape: shape, Data: body[lo:hi:hi]})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	for i := 1; i < len(spans); i++ {
		if spans[i].lo < spans[i-1].hi {
			return nil, nil, formatErr("safetensors: tensors %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, meta, nil
}

// SafetensorsModel is an open safetensors file or Hugging Face folder.
type SafetensorsModel struct {
	*source
	// HFNames maps each GGUF-style name back to its name in the files.
	HFNames map[string]string
}

// OpenSafetensors opens a .safetensors file (names kept as in the file) or a
// Hugging Face folder: config.json → metadata keys, HF names → GGUF names,
// shards through model.safetensors.index.json or every *.safetensors.
func OpenSafetensors(path string) (*SafetensorsModel, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open safetensors: %w", err)
	}
	m := &SafetensorsModel{source: newSource(), HFNames: map[string]string{}}
	if !st.IsDir() {
		infos, meta, err := m.mapShard(path)
		if err != nil {
			m.Close()
			return nil, err
		}
		for _, in := range infos {
			m.infos[in.Name] = in
			m.HFNames[in.Name] = in.Name
		}
		for k, v := range meta {
			m.meta["safetensors."+k] = v
		}
		return m, nil
	}
	if err := m.openFolder(path); err != nil {
		m.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return m, nil
}

func (m *SafetensorsModel) mapShard(path string) ([]*Info, map[string]string, error) {
	f, err := mapFile(path, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("open safetensors: %w", err)
	}
	infos, meta, err := ParseSafetensors(f.Data)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open safetensors %s: %w", path, err)
	}
	m.closers = append(m.closers, f)
	return infos, meta, nil
}

func (m *SafetensorsModel) openFolder(dir string) error {
	cfgBytes, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return err
	}
	meta, err := hfConfigMeta(cfgBytes)
	if err != nil {
		return err
	}
	meta["general.name"] = filepath.Base(dir)
	if p := filepath.Join(dir, "tokenizer.json"); fileExists(p) {
		meta[KeyTokenizerPath] = p
	}
	if b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		addTokenizerConfig(meta, b)
	}
	m.meta = meta

	var shards []string
	if b, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json")); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return formatErr("model.safetensors.index.json: %v", err)
		}
		seen := map[string]bool{}
		for _, f := range idx.WeightMap {
			if f != filepath.Base(f) || !strings.HasSuffix(f, ".safetensors") {
				return formatErr("model.safetensors.index.json names shard %q outside the folder", f)
			}
			if !seen[f] {
				seen[f] = true
				shards = append(shards, f)
			}
		}
		sort.Strings(shards)
	} else {
		all, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
		for _, f := range all {
			shards = append(shards, filepath.Base(f))
		}
		sort.Strings(shards)
	}
	if len(shards) == 0 {
		return fmt.Errorf("no *.safetensors in folder")
	}
	hf := map[string]*Info{}
	for _, s := range shards {
		infos, _, err := m.mapShard(filepath.Join(dir, s))
		if err != nil {
			return err
		}
		for _, in := range infos {
			if _, dup := hf[in.Name]; dup {
				return formatErr("tensor %q appears in two shards", in.Name)
			}
			hf[in.Name] = in
		}
	}
	return m.bindHF(hf)
}

// bindHF renames HF tensors to GGUF names and stacks per-expert MoE weights
// into 3-D (E, rows, cols) tensors as llama.cpp's ffn_*_exps.
func (m *SafetensorsModel) bindHF(hf map[string]*Info) error {
	experts := map[string]map[int]*Info{} // GGUF exps name → expert index → tensor
	for name, in := range hf {
		g, expert := hfToGGUF(name)
		if expert >= 0 {
			if experts[g] == nil {
				experts[g] = map[int]*Info{}
			}
			experts[g][expert] = in
			continue
		}
		if _, dup := m.infos[g]; dup {
			return formatErr("two tensors map to %q", g)
		}
		in.Name = g
		m.infos[g] = in
		m.HFNames[g] = name
	}
	for g, byIdx := range experts {
		stacked, err := stackExperts(g, byIdx)
		if err != nil {
			return err
		}
		m.infos[g] = stacked
	}
	if n, ok := m.meta.Int(m.meta.Arch() + ".expert_count"); ok && len(experts) > 0 {
		for g, byIdx := range experts {
			if int64(len(byIdx)) != n {
				return formatErr("%s: %d experts, config says %d", g, len(byIdx), n)
			}
		}
	}
	return nil
}

// stackExperts copies E same-shaped (rows, cols) expert matrices into one
// (E, rows, cols) tensor; the experts live in separate tensors (often in
// separate shards), so a view is not possible.
func stackExperts(name string, byIdx map[int]*Info) (*Info, error) {
	e := len(byIdx)
	first := byIdx[0]
	if first == nil {
		return nil, formatErr("%s: expert 0 missing", name)
	}
	out := &Info{Name: name, Type: first.Type, Shape: append([]int{e}, first.Shape...)}
	out.Data = make([]byte, 0, e*len(first.Data))
	for i := 0; i < e; i++ {
		in := byIdx[i]
		if in == nil {
			return nil, formatErr("%s: expert %d missing", name, i)
		}
		if in.Type != first.Type || fmt.Sprint(in.Shape) != fmt.Sprint(first.Shape) {
			return nil, formatErr("%s: expert %d is %v %v, expert 0 %v %v", name, i, in.Type, in.Shape, first.Type, first.Shape)
		}
		out.Data = append(out.Data, in.Data...)
	}
	return out, nil
}

// hfToGGUF maps a Hugging Face Llama/Mistral/Qwen2/Mixtral tensor name to
// llama.cpp's GGUF name. expert ≥ 0 marks one expert's slice of a stacked
// ffn_*_exps tensor. Names it does not know are kept unchanged.
func hfToGGUF(name string) (gguf string, expert int) {
	switch name {
	case "model.embed_tokens.weight":
		return "token_embd.weight", -1
	case "model.norm.weight":
		return "output_norm.weight", -1
	case "lm_head.weight":
		return "output.weight", -1
	}
	var layer int
	var rest string
	if _, err := fmt.Sscanf(name, "model.layers.%d.", &layer); err != nil {
		return name, -1
	}
	prefix := fmt.Sprintf("model.layers.%d.", layer)
	if !strings.HasPrefix(name, prefix) {
		return name, -1
	}
	rest = name[len(prefix):]
	blk := fmt.Sprintf("blk.%d.", layer)
	simple := map[string]string{
		"input_layernorm.weight":             "attn_norm.weight",
		"post_attention_layernorm.weight":    "ffn_norm.weight",
		"self_attn.q_proj.weight":            "attn_q.weight",
		"self_attn.k_proj.weight":            "attn_k.weight",
		"self_attn.v_proj.weight":            "attn_v.weight",
		"self_attn.q_proj.bias":              "attn_q.bias",
		"self_attn.k_proj.bias":              "attn_k.bias",
		"self_attn.v_proj.bias":              "attn_v.bias",
		"self_attn.o_proj.weight":            "attn_output.weight",
		"mlp.gate_proj.weight":               "ffn_gate.weight",
		"mlp.up_proj.weight":                 "ffn_up.weight",
		"mlp.down_proj.weight":               "ffn_down.weight",
		"block_sparse_moe.gate.weight":       "ffn_gate_inp.weight",
		"mlp.gate.weight":                    "ffn_gate_inp.weight",
		"mlp.shared_expert.gate_proj.weight": "ffn_gate_shexp.weight",
		"mlp.shared_expert.up_proj.weight":   "ffn_up_shexp.weight",
		"mlp.shared_expert.down_proj.weight": "ffn_down_shexp.weight",
		"mlp.shared_expert_gate.weight":      "ffn_gate_inp_shexp.weight",
	}
	if g, ok := simple[rest]; ok {
		return blk + g, -1
	}
	var e int
	var w string
	if _, err := fmt.Sscanf(rest, "block_sparse_moe.experts.%d.%s", &e, &w); err == nil && e >= 0 {
		switch w {
		case "w1.weight":
			return blk + "ffn_gate_exps.weight", e
		case "w3.weight":
			return blk + "ffn_up_exps.weight", e
		case "w2.weight":
			return blk + "ffn_down_exps.weight", e
		}
	}
	if _, err := fmt.Sscanf(rest, "mlp.experts.%d.%s", &e, &w); err == nil && e >= 0 {
		switch w {
		case "gate_proj.weight":
			return blk + "ffn_gate_exps.weight", e
		case "up_proj.weight":
			return blk + "ffn_up_exps.weight", e
		case "down_proj.weight":
			return blk + "ffn_down_exps.weight", e
		}
	}
	return name, -1
}

// hfConfigMeta turns a Hugging Face config.json into GGUF-style keys.
// Mistral and Mixtral are arch "llama" (as llama.cpp converts them); Qwen2
// is "qwen2" (it has q/k/v biases). Weights keep HF's rotate_half layout for
// q/k, so loom.rope.neox is set: the decoder must rotate (i, i+d/2) pairs.
func hfConfigMeta(b []byte) (Metadata, error) {
	var c struct {
		Architectures      []string        `json:"architectures"`
		ModelType          string          `json:"model_type"`
		HiddenSize         int64           `json:"hidden_size"`
		Intermediate       int64           `json:"intermediate_size"`
		Layers             int64           `json:"num_hidden_layers"`
		Heads              int64           `json:"num_attention_heads"`
		KVHeads            int64           `json:"num_key_value_heads"`
		HeadDim            int64           `json:"head_dim"`
		RMSEps             float64         `json:"rms_norm_eps"`
		RopeTheta          float64         `json:"rope_theta"`
		MaxPos             int64           `json:"max_position_embeddings"`
		Vocab              int64           `json:"vocab_size"`
		Experts            int64           `json:"num_local_experts"`
		ExpertsPerTok      int64           `json:"num_experts_per_tok"`
		TieEmbeddings      *bool           `json:"tie_word_embeddings"`
		SlidingWindow      *int64          `json:"sliding_window"`
		UseSlidingWindow   *bool           `json:"use_sliding_window"`
		BOS                *int64          `json:"bos_token_id"`
		EOS                json.RawMessage `json:"eos_token_id"`
		RopeScaling        map[string]any  `json:"rope_scaling"`
		MoEIntermediate    int64           `json:"moe_intermediate_size"`
		SharedIntermediate int64           `json:"shared_expert_intermediate_size"`
		NumExperts         int64           `json:"num_experts"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, formatErr("config.json: %v", err)
	}
	arch := ""
	if len(c.Architectures) > 0 {
		switch c.Architectures[0] {
		case "LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM":
			arch = "llama"
		case "Qwen2ForCausalLM":
			arch = "qwen2"
		case "Qwen2MoeForCausalLM":
			arch = "qwen2moe"
		}
	}
	if arch == "" {
		return nil, fmt.Errorf("config.json: architectures %v not supported (Llama, Mistral, Mixtral, Qwen2)", c.Architectures)
	}
	if c.HiddenSize <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Vocab <= 0 {
		return nil, formatErr("config.json: hidden_size, num_hidden_layers, num_attention_heads and vocab_size must be positive")
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.HeadDim == 0 {
		c.HeadDim = c.HiddenSize / c.Heads
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if c.RMSEps == 0 {
		c.RMSEps = 1e-6
	}
	p := arch + "."
	m := Metadata{
		"general.architecture":                 arch,
		"loom.hf.architecture":                 c.Architectures[0],
		"loom.rope.neox":                       true,
		p + "embedding_length":                 uint32(c.HiddenSize),
		p + "feed_forward_length":              uint32(c.Intermediate),
		p + "block_count":                      uint32(c.Layers),
		p + "attention.head_count":             uint32(c.Heads),
		p + "attention.head_count_kv":          uint32(c.KVHeads),
		p + "attention.key_length":             uint32(c.HeadDim),
		p + "attention.value_length":           uint32(c.HeadDim),
		p + "rope.dimension_count":             uint32(c.HeadDim),
		p + "rope.freq_base":                   float32(c.RopeTheta),
		p + "attention.layer_norm_rms_epsilon": float32(c.RMSEps),
		p + "vocab_size":                       uint32(c.Vocab),
	}
	if c.MaxPos > 0 {
		m[p+"context_length"] = uint32(c.MaxPos)
	}
	if c.Experts > 0 || c.NumExperts > 0 {
		m[p+"expert_count"] = uint32(max(c.Experts, c.NumExperts))
		m[p+"expert_used_count"] = uint32(c.ExpertsPerTok)
	}
	if c.MoEIntermediate > 0 {
		m[p+"expert_feed_forward_length"] = uint32(c.MoEIntermediate)
	}
	if c.SharedIntermediate > 0 {
		m[p+"expert_shared_feed_forward_length"] = uint32(c.SharedIntermediate)
	}
	if c.TieEmbeddings != nil {
		m["loom.tie_word_embeddings"] = *c.TieEmbeddings
	}
	// Qwen2 configs carry a sliding_window they do not use.
	if c.SlidingWindow != nil && *c.SlidingWindow > 0 && (c.UseSlidingWindow == nil || *c.UseSlidingWindow) {
		m["loom.sliding_window"] = uint32(*c.SlidingWindow)
	}
	if c.BOS != nil && *c.BOS >= 0 {
		m["tokenizer.ggml.bos_token_id"] = uint32(*c.BOS)
	}
	var eos any
	if len(c.EOS) > 0 && json.Unmarshal(c.EOS, &eos) == nil {
		switch v := eos.(type) {
		case float64:
			m["tokenizer.ggml.eos_token_id"] = uint32(v)
		case []any:
			var ids []int32
			for _, x := range v {
				if f, ok := x.(float64); ok {
					ids = append(ids, int32(f))
				}
			}
			if len(ids) > 0 {
				m["tokenizer.ggml.eos_token_id"] = uint32(ids[0])
				m["loom.eos_token_ids"] = ids
			}
		}
	}
	if t, ok := c.RopeScaling["rope_type"].(string); ok {
		m[p+"rope.scaling.type"] = t
	} else if t, ok := c.RopeScaling["type"].(string); ok {
		m[p+"rope.scaling.type"] = t
	}
	if f, ok := c.RopeScaling["factor"].(float64); ok {
		m[p+"rope.scaling.factor"] = float32(f)
	}
	for _, k := range []string{"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"} {
		if f, ok := c.RopeScaling[k].(float64); ok {
			m["loom.rope.scaling."+k] = float32(f)
		}
	}
	return m, nil
}

// addTokenizerConfig copies the chat template (a string, or a list of named
// templates of which "default" is used) and the add_bos flag.
func addTokenizerConfig(m Metadata, b []byte) {
	var tc struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
		AddBOS       *bool           `json:"add_bos_token"`
	}
	if json.Unmarshal(b, &tc) != nil {
		return
	}
	var s string
	if json.Unmarshal(tc.ChatTemplate, &s) == nil && s != "" {
		m["tokenizer.chat_template"] = s
	} else {
		var list []struct{ Name, Template string }
		if json.Unmarshal(tc.ChatTemplate, &list) == nil {
			for _, t := range list {
				if t.Name == "default" {
					m["tokenizer.chat_template"] = t.Template
				}
			}
		}
	}
	if tc.AddBOS != nil {
		m["tokenizer.ggml.add_bos_token"] = *tc.AddBOS
	}
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
