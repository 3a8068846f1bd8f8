package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Keywords are the JSON Schema keywords Compile understands. Assertions are
// checked; annotations (description, default, …) are accepted and ignored.
var Keywords = struct{ Assertions, Annotations []string }{
	Assertions: []string{"type", "enum", "const", "properties", "required", "additionalProperties",
		"minProperties", "maxProperties", "items", "minItems", "maxItems", "uniqueItems",
		"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
		"minLength", "maxLength", "pattern", "allOf", "anyOf", "oneOf", "not"},
	Annotations: []string{"$schema", "$id", "$comment", "title", "description", "default", "examples",
		"format", "deprecated", "readOnly", "writeOnly", "contentMediaType", "contentEncoding"},
}

// MaxBytes bounds a schema Compile accepts: manifests come from plugin
// processes, which the gateway does not trust to be small.
const MaxBytes = 1 << 20

// Schema is a compiled schema; Validate checks documents against it. A nil
// *Schema (or the boolean schema true) accepts everything.
type Schema struct {
	never bool // the boolean schema false

	types      []string
	enum       []any
	constVal   *any
	props      map[string]*Schema
	required   []string
	addl       *Schema // nil: any additional property
	minProps   int
	maxProps   int // -1: none
	items      *Schema
	minItems   int
	maxItems   int // -1: none
	unique     bool
	min, max   *float64
	xmin, xmax *float64
	multipleOf float64
	minLen     int
	maxLen     int // -1: none
	pattern    *regexp.Regexp
	allOf      []*Schema
	anyOf      []*Schema
	oneOf      []*Schema
	not        *Schema
}

// Compile parses a JSON Schema. It refuses keywords outside Keywords (so a
// schema is never half-checked), malformed values and schemas over MaxBytes.
// An empty raw compiles to nil, which accepts everything.
func Compile(raw []byte) (*Schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	if len(raw) > MaxBytes {
		return nil, fmt.Errorf("schema: %d bytes; the limit is %d", len(raw), MaxBytes)
	}
	v, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return compile(v, "#", 0)
}

const maxDepth = 64

func compile(v any, at string, depth int) (*Schema, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("schema: %s: nested deeper than %d", at, maxDepth)
	}
	switch x := v.(type) {
	case bool:
		return &Schema{never: !x, maxProps: -1, maxItems: -1, maxLen: -1}, nil
	case map[string]any:
		s := &Schema{maxProps: -1, maxItems: -1, maxLen: -1}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := s.keyword(k, x[k], at+"/"+k, depth); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	return nil, fmt.Errorf("schema: %s: a schema is an object or a boolean", at)
}

