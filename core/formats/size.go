package formats

import "github.com/loomhq/loom/core/kernels"

// dataSize returns the byte size of a tensor of type t (a row of the dtype
// table in core/kernels) with the given Loom shape (innermost dimension
// last), checking that rows are whole blocks and that nothing overflows
// limit. An unknown type makes the file fail to open with a clear error
// rather than be misread.
func dataSize(t kernels.DType, shape []int, limit int64) (int64, error) {
	if !t.Stored() {
		return 0, formatErr("unsupported tensor type %v", t)
	}
	bs, bb := int64(t.BlockSize()), int64(t.BlockBytes())
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
	if inner%bs != 0 {
		return 0, formatErr("%v row of %d elements is not a whole number of %d-element blocks", t, inner, bs)
	}
	elems, ok := checkedMul(limit, dims...)
	if !ok {
		return 0, formatErr("tensor shape %v overflows", shape)
	}
	size, ok := checkedMul(limit, elems/bs, bb)
	if !ok {
		return 0, formatErr("tensor shape %v is larger than the file", shape)
	}
	return size, nil
}
