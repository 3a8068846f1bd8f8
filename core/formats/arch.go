package formats

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Arch is the general.architecture of the model Open(path) would open,
// read from headers only: a listing of models must not read gigabytes of
// weights per file (Open reads a GGUF's tensors into memory). "" means the
// format names none (a Hugging Face folder: its config.json's model_type
// decides); a llama2.c checkpoint is "llama".
func Arch(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "config.json")); err == nil {
			return "", nil
		}
		ggufs, _ := filepath.Glob(filepath.Join(path, "*.gguf"))
		sort.Strings(ggufs)
		if len(ggufs) == 0 {
			return "llama", nil // llama2.c *.bin, as openDir falls back to
		}
		path = ggufs[0]
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	var head [9]byte
	n, _ := f.ReadAt(head[:], 0)
	if !bytes.HasPrefix(head[:n], []byte("GGUF")) {
		if looksSafetensors(head[:n]) {
			return "", nil
		}
		return "llama", nil
	}
	// general.architecture is the first key in every converter's files, so
	// the first 64 KiB nearly always hold it; read more only when not.
	for n := min(int64(64<<10), size); ; n = min(4*n, size) {
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
			return "", fmt.Errorf("read %s: %w", path, err)
		}
		arch, found, err := ggufArch(buf)
		if found {
			return arch, nil
		}
		if n == size {
			if err == nil {
				err = formatErr("gguf: no general.architecture")
			}
			return "", fmt.Errorf("%s: %w", path, err)
		}
	}
}

// ggufArch walks a GGUF header's key-value pairs in data (the start of a
// file) up to general.architecture; found is false when data ends first.
func ggufArch(data []byte) (arch string, found bool, err error) {
	c := &cursor{b: data}
	if c.u32() != ggufMagic {
		return "", false, formatErr("gguf: bad magic")
	}
	c.u32() // version
	c.u64() // tensors
	nKV := c.u64()
	for i := uint64(0); i < nKV && c.err == nil; i++ {
		key := c.str()
		typ := c.u32()
		if c.err != nil {
			break
		}
		v, err := c.ggufValue(typ, 0)
		if err != nil {
			return "", false, err
		}
		if key == "general.architecture" {
			s, ok := v.(string)
			return s, ok, nil
		}
	}
	return "", false, c.err
}