func (s *Schema) keyword(k string, v any, at string, depth int) error {
	bad := func(what string) error { return fmt.Errorf("schema: %s: %s", at, what) }
	sub := func(v any) (*Schema, error) { return compile(v, at, depth+1) }
	subs := func(v any) ([]*Schema, error) {
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return nil, bad("must be a non-empty array of schemas")
		}
		out := make([]*Schema, len(list))
		for i, e := range list {
			var err error
			if out[i], err = compile(e, fmt.Sprintf("%s/%d", at, i), depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	num := func() (*float64, error) {
		n, ok := v.(json.Number)
		if !ok {
			return nil, bad("must be a number")
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, bad("must be a finite number")
		}
		return &f, nil
	}
	count := func() (int, error) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, bad("must be a non-negative integer")
		}
		i, err := strconv.Atoi(n.String())
		if err != nil || i < 0 {
			return 0, bad("must be a non-negative integer")
		}
		return i, nil
	}
	var err error
	switch k {
	case "type":
		switch t := v.(type) {
		case string:
			s.types = []string{t}
		case []any:
			for _, e := range t {
				str, ok := e.(string)
				if !ok {
					return bad("must be a type name or a list of them")
				}
				s.types = append(s.types, str)
			}
		default:
			return bad("must be a type name or a list of them")
		}
		for _, t := range s.types {
			if !slices.Contains([]string{"null", "boolean", "object", "array", "number", "integer", "string"}, t) {
				return bad(fmt.Sprintf("%q is not a JSON Schema type", t))
			}
		}
	case "enum":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return bad("must be a non-empty array")
		}
		s.enum = list
	case "const":
		s.constVal = &v
	case "properties":
		m, ok := v.(map[string]any)
		if !ok {
			return bad("must be an object of schemas")
		}
		s.props = map[string]*Schema{}
		for name, ps := range m {
			if s.props[name], err = compile(ps, at+"/"+name, depth+1); err != nil {
				return err
			}
		}
	case "required":
		list, ok := v.([]any)
		if !ok {
			return bad("must be an array of names")
		}
		for _, e := range list {
			name, ok := e.(string)
			if !ok {
				return bad("must be an array of names")
			}
			s.required = append(s.required, name)
		}
	case "additionalProperties":
		s.addl, err = sub(v)
	case "items":
		s.items, err = sub(v)
	case "not":
		s.not, err = sub(v)
	case "allOf":
		s.allOf, err = subs(v)
	case "anyOf":
		s.anyOf, err = subs(v)
	case "oneOf":
		s.oneOf, err = subs(v)
	case "minProperties":
		s.minProps, err = count()
	case "maxProperties":
		s.maxProps, err = count()
	case "minItems":
		s.minItems, err = count()
	case "maxItems":
		s.maxItems, err = count()
	case "minLength":
		s.minLen, err = count()
	case "maxLength":
		s.maxLen, err = count()
	case "uniqueItems":
		b, ok := v.(bool)
		if !ok {
			return bad("must be a boolean")
		}
		s.unique = b
	case "minimum":
		s.min, err = num()
	case "maximum":
		s.max, err = num()
	case "exclusiveMinimum":
		s.xmin, err = num()
	case "exclusiveMaximum":
		s.xmax, err = num()
	case "multipleOf":
		var m *float64
		if m, err = num(); err == nil {
			if *m <= 0 {
				return bad("must be greater than 0")
			}
			s.multipleOf = *m
		}
	case "pattern":
		str, ok := v.(string)
		if !ok {
			return bad("must be a string")
		}
		if s.pattern, err = regexp.Compile(str); err != nil {
			return bad(fmt.Sprintf("not a regular expression: %v", err))
		}
	default:
		if slices.Contains(Keywords.Annotations, k) {
			return nil
		}
		return bad(fmt.Sprintf("keyword %q is not supported (Loom checks: %s)", k, strings.Join(Keywords.Assertions, ", ")))
	}
	return err
}

// ValidationError says where a document breaks its schema. Path is the
// offending value's place, like "steps" or "messages[1].role" ("" for the
// document itself).
type ValidationError struct {
	Path string
	Msg  string
	Key  string // a required key that is absent (Path is its object's place); "" otherwise
}

// FieldOf is what an error's param names: the Field of the first error in
// err's chain that has a Field() string method (a *ValidationError, or a
// checker's own, such as core/sample's ParamError), or "" when none has.
func FieldOf(err error) string {
	var f interface{ Field() string }
	if errors.As(err, &f) {
		return f.Field()
	}
	return ""
}

// Field is the place of the value at fault: Path, or for an absent required
// key the key's own place ("size", "messages[0].role"); "" for the document.
func (e *ValidationError) Field() string {
	if e.Key != "" {
		return join(e.Path, e.Key)
	}
	return e.Path
}

func (e *ValidationError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Validate checks the JSON document doc. An empty doc is the empty object
// (a job without params). It returns a *ValidationError naming the first
// problem found, or a plain error when doc is not JSON.
func (s *Schema) Validate(doc []byte) error {
	if s == nil {
		return nil
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		doc = []byte("{}")
	}
	v, err := decode(doc)
	if err != nil {
		return err
	}
	return s.check(v, "")
}

// decode parses one JSON value, keeping numbers exact.
func decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("not valid JSON: data after the value")
	}
	return v, nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case json.Number:
		if isInteger(x) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// isInteger: written without a fraction or an exponent, as Go's decoder
// wants it for an int field (so 2.0 is a number, not an integer, here).
func isInteger(n json.Number) bool { return !strings.ContainsAny(n.String(), ".eE") }

func hasType(types []string, v any) bool {
	t := typeOf(v)
	for _, want := range types {
		if want == t || (want == "number" && t == "integer") {
			return true
		}
	}
	return false
}

func show(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 40 {
		return string(b[:37]) + "…"
	}
	return string(b)
}

