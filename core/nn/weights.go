// Package nn builds the layers of Loom's towers from core/kernels: Linear
// (f32 or quantized weights), Embedding, RMSNorm, rotary embeddings,
// Attention over a KV cache, the SwiGLU MLP and the Mixture-of-Experts block;
// and the blocks several towers share (resnet.go, transformer.go):
// ResnetBlock, Upsample2D, CrossAttention, FeedForward, MLP,
// TransformerBlock, Transformer2D and EncoderLayer.
//
// Layers bind their weights by name through a Binder, a prefix walker in the
// style of candle's VarBuilder: a tower says b.Sub("blk.%d", i).Linear("attn_q")
// and the binder resolves "blk.3.attn_q.weight" in the model file, checks its
// shape and records the first problem, so a tower's load reads top to bottom
// without an error check per tensor. Weights are views on the model file's
// bytes (mmap); nothing is copied except to fix a misaligned f32 tensor or to
// widen a storage type the kernels cannot multiply directly.
package nn

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/loomhq/loom/core/formats"
	"github.com/loomhq/loom/core/kernels"
)

// Matrix is a weight matrix (Rows, Cols) stored [out][in] as checkpoints
// store it: either float32 values or rows of a storage type with kernels.
type Matrix struct {
	Rows, Cols int
	F32        []float32     // (Rows, Cols) when stored as f32
	Data       []byte        // Rows × Type.RowBytes(Cols) otherwise
	Type       kernels.DType // storage type of Data (F32, the zero value, when F32 is set, or F32R32: F32 holds 32-row slivers)
}

// Quantized reports whether the matrix is stored in a non-f32 format.
func (m *Matrix) Quantized() bool { return m.F32 == nil }

// Row widens row r into dst (Cols).
func (m *Matrix) Row(dst []float32, r int) error {
	if r < 0 || r >= m.Rows || len(dst) < m.Cols {
		return fmt.Errorf("matrix row %d of %d (dst %d, cols %d)", r, m.Rows, len(dst), m.Cols)
	}
	if m.F32 != nil && m.Type == kernels.F32R32 {
		return fmt.Errorf("matrix row %d: f32r32 is read only by its products", r)
	}
	if m.F32 != nil {
		copy(dst, m.F32[r*m.Cols:(r+1)*m.Cols])
		return nil
	}
	rb, err := m.Type.RowBytes(m.Cols)
	if err != nil {
		return err
	}
	return m.Type.Dequantize(dst[:m.Cols], m.Data[r*rb:(r+1)*rb])
}

// Dense returns the matrix as float32 values: F32 itself, or a widened copy.
func (m *Matrix) Dense() ([]float32, error) {
	if m.F32 != nil && m.Type == kernels.F32R32 {
		out := make([]float32, m.Rows*m.Cols)
		kernels.UnpackF32Slivers(out, m.F32, m.Rows, m.Cols)
		return out, nil
	}
	if m.F32 != nil {
		return m.F32, nil
	}
	out := make([]float32, m.Rows*m.Cols)
	if err := m.Type.Dequantize(out, m.Data); err != nil {
		return nil, err
	}
	return out, nil
}

// float32View reinterprets little-endian f32 bytes in place; misaligned data
// (possible in a hand-made file) is copied instead.
func float32View(b []byte) []float32 {
	n := len(b) / 4
	if n == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		out := make([]float32, n)
		kernels.F32.Dequantize(out, b[:4*n])
		return out
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}

// Binder resolves weight names under a prefix. Errors are collected, not
// returned per call: check Err once after binding a whole tower.
type Binder struct {
	src    formats.InfoSource
	prefix string
	errs   *[]error
	repack bool // Linear and Stack repack (Repacking)
}

// NewBinder binds from a model file's tensors.
func NewBinder(src formats.InfoSource) *Binder {
	return &Binder{src: src, errs: new([]error)}
}

