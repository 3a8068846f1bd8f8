package gateway

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func audioPart(data []byte, format string) map[string]any {
	return map[string]any{"type": "input_audio", "input_audio": map[string]string{"data": base64.StdEncoding.EncodeToString(data), "format": format}}
}

// TestChatInputAudio: an input_audio part is transcribed by an
// audio.transcribe job, and the chat job that follows answers the transcript
// where the part stood (the fake text model echoes the last message).
func TestChatInputAudio(t *testing.T) {
	e := newEnv(t, Config{})
	code, hdr, body := e.postJSON("/v1/chat/completions", map[string]any{"model": "tiny", "messages": []map[string]any{
		{"role": "user", "content": []map[string]any{{"type": "text", "text": "answer this:"}, audioPart(fakeWAV, "wav")}}}})
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	r := decode[chatResp](t, body)
	want := "echo: answer this:\nheard 16 bytes of audio/wav in  timestamps false"
	if len(r.Choices) != 1 || r.Choices[0].Message.Content != want || r.Model != "tiny" {
		t.Fatalf("got %s, want content %q", body, want)
	}
	asrID := hdr.Get("X-Loom-Transcription-Job-Id")
	st, err := e.q.Get(t.Context(), asrID)
	if err != nil || st.Job.Task != taskTranscribe || st.Job.Model != "whisper" || hdr.Get("X-Loom-Job-Id") == asrID {
		t.Fatalf("transcription job %q: %+v %v (chat job %s)", asrID, st, err, hdr.Get("X-Loom-Job-Id"))
	}

	// Streamed: the transcription runs first, then the chat streams.
	datas := e.stream("/v1/chat/completions", map[string]any{"model": "tiny", "stream": true, "messages": []map[string]any{
		{"role": "user", "content": []map[string]any{audioPart(fakeWAV, "mp3")}}}})
	var text strings.Builder
	for _, d := range datas[:len(datas)-1] {
		c := decode[chunk](t, []byte(d))
		if len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if text.String() != "echo: heard 16 bytes of audio/wav in  timestamps false" {
		t.Fatalf("stream: %q", text.String())
	}
}

// TestChatInputAudioBadInput: every malformed part is a 4xx JSON error that
// names the problem, and no job is queued for it.
func TestChatInputAudioBadInput(t *testing.T) {
	e := newEnv(t, Config{})
	user := func(parts ...map[string]any) []map[string]any {
		return []map[string]any{{"role": "user", "content": parts}}
	}
	five := []map[string]any{}
	for range 5 {
		five = append(five, audioPart(fakeWAV, "wav"))
	}
	for _, c := range []struct {
		name     string
		model    string
		messages []map[string]any
		status   int
		want     string
	}{
		{"not base64", "tiny", user(map[string]any{"type": "input_audio", "input_audio": map[string]string{"data": "%%%", "format": "wav"}}), 400, "base64"},
		{"no data", "tiny", user(map[string]any{"type": "input_audio", "input_audio": map[string]string{"format": "wav"}}), 400, "input_audio part needs"},
		{"no object", "tiny", user(map[string]any{"type": "input_audio"}), 400, "input_audio part needs"},
		{"not audio", "tiny", user(audioPart([]byte("hello, not a sound file"), "wav")), 400, "not audio"},
		{"format", "tiny", user(audioPart(fakeWAV, "ogg")), 400, "input_audio.format"},
		{"too many", "tiny", user(five...), 400, "at most 4"},
		{"assistant audio", "tiny", []map[string]any{{"role": "assistant", "content": []map[string]any{audioPart(fakeWAV, "wav")}}}, 400, "user messages"},
		{"image and audio", "tiny", user(audioPart(fakeWAV, "wav"), map[string]any{"type": "image_url", "image_url": map[string]string{"url": "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes(2, 2))}}), 400, "not both"},
		{"unknown text model", "nope", user(audioPart(fakeWAV, "wav")), 404, "nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, hdr, body := e.postJSON("/v1/chat/completions", map[string]any{"model": c.model, "messages": c.messages})
			if code != c.status {
				t.Fatalf("status %d, want %d: %s", code, c.status, body)
			}
			if got := errorOf(t, body); !strings.Contains(got.Message, c.want) {
				t.Errorf("message %q does not name %q", got.Message, c.want)
			}
			if id := hdr.Get("X-Loom-Transcription-Job-Id"); id != "" {
				t.Errorf("a transcription job %s was queued", id)
			}
		})
	}
	// A body too large for the gateway is a 413 before anything is decoded.
	big := make([]byte, 33<<20)
	code, _, _ := e.postJSON("/v1/chat/completions", map[string]any{"model": "tiny", "messages": user(audioPart(big, "wav"))})
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("33 MiB of audio: %d", code)
	}
}
