package main

import (
	"encoding/json"
	"testing"

	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func TestParseParamsDefaultsAndValues(t *testing.T) {
	r, err := parseParams(taskComplete, json.RawMessage(`{"prompt":"hi"}`), 9)
	if err != nil {
		t.Fatal(err)
	}
	if r.prompt != "hi" || r.maxTokens != 256 || r.sampling.Temperature != 1 || r.sampling.Seed != 9 || r.stops != nil {
		t.Fatalf("defaults: %+v", r)
	}
	r, err = parseParams(taskComplete, json.RawMessage(`{"prompt":"","max_tokens":5,"temperature":0,"top_k":3,"top_p":0.5,
		"min_p":0.1,"repetition_penalty":1.2,"presence_penalty":0.5,"frequency_penalty":-0.5,"stop":"\n"}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := r.sampling
	if r.maxTokens != 5 || s.Temperature != 0 || s.TopK != 3 || s.TopP != 0.5 || s.MinP != 0.1 ||
		s.RepetitionPenalty != 1.2 || s.PresencePenalty != 0.5 || s.FrequencyPenalty != -0.5 || len(r.stops) != 1 || r.stops[0] != "\n" {
		t.Fatalf("values: %+v", r)
	}
	r, err = parseParams(taskChat, json.RawMessage(`{"messages":[{"role":"system","content":"a"},{"role":"user","content":"b"}],"stop":["x","y"]}`), 0)
	if err != nil || len(r.messages) != 2 || len(r.stops) != 2 {
		t.Fatalf("chat: %+v %v", r, err)
	}
}

// FuzzParseParams: any bytes give either an error or params the sampler
// accepts, never a panic.
func FuzzParseParams(f *testing.F) {
	f.Add(`{"prompt":"x","temperature":0.7,"stop":["a"]}`, true)
	f.Add(`{"messages":[{"role":"user","content":"x"}],"top_p":1.5}`, false)
	f.Add(`{"prompt":"x","max_tokens":-1,"stop":7}`, true)
	f.Fuzz(func(t *testing.T, raw string, complete bool) {
		task := taskChat
		if complete {
			task = taskComplete
		}
		r, err := parseParams(task, json.RawMessage(raw), 1)
		if err != nil {
			return
		}
		if err := r.sampling.Validate(); err != nil {
			t.Fatalf("accepted invalid sampling params: %v", err)
		}
		if r.maxTokens < 1 || len(r.stops) > tasks.MaxStops {
			t.Fatalf("accepted max_tokens %d, %d stops", r.maxTokens, len(r.stops))
		}
	})
}
