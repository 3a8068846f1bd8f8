package towers

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/nn"
)

// An f32 model read from its file has the blocks' and output's matrices of
// whole 32-row slivers repacked at load into kernels.F32R32 (where the CPU
// has AVX-512), the others (a vocabulary of 50 rows, MoE experts) as
// stored; mapped (LOOM_MMAP=1) or with LOOM_REPACK=0 it keeps the file's
// layout. Prefill (GemmTSlivers) and decode (MatVecTSlivers, MatVecMany) give
// the file layout's logits within the summation order, at one and two
// threads, and the file is unchanged.
func TestDecoderRepackedF32(t *testing.T) {
	defer kernels.SetThreads(kernels.Default().Threads())
	for _, m := range []tinyLlama{
		{dim: 64, layers: 2, heads: 4, kvHeads: 2, ff: 96, vocab: 64},
		{dim: 64, layers: 2, heads: 4, kvHeads: 2, ff: 96, vocab: 50},
		{dim: 64, layers: 2, heads: 4, kvHeads: 2, ff: 64, vocab: 64, experts: 4, used: 2},
	} {
		g, _ := m.build(t, 9)
		var infos []*formats.Info
		for _, name := range g.Names() {
			in, err := g.Info(name)
			if err != nil {
				t.Fatal(err)
			}
			infos = append(infos, in)
		}
		var buf bytes.Buffer
		if err := formats.WriteGGUF(&buf, g.Meta(), infos); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "f32.gguf")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		tokens := []int{3, 17, 5, 39, 0, 22, 8, 41, 9, 12}
		run := func(mmap, repack string) (types []kernels.DType, prefill, decode []float32) {
			t.Setenv(formats.MmapEnv, mmap)
			t.Setenv(nn.RepackEnv, repack)
			return runDecoderFile(t, path, tokens, func(d *Decoder) []kernels.DType {
				b := d.Blocks[0]
				types := []kernels.DType{b.Attn.Q.W.Type, b.Attn.K.W.Type, b.Attn.O.W.Type, d.Output.W.Type}
				if b.MLP != nil {
					types = append(types, b.MLP.Gate.W.Type, b.MLP.Down.W.Type)
				}
				return types
			})
		}
		for _, threads := range []int{1, 2} {
			kernels.SetThreads(threads)
			mapped, p0, d0 := run("1", "")
			rows, _, _ := run("", "0")
			read, p1, d1 := run("", "")
			for i := range read {
				want := kernels.F32
				if kernels.SliversFit(m.dim, m.dim) && (i != 3 || m.vocab%kernels.SliverRows == 0) {
					want = kernels.F32R32
				}
				if mapped[i] != kernels.F32 || rows[i] != kernels.F32 || read[i] != want {
					t.Fatalf("%+v: types mapped %v, LOOM_REPACK=0 %v, read %v; want f32, f32, %v at %d", m, mapped, rows, read, want, i)
				}
			}
			checkLogitsNMSE(t, fmt.Sprintf("%+v, %d threads", m, threads), p0, d0, p1, d1)
		}
		if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, buf.Bytes()) {
			t.Fatalf("the file changed (%v)", err)
		}
	}
}

// runDecoderFile loads the decoder in the model file at path and returns
// what types says of it, the logits of a prefill of tokens, and of the same
// tokens decoded one at a time.
func runDecoderFile(t *testing.T, path string, tokens []int, types func(*Decoder) []kernels.DType) (ts []kernels.DType, prefill, decode []float32) {
	t.Helper()
	f, err := formats.OpenGGUF(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := LoadDecoder(f)
	if err != nil {
		t.Fatal(err)
	}
	st := d.NewState(0)
	l, err := st.Forward(tokens, 0)
	if err != nil {
		t.Fatal(err)
	}
	prefill = append([]float32(nil), l...)
	st = d.NewState(0)
	for j, tok := range tokens {
		if l, err = st.Forward([]int{tok}, j); err != nil {
			t.Fatal(err)
		}
	}
	return types(d), prefill, append([]float32(nil), l...)
}

// checkLogitsNMSE fails unless the repacked model's prefill and decode
// logits (p1, d1) are the file layout's (p0, d0) within 1e-10 NMSE.
func checkLogitsNMSE(t *testing.T, what string, p0, d0, p1, d1 []float32) {
	t.Helper()
	for _, cl := range []struct {
		what       string
		file, pack []float32
	}{{"prefill", p0, p1}, {"decode", d0, d1}} {
		var num, den float64
		for i := range cl.file {
			num += float64(cl.pack[i]-cl.file[i]) * float64(cl.pack[i]-cl.file[i])
			den += float64(cl.file[i]) * float64(cl.file[i])
		}
		if !(num/den < 1e-10) {
			t.Fatalf("%s: %s logits nmse %g repacked against the file's layout", what, cl.what, num/den)
		}
	}
}
