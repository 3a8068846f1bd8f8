package formats

import (
	"fmt"
	"unsafe"

	"github.com/loomhq/loom/core/tensor"
)

// Tensor wraps the tensor's bytes as a tensor.Tensor with its Loom shape,
// without copying — except when the bytes are not aligned to 4 (safetensors
// data may start at any offset), where a copy keeps f32 views legal.
func (in *Info) Tensor() (*tensor.Tensor, error) {
	data := in.Data
	if len(data) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(data)))%4 != 0 {
		data = append(make([]byte, 0, len(data)), data...)
	}
	t, err := tensor.FromBytes(in.Type, data, in.Shape...)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", in.Name, err)
	}
	return t, nil
}

func (s *source) Tensor(name string) (*tensor.Tensor, error) {
	in, err := s.Info(name)
	if err != nil {
		return nil, err
	}
	return in.Tensor()
}
