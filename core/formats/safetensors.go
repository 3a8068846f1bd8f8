package formats

import "fmt"

func looksSafetensors(head []byte) bool { return false }

func OpenSafetensors(path string) (TensorSource, error) {
	return nil, fmt.Errorf("safetensors: reader not landed yet")
}
