package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

// decodeJSON reads the request body into v. Unknown fields are ignored (OpenAI
// clients send many we do not use); a malformed body, a wrong type or trailing
// data is a 400 naming the problem, a body over the limit a 413.
func decodeJSON(c *gin.Context, v any) error {
	// The body is JSON whatever the Content-Type says (curl -d sends a form
	// type); only a multipart body is surely a mistake.
	if ct := c.ContentType(); strings.HasPrefix(ct, "multipart/") {
		return apiErrorf(http.StatusUnsupportedMediaType, sdk.CodeUnsupportedMediaType, "Content-Type %q: send application/json", ct)
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		return bodyReadError(err)
	}
	return decodeBytes(body, v)
}

// bodyReadError is the answer to a request body that could not be read:
// too large (413, from bodyLimit), too slow (408, from bodyDeadline), or
// broken off (400).
func bodyReadError(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return apiErrorf(http.StatusRequestTimeout, sdk.CodeRequestTimeout, "request body not received in time")
	}
	return badRequest("reading body: %v", err)
}

// decodeBytes is decodeJSON's parser, separate so the fuzz target can drive it.
func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("empty body: send a JSON object")
	}
	// encoding/json would turn each bad byte into U+FFFD silently; a prompt
	// the client did not mean is worse than a clear refusal.
	if !utf8.Valid(body) {
		return badRequest("body is not valid UTF-8 (first bad byte at offset %d)", invalidUTF8At(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err, reflect.TypeOf(v))
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("malformed JSON: data after the top-level value")
	}
	return nil
}

// invalidUTF8At is the offset of the first byte of b that is not valid UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// jsonError turns a decode error into a 400 naming the field as the client
// wrote it; root is the type decoded into.
func jsonError(err error, root reflect.Type) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := clientFieldPath(root, te.Field)
		if field == "" {
			return badRequest("body must be a JSON object, not %s", te.Value)
		}
		return badRequest("%s: expected %s, got %s", field, jsonTypeName(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("malformed JSON: unexpected end of body")
	default:
		var ae *APIError
		if errors.As(err, &ae) {
			return ae
		}
		return badRequest("malformed JSON: %v", err)
	}
}

// clientFieldPath rewrites encoding/json's dotted field path (which names
// embedded Go structs, e.g. "samplingRequest.max_tokens") into the JSON keys
// the client sent ("max_tokens"): components naming an embedded struct of
// the decoded type are dropped.
func clientFieldPath(root reflect.Type, path string) string {
	if path == "" {
		return ""
	}
	var out []string
	t := root
	for _, part := range strings.Split(path, ".") {
		t = elemType(t)
		if t == nil || t.Kind() != reflect.Struct {
			out = append(out, part)
			t = nil
			continue
		}
		f, embedded := jsonField(t, part)
		if !embedded {
			out = append(out, part)
		}
		t = nil
		if f != nil {
			t = f.Type
		}
	}
	return strings.Join(out, ".")
}

// elemType looks through pointers, slices, arrays and maps to the type of
// the values encoding/json descends into.
func elemType(t reflect.Type) reflect.Type {
	for t != nil {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			t = t.Elem()
		default:
			return t
		}
	}
	return nil
}

// jsonField finds the field of struct t that encoding/json's path component
// name stands for: an embedded struct (embedded = true) or a field with that
// JSON key.
func jsonField(t reflect.Type, name string) (f *reflect.StructField, embedded bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		key, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if sf.Anonymous && key == "" && sf.Name == name {
			return &sf, true
		}
		if key == "" {
			key = sf.Name
		}
		if key == name {
			return &sf, false
		}
	}
	return nil, false
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	default:
		return kind
	}
}

// stringOrList is a JSON string or array of strings (OpenAI's "stop", "prompt").
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var l tasks.Stop // the same two forms as the text tasks' stop param
	if err := l.UnmarshalJSON(b); err != nil {
		return badRequest("expected a string or an array of strings")
	}
	*s = stringOrList(l)
	return nil
}

func checkRange(name string, v *float64, lo, hi float64) error {
	if v != nil && (*v < lo || *v > hi || *v != *v) {
		return badRequest("%s: %g is outside [%g, %g]", name, *v, lo, hi)
	}
	return nil
}

func checkIntRange(name string, v *int, lo, hi int) error {
	if v != nil && (*v < lo || *v > hi) {
		return badRequest("%s: %d is outside [%d, %d]", name, *v, lo, hi)
	}
	return nil
}

var errFieldRequired = func(name string) error {
	e := badRequest("%s is required", name)
	e.Param = name
	return e
}

func fieldTooLong(name string, n, limit int) error {
	return badRequest("%s: %d bytes is over the %d byte limit", name, n, limit)
}
