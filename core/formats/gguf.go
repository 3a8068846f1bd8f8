package formats

// GGUF reader (versions 2 and 3), from the format spec in ggml's docs/gguf.md:
//
//	magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
//	kv_count × (key string, value_type u32, value)
//	tensor_count × (name string, n_dims u32, ne[n_dims] u64, type u32, offset u64)
//	padding to general.alignment (default 32) | tensor data
//
// Strings are u64 length + bytes; arrays are element type u32, count u64,
// elements. ne lists dimensions innermost first; Loom shapes are outermost
// first, so the reader reverses it (ne=[in, out] → shape (out, in)).

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/loomhq/loom/core/kernels"
)

// GGUF metadata value types.
const (
	ggufU8 uint32 = iota
	ggufI8
	ggufU16
	ggufI16
	ggufU32
	ggufI32
	ggufF32
	ggufBool
	ggufString
	ggufArray
	ggufU64
	ggufI64
	ggufF64
)

const (
	ggufMagic        = 0x46554747 // "GGUF" little-endian
	ggufMaxDims      = 4
	ggufMaxNesting   = 4
	ggufDefaultAlign = 32
)

// GGUFFile is an open GGUF file.
type GGUFFile struct {
	*source
	Version   uint32
	Alignment int
	DataStart int64 // file offset of the tensor data section
}

// OpenGGUF maps a GGUF file. Its row tables (rowTables) are left out of
// the bytes read into memory and read a row at a time through Info.Disk.
func OpenGGUF(path string) (*GGUFFile, error) {
	var g *GGUFFile
	var perr error
	m, err := mapFile(path, func(data []byte) []byteRange {
		if g, perr = ParseGGUF(data); perr != nil {
			return nil
		}
		var rs []byteRange
		for _, in := range g.rowTables() {
			rs = append(rs, byteRange{in.off, in.off + len(in.Data)})
		}
		return rs
	})
	if err == nil && perr != nil {
		err = errors.Join(perr, m.Close())
	}
	if err != nil {
		return nil, fmt.Errorf("open gguf %s: %w", path, err)
	}
	if m.Disk != nil {
		for _, in := range g.rowTables() {
			in.Disk = io.NewSectionReader(m.Disk, int64(in.off), int64(len(in.Data)))
		}
	}
	for _, in := range g.infos {
		in.rw = m.rewriter(in.off, in.off+len(in.Data))
	}
	g.closers = append(g.closers, m)
	return g, nil
}

// rowTables are the tensors a model only looks rows up in, by llama.cpp's
// names: the token embedding when the file has an output matrix of its own
// (without one the embedding is the output too, and every row is read each
// token). Held on disk, a table costs the memory of the rows a generation
// uses, not its whole vocabulary: 13–25 MiB of a 134M Llama's 78–136 MiB.
func (g *GGUFFile) rowTables() []*Info {
	emb, ok := g.infos["token_embd.weight"]
	if _, out := g.infos["output.weight"]; !ok || !out {
		return nil
	}
	return []*Info{emb}
}

