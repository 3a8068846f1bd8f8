package sdk

import (
	"encoding/json"
	"strings"
	"time"

	pluginv1 "github.com/loomhq/loom/plugins/sdk/proto/loom/plugin/v1"
)

// Conversions between the Go contract and loom.plugin.v1 messages. JSON
// fields travel as bytes so the wire never reinterprets them.

func manifestToProto(m Manifest) *pluginv1.Manifest {
	pm := &pluginv1.Manifest{Name: m.Name, Version: m.Version, Tasks: m.Tasks}
	for _, mi := range m.Models {
		pm.Models = append(pm.Models, &pluginv1.ModelInfo{
			Id:           mi.ID,
			Tasks:        mi.Tasks,
			Description:  RedactPaths(mi.Description),
			ParamsSchema: mi.Params,
			Ready:        mi.Ready,
			Missing:      RedactPaths(mi.Missing),
			Created:      mi.Created,
			MemoryBytes:  mi.MemoryBytes,
			Loaded:       mi.Loaded,
			Specs:        specsToProto(mi.Specs),
		})
	}
	return pm
}

func specsToProto(specs []TaskSpec) []*pluginv1.TaskSpec {
	var out []*pluginv1.TaskSpec
	for _, s := range specs {
		ps := &pluginv1.TaskSpec{Task: s.Task, ParamsSchema: s.Params}
		for _, in := range s.Inputs {
			ps.Inputs = append(ps.Inputs, &pluginv1.InputSpec{Name: in.Name, Mime: in.MIME, Required: in.Required, Description: in.Description, Max: int32(in.Max)})
		}
		out = append(out, ps)
	}
	return out
}

func specsFromProto(pss []*pluginv1.TaskSpec) []TaskSpec {
	var out []TaskSpec
	for _, ps := range pss {
		s := TaskSpec{Task: ps.GetTask(), Params: rawJSON(ps.GetParamsSchema())}
		for _, in := range ps.GetInputs() {
			s.Inputs = append(s.Inputs, InputSpec{Name: in.GetName(), MIME: in.GetMime(), Required: in.GetRequired(), Description: in.GetDescription(), Max: int(in.GetMax())})
		}
		out = append(out, s)
	}
	return out
}

func manifestFromProto(pm *pluginv1.Manifest) Manifest {
	m := Manifest{Name: pm.GetName(), Version: pm.GetVersion(), Tasks: pm.GetTasks()}
	for _, mi := range pm.GetModels() {
		m.Models = append(m.Models, ModelInfo{
			ID:          mi.GetId(),
			Tasks:       mi.GetTasks(),
			Description: mi.GetDescription(),
			Params:      rawJSON(mi.GetParamsSchema()),
			Ready:       mi.GetReady(),
			Missing:     mi.GetMissing(),
			Created:     mi.GetCreated(),
			MemoryBytes: mi.GetMemoryBytes(),
			Loaded:      mi.GetLoaded(),
			Specs:       specsFromProto(mi.GetSpecs()),
		})
	}
	return m
}

func jobToProto(j Job) *pluginv1.RunRequest {
	r := &pluginv1.RunRequest{
		JobId:   j.ID,
		Task:    j.Task,
		Model:   j.Model,
		Params:  j.Params,
		Seed:    j.Seed,
		Attempt: int64(j.Attempt),
	}
	if !j.Deadline.IsZero() {
		r.DeadlineUnixNano = j.Deadline.UnixNano()
	}
	for _, b := range j.Inputs {
		r.Inputs = append(r.Inputs, &pluginv1.Blob{Name: b.Name, Mime: b.MIME, Data: b.Data})
	}
	return r
}

func jobFromProto(r *pluginv1.RunRequest) Job {
	j := Job{
		ID:      r.GetJobId(),
		Task:    r.GetTask(),
		Model:   r.GetModel(),
		Params:  rawJSON(r.GetParams()),
		Seed:    r.GetSeed(),
		Attempt: int(r.GetAttempt()),
	}
	if ns := r.GetDeadlineUnixNano(); ns != 0 {
		j.Deadline = time.Unix(0, ns)
	}
	for _, b := range r.GetInputs() {
		j.Inputs = append(j.Inputs, Blob{Name: b.GetName(), MIME: b.GetMime(), Data: b.GetData()})
	}
	return j
}

// rawJSON keeps "absent" as nil rather than an empty, invalid, RawMessage.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}

func errorToProto(e *Error) *pluginv1.Error {
	// Messages often quote input; an invalid byte would fail the marshal.
	// They reach API clients, so the server's paths come out (redact.go).
	return &pluginv1.Error{Code: strings.ToValidUTF8(string(e.Code), "\uFFFD"), Message: RedactPaths(strings.ToValidUTF8(e.Message, "\uFFFD")),
		Param: strings.ToValidUTF8(e.Param, "\uFFFD")}
}

func errorFromProto(pe *pluginv1.Error) *Error {
	code := Code(pe.GetCode())
	if code == "" {
		code = CodeInternal
	}
	return &Error{Code: code, Message: pe.GetMessage(), Param: pe.GetParam()}
}