func (s *Schema) check(v any, path string) error {
	if s == nil {
		return nil
	}
	fail := func(format string, args ...any) error {
		return &ValidationError{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if s.never {
		if path == "" {
			return fail("no value is allowed")
		}
		return fail("is not allowed")
	}
	if len(s.types) > 0 && !hasType(s.types, v) {
		return fail("expected %s, got %s", strings.Join(s.types, " or "), typeOf(v))
	}
	if s.enum != nil && !slices.ContainsFunc(s.enum, func(e any) bool { return equal(e, v) }) {
		var opts []string
		for _, e := range s.enum {
			opts = append(opts, show(e))
		}
		return fail("%s is not one of %s", show(v), strings.Join(opts, ", "))
	}
	if s.constVal != nil && !equal(*s.constVal, v) {
		return fail("must be %s", show(*s.constVal))
	}
	switch x := v.(type) {
	case map[string]any:
		for _, name := range s.required {
			if _, ok := x[name]; !ok {
				return &ValidationError{Path: path, Msg: fmt.Sprintf("%q is required", name), Key: name}
			}
		}
		if len(x) < s.minProps {
			return fail("needs at least %d keys", s.minProps)
		}
		if s.maxProps >= 0 && len(x) > s.maxProps {
			return fail("takes at most %d keys", s.maxProps)
		}
		names := make([]string, 0, len(x))
		for name := range x {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if ps, ok := s.props[name]; ok {
				if err := ps.check(x[name], join(path, name)); err != nil {
					return err
				}
				continue
			}
			if s.addl != nil && s.addl.never {
				known := make([]string, 0, len(s.props))
				for k := range s.props {
					known = append(known, k)
				}
				sort.Strings(known)
				return &ValidationError{Path: join(path, name), Msg: "unknown key (known: " + strings.Join(known, ", ") + ")"}
			}
			if err := s.addl.check(x[name], join(path, name)); err != nil {
				return err
			}
		}
	case []any:
		if len(x) < s.minItems {
			return fail("needs at least %d items, got %d", s.minItems, len(x))
		}
		if s.maxItems >= 0 && len(x) > s.maxItems {
			return fail("takes at most %d items, got %d", s.maxItems, len(x))
		}
		for i, e := range x {
			if err := s.items.check(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
			if s.unique {
				for j := range i {
					if equal(x[j], e) {
						return fail("items %d and %d are equal", j, i)
					}
				}
			}
		}
	case string:
		n := utf8.RuneCountInString(x)
		if n < s.minLen {
			if s.minLen == 1 {
				return fail("must not be empty")
			}
			return fail("needs at least %d characters, got %d", s.minLen, n)
		}
		if s.maxLen >= 0 && n > s.maxLen {
			return fail("takes at most %d characters, got %d", s.maxLen, n)
		}
		if s.pattern != nil && !s.pattern.MatchString(x) {
			return fail("%s does not match %s", show(x), s.pattern)
		}
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return fail("%s is out of range", x)
		}
		switch {
		case s.min != nil && f < *s.min:
			return fail("%s is below the minimum %g", x, *s.min)
		case s.max != nil && f > *s.max:
			return fail("%s is above the maximum %g", x, *s.max)
		case s.xmin != nil && f <= *s.xmin:
			return fail("%s must be greater than %g", x, *s.xmin)
		case s.xmax != nil && f >= *s.xmax:
			return fail("%s must be less than %g", x, *s.xmax)
		case s.multipleOf > 0:
			if q := f / s.multipleOf; math.Abs(q-math.Round(q)) > 1e-9 {
				return fail("%s is not a multiple of %g", x, s.multipleOf)
			}
		}
	}
	for _, a := range s.allOf {
		if err := a.check(v, path); err != nil {
			return err
		}
	}
	if len(s.anyOf) > 0 {
		var first error
		ok := false
		for _, a := range s.anyOf {
			if err := a.check(v, path); err == nil {
				ok = true
				break
			} else if first == nil {
				first = err
			}
		}
		if !ok {
			return fail("matches none of the allowed forms (first: %v)", first)
		}
	}
	if len(s.oneOf) > 0 {
		n := 0
		var first error
		for _, a := range s.oneOf {
			if err := a.check(v, path); err == nil {
				n++
			} else if first == nil {
				first = err
			}
		}
		switch {
		case n == 0:
			return fail("matches none of the allowed forms (first: %v)", first)
		case n > 1:
			return fail("matches more than one of the allowed forms")
		}
	}
	if s.not != nil && s.not.check(v, path) == nil {
		return fail("is not allowed here")
	}
	return nil
}

// equal compares decoded JSON values; numbers by value (1 equals 1.0).
func equal(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, err1 := x.Float64()
		fy, err2 := y.Float64()
		return err1 == nil && err2 == nil && fx == fy
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	}
	return a == b
}
