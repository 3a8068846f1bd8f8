package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

type stopList []string

func (stopList) JSONSchema() map[string]any {
	return map[string]any{"oneOf": []any{map[string]any{"type": "string"},
		map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "maxItems": 2}}}
}

type common struct {
	Seed *int `json:"seed,omitempty" schema:"minimum=0"`
}

type message struct {
	Role    string `json:"role" schema:"required,enum=user|assistant"`
	Content string `json:"content" schema:"required"`
}

type sample struct {
	common
	Prompt   string             `json:"prompt" schema:"required,minLength=1,maxLength=10" doc:"what to draw"`
	Steps    int                `json:"steps,omitempty" schema:"minimum=1,maximum=150,default=20"`
	Guidance *float64           `json:"guidance,omitempty" schema:"minimum=0,maximum=30"`
	Sched    string             `json:"scheduler,omitempty" schema:"enum=ddim|euler"`
	Timings  bool               `json:"timings,omitempty"`
	Messages []message          `json:"messages,omitempty" schema:"maxItems=2"`
	Stop     stopList           `json:"stop,omitempty"`
	Extra    map[string]float64 `json:"extra,omitempty"`
	Raw      json.RawMessage    `json:"raw,omitempty"`
	Ignored  string             `json:"-"`
	hidden   int
}

func TestForDescribesTheType(t *testing.T) {
	var got map[string]any
	if err := json.Unmarshal(For(sample{}), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"type": "object", "additionalProperties": false, "required": []any{"prompt"},
		"properties": map[string]any{
			"seed":      map[string]any{"type": "integer", "minimum": 0.0},
			"prompt":    map[string]any{"type": "string", "minLength": 1.0, "maxLength": 10.0, "description": "what to draw"},
			"steps":     map[string]any{"type": "integer", "minimum": 1.0, "maximum": 150.0, "default": 20.0},
			"guidance":  map[string]any{"type": "number", "minimum": 0.0, "maximum": 30.0},
			"scheduler": map[string]any{"type": "string", "enum": []any{"ddim", "euler"}},
			"timings":   map[string]any{"type": "boolean"},
			"messages": map[string]any{"type": "array", "maxItems": 2.0, "items": map[string]any{
				"type": "object", "additionalProperties": false, "required": []any{"role", "content"},
				"properties": map[string]any{
					"role":    map[string]any{"type": "string", "enum": []any{"user", "assistant"}},
					"content": map[string]any{"type": "string"},
				}}},
			"stop": map[string]any{"oneOf": []any{map[string]any{"type": "string"},
				map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "maxItems": 2.0}}},
			"extra": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "number"}},
			"raw":   map[string]any{},
		},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		t.Fatalf("schema:\n%s", g)
	}
	// Cached: the same bytes again.
	if string(For(sample{})) != string(For(&sample{})) {
		t.Fatal("For(T) and For(*T) differ")
	}
}

func TestForPanicsOnBadTags(t *testing.T) {
	for _, v := range []any{
		struct {
			X int `json:"x" schema:"minimum=lots"`
		}{},
		struct {
			X int `json:"x" schema:"colour=red"`
		}{},
		struct {
			X chan int `json:"x"`
		}{},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%T: no panic", v)
				}
			}()
			For(v)
		}()
	}
}