// Sub returns a binder for names under prefix.name ("blk.%d" with args).
func (b *Binder) Sub(format string, args ...any) *Binder {
	return &Binder{src: b.src, prefix: b.name(fmt.Sprintf(format, args...)), errs: b.errs, repack: b.repack}
}

// Repacking returns a binder (and Subs) whose Linear and Stack matrices are
// rewritten at bind time into their type's layout for decoding
// (kernels.DType.Repacked: q4_0 eight rows interleaved where the CPU has
// AVX-512 VNNI; f32 in 32-row slivers, kernels.F32R32, with AVX-512), in
// place, where the file's bytes are the process's own
// (formats.Info.Rewrite), so memory does not grow. The tensor's Info.Type
// then names the layout, so a second binding of it (another tower on the
// same source) sees it as it is. For towers whose linears are only ever
// multiplied (Linear.Forward, MatVecMany, the MoE kernel): a repacked
// matrix cannot be read by rows (Row, Dense) and splits only at multiples
// of eight rows. $LOOM_REPACK=0 turns it off (every matrix stays in its
// file's layout: the before side of a comparison).
func (b *Binder) Repacking() *Binder {
	c := *b
	c.repack = os.Getenv(RepackEnv) != "0"
	return &c
}

// RepackEnv names the environment variable that, set to 0, keeps matrices
// in their file's layout (Binder.Repacking).
const RepackEnv = "LOOM_REPACK"

func (b *Binder) name(n string) string {
	if b.prefix == "" {
		return n
	}
	return b.prefix + "." + n
}

// Err joins every binding error so far (nil when all went well).
func (b *Binder) Err() error { return errors.Join(*b.errs...) }

func (b *Binder) fail(format string, args ...any) {
	*b.errs = append(*b.errs, fmt.Errorf(format, args...))
}

// Has reports whether name (e.g. "output.weight") exists under the prefix.
func (b *Binder) Has(name string) bool {
	_, err := b.src.Info(b.name(name))
	return err == nil
}

// info fetches a tensor and checks its shape; want entries < 0 match any size.
func (b *Binder) info(name string, want ...int) *formats.Info {
	full := b.name(name)
	in, err := b.src.Info(full)
	if err != nil {
		b.fail("bind %s: %w", full, err)
		return nil
	}
	ok := len(in.Shape) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = want[i] < 0 || in.Shape[i] == want[i]
	}
	if !ok {
		b.fail("bind %s: shape %v, want %v", full, in.Shape, want)
		return nil
	}
	return in
}

// Vector binds a 1-D f32 tensor of n values (norm weights, biases); other
// storage types are widened.
func (b *Binder) Vector(name string, n int) []float32 {
	in := b.info(name, n)
	if in == nil {
		return nil
	}
	if in.Type == kernels.F32 {
		return float32View(in.Data)
	}
	out := make([]float32, n)
	if in.Type.Dequantize(out, in.Data) != nil {
		b.fail("bind %s: cannot widen %v to f32", b.name(name), in.Type)
		return nil
	}
	return out
}

// Matrix binds a 2-D tensor (rows, cols) in its stored format.
func (b *Binder) Matrix(name string, rows, cols int) Matrix {
	in := b.info(name, rows, cols)
	if in == nil {
		return Matrix{Rows: rows, Cols: cols}
	}
	return b.matrix(name, in, in.Shape[0], in.Shape[1], in.Data)
}

func (b *Binder) matrix(name string, in *formats.Info, rows, cols int, data []byte) Matrix {
	m := Matrix{Rows: rows, Cols: cols}
	if in.Type == kernels.F32 || in.Type == kernels.F32R32 {
		m.F32, m.Type = float32View(data), in.Type
		return m
	}
	if !in.Type.Computable() {
		b.fail("bind %s: storage type %v has no kernel", b.name(name), in.Type)
		return m
	}
	if rb, err := in.Type.RowBytes(cols); err != nil || rb*rows != len(data) {
		b.fail("bind %s: %d bytes for %d×%d %v", b.name(name), len(data), rows, cols, in.Type)
		return m
	}
	m.Data, m.Type = data, in.Type
	return m
}

