package formats

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

// The shipped stories260K.gguf (llama.cpp's converter) must hold the same
// weights as the llama2.c checkpoint it was made from.
func TestGGUFStories260KEqualsLlama2C(t *testing.T) {
	g, err := OpenGGUF(sharedModel(t, "stories260K/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	m, err := OpenLlama2C(sharedModel(t, "stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if g.Version != 3 || g.Meta().Arch() != "llama" || g.Meta().IntOr("llama.block_count", 0) != 5 {
		t.Fatalf("version %d meta %v", g.Version, g.Meta()["llama.block_count"])
	}
	for _, name := range g.Names() {
		gi, _ := g.Info(name)
		want := name
		if name == "output.weight" { // the converter writes the tied embedding twice
			want = "token_embd.weight"
		}
		mi, err := m.Info(want)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if gi.Type != kernels.F32 || !reflect.DeepEqual(gi.Shape, mi.Shape) || !bytes.Equal(gi.Data, mi.Data) {
			t.Errorf("%s: gguf %v %v differs from llama2.c %v", name, gi.Type, gi.Shape, mi.Shape)
		}
	}
	if len(g.Names()) != len(m.Names())+1 {
		t.Errorf("gguf has %d tensors, llama2.c %d (+output.weight)", len(g.Names()), len(m.Names()))
	}
}

// Converting the llama2.c files must give the shipped GGUF's tensors and
// tokenizer, and survive a write → read round trip.
func TestConvertLlama2CMatchesShippedGGUF(t *testing.T) {
	shipped, err := OpenGGUF(sharedModel(t, "stories260K/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer shipped.Close()
	m, err := OpenLlama2C(sharedModel(t, "stories260K/stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v, err := ReadLlama2CVocab(sharedModel(t, "stories260K/tok512.bin"))
	if err != nil {
		t.Fatal(err)
	}
	meta, tensors, err := Llama2CToGGUF(m, v)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteGGUF(&buf, meta, tensors); err != nil {
		t.Fatal(err)
	}
	out, err := ParseGGUF(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
		"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
		"general.architecture", "llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
		"llama.attention.head_count", "llama.attention.head_count_kv", "llama.attention.layer_norm_rms_epsilon", "llama.rope.dimension_count"} {
		if !reflect.DeepEqual(out.Meta()[k], shipped.Meta()[k]) {
			t.Errorf("%s: converted %v, shipped %v", k, short(out.Meta()[k]), short(shipped.Meta()[k]))
		}
	}
	if got := out.Meta().IntOr("llama.context_length", 0); got != 512 {
		t.Errorf("context_length %d, want the checkpoint's 512", got)
	}
	for _, name := range shipped.Names() {
		si, _ := shipped.Info(name)
		oi, err := out.Info(name)
		if name == "output.weight" {
			oi, err = out.Info("token_embd.weight")
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(si.Shape, oi.Shape) || !bytes.Equal(si.Data, oi.Data) {
			t.Errorf("%s differs", name)
		}
	}
}

func short(v any) any {
	if s, ok := v.([]string); ok && len(s) > 5 {
		return s[:5]
	}
	return v
}

// allTypesMeta has one value of every GGUF value type, arrays of each, and
// nested arrays.
func allTypesMeta() Metadata {
	return Metadata{
		"general.architecture": "llama",
		"general.alignment":    uint32(64),
		"a.u8":                 uint8(200), "a.i8": int8(-5), "a.u16": uint16(60000), "a.i16": int16(-300),
		"a.u32": uint32(4e9), "a.i32": int32(-7), "a.u64": uint64(1 << 60), "a.i64": int64(-1 << 60),
		"a.f32": float32(1.5), "a.f64": math.Pi, "a.bool": true, "a.str": "héllo",
		"b.u8": []uint8{1, 2}, "b.i8": []int8{-1}, "b.u16": []uint16{3}, "b.i16": []int16{-4},
		"b.u32": []uint32{5}, "b.i32": []int32{-6, 7}, "b.u64": []uint64{8}, "b.i64": []int64{-9},
		"b.f32": []float32{0.5}, "b.f64": []float64{0.25}, "b.bool": []bool{true, false}, "b.str": []string{"x", "", "▁y"},
		"c.nested": []any{[]int32{1, 2}, []int32{3}}, "c.nested2": []any{[]any{[]string{"deep"}}},
	}
}

func f32Bytes(xs ...float32) []byte {
	b := make([]byte, 4*len(xs))
	for i, x := range xs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestGGUFRoundTripAllTypes(t *testing.T) {
	meta := allTypesMeta()
	q8 := make([]byte, 2*34) // two q8_0 blocks: one row of 64
	for i := range q8 {
		q8[i] = byte(i)
	}
	tensors := []*Info{
		{Name: "w", Type: kernels.F32, Shape: []int{2, 3}, Data: f32Bytes(1, 2, 3, 4, 5, 6)},
		{Name: "q", Type: kernels.Q8_0, Shape: []int{1, 64}, Data: q8},
		{Name: "h", Type: kernels.F16, Shape: []int{3}, Data: []byte{0, 0x3c, 0, 0x40, 0, 0xc0}},
		{Name: "b", Type: kernels.BF16, Shape: []int{1}, Data: []byte{0x80, 0x3f}},
		{Name: "k4", Type: kernels.Q4_0, Shape: []int{32}, Data: make([]byte, 18)},
		{Name: "qk4", Type: kernels.Q4_K, Shape: []int{2, 256}, Data: make([]byte, 2*144)},
		{Name: "qk6", Type: kernels.Q6_K, Shape: []int{256}, Data: make([]byte, 210)},
	}
	var buf bytes.Buffer
	if err := WriteGGUF(&buf, meta, tensors); err != nil {
		t.Fatal(err)
	}
	g, err := ParseGGUF(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Meta(), meta) {
		for k := range meta {
			if !reflect.DeepEqual(g.Meta()[k], meta[k]) {
				t.Errorf("%s: got %#v want %#v", k, g.Meta()[k], meta[k])
			}
		}
	}
	if g.Alignment != 64 || g.DataStart%64 != 0 {
		t.Fatalf("alignment %d data start %d", g.Alignment, g.DataStart)
	}
	for _, want := range tensors {
		got, err := g.Info(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || !reflect.DeepEqual(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%s: got %v %v, want %v %v", want.Name, got.Type, got.Shape, want.Type, want.Shape)
		}
		if (int64(len(buf.Bytes()))-int64(len(got.Data))) < 0 || (cap(got.Data) != len(got.Data)) {
			t.Errorf("%s: view not capped", want.Name)
		}
	}
	// Via a file: mmap path and Open's sniffing.
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if n := src.Names(); !reflect.DeepEqual(n, []string{"b", "h", "k4", "q", "qk4", "qk6", "w"}) {
		t.Fatalf("names %v", n)
	}
	if _, err := src.Info("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing tensor: %v", err)
	}
}

// ggufBytes assembles a GGUF header by hand for hostile-input tests.
func ggufBytes(version uint32, nTensors, nKV uint64, rest ...[]byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint32(ggufMagic))
	binary.Write(&b, binary.LittleEndian, version)
	binary.Write(&b, binary.LittleEndian, nTensors)
	binary.Write(&b, binary.LittleEndian, nKV)
	for _, r := range rest {
		b.Write(r)
	}
	return b.Bytes()
}

func le(vs ...any) []byte {
	var b bytes.Buffer
	for _, v := range vs {
		if s, ok := v.(string); ok {
			binary.Write(&b, binary.LittleEndian, uint64(len(s)))
			b.WriteString(s)
			continue
		}
		binary.Write(&b, binary.LittleEndian, v)
	}
	return b.Bytes()
}

func TestGGUFRejectsHostileHeaders(t *testing.T) {
	tensorInfo := func(ne0, ne1 uint64, typ uint32, off uint64) []byte {
		return le("t", uint32(2), ne0, ne1, typ, off)
	}
	cases := map[string][]byte{
		"empty":          {},
		"badmagic":       []byte("GGUX\x03\x00\x00\x00"),
		"v1":             ggufBytes(1, 0, 0),
		"v4":             ggufBytes(4, 0, 0),
		"manykv":         ggufBytes(3, 0, 1<<62),
		"manytensors":    ggufBytes(3, 1<<40, 0),
		"hugestring":     ggufBytes(3, 0, 1, le(uint64(1<<62))),
		"hugearray":      ggufBytes(3, 0, 1, le("k", ggufArray, ggufU64, uint64(1<<61))),
		"badtype":        ggufBytes(3, 0, 1, le("k", uint32(99), uint32(0))),
		"badarraytype":   ggufBytes(3, 0, 1, le("k", ggufArray, uint32(77), uint64(1), uint32(0))),
		"badbool":        ggufBytes(3, 0, 1, le("k", ggufBool, uint8(7))),
		"dupkey":         ggufBytes(3, 0, 2, le("k", ggufU8, uint8(1), "k", ggufU8, uint8(1))),
		"badalign":       ggufBytes(3, 0, 1, le("general.alignment", ggufU32, uint32(24))),
		"alignwrongtype": ggufBytes(3, 0, 1, le("general.alignment", ggufU64, uint64(32))),
		"deepnest":       ggufBytes(3, 0, 1, le("k", ggufArray, ggufArray, uint64(1), ggufArray, uint64(1), ggufArray, uint64(1), ggufArray, uint64(1), ggufArray, uint64(1), ggufU8, uint64(0))),
		"toomanydims":    ggufBytes(3, 1, 0, le("t", uint32(5), uint64(1), uint64(1), uint64(1), uint64(1), uint64(1), uint32(0), uint64(0))),
		"overflowdims":   ggufBytes(3, 1, 0, le("t", uint32(4), uint64(1<<30), uint64(1<<30), uint64(1<<30), uint64(1<<30), uint32(0), uint64(0))),
		"outofrange":     ggufBytes(3, 1, 0, tensorInfo(4, 4, 0, 0), make([]byte, 32)),
		"offsetpast":     ggufBytes(3, 1, 0, tensorInfo(1, 1, 0, 1<<62), make([]byte, 64)),
		"misaligned":     ggufBytes(3, 1, 0, tensorInfo(1, 1, 0, 4), make([]byte, 64)),
		"unknowntype":    ggufBytes(3, 1, 0, tensorInfo(1, 1, 77, 0), make([]byte, 64)),
		"partialblock":   ggufBytes(3, 1, 0, tensorInfo(16, 1, uint32(kernels.Q8_0), 0), make([]byte, 64)),
		"duptensor":      ggufBytes(3, 2, 0, tensorInfo(1, 1, 0, 0), tensorInfo(1, 1, 0, 0), make([]byte, 64)),
		"truncatedinfo":  ggufBytes(3, 1, 0, le("t", uint32(2), uint64(1))),
	}
	for name, b := range cases {
		if _, err := ParseGGUF(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: err %v, want ErrFormat", name, err)
		}
	}
	// A minimal valid file parses (the cases above fail for their stated reason).
	ok := ggufBytes(3, 1, 0, tensorInfo(2, 1, 0, 0))
	ok = append(ok, make([]byte, 32-len(ok)%32+8)...)
	if _, err := ParseGGUF(ok); err != nil {
		t.Fatalf("minimal file: %v", err)
	}
}

func TestWriteGGUFRejects(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteGGUF(&buf, Metadata{"k": 3}, nil); err == nil {
		t.Error("plain int accepted")
	}
	if err := WriteGGUF(&buf, nil, []*Info{{Name: "w", Type: kernels.F32, Shape: []int{2}, Data: make([]byte, 4)}}); err == nil {
		t.Error("short data accepted")
	}
	if err := WriteGGUF(&buf, Metadata{"k": []any{int32(1), "x"}}, nil); err == nil {
		t.Error("mixed array accepted")
	}
}

func FuzzGGUF(f *testing.F) {
	var buf bytes.Buffer
	WriteGGUF(&buf, allTypesMeta(), []*Info{{Name: "w", Type: kernels.F32, Shape: []int{2, 3}, Data: f32Bytes(1, 2, 3, 4, 5, 6)},
		{Name: "q", Type: kernels.Q4_0, Shape: []int{32}, Data: make([]byte, 18)}})
	f.Add(buf.Bytes())
	f.Add(ggufBytes(3, 1, 0, le("t", uint32(2), uint64(2), uint64(1), uint32(0), uint64(0)), make([]byte, 64)))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGGUF(b)
		if err != nil {
			return
		}
		for _, n := range g.Names() {
			in, _ := g.Info(n)
			size, err := dataSize(in.Type, in.Shape, math.MaxInt64)
			if err != nil || size != int64(len(in.Data)) {
				t.Fatalf("%s: %d bytes for %v %v (%v)", n, len(in.Data), in.Type, in.Shape, err)
			}
		}
		// Whatever parsed must write and parse back identically.
		var out bytes.Buffer
		infos := make([]*Info, 0)
		for _, n := range g.Names() {
			in, _ := g.Info(n)
			infos = append(infos, in)
		}
		if err := WriteGGUF(&out, g.Meta(), infos); err != nil {
			return // e.g. an alignment the writer refuses
		}
		g2, err := ParseGGUF(out.Bytes())
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !reflect.DeepEqual(g2.Names(), g.Names()) {
			t.Fatal("names changed")
		}
	})
}

func TestGGMLTypeSizes(t *testing.T) {
	cases := []struct {
		typ   kernels.DType
		shape []int
		size  int64
	}{
		{kernels.F32, []int{3, 5}, 60}, {kernels.F16, []int{7}, 14}, {kernels.BF16, []int{2, 2}, 8},
		{kernels.Q8_0, []int{4, 64}, 4 * 2 * 34}, {kernels.Q4_0, []int{32}, 18},
		{kernels.Q4_K, []int{3, 512}, 3 * 2 * 144}, {kernels.Q6_K, []int{256}, 210}, {kernels.F32, nil, 4},
	}
	for _, c := range cases {
		if got, err := dataSize(c.typ, c.shape, math.MaxInt64); err != nil || got != c.size {
			t.Errorf("%v %v: %d (%v), want %d", c.typ, c.shape, got, err, c.size)
		}
	}
	if _, err := dataSize(kernels.Q4_K, []int{128}, math.MaxInt64); err == nil {
		t.Error("half a q4_K block accepted")
	}
}

// BenchmarkParseGGUF: header, metadata (512-token vocabulary) and tensor table
// of stories260K.gguf, from memory.
func BenchmarkParseGGUF(b *testing.B) {
	data, err := os.ReadFile(sharedModel(b, "stories260K/stories260K.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseGGUF(data); err != nil {
			b.Fatal(err)
		}
	}
}

// GGUF v2 has v3's layout (v3 only added big-endian files); both parse.
func TestGGUFVersion2(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteGGUF(&buf, Metadata{"general.architecture": "llama", "k": []string{"a"}}, []*Info{{Name: "w", Type: kernels.F32, Shape: []int{2}, Data: f32Bytes(1, 2)}}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	binary.LittleEndian.PutUint32(b[4:], 2)
	g, err := ParseGGUF(b)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := g.Info("w")
	if g.Version != 2 || !bytes.Equal(w.Data, f32Bytes(1, 2)) {
		t.Fatalf("v2: version %d data %v", g.Version, w.Data)
	}
}

// Loom's own activation layout is never a tensor type in a file.
func TestInternalTypeRefused(t *testing.T) {
	if _, err := dataSize(kernels.Q8S, []int{32}, 1<<20); err == nil {
		t.Fatal("a q8s tensor was sized as if a file could hold one")
	}
}
