package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/schema"
)

const (
	task         = "echo.upper"
	defaultModel = "echo"
	// artifactBytes is larger than sdk.ArtifactChunkBytes several times
	// over, so every run proves artifacts are chunked and reassembled.
	artifactBytes = 5 << 20
)

// params is echo.upper's job params; its manifest schema is generated from
// this type (schema.For) and sdk.DecodeParams checks jobs against it.
type params struct {
	Text string `json:"text" schema:"required,minLength=1" doc:"the text to uppercase"`
	// DelayMS pauses per character (tests use it to catch a run mid-way).
	DelayMS int `json:"delay_ms,omitempty" schema:"minimum=0,maximum=10000" doc:"pause per character, ms"`
	// NoArtifact skips the 5 MiB artifact, so a run is an empty job
	// (loom bench queue measures the queue, not artifact transfer).
	NoArtifact bool `json:"no_artifact,omitempty" doc:"skip the 5 MiB artifact"`
	// Crash kills the plugin process with a panic on a goroutine of its own
	// (which no recover in the SDK can catch), after one progress event:
	// tests of crash handling and poison jobs use it.
	Crash bool `json:"crash,omitempty" doc:"crash the plugin process (tests)"`
}

// result is echo.upper's final JSON.
type result struct {
	Text           string   `json:"text"`
	ArtifactSHA256 string   `json:"artifact_sha256"`
	InputBytes     int      `json:"input_bytes"`
	InputSHA256    string   `json:"input_sha256"`
	ModelDirs      []string `json:"model_dirs"` // what the host passed in LOOM_MODELS
}

type echo struct{}

// modelID is the one model's id: "echo", or $LOOM_ECHO_MODEL (tests run
// two echo plugins side by side under different ids).
func modelID() string {
	if m := os.Getenv("LOOM_ECHO_MODEL"); m != "" {
		return m
	}
	return defaultModel
}

func (echo) Describe(context.Context) (sdk.Manifest, error) {
	return sdk.Manifest{
		Name:    "echo",
		Version: "1.0.0",
		Tasks:   []string{task},
		Models: []sdk.ModelInfo{{
			ID:          modelID(),
			Tasks:       []string{task},
			Description: "uppercases text; built in, needs no weights",
			Params:      schema.For(params{}),
			Ready:       true,
		}},
	}, nil
}

func (echo) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) error {
	if job.Task != task {
		return sdk.Errorf(sdk.CodeInvalidRequest, "echo serves %s, not %q", task, job.Task)
	}
	if model := modelID(); job.Model != "" && job.Model != model {
		return sdk.Errorf(sdk.CodeModelNotFound, "echo has no model %q (it has %q)", job.Model, model)
	}
	var p params
	if err := sdk.DecodeParams(job.Params, &p); err != nil {
		return err
	}
	delay := time.Duration(p.DelayMS) * time.Millisecond
	if p.Crash {
		if err := emit(sdk.Event{Kind: sdk.EventProgress, Step: 0, Total: 1}); err != nil {
			return err
		}
		slog.Error("echo: crashing as the job asked", "job", job.ID)
		crashed := make(chan struct{})
		go func() { panic("echo: crash asked by job " + job.ID) }()
		<-crashed
	}

	runes := []rune(p.Text)
	var upper strings.Builder
	for i, r := range runes {
		if delay > 0 {
			select {
			case <-ctx.Done():
				slog.Info("echo: run canceled", "job", job.ID, "at", i)
				return ctx.Err()
			case <-time.After(delay):
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		u := string(unicode.ToUpper(r))
		upper.WriteString(u)
		if err := emit(sdk.Event{Kind: sdk.EventProgress, Step: i + 1, Total: len(runes)}); err != nil {
			return err
		}
		if err := emit(sdk.Event{Kind: sdk.EventDelta, Text: u}); err != nil {
			return err
		}
	}

	var art []byte
	if !p.NoArtifact {
		art = artifact(artifactBytes)
		if err := emit(sdk.Event{Kind: sdk.EventArtifact, Name: "pattern.bin", MIME: "application/octet-stream", Data: art}); err != nil {
			return err
		}
	}
	var in []byte
	for _, b := range job.Inputs {
		in = append(in, b.Data...)
	}
	out, err := json.Marshal(result{
		Text:           upper.String(),
		ArtifactSHA256: sum(art),
		InputBytes:     len(in),
		InputSHA256:    sum(in),
		ModelDirs:      sdk.ModelDirs(),
	})
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	return emit(sdk.Event{Kind: sdk.EventResult, Result: out})
}

// artifact is n bytes of big-endian word indexes (0, 1, 2, … as uint32), so
// a lost, repeated or reordered chunk shows as a wrong word at a known place.
func artifact(n int) []byte {
	b := make([]byte, n)
	var w [4]byte
	for i := 0; i < n; i += 4 {
		binary.BigEndian.PutUint32(w[:], uint32(i/4))
		copy(b[i:], w[:])
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
