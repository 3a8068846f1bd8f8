// Package formats reads model weight files — GGUF, llama2.c checkpoints and
// safetensors (one file or a Hugging Face folder) — and writes GGUF.
//
// Every reader treats its file as untrusted: header fields are validated
// against the file size before anything is allocated, sizes are computed with
// overflow checks, and a malformed file yields an error, never a panic.
// Tensors are views on the file's bytes (read into huge-page memory on Linux,
// mapped with $LOOM_MMAP=1 or elsewhere, and a GGUF row table stays mapped:
// see mapFile and Info.Disk), with
// Loom's row-major shape (outermost first) and llama.cpp's GGUF tensor names,
// so a tower binds one set of names whatever the file format.
package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/core/tensor"
)

// ErrNotFound is returned (wrapped) by TensorSource.Tensor for an absent name.
var ErrNotFound = errors.New("tensor not found")

// ErrFormat is wrapped by every error that reports a malformed file.
var ErrFormat = errors.New("malformed model file")

// TensorSource is one model's weights and metadata, whatever the file format.
type TensorSource interface {
	// Tensor returns the named tensor (GGUF naming, e.g. "blk.0.attn_q.weight")
	// as a view on the file's bytes (mmap) with its Loom shape and dtype; an
	// error matching ErrNotFound when absent.
	Tensor(name string) (*tensor.Tensor, error)
	// Info is the same tensor's raw storage (GGUF type id, shape, bytes), for
	// binders that work on bytes and for writers.
	Info(name string) (*Info, error)
	// Names lists the tensor names in sorted order.
	Names() []string
	// Meta holds GGUF-style keys ("general.architecture", "llama.block_count", …).
	Meta() Metadata
	Close() error
}

// KeyTokenizerPath is the metadata key under which a reader names the
// tokenizer file it found beside the weights (tok512.bin beside a llama2.c
// checkpoint, tokenizer.json in a Hugging Face folder).
const KeyTokenizerPath = "loom.tokenizer_path"

// Info describes one tensor without building it: the raw view every reader
// produces and the GGUF writer consumes.
type Info struct {
	Name  string
	Type  kernels.DType // storage type (GGUF type id)
	Shape []int         // Loom order, outermost first
	Data  []byte        // the whole tensor's bytes; a view on the file
	// Disk, when set, reads Data's bytes (offset 0 = Data[0]) from the file
	// without touching Data's pages: the tensor was left on disk (a GGUF
	// row table), so a reader that wants a few rows reads them through Disk
	// and only they cost memory. Data stays valid (a mapping of the file).
	Disk io.ReaderAt
	off  int          // Data's offset in its file (GGUF), for mapFile's leave
	rw   *privateSpan // where Data is the process's own copy: how to write it; nil: a mapping of the file
}

// privateSpan is memory a file was read into: span, read-only outside
// Rewrite (nil span: the Go heap, always writable).
type privateSpan struct{ span []byte }

// Rewrite runs fn on the tensor's bytes, writable, where they are the
// process's own copy of the file rather than a mapping of it (the default
// for a GGUF file, formats' readResident), so a loader can convert them in
// place (kernels.Repack) without a second copy; they are read-only again
// afterwards. It reports false, without calling fn, where they are a
// mapping ($LOOM_MMAP=1, a file larger than half the memory, the other
// formats), which must never be written.
func (in *Info) Rewrite(fn func(data []byte)) (bool, error) {
	if in.rw == nil || len(in.Data) == 0 {
		return false, nil
	}
	if in.rw.span == nil {
		fn(in.Data)
		return true, nil
	}
	if err := protect(in.rw.span, in.Data, true); err != nil {
		return false, fmt.Errorf("rewrite %s: %w", in.Name, err)
	}
	fn(in.Data)
	if err := protect(in.rw.span, in.Data, false); err != nil {
		return true, fmt.Errorf("rewrite %s: read-only again: %w", in.Name, err)
	}
	return true, nil
}

