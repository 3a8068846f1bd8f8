package formats

import (
	"encoding/binary"
	"io"
	"math"
	"os"
)

// mappedFile is one model file's bytes as mapFile gives them.
type mappedFile struct {
	Data []byte // the whole file, read-only
	// Disk reads the file (offset 0 = Data[0]) when some of Data was left
	// mapped rather than read into memory (mapFile's leave); nil otherwise.
	Disk io.ReaderAt
	// private are the byte ranges of Data that are the process's own memory
	// (read in, not mapped), read-only until Info.Rewrite; heap: all of Data
	// is, in the Go heap (always writable).
	private []byteRange
	heap    bool
	close   func() error
}

// rewriter returns how the bytes data[lo:hi] can be rewritten in place, or
// nil where they are a mapping of the file.
func (m mappedFile) rewriter(lo, hi int) *privateSpan {
	if m.heap {
		return &privateSpan{}
	}
	for _, r := range m.private {
		if r.Lo <= lo && hi <= r.Hi {
			return &privateSpan{span: m.Data[r.Lo:r.Hi]}
		}
	}
	return nil
}

// Close releases Data (and Disk).
func (m mappedFile) Close() error { return m.close() }

// byteRange is the bytes [Lo, Hi) of a file.
type byteRange struct{ Lo, Hi int }

// readAll reads the file into the Go heap (nothing can stay on disk, so
// leave's ranges are read too).
func readAll(f *os.File, leave func(data []byte) []byteRange) (mappedFile, error) {
	data, err := io.ReadAll(f)
	if err != nil {
		return mappedFile{}, err
	}
	if leave != nil {
		leave(data)
	}
	return mappedFile{Data: data, heap: true, close: func() error { return nil }}, nil
}

// cursor reads little-endian values from a byte slice, never past its end.
// The first failure sticks in err so parsers can check once per record.
type cursor struct {
	b   []byte
	off int
	err error
}

func (c *cursor) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n < 0 || n > len(c.b)-c.off {
		c.err = formatErr("truncated at byte %d (need %d more, %d left)", c.off, n, len(c.b)-c.off)
		return nil
	}
	s := c.b[c.off : c.off+n]
	c.off += n
	return s
}

func (c *cursor) u8() uint8 {
	if s := c.take(1); s != nil {
		return s[0]
	}
	return 0
}

func (c *cursor) u16() uint16 {
	if s := c.take(2); s != nil {
		return binary.LittleEndian.Uint16(s)
	}
	return 0
}

func (c *cursor) u32() uint32 {
	if s := c.take(4); s != nil {
		return binary.LittleEndian.Uint32(s)
	}
	return 0
}

func (c *cursor) u64() uint64 {
	if s := c.take(8); s != nil {
		return binary.LittleEndian.Uint64(s)
	}
	return 0
}

func (c *cursor) i32() int32   { return int32(c.u32()) }
func (c *cursor) f32() float32 { return math.Float32frombits(c.u32()) }
func (c *cursor) f64() float64 { return math.Float64frombits(c.u64()) }

func (c *cursor) remaining() int { return len(c.b) - c.off }
