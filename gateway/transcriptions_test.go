package gateway

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// transcriptionForm builds a multipart body: file (when data is not nil)
// and fields, each "name=value".
func transcriptionForm(t *testing.T, data []byte, fields ...string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if data != nil {
		fw, err := w.CreateFormFile("file", "speech.wav")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(data)
	}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		w.WriteField(k, v)
	}
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

var fakeWAV = []byte("RIFF\x24\x00\x00\x00WAVEfmt ")

func TestAudioTranscriptions(t *testing.T) {
	e := newEnv(t, Config{})
	post := func(fields ...string) (int, http.Header, []byte) {
		ct, body := transcriptionForm(t, fakeWAV, append([]string{"model=whisper"}, fields...)...)
		return e.do("POST", "/v1/audio/transcriptions", ct, body)
	}
	code, _, body := post("language=en")
	if code != 200 {
		t.Fatalf("json: %d %s", code, body)
	}
	want := "heard 16 bytes of audio/wav in en timestamps false"
	if got := decode[map[string]any](t, body); got["text"] != want || len(got) != 1 {
		t.Errorf("json: %s", body)
	}
	code, hdr, body := post("response_format=text")
	if code != 200 || string(body) != "heard 16 bytes of audio/wav in  timestamps false\n" || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Errorf("text: %d %q %s", code, body, hdr.Get("Content-Type"))
	}
	code, _, body = post("response_format=srt")
	if code != 200 || !strings.HasPrefix(string(body), "1\n00:00:00,000 --> 00:00:01,250\nheard 16 bytes of audio/wav\n\n2\n00:00:01,500 --> 00:00:02,750\nin  timestamps true\n\n") {
		t.Errorf("srt: %d %q", code, body)
	}
	code, _, body = post("response_format=vtt")
	if code != 200 || !strings.HasPrefix(string(body), "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\n") {
		t.Errorf("vtt: %d %q", code, body)
	}
	code, _, body = post("response_format=verbose_json", "language=en", "timestamp_granularities[]=segment", "temperature=0.2", "prompt=hi")
	var v struct {
		Task, Language, Text string
		Duration             float64
		Segments             []struct {
			ID         int
			Start, End float64
			Text       string
			Tokens     []int
		}
	}
	if code != 200 || json.Unmarshal(body, &v) != nil || v.Language != "english" || v.Duration != 3.5 || len(v.Segments) != 2 || v.Segments[1].Start != 1.5 || v.Task != "transcribe" {
		t.Errorf("verbose_json: %d %s", code, body)
	}

	// stream=true: transcript.text.delta events, then transcript.text.done.
	ct, b := transcriptionForm(t, fakeWAV, "model=whisper", "stream=true", "language=de")
	code, hdr, body = e.do("POST", "/v1/audio/transcriptions", ct, b)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", code, body)
	}
	evs := readSSE(t, bytes.NewReader(body))
	var deltas strings.Builder
	var done string
	for _, ev := range evs {
		var d struct{ Type, Delta, Text string }
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
			t.Fatalf("event %q: %v", ev.Data, err)
		}
		switch d.Type {
		case "transcript.text.delta":
			deltas.WriteString(d.Delta)
		case "transcript.text.done":
			done = d.Text
		default:
			t.Errorf("event type %q", d.Type)
		}
	}
	wantDE := "heard 16 bytes of audio/wav in de timestamps false"
	if deltas.String() != wantDE || done != wantDE || !strings.Contains(evs[len(evs)-1].Data, "transcript.text.done") {
		t.Errorf("stream: deltas %q, done %q", deltas.String(), done)
	}
}

func TestAudioTranscriptionsRejects(t *testing.T) {
	e := newEnv(t, Config{})
	form := func(data []byte, fields ...string) (string, []byte) {
		return transcriptionForm(t, data, append([]string{"model=whisper"}, fields...)...)
	}
	two := func() (string, []byte) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		for i := 0; i < 2; i++ {
			fw, _ := w.CreateFormFile("file", "a.wav")
			fw.Write(fakeWAV)
		}
		w.Close()
		return w.FormDataContentType(), b.Bytes()
	}
	for _, tc := range []struct {
		name   string
		ct     string
		body   []byte
		status int
		code   string
	}{
		{"json body", "application/json", []byte(`{"model":"asr"}`), 415, "unsupported_media_type"},
		{"no file", "", nil, 400, "invalid_request"},
		{"two files", "two", nil, 400, "invalid_request"},
		{"not audio", "notaudio", nil, 400, "invalid_request"},
		{"empty file", "empty", nil, 400, "invalid_request"},
		{"bad format", "format", nil, 400, "invalid_request"},
		{"word timestamps", "word", nil, 400, "invalid_request"},
		{"temperature", "temp", nil, 400, "invalid_request"},
		{"temperature text", "tempText", nil, 400, "invalid_request"},
		{"stream srt", "streamSRT", nil, 400, "invalid_request"},
		{"unknown model", "model", nil, 404, "model_not_found"},
	} {
		ct, body := tc.ct, tc.body
		switch tc.ct {
		case "":
			ct, body = form(nil)
		case "two":
			ct, body = two()
		case "notaudio":
			ct, body = form([]byte("<html>hello</html>"))
		case "empty":
			ct, body = form([]byte{})
		case "format":
			ct, body = form(fakeWAV, "response_format=mp3")
		case "word":
			ct, body = form(fakeWAV, "timestamp_granularities[]=word")
		case "temp":
			ct, body = form(fakeWAV, "temperature=3")
		case "tempText":
			ct, body = form(fakeWAV, "temperature=warm")
		case "streamSRT":
			ct, body = form(fakeWAV, "stream=true", "response_format=srt")
		case "model":
			ct, body = transcriptionForm(t, fakeWAV, "model=nope")
		}
		code, _, resp := e.do("POST", "/v1/audio/transcriptions", ct, body)
		if code != tc.status || string(errorOf(t, resp).Code) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, code, resp, tc.status, tc.code)
		}
	}
}
