//go:build linux

package formats

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/loomhq/loom/core/kernels"
)

// TestReadResident: the bytes read into huge-page memory are the file's,
// read-only; ranges left on disk read the same through the mapping and
// through Disk and cost no memory until touched; LOOM_MMAP=1 maps the file
// instead (same bytes).
func TestReadResident(t *testing.T) {
	if _, ok := memAvailable(); !ok {
		t.Fatal("MemAvailable not found in /proc/meminfo")
	}
	want := make([]byte, 7<<20+17) // not a multiple of any page size
	for i := range want {
		want[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "w.bin")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	left := byteRange{3<<20 + 100, 6<<20 + 5} // pages inside it stay on disk
	for _, tc := range []struct {
		env    string
		leave  []byteRange
		onDisk bool
	}{{"", nil, false}, {"", []byteRange{left}, true}, {"1", []byteRange{left}, false}} {
		t.Setenv(MmapEnv, tc.env)
		calls := 0
		m, err := mapFile(path, func(data []byte) []byteRange {
			calls++
			if !bytes.Equal(data[:4096], want[:4096]) {
				t.Errorf("%s=%q: leave saw other bytes", MmapEnv, tc.env)
			}
			return tc.leave
		})
		if err != nil {
			t.Fatalf("%s=%q: %v", MmapEnv, tc.env, err)
		}
		if calls != 1 {
			t.Errorf("%s=%q: leave called %d times", MmapEnv, tc.env, calls)
		}
		if (m.Disk != nil) != tc.onDisk {
			t.Errorf("%s=%q leave %v: Disk set %v, want %v", MmapEnv, tc.env, tc.leave, m.Disk != nil, tc.onDisk)
		}
		if tc.onDisk {
			// Nothing of the left range is resident before it is read.
			before := rssFileKiB(t)
			got := make([]byte, left.Hi-left.Lo)
			if _, err := m.Disk.ReadAt(got, int64(left.Lo)); err != nil || !bytes.Equal(got, want[left.Lo:left.Hi]) {
				t.Errorf("Disk.ReadAt: %v (bytes equal %v)", err, bytes.Equal(got, want[left.Lo:left.Hi]))
			}
			if grew := rssFileKiB(t) - before; grew > 64 {
				t.Errorf("reading through Disk mapped %d KiB of the file", grew)
			}
		}
		if !bytes.Equal(m.Data, want) {
			t.Errorf("%s=%q leave %v: bytes differ from the file", MmapEnv, tc.env, tc.leave)
		}
		if err := m.Close(); err != nil {
			t.Errorf("%s=%q: close: %v", MmapEnv, tc.env, err)
		}
	}
}

// TestPagesInside: whole pages inside each range, clipped, sorted, merged,
// small ones dropped.
func TestPagesInside(t *testing.T) {
	const p = 4096
	got := pagesInside([]byteRange{{40 * p, 100*p + 5}, {-3, 20*p - 1}, {99 * p, 130 * p}, {200*p + 1, 215 * p}, {300 * p, 1 << 40}}, 330*p+7, p)
	want := []byteRange{{0, 19 * p}, {40 * p, 130 * p}, {300 * p, 330 * p}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// rssFileKiB is this process's resident file-backed memory.
func rssFileKiB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestGGUFRowTableOnDisk: a GGUF file's token embedding is left on disk
// when the file has an output matrix (read through Info.Disk, the same
// bytes as Data), and read into memory like every other tensor when the
// embedding is the output too.
func TestGGUFRowTableOnDisk(t *testing.T) {
	const vocab, dim = 1000, 256 // 1 MB of f32 rows
	emb := make([]float32, vocab*dim)
	for i := range emb {
		emb[i] = float32(i%977) - 300
	}
	embInfo := &Info{Name: "token_embd.weight", Type: kernels.F32, Shape: []int{vocab, dim}, Data: f32Bytes(emb...)}
	out := &Info{Name: "output.weight", Type: kernels.F32, Shape: []int{vocab, dim}, Data: f32Bytes(emb...)}
	for _, tc := range []struct {
		tensors []*Info
		onDisk  bool
	}{{[]*Info{embInfo, out}, true}, {[]*Info{embInfo}, false}} {
		var buf bytes.Buffer
		if err := WriteGGUF(&buf, Metadata{"general.architecture": "llama"}, tc.tensors); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "m.gguf")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := OpenGGUF(path)
		if err != nil {
			t.Fatal(err)
		}
		in, err := g.Info("token_embd.weight")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(in.Data, embInfo.Data) {
			t.Errorf("output %v: token_embd bytes differ", len(tc.tensors) == 2)
		}
		if (in.Disk != nil) != tc.onDisk {
			t.Errorf("output %v: token_embd Disk set %v, want %v", len(tc.tensors) == 2, in.Disk != nil, tc.onDisk)
		}
		if in.Disk != nil {
			row := make([]byte, 4*dim)
			if _, err := in.Disk.ReadAt(row, 777*4*dim); err != nil || !bytes.Equal(row, in.Data[777*4*dim:778*4*dim]) {
				t.Errorf("Disk row 777: %v", err)
			}
		}
		if o, err := g.Info("output.weight"); err == nil && o.Disk != nil {
			t.Error("output.weight left on disk")
		}
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestRewrite: a GGUF tensor read into memory can be rewritten in place and
// is read-only again afterwards (protection of its pages, and its huge-page
// neighbours, back to PROT_READ); the row table left on disk and a file
// mapped under LOOM_MMAP=1 cannot, and the file itself never changes.
func TestRewrite(t *testing.T) {
	const vocab, dim = 1000, 256
	emb := make([]float32, vocab*dim)
	for i := range emb {
		emb[i] = float32(i % 977)
	}
	w := make([]float32, 3<<18) // 3 MiB: crosses huge pages
	for i := range w {
		w[i] = float32(i % 13)
	}
	tensors := []*Info{
		{Name: "token_embd.weight", Type: kernels.F32, Shape: []int{vocab, dim}, Data: f32Bytes(emb...)},
		{Name: "blk.0.w.weight", Type: kernels.F32, Shape: []int{len(w) / 256, 256}, Data: f32Bytes(w...)},
		{Name: "output.weight", Type: kernels.F32, Shape: []int{vocab, dim}, Data: f32Bytes(emb...)},
	}
	var buf bytes.Buffer
	if err := WriteGGUF(&buf, Metadata{"general.architecture": "llama"}, tensors); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"", "1"} {
		t.Setenv(MmapEnv, env)
		g, err := OpenGGUF(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"blk.0.w.weight", "output.weight", "token_embd.weight"} {
			in, err := g.Info(name)
			if err != nil {
				t.Fatal(err)
			}
			want := env == "" && name != "token_embd.weight"
			ok, err := in.Rewrite(func(b []byte) {
				for i := range b {
					b[i] ^= 0xff
				}
			})
			if err != nil || ok != want {
				t.Fatalf("%s=%q %s: Rewrite %v, %v; want %v", MmapEnv, env, name, ok, err, want)
			}
			if ok && in.Data[5] != ^f32Bytes(w...)[5] && in.Data[5] != ^f32Bytes(emb...)[5] {
				t.Errorf("%s: bytes not rewritten", name)
			}
			if ok && writablePages(t, in.Data) {
				t.Errorf("%s: still writable after Rewrite", name)
			}
		}
		if err := g.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, buf.Bytes()) {
		t.Fatalf("the file changed (%v)", err)
	}
}

// writablePages reports whether any mapping of /proc/self/maps that holds b
// is writable.
func writablePages(t *testing.T, b []byte) bool {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	lo := uint64(uintptr(unsafe.Pointer(&b[0])))
	hi := lo + uint64(len(b))
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		a, z, _ := strings.Cut(f[0], "-")
		s, _ := strconv.ParseUint(a, 16, 64)
		e, _ := strconv.ParseUint(z, 16, 64)
		if s < hi && lo < e && strings.Contains(f[1], "w") {
			return true
		}
	}
	return false
}