// ParseGGUF reads a GGUF file held in memory; tensors are views on data.
func ParseGGUF(data []byte) (*GGUFFile, error) {
	c := &cursor{b: data}
	if magic := c.u32(); c.err == nil && magic != ggufMagic {
		return nil, formatErr("gguf: bad magic %#x", magic)
	}
	version := c.u32()
	nTensors := c.u64()
	nKV := c.u64()
	if c.err != nil {
		return nil, fmt.Errorf("gguf header: %w", c.err)
	}
	if version != 2 && version != 3 {
		return nil, formatErr("gguf: version %d not supported (2 and 3 are)", version)
	}
	// Each kv takes at least 8+4+1 bytes and each tensor info 8+4+4+8, so
	// counts beyond that are lies; checking first bounds the allocations.
	if nKV > uint64(c.remaining())/13 {
		return nil, formatErr("gguf: %d metadata entries cannot fit in %d bytes", nKV, len(data))
	}
	if nTensors > uint64(c.remaining())/24 {
		return nil, formatErr("gguf: %d tensors cannot fit in %d bytes", nTensors, len(data))
	}
	g := &GGUFFile{source: newSource(), Version: version, Alignment: ggufDefaultAlign}
	for i := uint64(0); i < nKV; i++ {
		key := c.str()
		typ := c.u32()
		if c.err != nil {
			return nil, fmt.Errorf("gguf metadata %d: %w", i, c.err)
		}
		v, err := c.ggufValue(typ, 0)
		if err != nil {
			return nil, fmt.Errorf("gguf metadata %q: %w", key, err)
		}
		if _, dup := g.meta[key]; dup {
			return nil, formatErr("gguf: metadata key %q appears twice", key)
		}
		g.meta[key] = v
	}
	if a, ok := g.meta["general.alignment"]; ok {
		av, isU32 := a.(uint32)
		if !isU32 || av == 0 || av&(av-1) != 0 || av > 1<<20 {
			return nil, formatErr("gguf: general.alignment %v is not a power of two u32", a)
		}
		g.Alignment = int(av)
	}
	type pending struct {
		info   *Info
		offset uint64
		size   int64
	}
	infos := make([]pending, 0, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		name := c.str()
		nDims := c.u32()
		if c.err != nil {
			return nil, fmt.Errorf("gguf tensor %d: %w", i, c.err)
		}
		if nDims > ggufMaxDims {
			return nil, formatErr("gguf tensor %q: %d dimensions (max %d)", name, nDims, ggufMaxDims)
		}
		shape := make([]int, nDims)
		for d := uint32(0); d < nDims; d++ {
			ne := c.u64()
			if ne > math.MaxInt32*16 { // no real dimension is this large; keeps int math safe
				return nil, formatErr("gguf tensor %q: dimension %d is %d", name, d, ne)
			}
			shape[nDims-1-d] = int(ne)
		}
		typ := kernels.DType(c.u32())
		off := c.u64()
		if c.err != nil {
			return nil, fmt.Errorf("gguf tensor %q: %w", name, c.err)
		}
		size, err := dataSize(typ, shape, int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("gguf tensor %q: %w", name, err)
		}
		if off%uint64(g.Alignment) != 0 {
			return nil, formatErr("gguf tensor %q: offset %d not aligned to %d", name, off, g.Alignment)
		}
		infos = append(infos, pending{&Info{Name: name, Type: typ, Shape: shape}, off, size})
	}
	start := int64(c.off)
	if rem := start % int64(g.Alignment); rem != 0 {
		start += int64(g.Alignment) - rem
	}
	if start > int64(len(data)) && len(infos) > 0 {
		return nil, formatErr("gguf: data section starts past the end of the file")
	}
	g.DataStart = start
	for _, p := range infos {
		avail := int64(len(data)) - start
		if p.offset > uint64(avail) || p.size > avail-int64(p.offset) {
			return nil, formatErr("gguf tensor %q: bytes [%d, %d) of the data section run past the file (%d bytes)",
				p.info.Name, p.offset, int64(p.offset)+p.size, avail)
		}
		lo := start + int64(p.offset)
		p.info.Data = data[lo : lo+p.size : lo+p.size]
		p.info.off = int(lo)
		if err := g.add(p.info); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (c *cursor) str() string {
	n := c.u64()
	if c.err != nil {
		return ""
	}
	if n > uint64(c.remaining()) {
		c.err = formatErr("string of %d bytes with %d left", n, c.remaining())
		return ""
	}
	return string(c.take(int(n)))
}

// ggufMinSize is the smallest encoding of one value of each type, used to
// bound array counts before allocating.
func ggufMinSize(typ uint32) int {
	switch typ {
	case ggufU8, ggufI8, ggufBool:
		return 1
	case ggufU16, ggufI16:
		return 2
	case ggufU32, ggufI32, ggufF32:
		return 4
	case ggufU64, ggufI64, ggufF64, ggufString:
		return 8
	case ggufArray:
		return 12
	}
	return 0
}

func (c *cursor) ggufValue(typ uint32, depth int) (any, error) {
	var v any
	switch typ {
	case ggufU8:
		v = c.u8()
	case ggufI8:
		v = int8(c.u8())
	case ggufU16:
		v = c.u16()
	case ggufI16:
		v = int16(c.u16())
	case ggufU32:
		v = c.u32()
	case ggufI32:
		v = c.i32()
	case ggufF32:
		v = c.f32()
	case ggufU64:
		v = c.u64()
	case ggufI64:
		v = int64(c.u64())
	case ggufF64:
		v = c.f64()
	case ggufBool:
		b := c.u8()
		if b > 1 && c.err == nil {
			return nil, formatErr("bool value %d", b)
		}
		v = b == 1
	case ggufString:
		v = c.str()
	case ggufArray:
		if depth >= ggufMaxNesting {
			return nil, formatErr("arrays nested deeper than %d", ggufMaxNesting)
		}
		et := c.u32()
		n := c.u64()
		if c.err != nil {
			return nil, c.err
		}
		min := ggufMinSize(et)
		if min == 0 {
			return nil, formatErr("array of unknown value type %d", et)
		}
		if n > uint64(c.remaining()/min) {
			return nil, formatErr("array of %d values cannot fit in %d bytes", n, c.remaining())
		}
		return c.ggufArray(et, int(n), depth)
	default:
		return nil, formatErr("unknown value type %d", typ)
	}
	return v, c.err
}

func (c *cursor) ggufArray(et uint32, n int, depth int) (any, error) {
	switch et {
	case ggufU8:
		return fill(n, c.u8), c.err
	case ggufI8:
		return fill(n, func() int8 { return int8(c.u8()) }), c.err
	case ggufU16:
		return fill(n, c.u16), c.err
	case ggufI16:
		return fill(n, func() int16 { return int16(c.u16()) }), c.err
	case ggufU32:
		return fill(n, c.u32), c.err
	case ggufI32:
		return fill(n, c.i32), c.err
	case ggufF32:
		return fill(n, c.f32), c.err
	case ggufU64:
		return fill(n, c.u64), c.err
	case ggufI64:
		return fill(n, func() int64 { return int64(c.u64()) }), c.err
	case ggufF64:
		return fill(n, c.f64), c.err
	case ggufString:
		return fill(n, c.str), c.err
	case ggufBool:
		out := make([]bool, n)
		for i := range out {
			b := c.u8()
			if b > 1 && c.err == nil {
				return nil, formatErr("bool value %d", b)
			}
			out[i] = b == 1
		}
		return out, c.err
	}
	out := make([]any, n)
	for i := range out {
		v, err := c.ggufValue(et, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// fill reads n values, stopping early (zeros) once the cursor has failed.
func fill[T any](n int, read func() T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = read()
	}
	return out
}
