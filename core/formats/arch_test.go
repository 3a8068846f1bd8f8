package formats

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loomhq/loom/core/kernels"
)

// Arch reads general.architecture from the header alone, wherever the key
// stands (after a vocabulary larger than the first read), and says when a
// file has none or is cut short.
func TestArchReadsTheHeaderOnly(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, meta Metadata) string {
		t.Helper()
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		w := &Info{Name: "w", Type: kernels.F32, Shape: []int{4}, Data: make([]byte, 16)}
		if err := WriteGGUF(f, meta, []*Info{w}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	big := make([]string, 40000) // ~0.5 MB of tokens, past the first 64 KiB read
	for i := range big {
		big[i] = strings.Repeat("x", 8)
	}
	// WriteGGUF writes general.architecture first; other converters may
	// not, so this file puts it after the vocabulary.
	late := filepath.Join(dir, "late.gguf")
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	e := &encoder{w: bw}
	e.u32(ggufMagic)
	e.u32(3)
	e.u64(0)
	e.u64(2)
	for _, kv := range []struct {
		k string
		v any
	}{{"a.tokens", big}, {"general.architecture", "bert"}} {
		e.str(kv.k)
		if err := e.value(kv.v, true); err != nil {
			t.Fatal(err)
		}
	}
	bw.Flush()
	if err := os.WriteFile(late, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if a, err := Arch(late); err != nil || a != "bert" {
		t.Errorf("key after a large vocabulary: %q %v", a, err)
	}
	if a, err := Arch(write("first.gguf", Metadata{"general.architecture": "qwen3"})); err != nil || a != "qwen3" {
		t.Errorf("first key: %q %v", a, err)
	}
	if _, err := Arch(write("none.gguf", Metadata{"general.name": "x"})); err == nil {
		t.Error("a file without general.architecture: no error")
	}
	b, _ := os.ReadFile(late)
	cut := filepath.Join(dir, "cut.gguf")
	os.WriteFile(cut, b[:100000], 0o644)
	if _, err := Arch(cut); err == nil {
		t.Error("a file cut inside its vocabulary: no error")
	}
	sub := filepath.Join(dir, "folder")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "b.gguf"), buf.Bytes(), 0o644)
	if a, err := Arch(sub); err != nil || a != "bert" { // a folder: its first GGUF, as Open takes it
		t.Errorf("folder: %q %v", a, err)
	}
}
