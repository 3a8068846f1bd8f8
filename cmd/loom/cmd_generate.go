package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func init() {
	register(command{Name: "generate", Summary: "generate text from a local model through the text plugin", Run: runGenerate})
}

// runGenerate is llama2.c's `run` through Loom's real path: it starts
// loom-plugin-text under the plugin host, gives it the model's folder as its
// only LOOM_MODELS entry and the file or folder name as the model id (the
// plugin resolves ids inside its directories only, so no path crosses the
// plugin boundary), and streams the deltas to stdout after the prompt.
func runGenerate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("generate", stderr)
	model := fs.String("model", "", "model file (.gguf, llama2.c .bin) or folder (HF safetensors, or one holding either)")
	tok := fs.String("tokenizer", "", "tokenizer file (default: the model's own, or tok*.bin beside a llama2.c file)")
	prompt := fs.String("prompt", "", "text to continue")
	maxTokens := fs.Int("max-tokens", 256, "most tokens to generate")
	temp := fs.Float64("temperature", 1.0, "sampling temperature (0 = greedy)")
	topP := fs.Float64("top-p", 1.0, "nucleus sampling mass (1 = off)")
	topK := fs.Int("top-k", 0, "keep the k most likely tokens (0 = off)")
	seed := fs.Int64("seed", 0, "sampling seed")
	pluginDir := fs.String("plugins", "", "folder holding loom-plugin-text (default: beside this binary)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("--model is required")
	}
	dir, id, err := modelDirAndID(*model)
	if err != nil {
		return err
	}
	var env []string
	if *tok != "" {
		abs, err := filepath.Abs(*tok)
		if err != nil {
			return err
		}
		env = append(env, "LOOM_TEXT_TOKENIZER="+abs)
	}
	if *pluginDir == "" {
		*pluginDir = defaultPluginDir()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s, err := startPlugin(ctx, *pluginDir, "text", []string{dir}, env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	eng := s.engine
	params, _ := json.Marshal(tasks.TextCompleteParams{Prompt: *prompt,
		Sampling: tasks.Sampling{MaxTokens: maxTokens, Temperature: temp, TopP: topP, TopK: topK}})
	fmt.Fprint(stdout, *prompt)
	start := time.Now()
	var res struct {
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	err = eng.Run(ctx, sdk.Job{ID: "generate", Task: tasks.TextComplete, Model: id, Params: params, Seed: *seed},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventDelta:
				_, err := io.WriteString(stdout, ev.Text)
				return err
			case sdk.EventResult:
				return json.Unmarshal(ev.Result, &res)
			}
			return nil
		})
	fmt.Fprintln(stdout)
	if err != nil {
		return err
	}
	if n := res.Usage.CompletionTokens; n > 0 {
		fmt.Fprintf(stderr, "achieved tok/s: %.1f (%d tokens, prompt included in the time)\n", float64(n)/time.Since(start).Seconds(), n)
	}
	return nil
}

// modelDirAndID splits a model path into the folder the plugin searches and
// the id it resolves there: a folder is its parent plus its name, a file its
// folder plus its full name (extension kept, so that exact file is used).
func modelDirAndID(path string) (dir, id string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", "", fmt.Errorf("model: %w", err)
	}
	return filepath.Dir(abs), filepath.Base(abs), nil
}
