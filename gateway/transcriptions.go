package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/loomhq/loom/plugins/sdk"
	"github.com/loomhq/loom/plugins/sdk/tasks"
	"github.com/loomhq/loom/queue"
)

const taskTranscribe = tasks.AudioTranscribe

// maxAudioUpload is OpenAI's limit on a transcription upload (25 MB), which
// the audio plugin also applies.
const maxAudioUpload = 25 << 20

// audioTranscriptions answers OpenAI's POST /v1/audio/transcriptions:
// multipart with the audio as "file" and the fields model, language,
// prompt, temperature, response_format (json, text, srt, vtt,
// verbose_json), timestamp_granularities[] (segment) and stream (SSE
// transcript.text.delta events, then transcript.text.done). Loom adds
// beam_size and seed.
func (s *Server) audioTranscriptions(c *gin.Context) {
	if !strings.HasPrefix(c.ContentType(), "multipart/") {
		_ = c.Error(apiErrorf(http.StatusUnsupportedMediaType, sdk.CodeUnsupportedMediaType,
			"send the audio as multipart/form-data with a \"file\" part (got %q)", c.ContentType()))
		return
	}
	form, err := c.MultipartForm()
	if err != nil {
		_ = c.Error(multipartError(err))
		return
	}
	for name, vals := range form.Value {
		for _, v := range vals {
			if !utf8.ValidString(v) {
				_ = c.Error(badRequest("%s: not valid UTF-8", name))
				return
			}
		}
	}
	fhs := form.File["file"]
	if len(fhs) != 1 {
		_ = c.Error(badRequest("multipart: send exactly one \"file\" part with the audio (got %d)", len(fhs)))
		return
	}
	if fhs[0].Size > maxAudioUpload {
		_ = c.Error(apiErrorf(http.StatusRequestEntityTooLarge, sdk.CodeRequestTooLarge, "file: %d bytes; the limit is %d", fhs[0].Size, maxAudioUpload))
		return
	}
	f, err := fhs[0].Open()
	if err != nil {
		_ = c.Error(badRequest("file: %v", err))
		return
	}
	data, err := io.ReadAll(io.LimitReader(f, maxAudioUpload+1))
	f.Close()
	if err != nil {
		_ = c.Error(badRequest("file: %v", err))
		return
	}
	if len(data) == 0 {
		_ = c.Error(badRequest("file: the audio file is empty"))
		return
	}
	mime := audioMIME(data, fhs[0].Header.Get("Content-Type"))
	if mime == "" {
		_ = c.Error(badRequest("file: not audio: send WAV, FLAC or MP3 (the first bytes are % x)", data[:min(len(data), 8)]))
		return
	}
	var p tasks.AudioTranscribeParams
	var beam *int
	var seed *int64
	p.Language, p.Prompt = c.PostForm("language"), c.PostForm("prompt")
	if err := firstError(formNumber(c, "temperature", parseFloat, &p.Temperature), formNumber(c, "beam_size", strconv.Atoi, &beam),
		formNumber(c, "seed", parseInt64, &seed), checkRange("temperature", p.Temperature, 0, 1), checkIntRange("beam_size", beam, 0, 8)); err != nil {
		_ = c.Error(err)
		return
	}
	if beam != nil {
		p.BeamSize = *beam
	}
	if len(p.Language) > 16 {
		_ = c.Error(badRequest("language: %q is not a language code", p.Language))
		return
	}
	if len(p.Prompt) > 4096 {
		_ = c.Error(fieldTooLong("prompt", len(p.Prompt), 4096))
		return
	}
	format := c.PostForm("response_format")
	switch format {
	case "":
		format = "json"
	case "json", "text":
	case "srt", "vtt", "verbose_json":
		p.Timestamps = true
	default:
		_ = c.Error(badRequest("response_format: %q is not json, text, srt, vtt or verbose_json", format))
		return
	}
	for _, g := range append(form.Value["timestamp_granularities[]"], form.Value["timestamp_granularities"]...) {
		switch g {
		case "segment":
			p.Timestamps = true
		case "word":
			_ = c.Error(badRequest("timestamp_granularities: word timestamps are not supported; use segment"))
			return
		default:
			_ = c.Error(badRequest("timestamp_granularities: %q is not segment", g))
			return
		}
	}
	stream := false
	if v := c.PostForm("stream"); v != "" {
		if stream, err = strconv.ParseBool(v); err != nil {
			_ = c.Error(badRequest("stream: %q is not true or false", v))
			return
		}
	}
	if stream && format != "json" && format != "text" {
		_ = c.Error(badRequest("stream: response_format %s cannot be streamed (json or text can)", format))
		return
	}
	m, err := s.models.resolve(c.Request.Context(), taskTranscribe, c.PostForm("model"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	job := queue.Job{Task: taskTranscribe, Model: m.ID, Seed: seedOr(seed),
		Inputs: []queue.Blob{{Name: tasks.InputAudio, MIME: mime, Data: data}}}
	job.Params, _ = json.Marshal(p)
	if stream {
		st, _, err := s.submit(c, job)
		if err == nil {
			err = s.holdStream(c, st)
		}
		if err != nil {
			_ = c.Error(err)
			return
		}
		s.streamTranscript(c, st)
		return
	}
	s.runSync(c, job, func(st *queue.JobState) {
		var out tasks.AudioTranscribeResult
		_ = json.Unmarshal(st.Result.Output, &out)
		c.Header("X-Loom-Job-Id", st.Job.ID)
		switch format {
		case "text":
			c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(out.Text+"\n"))
		case "srt":
			c.Data(http.StatusOK, "application/x-subrip; charset=utf-8", []byte(out.SRT()))
		case "vtt":
			c.Data(http.StatusOK, "text/vtt; charset=utf-8", []byte(out.VTT()))
		case "verbose_json":
			segs := out.Segments
			if segs == nil {
				segs = []tasks.TranscriptSegment{}
			}
			c.JSON(http.StatusOK, gin.H{"task": "transcribe", "language": languageName(out.Language), "duration": out.Duration,
				"text": out.Text, "segments": segs})
		default:
			c.JSON(http.StatusOK, gin.H{"text": out.Text})
		}
	})
}

// streamTranscript relays a transcription's deltas as OpenAI's
// transcript.text.delta events and ends with transcript.text.done. A retried
// attempt replays the same text, so what was sent is skipped.
func (s *Server) streamTranscript(c *gin.Context, st *queue.JobState) {
	sse := s.newSSE(c)
	ctx := c.Request.Context()
	var sent strings.Builder
	attempt := 0 // bytes the current attempt produced
	s.follow(ctx, sse, st.Job.ID, 0, func(e queue.Event) bool {
		switch e.Type {
		case queue.EventRetry:
			attempt = 0
		case queue.EventDelta:
			var d struct {
				Text string `json:"text"`
			}
			if json.Unmarshal(e.Data, &d) != nil || d.Text == "" {
				return false
			}
			start := attempt
			attempt += len(d.Text)
			if attempt <= sent.Len() {
				return false
			}
			fresh := d.Text[max(0, sent.Len()-start):]
			sent.WriteString(fresh)
			sse.data(gin.H{"type": "transcript.text.delta", "delta": fresh})
		case queue.EventResult, queue.EventError, queue.EventCanceled:
			final, err := s.q.Get(ctx, st.Job.ID)
			if err == nil {
				s.metrics.observeFinished(final)
				err = jobOutcome(final)
			}
			if err != nil {
				sse.error(toAPIError(err))
				return true
			}
			var out tasks.AudioTranscribeResult
			_ = json.Unmarshal(final.Result.Output, &out)
			if rest, ok := strings.CutPrefix(out.Text, sent.String()); ok && rest != "" {
				sse.data(gin.H{"type": "transcript.text.delta", "delta": rest})
			}
			sse.data(gin.H{"type": "transcript.text.done", "text": out.Text})
			return true
		}
		return false
	})
}

// audioMIME names the audio in data by its magic bytes (the type a client
// states is often application/octet-stream); a stated audio/* type stands
// when the bytes are none Loom knows, so the plugin names what it cannot
// read. "" means not audio.
func audioMIME(data []byte, stated string) string {
	switch {
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WAVE":
		return "audio/wav"
	case len(data) >= 4 && string(data[:4]) == "fLaC":
		return "audio/flac"
	case len(data) >= 4 && string(data[:4]) == "OggS":
		return "audio/ogg"
	case len(data) >= 3 && string(data[:3]) == "ID3", len(data) >= 2 && data[0] == 0xFF && data[1]&0xE0 == 0xE0:
		return "audio/mpeg"
	}
	if strings.HasPrefix(strings.ToLower(stated), "audio/") {
		return stated
	}
	return ""
}

// languageName is the English name verbose_json reports for a language code
// (OpenAI answers "english", not "en"); codes outside the list pass through.
func languageName(code string) string {
	if n, ok := languageNames[code]; ok {
		return n
	}
	return code
}

var languageNames = map[string]string{
	"en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "pt": "portuguese",
	"nl": "dutch", "ru": "russian", "zh": "chinese", "ja": "japanese", "ko": "korean", "ar": "arabic",
	"hi": "hindi", "pl": "polish", "tr": "turkish", "sv": "swedish", "uk": "ukrainian", "cs": "czech",
}