func TestValidate(t *testing.T) {
	s, err := Compile(For(sample{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		doc  string
		path string // "" with ok
		ok   bool
		msg  string
	}{
		{`{"prompt":"cat"}`, "", true, ""},
		{`{"prompt":"cat","steps":150,"guidance":0,"scheduler":"ddim","timings":true,"seed":3}`, "", true, ""},
		{`{"prompt":"cat","stop":"x"}`, "", true, ""},
		{`{"prompt":"cat","stop":["x","y"]}`, "", true, ""},
		{`{"prompt":"cat","messages":[{"role":"user","content":"hi"}],"extra":{"a":1.5},"raw":[1,{"x":null}]}`, "", true, ""},
		{`{"prompt":"ünïcødé!!!"}`, "", true, ""}, // 10 characters, more bytes
		{``, "", false, `"prompt" is required`},
		{`{}`, "", false, `"prompt" is required`},
		{`[]`, "", false, "expected object, got array"},
		{`{"prompt":""}`, "prompt", false, "must not be empty"},
		{`{"prompt":"elevenchars"}`, "prompt", false, "takes at most 10 characters, got 11"},
		{`{"prompt":7}`, "prompt", false, "expected string, got integer"},
		{`{"prompt":"cat","steps":151}`, "steps", false, "151 is above the maximum 150"},
		{`{"prompt":"cat","steps":0}`, "steps", false, "0 is below the minimum 1"},
		{`{"prompt":"cat","steps":2.0}`, "steps", false, "expected integer, got number"},
		{`{"prompt":"cat","steps":null}`, "steps", false, "expected integer, got null"},
		{`{"prompt":"cat","guidance":30.5}`, "guidance", false, "above the maximum 30"},
		{`{"prompt":"cat","scheduler":"plms"}`, "scheduler", false, `"plms" is not one of "ddim", "euler"`},
		{`{"prompt":"cat","colour":"red"}`, "colour", false, "unknown key (known: extra, guidance, messages, prompt, raw, scheduler, seed, steps, stop, timings)"},
		{`{"prompt":"cat","seed":-1}`, "seed", false, "below the minimum 0"},
		{`{"prompt":"cat","messages":[{"role":"user","content":"a"},{"role":"bot","content":"b"}]}`, "messages[1].role", false, `"bot" is not one of`},
		{`{"prompt":"cat","messages":[{"role":"user"}]}`, "messages[0]", false, `"content" is required`},
		{`{"prompt":"cat","messages":[{"role":"user","content":"a"},{"role":"user","content":"a"},{"role":"user","content":"a"}]}`, "messages", false, "takes at most 2 items, got 3"},
		{`{"prompt":"cat","stop":["x","y","z"]}`, "stop", false, "matches none of the allowed forms"},
		{`{"prompt":"cat","extra":{"a":"b"}}`, "extra.a", false, "expected number, got string"},
	} {
		err := s.Validate([]byte(c.doc))
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.doc, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: got %v, want a ValidationError", c.doc, err)
			continue
		}
		if ve.Path != c.path || !strings.Contains(ve.Msg, c.msg) {
			t.Errorf("%s: got path %q msg %q, want %q containing %q", c.doc, ve.Path, ve.Msg, c.path, c.msg)
		}
		// Field is the place of the value at fault: the path, or the absent required key's own place.
		want := c.path
		if strings.HasSuffix(c.msg, " is required") {
			want = strings.TrimPrefix(c.path+"."+strings.Trim(strings.TrimSuffix(c.msg, " is required"), `"`), ".")
		}
		if ve.Field() != want {
			t.Errorf("%s: Field %q, want %q", c.doc, ve.Field(), want)
		}
		if got := FieldOf(fmt.Errorf("params: %w", err)); got != want {
			t.Errorf("%s: FieldOf a wrapped error %q, want %q", c.doc, got, want)
		}
	}
	if err := s.Validate([]byte(`{"prompt":`)); err == nil {
		t.Error("truncated JSON accepted")
	} else if FieldOf(err) != "" {
		t.Errorf("FieldOf a JSON syntax error: %q, want none", FieldOf(err))
	}
	if err := s.Validate([]byte(`{"prompt":"a"} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
	// A checker's own error type with a Field method names its field too.
	if got := FieldOf(fmt.Errorf("params: %w", fieldErr("top_p"))); got != "top_p" {
		t.Errorf("FieldOf a wrapped Field()-er: %q, want top_p", got)
	}
}

type fieldErr string

func (e fieldErr) Error() string { return string(e) + " is out of range" }
func (e fieldErr) Field() string { return string(e) }

func TestValidateKeywords(t *testing.T) {
	for _, c := range []struct {
		schema, doc string
		ok          bool
	}{
		{`true`, `[1]`, true},
		{`false`, `1`, false},
		{`{"const":3}`, `3.0`, true},
		{`{"const":3}`, `4`, false},
		{`{"type":["string","null"]}`, `null`, true},
		{`{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1}`, `0`, false},
		{`{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1}`, `0.5`, true},
		{`{"multipleOf":0.5}`, `1.5`, true},
		{`{"multipleOf":0.5}`, `1.2`, false},
		{`{"pattern":"^[a-z]+$"}`, `"abc"`, true},
		{`{"pattern":"^[a-z]+$"}`, `"ab1"`, false},
		{`{"uniqueItems":true}`, `[1,2,1.0]`, false},
		{`{"minProperties":1}`, `{}`, false},
		{`{"maxProperties":1}`, `{"a":1,"b":2}`, false},
		{`{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `3`, true},
		{`{"anyOf":[{"type":"string"},{"type":"integer"}]}`, `true`, false},
		{`{"oneOf":[{"type":"number"},{"type":"integer"}]}`, `3`, false}, // both match
		{`{"allOf":[{"minimum":1},{"maximum":2}]}`, `3`, false},
		{`{"not":{"type":"string"}}`, `"x"`, false},
		{`{"enum":[{"a":[1]}]}`, `{"a":[1.0]}`, true},
		{`{"description":"annotations pass","default":1,"title":"t","examples":[1],"$schema":"x","format":"uri"}`, `"anything"`, true},
	} {
		s, err := Compile([]byte(c.schema))
		if err != nil {
			t.Errorf("%s: %v", c.schema, err)
			continue
		}
		if err := s.Validate([]byte(c.doc)); (err == nil) != c.ok {
			t.Errorf("%s on %s: err %v, want ok=%v", c.schema, c.doc, err, c.ok)
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	for _, raw := range []string{
		`{"$ref":"#/defs/x"}`,
		`{"if":{"type":"string"},"then":{"minLength":1}}`,
		`{"type":"text"}`,
		`{"minimum":"1"}`,
		`{"maxLength":-1}`,
		`{"pattern":"("}`,
		`{"properties":{"a":{"patternProperties":{}}}}`,
		`{"oneOf":[]}`,
		`{"multipleOf":0}`,
		`[]`,
		`{"type":`,
		strings.Repeat(`{"not":`, 100) + `true` + strings.Repeat(`}`, 100),
	} {
		if _, err := Compile([]byte(raw)); err == nil {
			t.Errorf("Compile(%.40s) accepted", raw)
		}
	}
	if s, err := Compile(nil); err != nil || s != nil || s.Validate([]byte(`[1]`)) != nil {
		t.Errorf("empty schema: %v %v", s, err)
	}
}

// FuzzValidate drives Compile and Validate with arbitrary schemas and
// documents: either may refuse, neither may panic or hang. The seeds run in
// plain go test.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(For(sample{})), []byte(`{"prompt":"cat","steps":3}`))
	f.Add([]byte(`{"oneOf":[{"type":"string"},{"items":{"enum":[1,"a",null]}}]}`), []byte(`[1,"a",null,2]`))
	f.Add([]byte(`{"properties":{"a":{"not":{"const":{"b":[]}}}},"additionalProperties":false}`), []byte(`{"a":{"b":[]}}`))
	f.Add([]byte(`{"pattern":"a*b","maxLength":3}`), []byte(`"aab"`))
	f.Add([]byte(`{"multipleOf":1e-300}`), []byte(`1e308`))
	f.Fuzz(func(t *testing.T, schemaRaw, doc []byte) {
		s, err := Compile(schemaRaw)
		if err != nil {
			return
		}
		_ = s.Validate(doc)
	})
}
