// Package sdk is Loom's plugin contract: the Engine interface every
// modality plugin implements, the versioned go-plugin handshake, and the gRPC
// adapters (loom.plugin.v1) that carry it between the worker and a plugin
// process. It imports nothing of core, so the gateway and worker never link
// kernels.
package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Manifest is what a plugin says about itself in Describe.
type Manifest struct {
	Name    string      `json:"name"`    // "text", "vision", …
	Version string      `json:"version"` // the plugin's own version
	Tasks   []string    `json:"tasks"`   // tasks it serves, e.g. "text.complete"
	Models  []ModelInfo `json:"models"`
}

// ModelInfo describes one model a plugin can run.
type ModelInfo struct {
	ID          string   `json:"id"`    // file or folder name, e.g. "stories260K"
	Tasks       []string `json:"tasks"` // the subset of the plugin's tasks this model serves
	Description string   `json:"description,omitempty"`
	// Params is the JSON Schema of the job params of every task of the
	// model that has no entry in Specs (schema.For makes it from a Go type).
	Params json.RawMessage `json:"params,omitempty"`
	// Specs says, per task, which params and inputs a job takes; the
	// gateway refuses a job that breaks them with 400 before queueing it.
	Specs []TaskSpec `json:"specs,omitempty"`
	// Created is when the model's files were last written (Unix seconds,
	// see ModelCreated); OpenAI's models list shows it as "created".
	Created int64 `json:"created,omitempty"`
	// Ready is false when the model is known but cannot run (weights absent);
	// Missing then says what is missing, and a job for it fails with code
	// "model_unavailable" and that text.
	Ready   bool   `json:"ready"`
	Missing string `json:"missing,omitempty"`
	// MemoryBytes is what the model takes in memory when loaded, as the
	// plugin estimates it (0: unknown; the worker then budgets nothing for
	// it). Loaded says it is in memory now. A worker with --max-memory
	// loads models on first use and evicts the least recently used (through
	// Unloader) when the next would not fit.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	Loaded      bool  `json:"loaded,omitempty"`
}

// TaskSpec is what a job of one task takes: its params (a JSON Schema) and
// its named inputs. Package tasks has the specs of Loom's built-in tasks.
type TaskSpec struct {
	Task   string          `json:"task"`
	Params json.RawMessage `json:"params,omitempty"` // JSON Schema; empty: any params
	Inputs []InputSpec     `json:"inputs,omitempty"` // none: the task takes no input files
}

// InputSpec declares one named input blob of a task.
type InputSpec struct {
	Name        string `json:"name"`     // e.g. "image"
	MIME        string `json:"mime"`     // a type ("image/png"), a family ("image/*") or "*/*"
	Required    bool   `json:"required"` // a job without it is refused
	Description string `json:"description,omitempty"`
	Max         int    `json:"max,omitempty"` // how many blobs of this name one job may carry; 0: one
}

// MatchMIME reports whether the type mime (parameters ignored) fits
// pattern: "*/*", "image/*" or an exact "image/png".
func MatchMIME(pattern, mime string) bool {
	mime, _, _ = strings.Cut(mime, ";")
	mime = strings.ToLower(strings.TrimSpace(mime))
	pattern = strings.ToLower(strings.TrimSpace(pattern))
	if pattern == "*/*" || pattern == "" {
		return true
	}
	if fam, ok := strings.CutSuffix(pattern, "/*"); ok {
		return strings.HasPrefix(mime, fam+"/")
	}
	return mime == pattern
}

// SpecFor returns what model m takes for task: its Specs entry, or its
// Params schema (no declared inputs) when it has none.
func (m ModelInfo) SpecFor(task string) TaskSpec {
	for _, s := range m.Specs {
		if s.Task == task {
			return s
		}
	}
	return TaskSpec{Task: task, Params: m.Params}
}

// Blob is a named input payload.
type Blob struct {
	Name string
	MIME string
	Data []byte
}

// Job is one run request.
type Job struct {
	ID       string
	Task     string
	Model    string
	Params   json.RawMessage
	Inputs   []Blob
	Seed     int64
	Attempt  int
	Deadline time.Time // zero: none
}

// EventKind tells which fields of an Event are set.
type EventKind int

const (
	EventProgress EventKind = iota + 1 // Step, Total
	EventDelta                         // Text: streamed text (tokens)
	EventPreview                       // MIME, Data: an intermediate image
	EventArtifact                      // Name, MIME, Data: an output file (any size)
	EventResult                        // Result: the final JSON output; last event of a successful run
)

// Event is one item a running job emits.
type Event struct {
	Kind   EventKind
	Step   int
	Total  int
	Text   string
	Choice int // EventDelta: which of a job's n continuations the text belongs to (0 for the first or only one)
	Name   string
	MIME   string
	Data   []byte
	Result json.RawMessage
}

// Error is an error with a machine-readable code (codes.go lists them) that
// crosses the plugin boundary and reaches the HTTP client unchanged.
type Error struct {
	Code    Code
	Message string
	// Param names the request field at fault ("steps", "messages[1].role")
	// when there is one; the gateway answers it as the error's param (as
	// OpenAI's SDKs read it). DecodeParams sets it for every schema refusal;
	// a plugin's own checks set it with WithParam.
	Param string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithParam sets the field at fault and returns e:
// sdk.Errorf(sdk.CodeInvalidRequest, "params: voice %q is not one of …", v).WithParam("voice").
func (e *Error) WithParam(param string) *Error {
	e.Param = param
	return e
}

// Engine is what a plugin implements and what the host hands the worker.
// Run emits events through emit in order and returns nil after emitting
// exactly one EventResult, or an error (preferably *Error). It must stop
// promptly when ctx is cancelled.
type Engine interface {
	Describe(ctx context.Context) (Manifest, error)
	Run(ctx context.Context, job Job, emit func(Event) error) error
}

// Unloader is optionally implemented by an Engine that can free a loaded
// model (the next job for it loads it again). Unload of a model that is not
// loaded is a no-op; it answers an error when the model is in use.
// ErrUnloadUnsupported is what the host sees from a plugin without it.
type Unloader interface {
	Unload(ctx context.Context, model string) error
}

// ErrUnloadUnsupported: the plugin cannot unload models (it implements no
// Unloader, or predates the Unload RPC).
var ErrUnloadUnsupported = errors.New("plugin cannot unload models")

// HealthChecker is optionally implemented by an Engine that can tell when it
// cannot take work (say, a device it needs went away). Engines that do not
// implement it are healthy while their process answers.
type HealthChecker interface {
	Health(ctx context.Context) error
}