// Embedding binds a (rows, cols) lookup table: Matrix, read through the
// file a row at a time where the loader left the table on disk.
func (b *Binder) Embedding(name string, rows, cols int) Embedding {
	e := Embedding{Table: b.Matrix(name, rows, cols)}
	if in, err := b.src.Info(b.name(name)); err == nil {
		e.Disk = in.Disk
	}
	return e
}

// Stack binds a 3-D tensor (n, rows, cols), such as GGUF's MoE expert
// tensors ffn_gate_exps (E, FF, D), as n matrices viewing its slices.
func (b *Binder) Stack(name string, n, rows, cols int) []Matrix {
	in := b.info(name, n, rows, cols)
	if in == nil {
		return nil
	}
	per := len(in.Data) / n
	out := make([]Matrix, n)
	for e := range out {
		out[e] = b.matrix(name, in, rows, cols, in.Data[e*per:(e+1)*per:(e+1)*per])
	}
	if out[0].Data != nil {
		b.repackMatrices(name, in, out)
	}
	return out
}

// repackMatrices rewrites the tensor in, bound as ms (one matrix, or a
// stack's), into its type's decode layout where the binder repacks and the
// bytes may be rewritten, and sets ms' and in's type to it; otherwise it
// leaves all as they are. It returns ms.
func (b *Binder) repackMatrices(name string, in *formats.Info, ms []Matrix) []Matrix {
	to := in.Type.Repacked()
	if !b.repack || to == in.Type {
		return ms
	}
	var scratch []byte
	var rerr error
	ok, err := in.Rewrite(func([]byte) {
		for _, m := range ms {
			if _, scratch, rerr = kernels.Repack(m.Data, in.Type, m.Rows, m.Cols, scratch); rerr != nil {
				return
			}
		}
	})
	if err = errors.Join(err, rerr); err != nil {
		b.fail("bind %s: repack: %w", b.name(name), err)
		return ms
	}
	if ok {
		in.Type = to
		for i := range ms {
			ms[i].Type = to
		}
	}
	return ms
}

// repackF32 rewrites the f32 matrix m, bound from in, into 32-row slivers
// (kernels.F32R32) where the binder repacks, the shape fits and m views
// in's bytes that may be rewritten, and sets m's and in's type to it.
func (b *Binder) repackF32(name string, in *formats.Info, m Matrix) Matrix {
	if !b.repack || m.Type != kernels.F32 || !kernels.SliversFit(m.Rows, m.Cols) ||
		len(in.Data) != 4*len(m.F32) || unsafe.Pointer(&in.Data[0]) != unsafe.Pointer(&m.F32[0]) {
		return m
	}
	var perr error
	ok, err := in.Rewrite(func([]byte) { perr = kernels.PackF32Slivers(m.F32, m.Rows, m.Cols) })
	if err = errors.Join(err, perr); err != nil {
		b.fail("bind %s: repack: %w", b.name(name), err)
		return m
	}
	if ok {
		in.Type, m.Type = kernels.F32R32, kernels.F32R32
	}
	return m
}

// Linear binds name.weight (out, in) and, when present, name.bias (out).
func (b *Binder) Linear(name string, out, in int) Linear {
	l := Linear{W: b.Matrix(name+".weight", out, in)}
	if (l.W.Data != nil || l.W.F32 != nil) && b.repack {
		if info, err := b.src.Info(b.name(name + ".weight")); err == nil {
			if l.W.F32 != nil {
				l.W = b.repackF32(name+".weight", info, l.W)
			} else {
				l.W = b.repackMatrices(name+".weight", info, []Matrix{l.W})[0]
			}
		}
	}
	if b.Has(name + ".bias") {
		l.Bias = b.Vector(name+".bias", out)
	}
	return l
}
