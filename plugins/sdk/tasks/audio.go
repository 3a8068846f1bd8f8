package tasks

import (
	"fmt"
	"math"
	"strings"
)

// AudioSpeechParams are audio.speech's params.
type AudioSpeechParams struct {
	Input   string   `json:"input" schema:"required,minLength=1,maxLength=4096" doc:"the text to speak"`
	Voice   string   `json:"voice,omitempty" schema:"maxLength=64" doc:"one of the model's voices, any case (absent: its default)"`
	Speed   *float64 `json:"speed,omitempty" schema:"minimum=0.25,maximum=4,default=1"`
	Format  string   `json:"format,omitempty" schema:"enum=wav|pcm|flac|mp3,default=wav" doc:"wav: audio/wav at the vocoder's rate; pcm: raw 16-bit little-endian audio/pcm at 24 kHz (OpenAI's); flac: audio/flac; mp3: audio/mpeg, MPEG-2 Layer III at 64 kbit/s"`
	Timings bool     `json:"timings,omitempty" doc:"add per-stage timings (ms) to the result"`
}

// AudioSpeechResult is audio.speech's result; the audio is the artifact
// "speech.wav" (audio/wav), "speech.pcm" (audio/pcm), "speech.flac"
// (audio/flac) or "speech.mp3" (audio/mpeg); SampleRate is the audio's.
type AudioSpeechResult struct {
	Model      string             `json:"model"`
	Voice      string             `json:"voice"`
	Format     string             `json:"format"`
	SampleRate int                `json:"sample_rate"`
	Samples    int                `json:"samples"`
	Seconds    float64            `json:"seconds"`
	Sentences  int                `json:"sentences"`
	Timings    map[string]float64 `json:"timings,omitempty"` // ms: first_audio, acoustic, vocoder, encode
}

// InputAudio is the input blob of audio.transcribe.
const InputAudio = "file"

// AudioTranscribeParams are audio.transcribe's params. The audio is the
// input blob "file" (WAV, FLAC or MP3).
type AudioTranscribeParams struct {
	Language    string   `json:"language,omitempty" schema:"maxLength=16" doc:"the spoken language's ISO-639-1 code (absent: detected; English-only models ignore it)"`
	Prompt      string   `json:"prompt,omitempty" schema:"maxLength=4096" doc:"text that conditions the first window (spellings, style)"`
	Temperature *float64 `json:"temperature,omitempty" schema:"minimum=0,maximum=1,default=0" doc:"0: greedy or beam search; above 0: sampling with job.seed"`
	Timestamps  bool     `json:"timestamps,omitempty" doc:"predict segment start and end times"`
	BeamSize    int      `json:"beam_size,omitempty" schema:"minimum=0,maximum=8" doc:"beam search width; 1: greedy; 0 or absent: the model's default (generation_config.json num_beams; greedy when it has none)"`
	Task        string   `json:"task,omitempty" schema:"enum=transcribe|translate,default=transcribe" doc:"translate: English text of any language (multilingual models)"`
}

// TranscriptSegment is one stretch of speech, in OpenAI's verbose_json shape.
type TranscriptSegment struct {
	ID           int     `json:"id"`
	Seek         int     `json:"seek"` // start of its window, in 10 ms frames
	Start        float64 `json:"start"`
	End          float64 `json:"end"`
	Text         string  `json:"text"`
	Tokens       []int   `json:"tokens"`
	Temperature  float64 `json:"temperature"`
	AvgLogprob   float64 `json:"avg_logprob"`
	NoSpeechProb float64 `json:"no_speech_prob"`
}

// AudioTranscribeResult is audio.transcribe's result.
type AudioTranscribeResult struct {
	Model    string              `json:"model"`
	Language string              `json:"language"`
	Duration float64             `json:"duration"` // seconds of audio
	Text     string              `json:"text"`
	Segments []TranscriptSegment `json:"segments"`
	Windows  int                 `json:"windows"`
}

// SRT renders the segments as SubRip subtitles.
func (r AudioTranscribeResult) SRT() string { return r.subtitles(false) }

// VTT renders the segments as WebVTT subtitles.
func (r AudioTranscribeResult) VTT() string { return r.subtitles(true) }

func (r AudioTranscribeResult) subtitles(vtt bool) string {
	var b strings.Builder
	if vtt {
		b.WriteString("WEBVTT\n\n")
	}
	for i, s := range r.Segments {
		if !vtt {
			fmt.Fprintf(&b, "%d\n", i+1)
		}
		fmt.Fprintf(&b, "%s --> %s\n%s\n\n", clock(s.Start, vtt), clock(s.End, vtt), strings.TrimSpace(s.Text))
	}
	return b.String()
}

// clock is seconds as HH:MM:SS,mmm (SubRip) or HH:MM:SS.mmm (WebVTT).
func clock(sec float64, vtt bool) string {
	ms := int64(math.Round(max(sec, 0) * 1000))
	sep := ","
	if vtt {
		sep = "."
	}
	return fmt.Sprintf("%02d:%02d:%02d%s%03d", ms/3600000, ms/60000%60, ms/1000%60, sep, ms%1000)
}