// Elements is the product of the shape (1 for a scalar).
func (in *Info) Elements() int {
	n := 1
	for _, d := range in.Shape {
		n *= d
	}
	return n
}

// InfoSource is TensorSource; the name is kept for callers that asserted it
// when Info was not yet part of TensorSource.
type InfoSource interface {
	TensorSource
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

// Open opens a model by content: a GGUF file (magic "GGUF"), a safetensors
// file, a Hugging Face folder (config.json + *.safetensors), or a llama2.c
// checkpoint (.bin). A folder holding a .gguf or a llama2.c .bin (as
// ../shared/models/stories260K does) opens that file, preferring GGUF.
func Open(path string) (TensorSource, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	if st.IsDir() {
		return openDir(path)
	}
	head := make([]byte, llama2cHeaderBytes) // enough to see a llama2.c header too
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open model: %w", err)
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("GGUF")):
		return asSource(OpenGGUF(path))
	case looksSafetensors(head):
		return asSource(OpenSafetensors(path))
	case n >= llama2cHeaderBytes:
		// llama2.c checkpoints have no magic; a file that is none of the
		// above is tried as one, and its header must then match its size.
		src, err := OpenLlama2C(path)
		if err != nil {
			return nil, fmt.Errorf("open model %s: not GGUF or safetensors, and not a llama2.c checkpoint: %w", path, err)
		}
		return src, nil
	}
	return nil, fmt.Errorf("open model %s: %w: unrecognised file (not GGUF, safetensors or llama2.c)", path, ErrFormat)
}

// asSource keeps a failed open from returning a non-nil interface that holds
// a nil pointer.
func asSource[T TensorSource](s T, err error) (TensorSource, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openDir picks the model file inside a folder: HF safetensors folder first
// (config.json), then the first *.gguf, then a llama2.c *.bin that is not a
// tokenizer (tok*.bin).
func openDir(dir string) (TensorSource, error) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return asSource(OpenSafetensors(dir))
	}
	ggufs, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	sort.Strings(ggufs)
	if len(ggufs) > 0 {
		return asSource(OpenGGUF(ggufs[0]))
	}
	bins, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	sort.Strings(bins)
	for _, b := range bins {
		if base := filepath.Base(b); len(base) >= 3 && base[:3] == "tok" {
			continue
		}
		return asSource(OpenLlama2C(b))
	}
	return nil, fmt.Errorf("open model %s: no config.json, *.gguf or llama2.c *.bin in folder", dir)
}

// source is the shared implementation behind every reader: a table of raw
// tensor views over one or more mapped files.
type source struct {
	meta    Metadata
	infos   map[string]*Info
	closers []io.Closer
}

func newSource() *source { return &source{meta: Metadata{}, infos: map[string]*Info{}} }

func (s *source) Meta() Metadata { return s.meta }

func (s *source) Names() []string {
	names := make([]string, 0, len(s.infos))
	for n := range s.infos {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *source) Info(name string) (*Info, error) {
	in, ok := s.infos[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return in, nil
}

func (s *source) Close() error {
	var first error
	for _, c := range s.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	return first
}

func (s *source) add(in *Info) error {
	if _, dup := s.infos[in.Name]; dup {
		return formatErr("tensor %q appears twice", in.Name)
	}
	s.infos[in.Name] = in
	return nil
}

// checkedMul multiplies non-negative ints, reporting overflow past limit.
func checkedMul(limit int64, xs ...int64) (int64, bool) {
	p := int64(1)
	for _, x := range xs {
		if x < 0 {
			return 0, false
		}
		if x != 0 && p > limit/x {
			return 0, false
		}
		p *= x
	}
	return p, true
}

// MmapEnv names the environment variable that, set to 1, maps model files
// instead of reading them into memory (see mapFile).
const MmapEnv = "LOOM_MMAP"
