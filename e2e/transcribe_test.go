package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// toneWAV is 4 s of a warbling tone as 16-bit mono WAV at 22.05 kHz (so
// the plugin resamples it).
func toneWAV() []byte {
	const rate, n = 22050, 22050 * 4
	data := make([]byte, 0, 2*n)
	for i := 0; i < n; i++ {
		x := float64(i) / rate
		data = binary.LittleEndian.AppendUint16(data, uint16(int16(9000*math.Sin(2*math.Pi*(300+150*math.Sin(2*x))*x))))
	}
	h := []byte("RIFF")
	h = binary.LittleEndian.AppendUint32(h, uint32(36+len(data)))
	h = append(h, "WAVEfmt "...)
	for _, v := range []uint32{16, 1 | 1<<16, rate, rate * 2, 2 | 16<<16} {
		h = binary.LittleEndian.AppendUint32(h, v)
	}
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(data)))
	return append(h, data...)
}

// TestTranscriptionsSDK drives POST /v1/audio/transcriptions with openai-go
// against loom serve and the real audio plugin, on the tiny random Whisper
// of core/towers/testdata (what it hears is noise: this checks that every
// response_format, streaming and the errors reach the SDK as OpenAI's do).
func TestTranscriptionsSDK(t *testing.T) {
	models := t.TempDir()
	tiny, _ := filepath.Abs(filepath.Join("..", "core", "towers", "testdata", "whisper_tiny"))
	if err := os.Symlink(tiny, filepath.Join(models, "tiny-asr")); err != nil {
		t.Fatal(err)
	}
	ai, _ := sdkServerWith(t, models)
	ctx := context.Background()
	wav := toneWAV()
	params := func(format openai.AudioResponseFormat) openai.AudioTranscriptionNewParams {
		return openai.AudioTranscriptionNewParams{File: openai.File(bytes.NewReader(wav), "tone.wav", "audio/wav"),
			Model: "tiny-asr", Language: openai.String("en"), ResponseFormat: format}
	}
	res, err := ai.Audio.Transcriptions.New(ctx, params(openai.AudioResponseFormatJSON))
	if err != nil || res.Text == "" {
		t.Fatalf("json: %v %+v", err, res)
	}
	text := res.Text
	p := params(openai.AudioResponseFormatVerboseJSON)
	p.TimestampGranularities = []string{"segment"}
	v, err := ai.Audio.Transcriptions.New(ctx, p)
	if err != nil || v.Duration != 4 || v.Language != "english" || len(v.Segments) == 0 || v.Text == "" {
		t.Fatalf("verbose_json: %v %+v", err, v)
	}
	for i, s := range v.Segments {
		if s.ID != int64(i) || s.End < s.Start || s.End > 4 || len(s.Tokens) == 0 {
			t.Errorf("verbose_json segment %+v", s)
		}
	}
	for _, f := range []openai.AudioResponseFormat{openai.AudioResponseFormatText, openai.AudioResponseFormatSRT, openai.AudioResponseFormatVTT} {
		var out string
		if err := ai.Post(ctx, "audio/transcriptions", params(f), &out); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		switch f {
		case openai.AudioResponseFormatText:
			if out != text+"\n" {
				t.Errorf("text %q, json said %q", out, text)
			}
		case openai.AudioResponseFormatSRT:
			if !strings.HasPrefix(out, "1\n00:00:0") || !strings.Contains(out, " --> ") {
				t.Errorf("srt %q", out)
			}
		case openai.AudioResponseFormatVTT:
			if !strings.HasPrefix(out, "WEBVTT\n\n00:00:0") {
				t.Errorf("vtt %q", out)
			}
		}
	}

	stream := ai.Audio.Transcriptions.NewStreaming(ctx, params(openai.AudioResponseFormatJSON))
	var deltas strings.Builder
	var done string
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "transcript.text.delta":
			deltas.WriteString(ev.Delta)
		case "transcript.text.done":
			done = ev.Text
		}
	}
	if err := stream.Err(); err != nil || deltas.String() != text || done != text {
		t.Errorf("stream: %v; deltas %q, done %q, want %q", err, deltas.String(), done, text)
	}

	bad := params(openai.AudioResponseFormatJSON)
	bad.File = openai.File(strings.NewReader("this is not audio"), "notes.txt", "text/plain")
	_, err = ai.Audio.Transcriptions.New(ctx, bad)
	apiError(t, "not audio", err, 400, "invalid_request")
	apiParam(t, "not audio", err, "file")
	trunc := params(openai.AudioResponseFormatJSON)
	trunc.File = openai.File(bytes.NewReader(wav[:30]), "cut.wav", "audio/wav")
	_, err = ai.Audio.Transcriptions.New(ctx, trunc)
	apiError(t, "truncated WAV", err, 400, "invalid_request")
	lang := params(openai.AudioResponseFormatJSON)
	lang.Language = openai.String("xx")
	_, err = ai.Audio.Transcriptions.New(ctx, lang)
	apiError(t, "unknown language", err, 400, "invalid_request")
	apiParam(t, "unknown language", err, "language")
	_, err = ai.Audio.Transcriptions.New(ctx, params("diarized_json"))
	apiError(t, "diarized_json", err, 400, "invalid_request")
	noModel := params(openai.AudioResponseFormatJSON)
	noModel.Model = "whisper-2"
	_, err = ai.Audio.Transcriptions.New(ctx, noModel)
	apiError(t, "unknown model", err, 404, "model_not_found")
	// OpenAI's model name is the default folder's other name.
	alias := params(openai.AudioResponseFormatJSON)
	alias.Model = openai.AudioModelWhisper1
	if res, err := ai.Audio.Transcriptions.New(ctx, alias); err != nil || res.Text != text {
		t.Errorf("whisper-1: %v %+v, want tiny-asr's %q", err, res, text)
	}
}
