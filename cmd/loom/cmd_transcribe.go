package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func init() {
	register(command{Name: "transcribe", Summary: "transcribe speech (WAV, FLAC or MP3 files) with a Whisper model", Run: runTranscribe})
}

func runTranscribe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("transcribe", stderr)
	format := fs.String("format", "text", "text (PATH<TAB>text per file), json (one result object per line), srt or vtt (subtitles)")
	language := fs.String("language", "", "spoken language code, e.g. en (default: detected)")
	prompt := fs.String("prompt", "", "text that conditions the first window (spellings, style)")
	beam := fs.Int("beam", 0, "beam search width, 0…8 (1: greedy; 0: the model's generation_config.json num_beams, greedy when it has none)")
	temperature := fs.Float64("temperature", 0, "0: greedy or beam search; 0…1: sampling with --seed")
	timestamps := fs.Bool("timestamps", false, "predict segment times (always on for srt and vtt)")
	seed := fs.Int64("seed", 0, "job seed (used when --temperature > 0)")
	model := fs.String("model", "", "audio.transcribe model id, a Whisper folder under a models directory (default: the first installed)")
	threads := fs.Int("threads", 0, "kernel threads in the plugin process (0: all cores)")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom transcribe [--format text|json|srt|vtt] [--language L] FILE...\n\n"+
			"Transcribes each audio file through the audio plugin; prints PATH<TAB>text per file (other formats: one\n"+
			"JSON result per line, or subtitles, headed \"==> PATH <==\" when there are several files).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	switch {
	case len(files) == 0:
		return usagef("name at least one audio file")
	case !slices.Contains([]string{"text", "json", "srt", "vtt"}, *format):
		return usagef("--format must be text, json, srt or vtt")
	case *beam < 0 || *beam > 8:
		return usagef("--beam must be 0…8")
	case !(*temperature >= 0 && *temperature <= 1):
		return usagef("--temperature must be 0…1")
	case *threads < 0:
		return usagef("--threads must be ≥ 0")
	}
	p := tasks.AudioTranscribeParams{Language: *language, Prompt: *prompt, BeamSize: *beam,
		Timestamps: *timestamps || *format == "srt" || *format == "vtt"}
	if *temperature > 0 {
		p.Temperature = temperature
	}
	var env []string
	if *threads > 0 {
		env = append(env, kernels.ThreadsEnv+"="+strconv.Itoa(*threads))
	}
	ctx := context.Background()
	s, err := startPlugin(ctx, *pluginDir, "audio", absDirs(*models), env, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	failed := 0
	for _, path := range files {
		res, err := transcribeFile(ctx, s.engine, *model, *seed, p, path)
		if err != nil {
			fmt.Fprintf(stderr, "loom transcribe: %s: %v\n", path, err)
			failed++
			continue
		}
		switch *format {
		case "json":
			b, _ := json.Marshal(struct {
				Path string `json:"path"`
				tasks.AudioTranscribeResult
			}{path, res})
			fmt.Fprintf(stdout, "%s\n", b)
		case "srt", "vtt":
			if len(files) > 1 {
				fmt.Fprintf(stdout, "==> %s <==\n", path)
			}
			if *format == "srt" {
				fmt.Fprint(stdout, res.SRT())
			} else {
				fmt.Fprint(stdout, res.VTT())
			}
		default:
			fmt.Fprintf(stdout, "%s\t%s\n", path, strings.ReplaceAll(res.Text, "\n", " "))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files failed", failed, len(files))
	}
	return nil
}

// transcribeFile runs one audio.transcribe job on the file at path.
func transcribeFile(ctx context.Context, e sdk.Engine, model string, seed int64, p tasks.AudioTranscribeParams, path string) (tasks.AudioTranscribeResult, error) {
	var res tasks.AudioTranscribeResult
	st, err := os.Stat(path)
	if err != nil {
		return res, err
	}
	if st.Size() > 25<<20 {
		return res, fmt.Errorf("%d bytes; the limit is %d", st.Size(), 25<<20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return res, err
	}
	params, _ := json.Marshal(p)
	err = e.Run(ctx, sdk.Job{Task: tasks.AudioTranscribe, Model: model, Seed: seed, Params: params,
		Inputs: []sdk.Blob{{Name: tasks.InputAudio, MIME: "audio/*", Data: data}}},
		func(ev sdk.Event) error {
			if ev.Kind == sdk.EventResult {
				return json.Unmarshal(ev.Result, &res)
			}
			return nil
		})
	return res, err
}
