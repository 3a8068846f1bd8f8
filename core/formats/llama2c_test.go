package formats

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"testing"
)

func TestLlama2CStories260K(t *testing.T) {
	m, err := OpenLlama2C(sharedModel(t, "stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := Llama2CConfig{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if m.Config != want {
		t.Fatalf("config %+v, want %+v", m.Config, want)
	}
	// 1 embedding + 9 per layer + output_norm; no output.weight (tied).
	if n := len(m.Names()); n != 1+9*5+1 {
		t.Fatalf("%d tensors", n)
	}
	if _, err := m.Info("output.weight"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("output.weight of a tied model: %v", err)
	}
	k, _ := m.Info("blk.4.attn_k.weight")
	if k.Shape[0] != 32 || k.Shape[1] != 64 || len(k.Data) != 32*64*4 {
		t.Fatalf("attn_k shape %v bytes %d", k.Shape, len(k.Data))
	}
	// The first float after the header is token_embd[0][0].
	emb, _ := m.Info("token_embd.weight")
	if &emb.Data[0] == nil || len(emb.Data) != 512*64*4 {
		t.Fatal("embedding size")
	}
	if got := m.Meta().IntOr("llama.attention.head_count_kv", 0); got != 4 {
		t.Fatalf("head_count_kv %d", got)
	}
	if got := m.Meta().FloatOr("llama.rope.freq_base", 0); got != 10000 {
		t.Fatalf("rope base %v", got)
	}
}

// tinyLlama2C builds a checkpoint with the given header, weights 0,1,2,…
func tinyLlama2C(dim, hidden, layers, heads, kv, vocab, seq int) []byte {
	h := []int32{int32(dim), int32(hidden), int32(layers), int32(heads), int32(kv), int32(vocab), int32(seq)}
	c := Llama2CConfig{Dim: dim, HiddenDim: hidden, Layers: layers, Heads: heads, KVHeads: kv, VocabSize: vocab, SeqLen: seq, SharedClassifier: vocab > 0}
	if vocab < 0 {
		c.VocabSize = -vocab
	}
	n, _ := c.floatCount(1 << 40)
	b := make([]byte, 28+4*n)
	for i, v := range h {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	for i := int64(0); i < n; i++ {
		binary.LittleEndian.PutUint32(b[28+4*i:], math.Float32bits(float32(i)))
	}
	return b
}

func f32At(b []byte, i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])) }

