package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads the request body into v. Unknown fields are ignored (OpenAI
// clients send many we do not use); a malformed body, a wrong type or trailing
// data is a 400 naming the problem, a body over the limit a 413.
func decodeJSON(c *gin.Context, v any) error {
	// The body is JSON whatever the Content-Type says (curl -d sends a form
	// type); only a multipart body is surely a mistake.
	if ct := c.ContentType(); strings.HasPrefix(ct, "multipart/") {
		return apiErrorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q: send application/json", ct)
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("reading body: %v", err)
	}
	return decodeBytes(body, v)
}

// decodeBytes is decodeJSON's parser, separate so the fuzz target can drive it.
func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("empty body: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("malformed JSON: data after the top-level value")
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
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
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*s = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return badRequest("expected a string or an array of strings")
	}
	*s = many
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

var errFieldRequired = func(name string) error { return badRequest("%s is required", name) }

func fieldTooLong(name string, n, limit int) error {
	return badRequest("%s: %d bytes is over the %d byte limit", name, n, limit)
}
