package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/loomhq/loom/core/kernels"
	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
)

func init() {
	register(command{Name: "speak", Summary: "speak text with a text-to-speech model (WAV, FLAC, MP3 or raw PCM files)", Run: runSpeak})
}

func runSpeak(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("speak", stderr)
	text := fs.String("text", "", "the text to speak")
	textsFile := fs.String("texts-file", "", "a file of texts, one per line (blank lines skipped); with --out-dir")
	out := fs.String("out", "", "audio file to write (with --text)")
	outDir := fs.String("out-dir", "", "directory for 000.wav, 001.wav, … (with --texts-file; the extension is the format's)")
	format := fs.String("format", "", "wav, flac, mp3 (64 kbit/s) or pcm (raw 16-bit little-endian at 24 kHz); default: --out's extension when it is one of those, else wav")
	voice := fs.String("voice", "", "voice name (default: the model's default voice)")
	speed := fs.Float64("speed", 1, "speaking rate, 0.25…4 (2 is twice as fast)")
	seed := fs.Int64("seed", 0, "job seed (synthesis has no randomness: the same text and voice give the same bytes)")
	model := fs.String("model", "", "audio.speech model id, a speech folder under a models directory (default: the first installed)")
	threads := fs.Int("threads", 0, "kernel threads in the plugin process (0: all cores)")
	models := fs.String("models", modelDirsDefault(), "model directories, colon-separated (env LOOM_MODELS)")
	pluginDir := fs.String("plugins", defaultPluginDir(), "directory holding loom-plugin-* binaries")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loom speak --text T [--voice V] [--format F] --out FILE.wav\n       loom speak --texts-file F [--voice V] [--format F] --out-dir DIR\n\n"+
			"Speaks text through the audio plugin (mono WAV, FLAC, MP3 or raw PCM); prints PATH<TAB>seconds<TAB>text for each.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (quote the text: --text \"…\")", fs.Arg(0))
	}
	f, err := speechFormat(*format, *out)
	if err != nil {
		return err
	}
	texts, paths, err := batchIO(*text, *textsFile, *out, *outDir, "text", "texts-file", f)
	if err != nil {
		return err
	}
	if !(*speed >= 0.25 && *speed <= 4) {
		return usagef("--speed must be 0.25…4")
	}
	if *threads < 0 {
		return usagef("--threads must be ≥ 0")
	}
	if *outDir != "" {
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return err
		}
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
	req := tasks.AudioSpeechParams{Voice: *voice, Format: f}
	if *speed != 1 {
		req.Speed = speed
	}
	failed := 0
	for i, t := range texts {
		req.Input = t
		wav, res, err := speak(ctx, s.engine, *model, *seed, req, nil)
		if err == nil {
			err = os.WriteFile(paths[i], wav, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "loom speak: %s: %v\n", paths[i], err)
			failed++
			continue
		}
		fmt.Fprintf(stdout, "%s\t%.2fs\t%s\n", paths[i], res.Seconds, t)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d texts failed", failed, len(texts))
	}
	return nil
}

// speechFormat is --format, or --out's extension when that names a format,
// or wav.
func speechFormat(flag, out string) (string, error) {
	formats := []string{"wav", "flac", "mp3", "pcm"}
	if flag == "" {
		if ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(out), ".")); slices.Contains(formats, ext) {
			return ext, nil
		}
		return "wav", nil
	}
	if !slices.Contains(formats, flag) {
		return "", usagef("--format must be wav, flac, mp3 or pcm (opus and aac have no encoder in Loom)")
	}
	return flag, nil
}

// speak runs one audio.speech job and returns the audio bytes and the
// result; progress, when not nil, sees each sentence's progress event.
func speak(ctx context.Context, e sdk.Engine, model string, seed int64, req tasks.AudioSpeechParams, progress func(step, total int)) ([]byte, tasks.AudioSpeechResult, error) {
	params, _ := json.Marshal(req)
	var audio []byte
	var res tasks.AudioSpeechResult
	err := e.Run(ctx, sdk.Job{Task: tasks.AudioSpeech, Model: model, Seed: seed, Params: params},
		func(ev sdk.Event) error {
			switch ev.Kind {
			case sdk.EventProgress:
				if progress != nil {
					progress(ev.Step, ev.Total)
				}
			case sdk.EventArtifact:
				if audio == nil {
					audio = ev.Data
				}
			case sdk.EventResult:
				return json.Unmarshal(ev.Result, &res)
			}
			return nil
		})
	if err == nil && audio == nil {
		err = fmt.Errorf("the plugin returned no audio")
	}
	return audio, res, err
}