func TestLlama2CUntiedLayout(t *testing.T) {
	// dim 4, hidden 6, 2 layers, 2 heads, 1 kv head, vocab 3 (untied), seq 2.
	b := tinyLlama2C(4, 6, 2, 2, 1, -3, 2)
	m, err := ParseLlama2C(b)
	if err != nil {
		t.Fatal(err)
	}
	// Offsets in floats: emb 12, rms_att 8, wq 32, wk 16, wv 16, wo 32, rms_ffn 8,
	// w1 48, w2 48, w3 48, rms_final 4, freqs 2*2*... (seq*head/2*2 = 4), wcls 12.
	checks := []struct {
		name  string
		first float32
		shape []int
	}{
		{"token_embd.weight", 0, []int{3, 4}},
		{"blk.0.attn_norm.weight", 12, []int{4}},
		{"blk.1.attn_norm.weight", 16, []int{4}},
		{"blk.0.attn_q.weight", 20, []int{4, 4}},
		{"blk.1.attn_k.weight", 52 + 8, []int{2, 4}},
		{"blk.0.attn_v.weight", 68, []int{2, 4}},
		{"blk.0.attn_output.weight", 84, []int{4, 4}},
		{"blk.1.ffn_norm.weight", 116 + 4, []int{4}},
		{"blk.0.ffn_gate.weight", 124, []int{6, 4}},
		{"blk.0.ffn_down.weight", 172, []int{4, 6}},
		{"blk.1.ffn_up.weight", 220 + 24, []int{6, 4}},
		{"output_norm.weight", 268, []int{4}},
		{"output.weight", 276, []int{3, 4}},
	}
	for _, c := range checks {
		in, err := m.Info(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := f32At(in.Data, 0); got != c.first || len(in.Shape) != len(c.shape) || in.Elements()*4 != len(in.Data) {
			t.Errorf("%s: first %v want %v, shape %v want %v", c.name, got, c.first, in.Shape, c.shape)
		}
		for i := range c.shape {
			if in.Shape[i] != c.shape[i] {
				t.Errorf("%s: shape %v want %v", c.name, in.Shape, c.shape)
			}
		}
	}
	out, _ := m.Info("output.weight")
	if last := f32At(out.Data, 11); last != float32(len(b)/4-7-1) {
		t.Errorf("last float %v", last)
	}
}

func TestLlama2CRejects(t *testing.T) {
	good := tinyLlama2C(4, 6, 2, 2, 1, 3, 2)
	cases := map[string][]byte{
		"short":     good[:20],
		"truncated": good[:len(good)-4],
		"trailing":  append(append([]byte{}, good...), 0, 0, 0, 0),
		"huge":      tinyHeader(1<<30, 1<<30, 1<<30, 1, 1, 1<<30, 1<<30),
		"zero":      tinyHeader(0, 6, 2, 2, 1, 3, 2),
		"gqa":       tinyHeader(4, 6, 2, 2, 3, 3, 2),
		"minvocab":  tinyHeader(4, 6, 2, 2, 1, math.MinInt32, 2),
	}
	for name, b := range cases {
		if _, err := ParseLlama2C(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
}

func tinyHeader(h ...int) []byte {
	b := make([]byte, 28+64)
	for i, v := range h {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(v)))
	}
	return b
}

func TestLlama2CVocab(t *testing.T) {
	v, err := ReadLlama2CVocab(sharedModel(t, "stories260K/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if v.MaxTokenLength != 7 || len(v.Pieces) != 512 {
		t.Fatalf("max %d, %d pieces", v.MaxTokenLength, len(v.Pieces))
	}
	if v.Pieces[1] != "\n<s>\n" || v.Pieces[2] != "\n</s>\n" || v.Pieces[3] != "<0x00>" || v.Pieces[258] != "<0xFF>" {
		t.Fatalf("pieces %q %q %q %q", v.Pieces[1], v.Pieces[2], v.Pieces[3], v.Pieces[258])
	}
	if _, err := ParseLlama2CVocab([]byte{7, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}); !errors.Is(err, ErrFormat) {
		t.Fatalf("huge length: %v", err)
	}
}

func FuzzLlama2C(f *testing.F) {
	f.Add(tinyLlama2C(4, 6, 2, 2, 1, 3, 2))
	f.Add(tinyLlama2C(4, 6, 1, 2, 2, -3, 2))
	f.Add(tinyHeader(1<<30, 1<<30, 1<<30, 1, 1, 1<<30, 1<<30))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseLlama2C(b)
		if err != nil {
			return
		}
		for _, n := range m.Names() {
			in, _ := m.Info(n)
			if in.Elements()*4 != len(in.Data) {
				t.Fatalf("%s: %d elements, %d bytes", n, in.Elements(), len(in.Data))
			}
		}
		ParseLlama2CVocab(b)
	})
}

func TestOpenUnrecognised(t *testing.T) {
	dir := t.TempDir()
	for name, b := range map[string][]byte{"tiny.txt": []byte("hello"), "junk.pt": make([]byte, 100)} {
		p := dir + "/" + name
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := Open(p)
		if err == nil || src != nil {
			t.Errorf("%s: opened (%v)", name, err)
		}
	}
	if _, err := Open(dir + "/absent.gguf"); err == nil {
		t.Error("absent file opened")
	}
	if _, err := Open(dir); err == nil {
		t.Error("folder without a model opened")
	}
}

// A folder holding a llama2.c checkpoint opens it and names the tokenizer
// beside it.
func TestOpenFolderLlama2C(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/m.bin", tinyLlama2C(4, 6, 1, 2, 1, 3, 2), 0o644)
	os.WriteFile(dir+"/tok3.bin", []byte{1, 0, 0, 0}, 0o644)
	src, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if p, _ := src.Meta().String(KeyTokenizerPath); p != dir+"/tok3.bin" {
		t.Errorf("tokenizer path %q", p)
	}
	if n, _ := src.Meta().String("general.name"); n != "m" {
		t.Errorf("name %q", n)
	}
}
