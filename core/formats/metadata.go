package formats

import (
	"math"
	"sort"
)

// Metadata holds GGUF-style key/values. Values keep their GGUF type as a Go
// type so a file can be written back unchanged: uint8, int8, uint16, int16,
// uint32, int32, uint64, int64, float32, float64, bool, string, and arrays as
// []uint8 … []float64, []bool, []string, or []any for arrays of arrays.
// Readers of other formats (llama2.c, safetensors) fill the same keys.
type Metadata map[string]any

// String returns a string value.
func (m Metadata) String(key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}

// Int returns any integer value (of any width) as int64.
func (m Metadata) Int(key string) (int64, bool) {
	return asInt(m[key])
}

// IntOr returns Int(key) or def when absent.
func (m Metadata) IntOr(key string, def int64) int64 {
	if v, ok := m.Int(key); ok {
		return v
	}
	return def
}

// Float returns a float or integer value as float64.
func (m Metadata) Float(key string) (float64, bool) {
	switch v := m[key].(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	if i, ok := asInt(m[key]); ok {
		return float64(i), true
	}
	return 0, false
}

// FloatOr returns Float(key) or def when absent.
func (m Metadata) FloatOr(key string, def float64) float64 {
	if v, ok := m.Float(key); ok {
		return v
	}
	return def
}

// Bool returns a bool value.
func (m Metadata) Bool(key string) (bool, bool) {
	b, ok := m[key].(bool)
	return b, ok
}

// Strings returns a string array.
func (m Metadata) Strings(key string) ([]string, bool) {
	s, ok := m[key].([]string)
	return s, ok
}

// Float32s returns a float array (f32 or f64) as []float32.
func (m Metadata) Float32s(key string) ([]float32, bool) {
	switch v := m[key].(type) {
	case []float32:
		return v, true
	case []float64:
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out, true
	}
	return nil, false
}

// Ints returns an integer array of any width as []int64.
func (m Metadata) Ints(key string) ([]int64, bool) {
	var out []int64
	switch v := m[key].(type) {
	case []int32:
		out = make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
	case []uint32:
		out = make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
	case []int64:
		out = append(out, v...)
	case []int8:
		for _, x := range v {
			out = append(out, int64(x))
		}
	case []uint8:
		for _, x := range v {
			out = append(out, int64(x))
		}
	case []int16:
		for _, x := range v {
			out = append(out, int64(x))
		}
	case []uint16:
		for _, x := range v {
			out = append(out, int64(x))
		}
	case []uint64:
		for _, x := range v {
			if x > math.MaxInt64 {
				return nil, false
			}
			out = append(out, int64(x))
		}
	default:
		return nil, false
	}
	return out, true
}

// Keys lists the keys in sorted order.
func (m Metadata) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Arch is general.architecture ("llama", "qwen2", …), "" when absent.
func (m Metadata) Arch() string {
	s, _ := m.String("general.architecture")
	return s
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case int:
		return int64(x), true
	}
	return 0, false
}
