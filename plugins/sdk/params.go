package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"sync"

	"github.com/loomhq/loom/plugins/sdk/schema"
)

// DecodeParams checks a job's params against the schema of p's type
// (schema.For) and decodes them into p, a pointer to the params struct.
// Empty or null params are the empty object. The rule is the same for every
// plugin: an unknown key, a value of the wrong type or outside the bounds
// the type's schema tags declare is refused with invalid_request, naming
// the key ("params: steps: 151 is above the maximum 150"). Checks that
// depend on the model (a voice, a size) stay with the plugin.
func DecodeParams(raw json.RawMessage, p any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		raw = json.RawMessage("{}")
	}
	s, err := compiledFor(reflect.TypeOf(p))
	if err != nil {
		return Errorf(CodeInternal, "params schema: %v", err)
	}
	if err := s.Validate(raw); err != nil {
		return ParamsError(err)
	}
	// The schema refused unknown keys and wrong types already; a plain
	// Unmarshal (no Decoder buffer) keeps a large params' cost down.
	if err := json.Unmarshal(raw, p); err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return ae
		}
		return ParamsError(err)
	}
	return nil
}

// ParamsError is the invalid_request for params that break a rule: "params: "
// and err's text, with the field err names (schema.FieldOf) as its Param.
// Chain WithParam where the caller knows the field and err does not.
func ParamsError(err error) *Error {
	return Errorf(CodeInvalidRequest, "params: %v", err).WithParam(schema.FieldOf(err))
}

var compiled sync.Map // reflect.Type → *schema.Schema

func compiledFor(t reflect.Type) (*schema.Schema, error) {
	if s, ok := compiled.Load(t); ok {
		return s.(*schema.Schema), nil
	}
	s, err := schema.Compile(schema.For(reflect.Zero(t).Interface()))
	if err != nil {
		return nil, err
	}
	compiled.Store(t, s)
	return s, nil
}
