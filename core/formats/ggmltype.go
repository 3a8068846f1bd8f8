package formats

import "fmt"

// GGMLType is a tensor storage type by its GGUF type id (ggml's enum). It is
// the on-disk vocabulary shared by all readers; Info.Tensor maps it to
// tensor.DType.
type GGMLType uint32

// The GGUF type ids this package can size. Others make a file fail to open
// with a clear error rather than be misread.
const (
	TypeF32  GGMLType = 0
	TypeF16  GGMLType = 1
	TypeQ4_0 GGMLType = 2
	TypeQ4_1 GGMLType = 3
	TypeQ5_0 GGMLType = 6
	TypeQ5_1 GGMLType = 7
	TypeQ8_0 GGMLType = 8
	TypeQ2_K GGMLType = 10
	TypeQ3_K GGMLType = 11
	TypeQ4_K GGMLType = 12
	TypeQ5_K GGMLType = 13
	TypeQ6_K GGMLType = 14
	TypeI8   GGMLType = 24
	TypeI16  GGMLType = 25
	TypeI32  GGMLType = 26
	TypeF64  GGMLType = 28
	TypeBF16 GGMLType = 30
)

// ggmlTraits: elements per block and bytes per block (ggml's type_traits).
type ggmlTraits struct {
	name       string
	blockElems int
	blockBytes int
}

var ggmlTable = map[GGMLType]ggmlTraits{
	TypeF32:  {"f32", 1, 4},
	TypeF16:  {"f16", 1, 2},
	TypeQ4_0: {"q4_0", 32, 18},
	TypeQ4_1: {"q4_1", 32, 20},
	TypeQ5_0: {"q5_0", 32, 22},
	TypeQ5_1: {"q5_1", 32, 24},
	TypeQ8_0: {"q8_0", 32, 34},
	TypeQ2_K: {"q2_K", 256, 84},
	TypeQ3_K: {"q3_K", 256, 110},
	TypeQ4_K: {"q4_K", 256, 144},
	TypeQ5_K: {"q5_K", 256, 176},
	TypeQ6_K: {"q6_K", 256, 210},
	TypeI8:   {"i8", 1, 1},
	TypeI16:  {"i16", 1, 2},
	TypeI32:  {"i32", 1, 4},
	TypeF64:  {"f64", 1, 8},
	TypeBF16: {"bf16", 1, 2},
}

func (t GGMLType) String() string {
	if tr, ok := ggmlTable[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("ggml_type(%d)", uint32(t))
}

// Known reports whether the type's block layout is known.
func (t GGMLType) Known() bool { _, ok := ggmlTable[t]; return ok }

// BlockElems is the number of elements one block holds (1 for plain types).
func (t GGMLType) BlockElems() int { return ggmlTable[t].blockElems }

// dataSize returns the byte size of a tensor of this type with the given Loom
// shape (innermost dimension last), checking that rows are whole blocks and
// that nothing overflows limit.
func (t GGMLType) dataSize(shape []int, limit int64) (int64, error) {
	tr, ok := ggmlTable[t]
	if !ok {
		return 0, formatErr("unsupported tensor type %v", t)
	}
	dims := make([]int64, len(shape))
	for i, d := range shape {
		if d < 0 {
			return 0, formatErr("negative dimension %d", d)
		}
		dims[i] = int64(d)
	}
	inner := int64(1)
	if len(dims) > 0 {
		inner = dims[len(dims)-1]
	}
	if inner%int64(tr.blockElems) != 0 {
		return 0, formatErr("%v row of %d elements is not a whole number of %d-element blocks", t, inner, tr.blockElems)
	}
	elems, ok := checkedMul(limit, dims...)
	if !ok {
		return 0, formatErr("tensor shape %v overflows", shape)
	}
	size, ok := checkedMul(limit, elems/int64(tr.blockElems), int64(tr.blockBytes))
	if !ok {
		return 0, formatErr("tensor shape %v is larger than the file", shape)
	}
	return size, nil
}
