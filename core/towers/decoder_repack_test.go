package towers

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

// A q4_0, q4_K or q6_K model opened from a file has its blocks' and output's matrices
// repacked at load (kernels.Repack, where the CPU has the eight-row dot),
// the MoE experts included; opened as a mapping (LOOM_MMAP=1) it keeps the
// file's layout. Both give the same logits within the eight-row dot's
// summation order (prefill's batches unpack to q4_0; its last row's output
// projection is one row), and the file is unchanged.
func TestDecoderRepacked(t *testing.T) {
	for _, c := range []struct {
		typ kernels.DType
		m   tinyLlama
	}{
		{kernels.Q4_0, tinyLlama{dim: 64, layers: 2, heads: 4, kvHeads: 2, ff: 96, vocab: 50}},
		{kernels.Q4_0, tinyLlama{dim: 64, layers: 2, heads: 4, kvHeads: 2, ff: 96, vocab: 50, experts: 4, used: 2}},
		{kernels.Q4_K, tinyLlama{dim: 256, layers: 2, heads: 4, kvHeads: 2, ff: 256, vocab: 50}},
		{kernels.Q4_K, tinyLlama{dim: 256, layers: 2, heads: 4, kvHeads: 2, ff: 256, vocab: 50, experts: 4, used: 2}},
		{kernels.Q6_K, tinyLlama{dim: 256, layers: 2, heads: 4, kvHeads: 2, ff: 256, vocab: 50}},
	} {
		m := c.m
		r := rand.New(rand.NewSource(8))
		g, _ := m.build(t, 7)
		var infos []*formats.Info
		for _, name := range g.Names() {
			in, err := g.Info(name)
			if err != nil {
				t.Fatal(err)
			}
			q := *in
			if len(in.Shape) >= 2 && name != "token_embd.weight" && !strings.HasSuffix(name, "gate_inp.weight") {
				f := make([]float32, in.Elements())
				if err := kernels.F32.Dequantize(f, in.Data); err != nil {
					t.Fatal(err)
				}
				q.Type = c.typ
				q.Data = make([]byte, len(f)/c.typ.BlockSize()*c.typ.BlockBytes())
				switch bb := c.typ.BlockBytes(); { // K types: random levels and scales; small d (and dmin)
				case c.typ == kernels.Q4_K:
					r.Read(q.Data)
					for b := 0; b < len(q.Data); b += bb {
						binary.LittleEndian.PutUint16(q.Data[b:], kernels.F32ToF16(0.002*r.Float32()))
						binary.LittleEndian.PutUint16(q.Data[b+2:], kernels.F32ToF16(0.002*r.Float32()))
					}
				case c.typ == kernels.Q6_K:
					r.Read(q.Data)
					for b := 0; b < len(q.Data); b += bb {
						binary.LittleEndian.PutUint16(q.Data[b+208:], kernels.F32ToF16(0.0005*r.Float32()))
					}
				default:
					if err := c.typ.Quantize(q.Data, f); err != nil {
						t.Fatal(err)
					}
				}
			}
			infos = append(infos, &q)
		}
		var buf bytes.Buffer
		if err := formats.WriteGGUF(&buf, g.Meta(), infos); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "q4.gguf")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		tokens := []int{3, 17, 5, 39, 0, 22, 8, 41, 9, 12}
		run := func(env string) (types []kernels.DType, prefill, decode []float32) {
			t.Setenv(formats.MmapEnv, env)
			return runDecoderFile(t, path, tokens, func(d *Decoder) []kernels.DType {
				b := d.Blocks[0]
				types := []kernels.DType{b.Attn.Q.W.Type, b.Attn.O.W.Type, d.Output.W.Type}
				if b.MoE != nil {
					return append(types, b.MoE.Weights.Gate.Type, b.MoE.Weights.Down.Type)
				}
				return append(types, b.MLP.Down.W.Type)
			})
		}
		mapped, p0, d0 := run("1")
		read, p1, d1 := run("")
		want := c.typ.Repacked()
		for i := range read {
			if mapped[i] != c.typ || read[i] != want {
				t.Fatalf("%v experts %d: types mapped %v, read %v; want %v, %v", c.typ, m.experts, mapped, read, c.typ, want)
			}
		}
		checkLogitsNMSE(t, fmt.Sprintf("%v experts %d", c.typ, m.experts), p0, d0, p1, d1)
		if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, buf.Bytes()) {
			t.Fatalf("the file changed (%v)", err)
		}
	}
}
