package formats

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
)

// WriteGGUF writes a GGUF v3 file: meta (typed as Metadata documents; keys in
// sorted order after general.architecture) and tensors in the order given,
// each at an offset aligned to general.alignment (default 32). Shapes are
// Loom order and are written reversed as GGUF's ne.
func WriteGGUF(w io.Writer, meta Metadata, tensors []*Info) error {
	align := uint64(ggufDefaultAlign)
	if a, ok := meta["general.alignment"]; ok {
		av, isU32 := a.(uint32)
		if !isU32 || av == 0 || av&(av-1) != 0 {
			return fmt.Errorf("write gguf: general.alignment must be a power-of-two uint32, got %v", a)
		}
		align = uint64(av)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	e := &encoder{w: bw}
	e.u32(ggufMagic)
	e.u32(3)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(meta)))
	keys := meta.Keys()
	sort.SliceStable(keys, func(i, j int) bool { return keys[i] == "general.architecture" && keys[j] != keys[i] })
	for _, k := range keys {
		e.str(k)
		if err := e.value(meta[k], true); err != nil {
			return fmt.Errorf("write gguf: key %q: %w", k, err)
		}
	}
	offset := uint64(0)
	seen := map[string]bool{}
	for _, t := range tensors {
		if seen[t.Name] {
			return fmt.Errorf("write gguf: tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		if len(t.Shape) > ggufMaxDims {
			return fmt.Errorf("write gguf: tensor %q has %d dims (max %d)", t.Name, len(t.Shape), ggufMaxDims)
		}
		size, err := dataSize(t.Type, t.Shape, math.MaxInt64)
		if err != nil {
			return fmt.Errorf("write gguf: tensor %q: %w", t.Name, err)
		}
		if size != int64(len(t.Data)) {
			return fmt.Errorf("write gguf: tensor %q: %d bytes of data, shape %v of %v needs %d", t.Name, len(t.Data), t.Shape, t.Type, size)
		}
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for i := len(t.Shape) - 1; i >= 0; i-- {
			e.u64(uint64(t.Shape[i]))
		}
		e.u32(uint32(t.Type))
		e.u64(offset)
		offset += padTo(uint64(size), align)
	}
	e.pad(align)
	for _, t := range tensors {
		e.bytes(t.Data)
		e.pad(align)
	}
	if e.err != nil {
		return fmt.Errorf("write gguf: %w", e.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write gguf: %w", err)
	}
	return nil
}

func padTo(n, align uint64) uint64 { return (n + align - 1) / align * align }

// encoder writes little-endian GGUF values, counting bytes for padding.
type encoder struct {
	w   io.Writer
	n   uint64
	err error
	buf [8]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err != nil {
		return
	}
	var n int
	n, e.err = e.w.Write(b)
	e.n += uint64(n)
}

func (e *encoder) u8(v uint8) { e.bytes([]byte{v}) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.bytes(e.buf[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.bytes(e.buf[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.bytes(e.buf[:8])
}
func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.bytes([]byte(s))
}
func (e *encoder) pad(align uint64) {
	if r := e.n % align; r != 0 {
		e.bytes(make([]byte, align-r))
	}
}

// ggufTypeOf is the GGUF value type of a Go value as Metadata documents.
func ggufTypeOf(v any) (uint32, bool) {
	switch v.(type) {
	case uint8:
		return ggufU8, true
	case int8:
		return ggufI8, true
	case uint16:
		return ggufU16, true
	case int16:
		return ggufI16, true
	case uint32:
		return ggufU32, true
	case int32:
		return ggufI32, true
	case float32:
		return ggufF32, true
	case bool:
		return ggufBool, true
	case string:
		return ggufString, true
	case uint64:
		return ggufU64, true
	case int64:
		return ggufI64, true
	case float64:
		return ggufF64, true
	case []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool, []string, []uint64, []int64, []float64, []any:
		return ggufArray, true
	}
	return 0, false
}

// value writes a value; withType prefixes its type id, which only a
// key/value pair carries (array elements, nested arrays included, never do).
func (e *encoder) value(v any, withType bool) error {
	typ, ok := ggufTypeOf(v)
	if !ok {
		return fmt.Errorf("unsupported metadata value type %T", v)
	}
	if withType {
		e.u32(typ)
	}
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case []any:
		et := ggufString // an empty array of arrays is written as an empty string array
		if len(x) > 0 {
			et, _ = ggufTypeOf(x[0])
		}
		e.u32(et)
		e.u64(uint64(len(x)))
		for _, el := range x {
			if t, ok := ggufTypeOf(el); !ok || t != et {
				return fmt.Errorf("array mixes %T with other types", el)
			}
			if err := e.value(el, false); err != nil {
				return err
			}
		}
	default:
		return e.array(v)
	}
	return e.err
}

func (e *encoder) array(v any) error {
	writeAll := func(et uint32, n int, one func(i int)) {
		e.u32(et)
		e.u64(uint64(n))
		for i := 0; i < n; i++ {
			one(i)
		}
	}
	switch x := v.(type) {
	case []uint8:
		writeAll(ggufU8, len(x), func(i int) { e.u8(x[i]) })
	case []int8:
		writeAll(ggufI8, len(x), func(i int) { e.u8(uint8(x[i])) })
	case []uint16:
		writeAll(ggufU16, len(x), func(i int) { e.u16(x[i]) })
	case []int16:
		writeAll(ggufI16, len(x), func(i int) { e.u16(uint16(x[i])) })
	case []uint32:
		writeAll(ggufU32, len(x), func(i int) { e.u32(x[i]) })
	case []int32:
		writeAll(ggufI32, len(x), func(i int) { e.u32(uint32(x[i])) })
	case []float32:
		writeAll(ggufF32, len(x), func(i int) { e.u32(math.Float32bits(x[i])) })
	case []bool:
		writeAll(ggufBool, len(x), func(i int) {
			if x[i] {
				e.u8(1)
			} else {
				e.u8(0)
			}
		})
	case []string:
		writeAll(ggufString, len(x), func(i int) { e.str(x[i]) })
	case []uint64:
		writeAll(ggufU64, len(x), func(i int) { e.u64(x[i]) })
	case []int64:
		writeAll(ggufI64, len(x), func(i int) { e.u64(uint64(x[i])) })
	case []float64:
		writeAll(ggufF64, len(x), func(i int) { e.u64(math.Float64bits(x[i])) })
	default:
		return fmt.Errorf("unsupported metadata value type %T", v)
	}
	return e.err
}
