// Package schema makes and checks the JSON Schemas of job params. For
// derives a schema from a Go params type (its json tags and schema tags), so
// a plugin's manifest publishes exactly what its decoder accepts; Compile and
// Validate check a JSON document against a schema, which is how the gateway
// refuses bad params with 400 before a job is queued and how a plugin checks
// the same params again on its side.
//
// Loom's params schemas are JSON Schema (draft 2020-12) limited to the
// keywords listed in Keywords. A schema using any other keyword is refused by
// Compile (and so by `loom plugin check`) rather than half-checked.
package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// Provider is implemented by a params field type whose schema is not the
// one its Go type implies (say, a field that takes a string or a list).
type Provider interface {
	JSONSchema() map[string]any
}

// For returns the JSON Schema of the params type of v (a struct or a pointer
// to one). Each exported field with a json name becomes a property; objects
// refuse unknown keys ("additionalProperties": false). A field's
// `schema:"…"` tag adds comma-separated keywords:
//
//	required            the key must be present
//	minimum=N maximum=N exclusiveMinimum=N exclusiveMaximum=N
//	minLength=N maxLength=N minItems=N maxItems=N
//	enum=a|b|c          allowed values (parsed as the field's type)
//	default=V           documentation only: the value an absent key means
//	pattern=RE          (a string; commas cannot appear in it)
//
// and `doc:"…"` its description. Embedded structs add their fields. For
// panics on a type it cannot describe (channels, funcs, non-string map
// keys, a malformed tag): params types are fixed at compile time, so that is
// a programming error, caught by any test that builds a manifest.
func For(v any) json.RawMessage {
	t := reflect.TypeOf(v)
	if cached, ok := cache.Load(t); ok {
		return cached.(json.RawMessage)
	}
	s := typeSchema(t, "")
	raw, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("schema: %v: %v", t, err))
	}
	cache.Store(t, json.RawMessage(raw))
	return raw
}

var cache sync.Map // reflect.Type → json.RawMessage

var providerType = reflect.TypeFor[Provider]()

func typeSchema(t reflect.Type, where string) map[string]any {
	if t.Implements(providerType) {
		return reflect.Zero(t).Interface().(Provider).JSONSchema()
	}
	if t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(providerType) {
		return reflect.New(t).Interface().(Provider).JSONSchema()
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return map[string]any{} // any JSON value
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeSchema(t.Elem(), where)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": typeSchema(t.Elem(), where+"[]")}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			panic(fmt.Sprintf("schema: %s: map keys must be strings", where))
		}
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem(), where+"{}")}
	case reflect.Struct:
		return structSchema(t, where)
	}
	panic(fmt.Sprintf("schema: %s: cannot describe a %s", where, t))
}

func structSchema(t reflect.Type, where string) map[string]any {
	props := map[string]any{}
	var required []string
	var addFields func(t reflect.Type)
	addFields = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					addFields(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fs := typeSchema(f.Type, where+"."+name)
			if doc := f.Tag.Get("doc"); doc != "" {
				fs["description"] = doc
			}
			req, err := applyTag(fs, f.Type, f.Tag.Get("schema"))
			if err != nil {
				panic(fmt.Sprintf("schema: %s.%s: %v", where, name, err))
			}
			if req {
				required = append(required, name)
			}
			props[name] = fs
		}
	}
	addFields(t)
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// applyTag adds a field's schema tag keywords to fs and reports whether the
// field is required.
func applyTag(fs map[string]any, t reflect.Type, tag string) (required bool, err error) {
	if tag == "" {
		return false, nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for _, kv := range strings.Split(tag, ",") {
		key, val, hasVal := strings.Cut(strings.TrimSpace(kv), "=")
		switch key {
		case "required":
			required = true
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			n, err := strconv.ParseFloat(val, 64)
			if err != nil || !hasVal {
				return false, fmt.Errorf("%s=%q is not a number", key, val)
			}
			fs[key] = n
		case "minLength", "maxLength", "minItems", "maxItems":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return false, fmt.Errorf("%s=%q is not a count", key, val)
			}
			fs[key] = n
		case "pattern":
			fs[key] = val
		case "enum":
			var vals []any
			for _, v := range strings.Split(val, "|") {
				x, err := scalar(t, v)
				if err != nil {
					return false, fmt.Errorf("enum: %w", err)
				}
				vals = append(vals, x)
			}
			fs[key] = vals
		case "default":
			x, err := scalar(t, val)
			if err != nil {
				return false, fmt.Errorf("default: %w", err)
			}
			fs[key] = x
		default:
			return false, fmt.Errorf("unknown schema tag key %q", key)
		}
	}
	return required, nil
}

// scalar parses a tag value as a JSON value of kind t.
func scalar(t reflect.Type, v string) (any, error) {
	switch t.Kind() {
	case reflect.String:
		return v, nil
	case reflect.Bool:
		return strconv.ParseBool(v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.ParseInt(v, 10, 64)
	case reflect.Float32, reflect.Float64:
		return strconv.ParseFloat(v, 64)
	}
	return nil, fmt.Errorf("%q: only string, bool and number fields take enum or default values", v)
}
